// loss.temporal (losses/temporal_loss.h): the random smooth flow (bounded, smooth, one per seed),
// the penalty (0 without flow and noise, positive and differentiable otherwise), and the trainer
// with it on (logged, and resumed bitwise).
#include <fstream>
#include <sstream>

#include "losses/temporal_loss.h"
#include "train/trainer.h"
#include "train_fixture.h"

namespace nst {
namespace {

using test::TempDir;

TEST(TemporalLoss, RandomFlowIsBoundedSmoothAndOnePerSeed) {
  const auto flow = random_smooth_flow(2, 48, 64, 6.0, 4, 7);
  EXPECT_EQ(flow.sizes(), (std::vector<int64_t>{2, 48, 64, 2}));
  EXPECT_LE(flow.abs().max().item<double>(), 6.0);
  EXPECT_GT(flow.abs().max().item<double>(), 1.0);
  // Neighbouring pixels move alike: the largest step between them is a small share of the range.
  EXPECT_LT((flow.narrow(2, 1, 63) - flow.narrow(2, 0, 63)).abs().max().item<double>(), 1.5);
  EXPECT_TRUE(torch::equal(flow, random_smooth_flow(2, 48, 64, 6.0, 4, 7)));
  EXPECT_FALSE(torch::equal(flow, random_smooth_flow(2, 48, 64, 6.0, 4, 8)));
  EXPECT_FALSE(torch::equal(flow[0], flow[1]));
}

TEST(TemporalLoss, WarpByZeroFlowIsTheIdentity) {
  const auto images = torch::rand({2, 3, 20, 24}) * 255;
  EXPECT_TRUE(torch::allclose(warp_images(images, torch::zeros({2, 20, 24, 2})), images, 1e-4, 1e-3));
  EXPECT_EQ(flow_inside_mask(torch::zeros({1, 20, 24, 2})).sum().item<double>(), 20 * 24);
}

TEST(TemporalLoss, ZeroWithoutFlowAndNoisePositiveAndDifferentiableWith) {
  auto net = test::small_net();
  const auto batch = torch::rand({2, 3, 32, 32}) * 255;
  const auto output = net->forward(batch);
  TemporalLoss still(TemporalLossOptions().weight(1).flow_max(0).flow_grid(4).noise(0));
  EXPECT_NEAR(still.compute(net, batch, output, 3).item<double>(), 0.0, 1e-10);
  TemporalLoss moving(TemporalLossOptions().weight(10).flow_max(4).flow_grid(4).noise(3));
  const auto penalty = moving.compute(net, batch, output, 3);
  EXPECT_GT(penalty.item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(penalty.item<double>(), moving.compute(net, batch, output, 3).item<double>());
  penalty.backward();
  double gradient = 0;
  for (const auto& p : net->parameters())
    if (p.grad().defined()) gradient += p.grad().abs().sum().item<double>();
  EXPECT_GT(gradient, 0.0);
  EXPECT_CONTAINS(test::error_of([] { TemporalLossOptions().weight(1).flow_grid(1).validate(); }), "loss.temporal.flow_grid");
  Config config = make_train_config();
  config.apply_override("loss.temporal.warp=nearest");
  EXPECT_CONTAINS(test::error_of([&] { train_options_from(config); }),
                  "loss.temporal.warp must be bilinear or bicubic, got 'nearest'");
}

// A 4-pixel stroke pattern shifted half a pixel: the bilinear warp's target has lost half the
// strokes' variance, the bicubic one keeps most of it.
TEST(TemporalLoss, BicubicWarpKeepsTheStrokesThatBilinearFlattens) {
  const auto columns = torch::arange(64, torch::kFloat32);
  const auto strokes = (128 + 80 * torch::sin(columns * (M_PI / 2))).view({1, 1, 1, 64}).expand({1, 3, 48, 64}).contiguous();
  const auto flow = torch::zeros({1, 48, 64, 2});
  flow.select(3, 0).fill_(0.5);
  auto variance = [&](WarpInterpolation mode) {
    return warp_images(strokes, flow, mode).slice(3, 4, 56).var().item<double>() / strokes.var().item<double>();
  };
  EXPECT_LT(variance(WarpInterpolation::bilinear), 0.6);
  EXPECT_GT(variance(WarpInterpolation::bicubic), 0.8);
}

TrainOptions temporal_options(const TempDir& dir) {
  Config config = make_train_config();
  config.merge_file(dir / "tiny.yaml");
  config.set("run_dir", YAML::Node(dir / "run"));
  for (const char* item : {"loss.temporal.weight=100", "train.validate_every=0"}) config.apply_override(item);
  return train_options_from(config);
}

TEST(TemporalLoss, TrainerLogsItAndResumesBitwise) {
  TempDir dir;
  test::make_data(dir);
  const auto options = temporal_options(dir);
  std::map<std::string, torch::Tensor> straight;
  {
    Trainer trainer(options, Trainer::Start::fresh);
    for (int i = 0; i < 4; ++i) {
      const auto values = loss_values(trainer.step());
      ASSERT_TRUE(values.count("temporal"));
      EXPECT_GT(values.at("temporal"), 0.0);
    }
    for (const auto& item : trainer.net()->named_parameters()) straight[item.key()] = item.value().detach().clone();
  }
  std::filesystem::remove_all(dir / "run");
  {
    Trainer first(options, Trainer::Start::fresh);
    first.step();
    first.step();
    first.checkpoint();
  }
  Trainer resumed(options, Trainer::Start::resume);
  resumed.step();
  resumed.step();
  for (const auto& item : resumed.net()->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), straight.at(item.key()))) << item.key();
}

// A run written before loss.temporal.warp existed warped bilinearly: resumed, it still does (bitwise
// the run it would have been), and the key makes a difference.
TEST(TemporalLoss, RunsWrittenBeforeTheWarpKeyResumeBilinear) {
  TempDir dir;
  test::make_data(dir);
  auto train = [&](const std::string& run, const std::string& extra) {
    const auto result = test::run_command(test::train_command("--config " + (dir / "tiny.yaml") + " run_dir=" + (dir / run) +
                                                              " loss.temporal.weight=100 train.validate_every=0 " + extra));
    EXPECT_EQ(result.exit_code, 0) << result.output;
  };
  train("bilinear", "loss.temporal.warp=bilinear train.iterations=6");
  train("bicubic", "loss.temporal.warp=bicubic train.iterations=6");
  train("older", "loss.temporal.warp=bilinear train.iterations=4");
  const std::string saved = dir / "older/config.yaml";
  std::stringstream kept;
  {
    std::ifstream in(saved);
    for (std::string line; std::getline(in, line);)
      if (line.find("warp:") == std::string::npos) kept << line << "\n";
  }
  std::ofstream(saved) << kept.str();
  const auto resumed = test::run_command(test::train_command("--resume " + (dir / "older") + " train.iterations=6"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  test::expect_same_weights(dir / "older/model.safetensors", dir / "bilinear/model.safetensors");
  const auto bilinear = test::training_lines(dir / "bilinear"), bicubic = test::training_lines(dir / "bicubic");
  EXPECT_NE(bilinear.back()["temporal"].get<double>(), bicubic.back()["temporal"].get<double>());
}

// configs/video.yaml fine-tunes the shipped model with the shipped model's loss (style weighted higher)
// plus loss.temporal.
TEST(TemporalLoss, VideoRecipeIsTheShippedRecipePlusTheTemporalTerm) {
  auto read = [](const std::string& recipe) {
    Config config = make_train_config();
    config.merge_file(test::source_dir() + "/configs/" + recipe);
    return config;
  };
  const Config video = read("video.yaml"), overnight = read("cpu_overnight.yaml");
  EXPECT_GT(video.get_double("loss.temporal.weight"), 0.0);
  EXPECT_EQ(overnight.get_double("loss.temporal.weight"), 0.0);
  for (const char* key : {"loss.content.weight", "loss.tv.weight"})
    EXPECT_EQ(video.get_double(key), overnight.get_double(key)) << key;
  // The one change: a higher style weight holds the strokes against the temporal term.
  EXPECT_GT(video.get_double("loss.style.weight"), overnight.get_double("loss.style.weight"));
  EXPECT_EQ(video.get_weights("loss.style.layers"), overnight.get_weights("loss.style.layers"));
  EXPECT_EQ(video.get_weights("loss.content.layers"), overnight.get_weights("loss.content.layers"));
  for (const char* key : {"model.width", "style.size", "train.loss_jitter"})
    EXPECT_EQ(video.get_int(key), overnight.get_int(key)) << key;
  EXPECT_TRUE(std::filesystem::is_regular_file(test::source_dir() + "/" + video.get_string("model.init")));
  EXPECT_NO_THROW(train_options_from(video).temporal().validate());
}

}  // namespace
}  // namespace nst
