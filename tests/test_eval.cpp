// nst-eval: pairing folders by name (missing counterparts reported), scores that agree with the
// python3-torch reference on a blend of two styles, JSON lines + summary table, nst-optimize configs
// accepted, and one-line errors for bad inputs.
#include <nlohmann/json.hpp>

#include <fstream>

#include "data/image_io.h"
#include "data/safetensors.h"
#include "optimize/evaluation.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

torch::Tensor pattern(int64_t h, int64_t w, double phase) {
  auto y = torch::arange(h, torch::kFloat32).view({h, 1}), x = torch::arange(w, torch::kFloat32).view({1, w});
  auto r = 127.5 + 127.5 * torch::sin(x * 0.3 + phase), g = 127.5 + 127.5 * torch::cos(y * 0.2 - phase);
  return torch::stack({r.expand({h, w}), g.expand({h, w}), 127.5 + 100 * torch::sin((x + y) * 0.11 * phase)});
}

std::string tool(const std::string& name) { return test::bin_dir() + "/" + name; }

const std::string kTinyArgs = test::tiny_loss_args(5, "relu1: 1.0, fire2: 0.5, fire5: 2.0", 2);

TEST(EvalPairing, MatchesByRelativeNameAndReportsMissing) {
  test::TempDir dir;
  for (const char* name : {"content/a.jpg", "content/b.png", "content/sub/c.jpg", "content/lonely.jpg",
                           "stylized/a.png", "stylized/b.png", "stylized/sub/c.png", "stylized/extra.png"}) {
    std::filesystem::create_directories(std::filesystem::path(dir / name).parent_path());
    write_image(dir / name, pattern(8, 8, 1.0));
  }
  const auto plan = plan_evaluation(dir / "content", dir / "stylized");
  ASSERT_EQ(plan.pairs.size(), 3u);
  EXPECT_EQ(plan.pairs[0].name, "a");
  EXPECT_EQ(plan.pairs[0].content, dir / "content/a.jpg");
  EXPECT_EQ(plan.pairs[2].name, "sub/c");
  ASSERT_EQ(plan.missing.size(), 2u);
  EXPECT_NE(plan.missing[0].find("extra.png: no content image"), std::string::npos) << plan.missing[0];
  EXPECT_NE(plan.missing[1].find("lonely.jpg: no stylized image"), std::string::npos) << plan.missing[1];

  const auto single = plan_evaluation(dir / "content/a.jpg", dir / "stylized/b.png");
  ASSERT_EQ(single.pairs.size(), 1u);
  EXPECT_EQ(single.pairs[0].name, "b");
  EXPECT_THROW(plan_evaluation(dir / "content", dir / "stylized/a.png"), std::runtime_error);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_THROW(plan_evaluation(dir / "content", dir / "empty"), std::runtime_error);
}

TEST(EvalConfig, AcceptsOptimizeConfigsButNotUnknownLossKeys) {
  test::TempDir dir;
  std::ofstream(dir / "optimize.yaml") << "loss:\n  tv:\n    weight: 3.5\noptimize:\n  iterations: 9\noutput:\n  size: 64\n";
  std::ofstream(dir / "typo.yaml") << "loss:\n  tv:\n    wieght: 3.5\n";
  Config config = make_eval_config();
  config.merge_file(dir / "optimize.yaml", optimize_only_sections());
  EXPECT_EQ(config.get_double("loss.tv.weight"), 3.5);
  try {
    config.merge_file(dir / "typo.yaml", optimize_only_sections());
    FAIL() << "no error for an unknown key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'loss.tv.weight'"), std::string::npos) << e.what();
  }
}

