// nst-optimize: helpers (sizes, luminance), schedule validation, L-BFGS/Adam convergence on a tiny
// image with a random-weight SqueezeNet, coarse to fine, determinism, colour preservation, and the
// executable: its final loss equals nst-eval's score of the written image and the python3-torch
// reference; bad inputs give one-line errors.
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "data/image_io.h"
#include "data/safetensors.h"
#include "test_support.h"
#include "optimize/optimize.h"

namespace nst {
namespace {

// Smooth synthetic "photo" and a striped "painting", RGB 0..255.
torch::Tensor test_content(int64_t h, int64_t w) {
  auto y = torch::linspace(0, 1, h).view({h, 1}), x = torch::linspace(0, 1, w).view({1, w});
  auto r = 255 * x.expand({h, w}), g = 255 * y.expand({h, w});
  auto b = 255 * ((x - 0.5).pow(2) + (y - 0.5).pow(2) < 0.1).to(torch::kFloat32);
  return torch::stack({r, g, b});
}
torch::Tensor test_style(int64_t h, int64_t w) {
  auto y = torch::arange(h, torch::kFloat32).view({h, 1}), x = torch::arange(w, torch::kFloat32).view({1, w});
  auto wave = torch::sin((x + y) * 0.7) * 0.5 + 0.5;
  return torch::stack({255 * wave, 255 * (1 - wave) * 0.6, 80 + 0 * wave}).expand({3, h, w}).contiguous();
}

// A tiny problem on a random SqueezeNet: style-dominated so the loss has far to fall from the content.
OptimizeOptions tiny_options(const std::vector<std::string>& overrides = {}) {
  Config config(optimize_defaults_yaml(), loss_weight_maps());
  for (const char* item : {"loss_network.name=squeezenet1_1", "loss_network.weights=random", "seed=3",
                           "loss.content.layers={fire3: 1.0}", "loss.style.layers={relu1: 1.0, fire2: 1.0, fire5: 1.0}",
                           "loss.content.weight=1.0", "loss.style.weight=1.0e4", "output.size=48", "optimize.iterations=25"})
    config.apply_override(item);
  for (const auto& item : overrides) config.apply_override(item);
  return optimize_options_from(config);
}

TEST(OptimizeHelpers, FitLongestSideAndResize) {
  EXPECT_EQ(fit_longest_side(480, 640, 320), (std::pair<int64_t, int64_t>{240, 320}));
  EXPECT_EQ(fit_longest_side(1000, 10, 50), (std::pair<int64_t, int64_t>{50, 1}));
  const auto image = test_content(30, 40);
  EXPECT_TRUE(torch::equal(resize_image(image, 30, 40), image));  // identity at the same size
  const auto small = resize_image(image, 15, 20), large = resize_image(image, 60, 80);
  EXPECT_EQ(small.sizes(), torch::IntArrayRef({3, 15, 20}));
  EXPECT_EQ(large.sizes(), torch::IntArrayRef({3, 60, 80}));
  EXPECT_NEAR(small.mean().item<double>(), image.mean().item<double>(), 1.0);
  EXPECT_GE(large.min().item<double>(), 0.0);
  EXPECT_LE(large.max().item<double>(), 255.0);
}

TEST(OptimizeHelpers, LuminanceSwapKeepsChrominance) {
  const auto a = test_content(8, 8), b = test_style(8, 8);
  const auto y = luminance(b);
  EXPECT_LT((luminance(a) - (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2])).abs().max().item<double>(), 1e-3);
  const auto swapped = with_luminance(a, y);
  EXPECT_LT((luminance(swapped) - y).abs().max().item<double>(), 1e-3);
  // I and Q (the rows of the YIQ matrix orthogonal to luminance) are unchanged.
  auto i_of = [](const torch::Tensor& t) { return 0.595716 * t[0] - 0.274453 * t[1] - 0.321263 * t[2]; };
  auto q_of = [](const torch::Tensor& t) { return 0.211456 * t[0] - 0.522591 * t[1] + 0.311135 * t[2]; };
  EXPECT_LT((i_of(swapped) - i_of(a)).abs().max().item<double>(), 1e-3);
  EXPECT_LT((q_of(swapped) - q_of(a)).abs().max().item<double>(), 1e-3);
  EXPECT_TRUE(torch::allclose(with_luminance(a, luminance(a)), a, 1e-4, 1e-3));
}

TEST(OptimizeSchedule, LevelsAndErrors) {
  auto levels = schedule_for(tiny_options({"output.size=0", "optimize.iterations=7"}), 30, 50);
  ASSERT_EQ(levels.size(), 1u);
  EXPECT_EQ(levels[0].size, 50);
  EXPECT_EQ(levels[0].iterations, 7);
  levels = schedule_for(tiny_options({"output.size=64", "optimize.schedule.sizes=[16, 32, 64]",
                                      "optimize.schedule.iterations=[5, 4, 3]"}),
                         30, 50);
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[2].size, 64);
  EXPECT_EQ(levels[1].iterations, 4);
  auto error_of = [](const std::vector<std::string>& overrides) {
    try {
      schedule_for(tiny_options(overrides), 30, 50);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({"optimize.schedule.sizes=[16, 48]", "optimize.schedule.iterations=[5]"}).find("entries"),
            std::string::npos);
  EXPECT_NE(error_of({"optimize.schedule.sizes=[32, 16, 48]", "optimize.schedule.iterations=[1, 1, 1]"}).find("increase"),
            std::string::npos);
  EXPECT_NE(error_of({"optimize.schedule.sizes=[16, 32]", "optimize.schedule.iterations=[1, 1]"}).find("output.size is 48"),
            std::string::npos);
  EXPECT_NE(error_of({"output.size=4"}).find("impossible"), std::string::npos);
}

TEST(Optimize, LbfgsLossFallsNearlyMonotonically) {
  const auto result = optimize_image(tiny_options(), test_content(36, 48), {test_style(40, 40)});
  ASSERT_EQ(result.curve.size(), 26u);
  EXPECT_EQ(result.image.sizes(), torch::IntArrayRef({3, 36, 48}));
  const double initial = result.curve.front().losses.at("total"), final = result.curve.back().losses.at("total");
  EXPECT_GT(initial, 0);
  EXPECT_LT(final, 0.2 * initial) << "initial " << initial << " final " << final;
  int increases = 0;
  for (size_t i = 1; i < result.curve.size(); ++i)
    increases += result.curve[i].losses.at("total") > result.curve[i - 1].losses.at("total") * (1 + 1e-6);
  EXPECT_LE(increases, 2);  // strong Wolfe line search; clamping to 0..255 may cost a rare small rise
  EXPECT_GE(result.curve.back().evaluations, 25);
  // Pixels are kept in range while optimizing, so 8-bit quantization changes the loss very little.
  EXPECT_NEAR(result.written_loss.at("total") / final, 1.0, 0.02);
}

TEST(Optimize, AdamAndNoiseInitAlsoDescend) {
  const auto result = optimize_image(
      tiny_options({"optimize.optimizer=adam", "optimize.adam.lr=8", "optimize.init=noise", "optimize.iterations=30"}),
      test_content(36, 48), {test_style(40, 40)});
  const double initial = result.curve.front().losses.at("total"), final = result.curve.back().losses.at("total");
  EXPECT_LT(final, 0.5 * initial) << "initial " << initial << " final " << final;
  EXPECT_EQ(result.curve.back().evaluations, 31);  // one per step plus the initial point
}

TEST(Optimize, CoarseToFineUpsamplesBetweenLevels) {
  int level_starts = 0;
  const auto result = optimize_image(
      tiny_options({"output.size=48", "optimize.schedule.sizes=[24, 48]", "optimize.schedule.iterations=[6, 4]"}),
      test_content(36, 48), {test_style(40, 40)}, [&](const IterationRecord& r, const std::function<torch::Tensor()>&) {
        level_starts += r.evaluations == 1 || (r.level == 1 && r.iteration == 6 && r.height == 36);
        return true;
      });
  EXPECT_EQ(result.image.sizes(), torch::IntArrayRef({3, 36, 48}));
  ASSERT_EQ(result.curve.size(), 12u);  // 1 + 6 at 18x24, 1 + 4 at 36x48
  EXPECT_EQ(result.curve[6].height, 18);
  EXPECT_EQ(result.curve[7].level, 1);
  EXPECT_EQ(result.curve[7].height, 36);
  EXPECT_EQ(result.curve.back().iteration, 10);
  EXPECT_EQ(level_starts, 2);
}

TEST(Optimize, SameSeedSameImage) {
  const auto config = tiny_options({"optimize.init=noise", "optimize.iterations=5"});
  const auto a = optimize_image(config, test_content(36, 48), {test_style(40, 40)});
  const auto b = optimize_image(config, test_content(36, 48), {test_style(40, 40)});
  EXPECT_TRUE(torch::equal(a.image, b.image));
  const auto c = optimize_image(tiny_options({"optimize.init=noise", "optimize.iterations=5", "seed=4"}),
                                test_content(36, 48), {test_style(40, 40)});
  EXPECT_FALSE(torch::equal(a.image, c.image));
}

TEST(Optimize, PreserveColorKeepsContentChrominance) {
  const auto content = test_content(36, 48);
  const auto result = optimize_image(tiny_options({"preserve_color=true", "optimize.iterations=10"}), content,
                                     {test_style(40, 40)});
  auto i_of = [](const torch::Tensor& t) { return 0.595716 * t[0] - 0.274453 * t[1] - 0.321263 * t[2]; };
  // Chrominance survives up to rounding (and clamping where the new luminance pushes a channel out of range).
  const auto di = (i_of(result.image) - i_of(content)).abs();
  EXPECT_LT(di.median().item<double>(), 1.0);
  EXPECT_GT((luminance(result.image) - luminance(content)).abs().mean().item<double>(), 1.0);  // luminance did change
  EXPECT_LT(result.curve.back().losses.at("total"), result.curve.front().losses.at("total"));
}

// ---------------------------------------------------------------------------------------------
// The executables.

std::string tool(const std::string& name) { return test::bin_dir() + "/" + name; }

const std::string kTinyArgs = test::tiny_loss_args(3, "relu1: 1.0, fire2: 1.0, fire5: 1.0", 1);

class OptimizeTool : public ::testing::Test {
 protected:
  void SetUp() override {
    write_image(dir / "content.png", test_content(36, 48));
    write_image(dir / "style.png", test_style(48, 48));
  }
  test::TempDir dir;
};

TEST_F(OptimizeTool, FinalLossEqualsEvalOfWrittenImageAndPythonReference) {
  auto ran = test::run_command(tool("nst-optimize") + " --content " + dir / "content.png" + " --style " +
                               dir / "style.png" + " --output " + dir / "out/result.png" + kTinyArgs +
                               " output.size=48 optimize.iterations=12 output.snapshot_every=5 output.curve=" + dir / "curve.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  nlohmann::json summary;  // the one JSON line on stdout (progress goes to stderr)
  std::istringstream output(ran.output);
  for (std::string line; std::getline(output, line);)
    if (line.rfind("{\"", 0) == 0) summary = nlohmann::json::parse(line);
  ASSERT_TRUE(summary.contains("written_losses")) << ran.output;
  EXPECT_EQ(summary["iterations"], 12);
  EXPECT_TRUE(std::filesystem::exists(dir / "out/result.iter0005.png"));
  EXPECT_TRUE(std::filesystem::exists(dir / "out/result.iter0010.png"));
  std::ifstream curve(dir / "curve.jsonl");
  int lines = 0;
  for (std::string line; std::getline(curve, line);) ++lines;
  EXPECT_EQ(lines, 13);

  // nst-eval, same loss settings, on the written 8-bit image: equal to the optimizer's own score of
  // what it wrote (same code, same pixels); within 2% of the float image's loss it minimized.
  ran = test::run_command(tool("nst-eval") + " --content " + dir / "content.png" + " --style " + dir / "style.png" +
                          " --stylized " + dir / "out/result.png" + kTinyArgs + " --json " + dir / "eval.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  std::ifstream eval_file(dir / "eval.jsonl");
  std::string eval_line;
  std::getline(eval_file, eval_line);
  const auto eval = nlohmann::json::parse(eval_line);
  for (const auto& [key, value] : summary["written_losses"].items())
    EXPECT_NEAR(eval["losses"][key].get<double>(), value.get<double>(), 1e-5 * std::abs(value.get<double>()) + 1e-9) << key;
  EXPECT_NEAR(eval["losses"]["total"].get<double>() / summary["losses"]["total"].get<double>(), 1.0, 0.02);

  // python3-torch (torchvision's squeezenet1_1 features, plain autograd losses) on the same weights
  // and pixels: LossNetwork's random weights are saved here for it.
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (/usr/bin/python3)");
  torch::manual_seed(3);
  LossNetwork net(LossNetworkKind::squeezenet1_1, "");
  std::map<std::string, torch::Tensor> weights;
  for (const auto& item : net->named_parameters()) weights[item.key()] = item.value();
  ASSERT_EQ(weights.count("features.0.weight"), 1u) << "LossNetwork parameter names are not torchvision's";
  write_safetensors(dir / "weights.safetensors", weights, {{"preprocess", net->preprocess()}});
  write_safetensors(dir / "inputs.safetensors", {{"output", read_image(dir / "out/result.png").unsqueeze(0)},
                                                 {"content", read_image(dir / "content.png").unsqueeze(0)},
                                                 {"style0", read_image(dir / "style.png").unsqueeze(0)}});
  const nlohmann::json config = {{"net", "squeezenet1_1"},
                                 {"content_layers", {{"fire3", 1.0}}},
                                 {"style_layers", {{"relu1", 1.0}, {"fire2", 1.0}, {"fire5", 1.0}}},
                                 {"content_weight", 1.0},
                                 {"style_weight", 1e4},
                                 {"tv_weight", 10.0},
                                 {"blend", {1.0}}};
  ran = test::run_loss_reference(dir / "weights.safetensors", dir / "inputs.safetensors", config.dump(),
                                 dir / "reference.safetensors");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const auto reference = read_safetensors(dir / "reference.safetensors").tensors;
  int compared = 0;
  for (const auto& [key, value] : summary["written_losses"].items()) {
    std::string reference_key = key;  // the reference names layers "style.LAYER"
    if (const auto underscore = key.find('_'); underscore != std::string::npos) reference_key[underscore] = '.';
    const double expected = reference.at(reference_key).item<double>();
    ++compared;
    EXPECT_NEAR(value.get<double>(), expected, 1e-4 * std::abs(expected) + 1e-9) << key;
  }
  EXPECT_EQ(compared, 8);
}

TEST_F(OptimizeTool, PreserveColorScoresAgreeToo) {
  auto ran = test::run_command(tool("nst-optimize") + " --preserve-color --content " + dir / "content.png" + " --style " +
                               dir / "style.png" + " --output " + dir / "kept.png" + kTinyArgs +
                               " output.size=48 optimize.iterations=4");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  nlohmann::json summary;
  std::istringstream output(ran.output);
  for (std::string line; std::getline(output, line);)
    if (line.rfind("{\"", 0) == 0) summary = nlohmann::json::parse(line);
  ASSERT_TRUE(summary.contains("written_losses")) << ran.output;
  ran = test::run_command(tool("nst-eval") + " --preserve-color --content " + dir / "content.png" + " --style " +
                          dir / "style.png" + " --stylized " + dir / "kept.png" + kTinyArgs + " --json " + dir / "e.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  std::ifstream eval_file(dir / "e.jsonl");
  std::string eval_line;
  std::getline(eval_file, eval_line);
  const auto eval = nlohmann::json::parse(eval_line)["losses"];
  for (const auto& [key, value] : summary["written_losses"].items())
    EXPECT_NEAR(eval[key].get<double>(), value.get<double>(), 1e-5 * std::abs(value.get<double>()) + 1e-9) << key;
  // Scored in colour instead, the same image gives another number: the flag matters.
  ran = test::run_command(tool("nst-eval") + " --content " + dir / "content.png" + " --style " + dir / "style.png" +
                          " --stylized " + dir / "kept.png" + kTinyArgs + " --json " + dir / "c.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  std::ifstream colour_file(dir / "c.jsonl");
  std::getline(colour_file, eval_line);
  EXPECT_GT(std::abs(nlohmann::json::parse(eval_line)["losses"]["total"].get<double>() / eval["total"].get<double>() - 1),
            1e-3);
}

TEST_F(OptimizeTool, BadInputsGiveOneLineErrors) {
  const std::string base = tool("nst-optimize") + " --content " + dir / "content.png" + " --output " + dir / "o.png";
  const std::string style = " --style " + dir / "style.png";
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {" --style " + dir / "missing.jpg" + kTinyArgs, "missing.jpg: no such file"},
      {style + kTinyArgs + " loss.content.weight=0 loss.style.weight=0 loss.tv.weight=0", "zero"},
      {style + kTinyArgs + " 'loss.style.layers={relu9_9: 1.0}'", "relu9_9"},
      {style + kTinyArgs + " optimize.iteratons=5", "did you mean 'optimize.iterations'"},
      {style + " loss_network.name=vgg19 loss_network.weights=" + dir / "vgg19.safetensors",
       "convert_torchvision_weights.py"},
      {style + " loss_network.name=vgg19", "loss_network.weights is not set"},
      {kTinyArgs, "--style IMG is required"},
      {style + kTinyArgs + " optimize.optimizer=sgd", "optimize.optimizer must be lbfgs or adam"},
      {style + kTinyArgs + " output.size=5", "impossible"},
      {style + kTinyArgs + " optimize.init=" + dir / "nope.png", "nope.png: no such file"},
  };
  for (const auto& c : cases) {
    const auto ran = test::run_command(base + c.args);
    EXPECT_EQ(ran.exit_code, 1) << c.args << "\n" << ran.output;
    EXPECT_EQ(ran.output.rfind("nst-optimize: error: ", 0), 0u) << ran.output;
    EXPECT_NE(ran.output.find(c.expected), std::string::npos) << c.args << "\n" << ran.output;
    EXPECT_EQ(std::count(ran.output.begin(), ran.output.end(), '\n'), 1) << ran.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "o.png"));
}

}  // namespace
}  // namespace nst
