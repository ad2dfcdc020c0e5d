// LossNetwork against torchvision's own definitions (random weights, every tap to 1e-4 relative),
// both preprocessing modes, the real SqueezeNet weights, and clear errors for bad weight files.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/precision.h"
#include "data/image_io.h"
#include "data/safetensors.h"
#include "nets/loss_network.h"
#include "nets/max_pool.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;
using test::error_of;

std::string reference_script() { return test::source_dir() + "/tests/python/loss_network_reference.py"; }

// Runs the Python reference; returns its reference.safetensors tensors.
std::map<std::string, torch::Tensor> run_reference(const TempDir& dir, const std::string& net, const std::string& extra) {
  const auto result = test::run_command(test::python() + " " + reference_script() + " " + net + " " + dir.str() + " " + extra);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return read_safetensors(dir / "reference.safetensors").tensors;
}

double relative_difference(const torch::Tensor& ours, const torch::Tensor& reference) {
  return (ours - reference).abs().max().item<double>() / std::max(reference.abs().max().item<double>(), 1e-12);
}

// Every tap the reference captured must be offered by our net and agree to 1e-4 relative.
void expect_taps_match(LossNetwork& net, const std::map<std::string, torch::Tensor>& reference) {
  std::vector<std::string> taps;
  for (const auto& [key, tensor] : reference)
    if (key.rfind("tap.", 0) == 0) taps.push_back(key.substr(4));
  EXPECT_EQ(taps.size(), net->tap_names().size());
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_difference(net->normalize(reference.at("input")), reference.at("normalized")), 1e-6);
  const auto ours = net->forward(reference.at("input"), taps);
  for (const auto& tap : taps) {
    const auto& expected = reference.at("tap." + tap);
    ASSERT_EQ(ours.at(tap).sizes(), expected.sizes()) << tap;
    EXPECT_LT(relative_difference(ours.at(tap), expected), 1e-4) << net->name() << " " << tap;
  }
}

class TorchvisionMatch : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TorchvisionMatch, EveryTapAgreesWithTorchvision) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  const auto& [name, preprocess] = GetParam();
  TempDir dir;
  const auto reference = run_reference(dir, name, "--size 64 --preprocess " + preprocess);
  LossNetwork net(kLossNetworkChoices.parse(name, "net"), dir / "weights.safetensors");
  EXPECT_EQ(net->preprocess(), preprocess);
  expect_taps_match(net, reference);
}

INSTANTIATE_TEST_SUITE_P(Networks, TorchvisionMatch,
                         ::testing::Values(std::make_tuple("vgg16", "torch_rgb_01"), std::make_tuple("vgg19", "torch_rgb_01"),
                                           std::make_tuple("squeezenet1_1", "torch_rgb_01"),
                                           std::make_tuple("squeezenet1_1", "caffe_bgr_255")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });


#define EXPECT_ERROR_CONTAINS(statement, ...)                                          \
  do {                                                                                 \
    const std::string message = error_of([&] { statement; });                          \
    for (const std::string& part : std::vector<std::string>{__VA_ARGS__})               \
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message; \
  } while (0)

std::string real_squeezenet() { return test::shared_dir() + "/weights/squeezenet1_1_imagenet_features.safetensors"; }

// Fraction of exact zeros (ReLU sparsity).
double sparsity(const torch::Tensor& t) { return (t == 0).to(torch::kFloat).mean().item<double>(); }

TEST(RealSqueezeNet, LoadsAndMatchesTorchvisionWithCaffePreprocessing) {
  NST_REQUIRE_OR_SKIP(test::have_shared(), "needs ../shared/weights (SqueezeNet ImageNet weights)");
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  LossNetwork net(LossNetworkKind::squeezenet1_1, real_squeezenet());
  EXPECT_EQ(net->preprocess(), "caffe_bgr_255");
  // A real photo, downscaled for speed.
  auto photo = read_image(test::shared_dir() + "/data/eval/tubingen.jpg").unsqueeze(0);
  photo = torch::nn::functional::interpolate(
      photo, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{192, 256}).mode(torch::kArea));
  TempDir dir;
  write_safetensors(dir / "image.safetensors", {{"image", photo}});
  const auto reference =
      run_reference(dir, "squeezenet1_1", "--weights " + real_squeezenet() + " --image " + dir / "image.safetensors");
  // Python normalizes by hand (BGR, minus mean_bgr) before torchvision's features: ours must agree.
  expect_taps_match(net, reference);
}