class EvalTool : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir / "content");
    std::filesystem::create_directories(dir / "stylized");
    write_image(dir / "content/one.png", pattern(40, 56, 1.0));
    write_image(dir / "content/two.png", pattern(48, 48, 2.0));
    write_image(dir / "content/three.png", pattern(48, 48, 2.5));
    write_image(dir / "stylized/one.png", pattern(40, 56, 1.7));
    write_image(dir / "stylized/two.png", pattern(48, 48, 0.4));
    write_image(dir / "style_a.png", pattern(40, 56, 3.0));  // longest side 56 = the stylized image's: no resize
    write_image(dir / "style_b.png", pattern(56, 30, 0.9));
  }
  test::TempDir dir;
};

TEST_F(EvalTool, BatchJsonLinesTableAndMissingCounterpart) {
  const auto ran = test::run_command(tool("nst-eval") + " --content " + dir / "content" + " --style " + dir / "style_a.png" +
                                     " --stylized " + dir / "stylized" + kTinyArgs + " --json " + dir / "scores.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  std::ifstream in(dir / "scores.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["name"], "one");
  EXPECT_EQ(lines[0]["height"], 40);
  EXPECT_EQ(lines[0]["width"], 56);
  for (const char* key : {"total", "content", "style", "tv", "content_fire3", "style_relu1", "style_fire2", "style_fire5"})
    EXPECT_TRUE(lines[1]["losses"].contains(key)) << key;
  const auto& l = lines[1]["losses"];
  EXPECT_NEAR(l["total"].get<double>(), l["content"].get<double>() + l["style"].get<double>() + l["tv"].get<double>(),
              1e-5 * l["total"].get<double>());
  EXPECT_NE(ran.output.find("three.png: no stylized image"), std::string::npos) << ran.output;
  EXPECT_NE(ran.output.find("mean"), std::string::npos) << ran.output;  // the summary table's last row
}

TEST_F(EvalTool, AgreesWithPythonReferenceOnAStyleBlend) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (/usr/bin/python3)");
  // Reference weights (torchvision's squeezenet1_1 features, seeded random, Caffe preprocessing like
  // the real SqueezeNet file), used by both sides.
  auto ran = test::run_command(test::python() + " " + test::source_dir() +
                               "/tests/python/loss_network_reference.py squeezenet1_1 " + dir.str() +
                               " --size 64 --seed 11 --preprocess caffe_bgr_255");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const std::string args = std::string(kTinyArgs) + " loss_network.weights=" + dir / "weights.safetensors" +
                           " 'style.weights=[3, 1]'";
  ran = test::run_command(tool("nst-eval") + " --content " + dir / "content/one.png" + " --style " + dir / "style_a.png" +
                          " --style " + dir / "style_b.png" + " --stylized " + dir / "stylized/one.png" + args +
                          " --json " + dir / "ours.jsonl");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  std::ifstream ours_file(dir / "ours.jsonl");
  std::string ours_line;
  std::getline(ours_file, ours_line);
  const auto ours = nlohmann::json::parse(ours_line)["losses"];

  write_safetensors(dir / "inputs.safetensors", {{"output", read_image(dir / "stylized/one.png").unsqueeze(0)},
                                                 {"content", read_image(dir / "content/one.png").unsqueeze(0)},
                                                 {"style0", read_image(dir / "style_a.png").unsqueeze(0)},
                                                 {"style1", read_image(dir / "style_b.png").unsqueeze(0)}});
  const nlohmann::json config = {{"net", "squeezenet1_1"},
                                 {"content_layers", {{"fire3", 1.0}}},
                                 {"style_layers", {{"relu1", 1.0}, {"fire2", 0.5}, {"fire5", 2.0}}},
                                 {"content_weight", 2.0},
                                 {"style_weight", 1e4},
                                 {"tv_weight", 10.0},
                                 {"blend", {3.0, 1.0}}};
  ran = test::run_loss_reference(dir / "weights.safetensors", dir / "inputs.safetensors", config.dump(),
                                 dir / "losses.safetensors");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const auto reference = read_safetensors(dir / "losses.safetensors").tensors;
  int compared = 0;
  for (const auto& [key, value] : ours.items()) {
    std::string reference_key = key;  // the reference names layers "style.LAYER"
    if (const auto underscore = key.find('_'); underscore != std::string::npos) reference_key[underscore] = '.';
    const double expected = reference.at(reference_key).item<double>();
    EXPECT_NEAR(value.get<double>(), expected, 1e-4 * std::abs(expected) + 1e-9) << key;
    ++compared;
  }
  EXPECT_EQ(compared, 8);
  EXPECT_GT(ours["style"].get<double>(), 0);
  EXPECT_GT(ours["content"].get<double>(), 0);
}

