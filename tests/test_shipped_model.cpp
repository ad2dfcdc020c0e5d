// The shipped default model (models/starry_night.safetensors): small, 16-bit, trained by nst-train on
// Debian opencv-doc's starry_night.jpg with configs/cpu_overnight.yaml's loss, and it stylizes.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "config/config.h"
#include "core/runtime.h"
#include "data/safetensors.h"
#include "infer/stylizer.h"
#include "losses/loss_options.h"
#include "losses/perceptual_loss.h"
#include "nets/model_file.h"
#include "test_support.h"
#include "train/provenance.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace nst {
namespace {

namespace fs = std::filesystem;

const std::string kSamples = "/usr/share/doc/opencv-doc/examples/data";
std::string shipped_model() { return test::source_dir() + "/models/starry_night.safetensors"; }

TEST(ShippedModel, IsSmallHalfWidthAnd16Bit) {
  ASSERT_TRUE(fs::is_regular_file(shipped_model())) << shipped_model();
  EXPECT_LE(fs::file_size(shipped_model()), 2u << 20);
  const LoadedModel model = load_model(shipped_model());
  EXPECT_EQ(model.net->options().width(), 16);
  EXPECT_EQ(model.net->options().res_blocks(), 5);
  EXPECT_TRUE(model.warnings.empty());
  for (const auto& [name, tensor] : read_safetensors(shipped_model()).tensors)
    EXPECT_EQ(tensor.scalar_type(), torch::kHalf) << name;
  EXPECT_EQ(model.provenance["stored_dtype"], "f16");
}

TEST(ShippedModel, ProvenanceNamesThePaintingAndTheRecipe) {
  const auto provenance = load_model(shipped_model()).provenance;
  EXPECT_EQ(provenance["tool"], "nst-train");
  ASSERT_EQ(provenance["style_images"].size(), 1u);
  EXPECT_EQ(provenance["style_images"][0]["name"], "starry_night.jpg");
  NST_REQUIRE_OR_SKIP(fs::exists(kSamples + "/starry_night.jpg"), "needs Debian's opencv-doc (scripts/bootstrap.sh)");
  EXPECT_EQ(provenance["style_images"][0]["sha256"], sha256_file(kSamples + "/starry_night.jpg"));
  // The loss it was trained with is the recipe's (configs/cpu_overnight.yaml), layer for layer: the
  // recipe's style layers are shares of loss.style.normalize auto, which on this painting must come to
  // the weights the model was trained with (hand-set then, normalize none) within 0.2%.
  Config config = make_train_config();
  config.merge_file(test::source_dir() + "/configs/cpu_overnight.yaml");
  config.set("train.precision", YAML::Node("fp32"));  // the recipe's "auto" is resolved by nst-train at start
  const TrainOptions options = train_options_from(config);
  const LossOptions& recipe = options.loss();
  const auto& weights = provenance["loss_weights"];
  EXPECT_EQ(provenance["loss_network"]["name"], nst::kLossNetworkChoices.name(recipe.network()));
  EXPECT_DOUBLE_EQ(weights["content"].get<double>(), recipe.weights().content_weight);
  EXPECT_DOUBLE_EQ(weights["style"].get<double>(), recipe.weights().style_weight);
  EXPECT_DOUBLE_EQ(weights["tv"].get<double>(), recipe.weights().tv_weight);
  using LayerWeights = std::map<std::string, double>;
  EXPECT_EQ(weights["content_layers"].get<LayerWeights>(), recipe.weights().content_layers);
  EXPECT_EQ(weights["style_normalize"], "none");
  EXPECT_EQ(provenance["style_size"].get<int64_t>(), options.style_size());
  const auto trained = YAML::Load(provenance["config"].get<std::string>());
  EXPECT_EQ(trained["train"]["loss_jitter"].as<int64_t>(), config.get_int("train.loss_jitter"));
  EXPECT_GT(provenance["iterations"].get<int64_t>(), 1000);
  NST_REQUIRE_OR_SKIP(test::have_shared(), "needs ../shared's SqueezeNet weights (the recipe's style weights depend on them)");
  LossOptions with_weights = recipe;
  with_weights.weights_file(test::shared_dir() + "/weights/squeezenet1_1_imagenet_features.safetensors");
  PerceptualLoss loss(make_loss_network(with_weights, 1, torch::kCPU), recipe.weights());
  loss.set_style_targets({load_style_image(kSamples + "/starry_night.jpg", options.style_size())}, {1.0});
  const auto trained_with = weights["style_layers"].get<LayerWeights>();
  ASSERT_EQ(trained_with.size(), loss.effective_style_weights().size());
  for (const auto& [layer, weight] : loss.effective_style_weights())
    EXPECT_NEAR(weight / trained_with.at(layer), 1.0, 0.002) << layer << ": recipe " << weight << ", model " << trained_with.at(layer);
}

// The net changes the photo substantially (not an identity, not a flat colour) and keeps its size.
TEST(ShippedModel, StylizesAPhoto) {
  NST_REQUIRE_OR_SKIP(fs::exists(kSamples + "/fruits.jpg"), "needs Debian's opencv-doc (scripts/bootstrap.sh)");
  configure_threads(0);
  cv::Mat photo = cv::imread(kSamples + "/fruits.jpg");
  cv::resize(photo, photo, {photo.cols / 2, photo.rows / 2}, 0, 0, cv::INTER_AREA);
  Stylizer stylizer(load_model(shipped_model()).net, torch::kCPU, StylizeOptions());
  const cv::Mat stylized = stylizer.stylize(photo);
  ASSERT_EQ(stylized.size(), photo.size());
  cv::Mat difference;
  cv::absdiff(stylized, photo, difference);
  EXPECT_GT(cv::mean(difference)[0] + cv::mean(difference)[1] + cv::mean(difference)[2], 3 * 15.0);
  cv::Scalar mean, deviation;
  cv::meanStdDev(stylized, mean, deviation);
  EXPECT_GT(deviation[0] + deviation[1] + deviation[2], 3 * 15.0);
}

}  // namespace
}  // namespace nst