TEST(RealSqueezeNet, SparsityRisesWithDepthOnPhotos) {
  NST_REQUIRE_OR_SKIP(test::have_shared(), "needs ../shared/weights and ../shared/data/eval");
  LossNetwork trained(LossNetworkKind::squeezenet1_1, real_squeezenet());
  torch::manual_seed(0);
  LossNetwork random(LossNetworkKind::squeezenet1_1, "");
  const std::vector<std::string> taps = {"relu1", "fire5", "fire9"};
  torch::NoGradGuard no_grad;
  for (const std::string photo_name : {"chicago.jpg", "stata.jpg"}) {
    auto photo = read_image(test::shared_dir() + "/data/eval/" + photo_name).unsqueeze(0);
    photo = torch::nn::functional::interpolate(
        photo, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{224, 224}).mode(torch::kArea));
    const auto ours = trained->forward(photo, taps);
    const double s1 = sparsity(ours.at("relu1")), s5 = sparsity(ours.at("fire5")), s9 = sparsity(ours.at("fire9"));
    EXPECT_LT(s1, s5) << photo_name;
    EXPECT_LT(s5, s9) << photo_name;
    EXPECT_GT(s9 - s1, 0.2) << photo_name << " relu1 " << s1 << " fire9 " << s9;
    // A random net does not show this: it is the trained weights, not the architecture.
    const auto flat = random->forward(photo, taps);
    EXPECT_LT(std::abs(sparsity(flat.at("fire9")) - sparsity(flat.at("relu1"))), 0.2);
  }
}

// A small valid file (random squeezenet, caffe metadata) whose tensors/metadata the tests then break.
struct WeightsFile {
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::string> metadata = {{"preprocess", "caffe_bgr_255"}, {"mean_bgr", "104.006,116.669,122.679"}};
  WeightsFile() {
    torch::manual_seed(9);
    LossNetwork net(LossNetworkKind::squeezenet1_1, "");
    for (const auto& item : net->named_parameters()) tensors[item.key()] = item.value().detach().clone();
  }
  std::string write(const TempDir& dir, const std::string& name) const {
    write_safetensors(dir / name, tensors, metadata);
    return dir / name;
  }
};