TEST_F(EvalTool, BadInputsGiveOneLineErrors) {
  const std::string style = " --style " + dir / "style_a.png";
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {" --content " + dir / "content" + style + " --stylized " + dir / "stylized/one.png" + kTinyArgs, "both be"},
      {" --content " + dir / "content/one.png" + " --style " + dir / "nope.jpg" + " --stylized " + dir / "stylized/one.png" +
           kTinyArgs,
       "nope.jpg: no such file"},
      {" --content " + dir / "content/one.png" + style + " --stylized " + dir / "stylized/one.png" + kTinyArgs +
           " eval.sise=3",
       "did you mean 'eval.size'"},
      {" --content " + dir / "content/one.png" + style + " --stylized " + dir / "stylized/one.png" + kTinyArgs +
           " 'loss.content.layers={fire42: 1.0}'",
       "fire42"},
      {" --content " + dir / "content/one.png" + style + " --stylized " + dir / "stylized/one.png" +
           " loss_network.name=vgg16 loss_network.weights=" + dir / "vgg16.safetensors",
       "convert_torchvision_weights.py"},
      {" --content " + dir / "content/one.png" + style + " --stylized " + dir / "missing" + kTinyArgs,
       "missing: no such file"},
  };
  for (const auto& c : cases) {
    const auto ran = test::run_command(tool("nst-eval") + c.args);
    EXPECT_EQ(ran.exit_code, 1) << c.args << "\n" << ran.output;
    EXPECT_EQ(ran.output.rfind("nst-eval: error: ", 0), 0u) << ran.output;
    EXPECT_NE(ran.output.find(c.expected), std::string::npos) << c.args << "\n" << ran.output;
    EXPECT_EQ(std::count(ran.output.begin(), ran.output.end(), '\n'), 1) << ran.output;
  }
  // A corrupt stylized image in a batch: the others are scored, the run fails naming the file.
  std::ofstream(dir / "stylized/two.png") << "not a png";
  const auto ran = test::run_command(tool("nst-eval") + " --content " + dir / "content" + style + " --stylized " +
                                     dir / "stylized" + kTinyArgs);
  EXPECT_EQ(ran.exit_code, 1) << ran.output;
  EXPECT_NE(ran.output.find("two.png"), std::string::npos) << ran.output;
  EXPECT_NE(ran.output.find("\"name\":\"one\""), std::string::npos) << ran.output;
}

TEST(CompareQuality, ScriptPlacesAModelOnTheOptimizerCurve) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "photos");
  write_image(dir / "photos/p1.jpg", pattern(40, 56, 1.0));
  write_image(dir / "photos/p2.png", pattern(48, 40, 2.0));
  write_image(dir / "style.png", pattern(48, 48, 3.0));
  torch::manual_seed(1);
  TransformerNet net(TransformerNetOptions().width(8).res_blocks(1));
  save_model(dir / "model.safetensors", net, nlohmann::json::object());
  std::ofstream(dir / "loss.yaml") << "loss_network: {name: squeezenet1_1, weights: random}\n"
                                      "loss:\n  content: {layers: {fire3: 1.0}, weight: 1.0}\n"
                                      "  style: {layers: {relu1: 1.0, fire2: 1.0}, weight: 1.0e4}\n";
  const auto ran = test::run_command("cd " + test::source_dir() + " && CONFIG=" + dir / "loss.yaml" +
                                     " SIZE=32 ITERATIONS='2 4' THREADS=1 BIN=" + test::bin_dir() + " WORK=" + dir / "work" +
                                     " scripts/compare_quality.sh " + dir / "model.safetensors" + " " + dir / "style.png" +
                                     " " + dir / "photos");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("model loss ~= L-BFGS iteration"), std::string::npos) << ran.output;
  EXPECT_NE(ran.output.find("p1 "), std::string::npos) << ran.output;
  EXPECT_NE(ran.output.find("p2 "), std::string::npos) << ran.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "work/iter_4/p2.png"));
  // Without CONFIG: the objective the model was trained with, from its provenance; a model trained
  // with loss.temporal (a training-only term nst-optimize does not know) works too.
  save_model(dir / "trained.safetensors", net,
             {{"config", "loss_network: {name: squeezenet1_1, weights: random}\n"
                         "loss:\n  content: {layers: {fire3: 1.0}, weight: 1.0}\n"
                         "  style: {layers: {relu1: 1.0, fire2: 1.0}, weight: 1.0e4}\n"
                         "  temporal: {weight: 2.0e5, flow_max: 6.0, flow_grid: 4, noise: 4.0}\n"
                         "style: {size: 48, weights: []}\n"}});
  const auto trained = test::run_command("cd " + test::source_dir() + " && SIZE=32 ITERATIONS='2' THREADS=1 BIN=" +
                                         test::bin_dir() + " WORK=" + dir / "work2" + " scripts/compare_quality.sh " +
                                         dir / "trained.safetensors" + " " + dir / "style.png" + " " + dir / "photos");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("model loss ~= L-BFGS iteration"), std::string::npos) << trained.output;
  // LINE_SEARCH=none: Johnson et al.'s projected L-BFGS, fixed steps (here 30x too long, so the line
  // search would shorten them): one evaluation per iteration and another path than the line search's.
  std::ofstream(dir / "long_steps.yaml") << "loss_network: {name: squeezenet1_1, weights: random}\n"
                                            "loss:\n  content: {layers: {fire3: 1.0}, weight: 1.0}\n"
                                            "  style: {layers: {relu1: 1.0, fire2: 1.0}, weight: 1.0e4}\n"
                                            "optimize: {lbfgs: {lr: 30.0}}\n";
  auto optimizer_curve = [&](const std::string& line_search, const std::string& work) {
    const auto ran = test::run_command("cd " + test::source_dir() + " && LINE_SEARCH=" + line_search + " CONFIG=" +
                                       dir / "long_steps.yaml" + " SIZE=32 ITERATIONS='4' LIMIT=1 THREADS=1 BIN=" +
                                       test::bin_dir() + " WORK=" + dir / work.c_str() + " scripts/compare_quality.sh " +
                                       dir / "model.safetensors" + " " + dir / "style.png" + " " + dir / "photos");
    EXPECT_EQ(ran.exit_code, 0) << ran.output;
    std::ifstream in(dir / (work + "/curves/p1.jsonl"));
    std::string line, last;
    while (std::getline(in, line)) last = line;
    return last.empty() ? nlohmann::json::object() : nlohmann::json::parse(last);
  };
  const auto searched = optimizer_curve("strong_wolfe", "searched"), unit = optimizer_curve("none", "unit");
  ASSERT_EQ(searched["iteration"], 4);
  ASSERT_EQ(unit["iteration"], 4);
  EXPECT_EQ(unit["evaluations"], 5);
  EXPECT_GT(searched["evaluations"].get<int>(), 5);
  const auto bad_search = test::run_command("cd " + test::source_dir() + " && LINE_SEARCH=wolfe scripts/compare_quality.sh " +
                                            dir / "trained.safetensors" + " " + dir / "style.png" + " " + dir / "photos");
  EXPECT_NE(bad_search.exit_code, 0);
  EXPECT_NE(bad_search.output.find("LINE_SEARCH must be strong_wolfe or none, got 'wolfe'"), std::string::npos)
      << bad_search.output;
  // Bad arguments: one clear line.
  const auto bad = test::run_command(test::source_dir() + "/scripts/compare_quality.sh " + dir / "nope.safetensors" + " " +
                                     dir / "style.png" + " " + dir / "photos");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("nope.safetensors: no such model file"), std::string::npos) << bad.output;
}