TEST(LossNetworkErrors, BadWeightFilesNameTheFileAndTensor) {
  TempDir dir;
  {
    WeightsFile f;
    f.tensors.erase("features.7.expand3x3.weight");
    const auto path = f.write(dir, "missing.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "missing tensor 'features.7.expand3x3.weight'",
                          "[128,32,3,3]");
  }
  {
    WeightsFile f;
    f.tensors["features.0.weight"] = torch::zeros({64, 3, 5, 5});
    const auto path = f.write(dir, "shape.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "'features.0.weight' has shape [64,3,5,5]",
                          "expects [64,3,3,3]");
  }
  {
    WeightsFile f;
    f.tensors["classifier.1.weight"] = torch::zeros({1000, 512, 1, 1});
    const auto path = f.write(dir, "extra.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "unexpected tensor 'classifier.1.weight'");
  }
  {
    WeightsFile f;
    f.metadata.clear();
    const auto path = f.write(dir, "nometa.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "preprocess", "scripts/convert_torchvision_weights.py");
  }
  {
    WeightsFile f;
    f.metadata = {{"preprocess", "caffe_bgr_255"}};
    const auto path = f.write(dir, "nomean.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "mean_bgr");
  }
  {
    WeightsFile f;
    f.metadata = {{"preprocess", "imagenet"}};
    const auto path = f.write(dir, "badmeta.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, path), path, "unknown __metadata__ preprocess 'imagenet'");
  }
  {
    WeightsFile f;  // a squeezenet file given as vgg16
    const auto path = f.write(dir, "wrongnet.safetensors");
    EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::vgg16, path), path, "vgg16");
  }
  EXPECT_ERROR_CONTAINS(LossNetwork(LossNetworkKind::squeezenet1_1, dir / "absent.safetensors"), dir / "absent.safetensors");
  EXPECT_ERROR_CONTAINS(kLossNetworkChoices.parse("vgg17", "loss_network.name"), "loss_network.name", "'vgg17'",
                        "vgg16, vgg19 or squeezenet1_1");
}

TEST(LossNetworkErrors, UnknownTapListsValidNames) {
  torch::manual_seed(0);
  LossNetwork net(LossNetworkKind::vgg19, "");
  EXPECT_ERROR_CONTAINS(net->forward(torch::rand({1, 3, 16, 16}), {"relu4_2", "relu6_1"}), "unknown layer 'relu6_1'",
                        "vgg19", "relu1_1", "relu5_4");
  EXPECT_ERROR_CONTAINS(net->check_taps({"fire2"}), "unknown layer 'fire2'");
  EXPECT_ERROR_CONTAINS(net->forward(torch::rand({3, 16, 16}), {"relu1_1"}), "[N,3,H,W]");
}

// MaxPool pools in channels-last and scatters gradients in NCHW (nets/max_pool.h): values and
// gradients must be LibTorch's max_pool2d's exactly, ceil mode's partial windows included.
TEST(MaxPool, IsLibTorchsMaxPoolValuesAndGradients) {
  torch::manual_seed(4);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (bool ceil_mode : {true, false}) {
      for (auto [kernel, stride] : {std::pair<int64_t, int64_t>{3, 2}, {2, 2}}) {
        // Rounded to a coarse grid: ties inside a window, which both must break the same way.
        const auto x = (torch::randn({2, 5, 13, 10}) * 4).round().to(dtype);
        MaxPool pool(kernel, stride, ceil_mode);
        const auto expected = at::max_pool2d(x, {kernel}, {stride}, {0}, {1}, ceil_mode);
        {
          torch::NoGradGuard no_grad;
          EXPECT_TRUE(torch::equal(pool(x), expected));
        }
        const auto leaf = x.clone().requires_grad_(), reference_leaf = x.clone().requires_grad_();
        const auto pooled = pool(leaf);
        EXPECT_TRUE(torch::equal(pooled, expected));
        EXPECT_TRUE(pooled.is_contiguous());
        const auto weights = torch::randn(expected.sizes()).to(dtype);
        const auto ours = torch::autograd::grad({(pooled * weights).sum()}, {leaf})[0];
        const auto reference = torch::autograd::grad(
            {(at::max_pool2d(reference_leaf, {kernel}, {stride}, {0}, {1}, ceil_mode) * weights).sum()}, {reference_leaf})[0];
        EXPECT_TRUE(torch::equal(ours, reference)) << dtype << " ceil " << ceil_mode << " kernel " << kernel;
      }
    }
  }
}

TEST(LossNetwork, TapsAndFrozenParameters) {
  EXPECT_EQ(loss_network_taps(LossNetworkKind::squeezenet1_1),
            (std::vector<std::string>{"conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
                                      "fire6", "fire7", "fire8", "fire9"}));
  const auto vgg19 = loss_network_taps(LossNetworkKind::vgg19);
  for (const std::string tap : {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1", "relu5_4"})
    EXPECT_NE(std::find(vgg19.begin(), vgg19.end(), tap), vgg19.end()) << tap;
  const auto vgg16 = loss_network_taps(LossNetworkKind::vgg16);
  EXPECT_EQ(vgg16.size(), 31u);  // torchvision vgg16().features has 31 layers
  EXPECT_EQ(vgg19.size(), 37u);
  EXPECT_EQ(std::find(vgg16.begin(), vgg16.end(), "relu3_4"), vgg16.end());
  torch::manual_seed(0);
  LossNetwork net(LossNetworkKind::vgg16, "");
  EXPECT_EQ(net->tap_names(), vgg16);
  EXPECT_FALSE(net->is_training());
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.requires_grad());
}

// Only as deep as the deepest tap: a 1x1 input runs to relu1_2 but cannot pass pool1.
TEST(LossNetwork, RunsOnlyAsDeepAsNeeded) {
  torch::manual_seed(0);
  LossNetwork net(LossNetworkKind::vgg16, "");
  const auto tiny = torch::rand({2, 3, 1, 1}) * 255;
  const auto shallow = net->forward(tiny, {"relu1_2", "conv1_1"});
  EXPECT_EQ(shallow.size(), 2u);
  EXPECT_EQ(shallow.at("relu1_2").sizes(), (std::vector<int64_t>{2, 64, 1, 1}));
  EXPECT_GE(shallow.at("relu1_2").min().item<double>(), 0.0);
  EXPECT_LT(shallow.at("conv1_1").min().item<double>(), 0.0);  // pre-ReLU tap is not clobbered by the ReLU
  EXPECT_ERROR_CONTAINS(net->forward(tiny, {"relu2_1"}), "vgg16", "pool1", "too small");
}

TEST(LossNetwork, HalfPrecisionWeightsLoadAsFloat) {
  TempDir dir;
  WeightsFile f;
  const auto full = f.write(dir, "f32.safetensors");
  for (auto& [key, t] : f.tensors) t = t.to(torch::kHalf);
  const auto half = f.write(dir, "f16.safetensors");
  for (auto& [key, t] : f.tensors) t = t.to(torch::kBFloat16);
  const auto bf16 = f.write(dir, "bf16.safetensors");
  LossNetwork a(LossNetworkKind::squeezenet1_1, full), b(LossNetworkKind::squeezenet1_1, half), c(LossNetworkKind::squeezenet1_1, bf16);
  EXPECT_EQ(b->parameters()[0].scalar_type(), torch::kFloat);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({1, 3, 48, 48}) * 255;
  const auto fa = a->forward(x, {"fire4"}).at("fire4");
  EXPECT_LT(relative_difference(b->forward(x, {"fire4"}).at("fire4"), fa), 1e-2);
  EXPECT_LT(relative_difference(c->forward(x, {"fire4"}).at("fire4"), fa), 5e-2);
}

// The net's dtype decides the computation: bf16 weights with float32 input, and float32 under autocast.
TEST(LossNetwork, Bf16NetAndAutocast) {
  torch::manual_seed(0);
  LossNetwork net(LossNetworkKind::squeezenet1_1, "");
  const auto x = (torch::rand({1, 3, 48, 48}) * 255).requires_grad_(true);
  const auto reference = net->forward(x, {"fire5"}).at("fire5").detach();
  torch::Tensor autocast;
  {
    AutocastScope scope(Precision::bf16, torch::kCPU);
    autocast = net->forward(x, {"fire5"}).at("fire5");
  }
  EXPECT_EQ(autocast.scalar_type(), torch::kBFloat16);
  EXPECT_LT(relative_difference(autocast.to(torch::kFloat).detach(), reference), 5e-2);
  autocast.to(torch::kFloat).sum().backward();
  EXPECT_GT(x.grad().abs().max().item<double>(), 0.0);
  net->to(torch::kBFloat16);
  const auto bf16 = net->forward(x.detach(), {"fire5"}).at("fire5");
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_LT(relative_difference(bf16.to(torch::kFloat), reference), 5e-2);
}

// scripts/convert_torchvision_weights.py on a torchvision checkpoint (whole model, random weights,
// named like the published file): our net on the converted file equals torchvision on the .pth.
TEST(Converter, ConvertedCheckpointMatchesTorchvision) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  TempDir dir;
  const auto pth = dir / "squeezenet1_1-b8a52dc0.pth";
  // torchvision's model with random weights: its whole state dict to `pth`, its taps to reference.safetensors.
  const auto reference = run_reference(dir, "squeezenet1_1", "--size 64 --seed 3 --save-pth " + pth);
  const auto converter = test::python() + " " + test::source_dir() + "/scripts/convert_torchvision_weights.py ";
  const auto converted = test::run_command(converter + pth + " " + dir / "converted.safetensors");
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  EXPECT_NE(converted.output.find("722496 parameters"), std::string::npos) << converted.output;
  const auto file = read_safetensors(dir / "converted.safetensors");
  EXPECT_EQ(file.metadata.at("preprocess"), "torch_rgb_01");
  EXPECT_EQ(file.tensors.count("classifier.1.weight"), 0u);  // classifier dropped

  LossNetwork net(LossNetworkKind::squeezenet1_1, dir / "converted.safetensors");
  expect_taps_match(net, reference);

  const auto wrong = test::run_command(converter + pth + " --net vgg16 " + dir / "wrong.safetensors");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("missing tensor 'features.2.weight' for vgg16"), std::string::npos) << wrong.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "wrong.safetensors"));
}

}  // namespace
}  // namespace nst