// scripts/quality_meter.py: the painting scored against itself has no style error; a photo unchanged
// keeps all its structure and a flat grey image none; pixel-scale stripes and a painted frame show in
// the fine and border figures; the JSON has every figure per column.
TEST(QualityMeter, SeparatesStyleFromStructure) {
  NST_REQUIRE_OR_SKIP(test::have_shared() && test::have_python_torch(),
                      "needs ../shared (SqueezeNet weights, a painting) and Debian's python3-torch");
  test::TempDir dir;
  std::filesystem::create_directories(dir / "photos");
  std::filesystem::create_directories(dir / "flat");
  const std::string painting = test::shared_dir() + "/data/styles/mosaic.jpg";
  std::filesystem::copy_file(painting, dir / "photos/painting.jpg");
  write_image(dir / "flat/painting.png", torch::full({3, 64, 64}, 128.0));
  // Grey with one-pixel stripes (all the power at the finest scale) and a white two-pixel frame.
  std::filesystem::create_directories(dir / "hatched");
  // 256 px, the meter's --size: not resized.
  auto hatched = torch::full({3, 256, 256}, 100.0);
  hatched.slice(1, 0, 256, 2).fill_(140.0);
  hatched.slice(1, 0, 2).fill_(255.0), hatched.slice(1, 254, 256).fill_(255.0);
  hatched.slice(2, 0, 2).fill_(255.0), hatched.slice(2, 254, 256).fill_(255.0);
  write_image(dir / "hatched/painting.png", hatched);
  const auto ran = test::run_command(test::python() + " " + test::source_dir() + "/scripts/quality_meter.py --style " +
                                     painting + " --photos " + dir / "photos" + " --size 256 --threads 1 --json " +
                                     dir / "meter.json" + " same=" + dir / "photos" + " flat=" + dir / "flat" +
                                     " hatched=" + dir / "hatched");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_CONTAINS(ran.output, "same");
  std::ifstream in(dir / "meter.json");
  const auto meter = nlohmann::json::parse(in);
  EXPECT_EQ(meter["same"]["photos"], 1);
  EXPECT_GT(meter["same"]["structure"].get<double>(), 0.999);
  EXPECT_LT(std::abs(meter["flat"]["structure"].get<double>()), 0.05);
  EXPECT_LT(meter["same"]["style_mean"].get<double>(), 1e-4);
  EXPECT_GT(meter["flat"]["style_mean"].get<double>(), 0.1);
  // fine: the painting has some pixel-scale power, flat grey none, the stripes (under their frame) a large share;
  // border: the painting and flat grey have no frame, the white one is ~150 grey levels.
  EXPECT_GT(meter["same"]["fine"].get<double>(), 0.1);
  EXPECT_LT(meter["same"]["fine"].get<double>(), 20.0);
  EXPECT_LT(meter["flat"]["fine"].get<double>(), 1e-6);
  EXPECT_GT(meter["hatched"]["fine"].get<double>(), 30.0);
  EXPECT_LT(meter["same"]["border"].get<double>(), 20.0);
  EXPECT_LT(meter["flat"]["border"].get<double>(), 1e-6);
  EXPECT_GT(meter["hatched"]["border"].get<double>(), 100.0);
  const auto bad = test::run_command(test::python() + " " + test::source_dir() + "/scripts/quality_meter.py --style " +
                                     dir / "absent.jpg" + " --photos " + dir / "photos" + " x=" + dir / "flat");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_CONTAINS(bad.output, "absent.jpg: no such style image");
}

}  // namespace
}  // namespace nst
