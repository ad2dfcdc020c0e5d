// nst-train end to end on tiny synthetic data (32 px photos, a narrow net, a random-weight loss
// network): the loss decreases, the run directory has everything, a corrupt photo is skipped and
// listed, resuming equals an uninterrupted run bit for bit (also after SIGTERM and with another number
// of loader threads), NaN/Inf stops the run, config errors are one clear line, and nst-infer runs the model.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/precision.h"
#include "nets/model_file.h"
#include "train_fixture.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using nst::test::expect_same_weights;
using nst::test::make_data;
using nst::test::read_log;
using nst::test::run_command;
using nst::test::TempDir;
using nst::test::train_command;
using nst::test::training_lines;

TEST(Train, TinyRunLearnsAndWritesARunDirectory) {
  TempDir dir;
  make_data(dir);
  const std::string run = dir / "run";
  const auto result = run_command(train_command("--config " + (dir / "tiny.yaml") + " run_dir=" + run + " train.iterations=24"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_CONTAINS(result.output, "corrupt.jpg");  // the skipped file is named on the terminal

  // Loss decreases: mean of the last 4 iterations well below the first 4.
  const auto lines = training_lines(run);
  ASSERT_EQ(lines.size(), 24u);
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) first += lines[i]["total"].get<double>(), last += lines[lines.size() - 1 - i]["total"].get<double>();
  EXPECT_LT(last, 0.7 * first) << "first 4: " << first / 4 << ", last 4: " << last / 4;
  for (const char* field : {"iteration", "total", "content", "style", "tv", "content_fire2", "style_relu1", "style_fire3", "lr", "it_per_s", "epoch"})
    EXPECT_TRUE(lines.back().contains(field)) << field;

  // The corrupt photo is skipped, counted and listed in the log.
  bool listed = false;
  for (const auto& line : read_log(run))
    if (line.value("event", "") == "skipped_image") listed = line["file"].get<std::string>().find("corrupt.jpg") != std::string::npos;
  EXPECT_TRUE(listed);
  EXPECT_EQ(lines.back()["skipped_images"].get<int>(), 1);

  // Validation losses, previews, pruned checkpoints, resolved config.
  int validations = 0;
  for (const auto& line : read_log(run)) validations += line.value("phase", "") == "validation" && line.contains("val_style");
  EXPECT_EQ(validations, 4);  // iterations 6, 12, 18 and the end
  EXPECT_TRUE(fs::exists(run + "/previews/iter_000006_p0.jpg"));
  EXPECT_TRUE(fs::exists(run + "/previews/iter_000024_p2.jpg"));
  std::vector<std::string> checkpoints;
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints")) checkpoints.push_back(entry.path().filename());
  std::sort(checkpoints.begin(), checkpoints.end());
  EXPECT_EQ(checkpoints, (std::vector<std::string>{"ckpt_00000020.pt", "ckpt_00000024.pt"}));
  std::ifstream config(run + "/config.yaml");
  const std::string config_text((std::istreambuf_iterator<char>(config)), {});
  EXPECT_CONTAINS(config_text, "iterations: 24");
  EXPECT_CONTAINS(config_text, (fs::path(dir.str()) / "photos").string());  // absolute paths

  // The model file carries the architecture and provenance, and loads.
  const auto model = nst::load_model(run + "/model.safetensors");
  EXPECT_EQ(model.net->options().width(), 8);
  EXPECT_EQ(model.net->options().res_blocks(), 1);
  EXPECT_EQ(model.provenance["iterations"].get<int>(), 24);
  EXPECT_EQ(model.provenance["style_images"][0]["name"].get<std::string>(), "style.png");
  EXPECT_EQ(model.provenance["style_images"][0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_CONTAINS(model.provenance["config"].get<std::string>(), "squeezenet1_1");

  // ... and runs in nst-infer.
  const std::string infer = nst::test::bin_dir() + "/nst-infer";
  ASSERT_TRUE(fs::exists(infer)) << "nst-infer is not built";
  const auto stylized = run_command(infer + " --threads 1 --model " + run + "/model.safetensors --input " + (dir / "photos/p0.png") +
                                    " --output " + (dir / "out.png"));
  ASSERT_EQ(stylized.exit_code, 0) << stylized.output;
  const cv::Mat out = cv::imread(dir / "out.png"), in = cv::imread(dir / "photos/p0.png");
  EXPECT_EQ(out.size(), in.size());
}

// train.precision: auto times both precisions at start, says which it took and records the choice
// in the run's config.yaml, so a resume trains in the same precision without measuring again.
TEST(Train, AutoPrecisionIsMeasuredOnceAndRecorded) {
  TempDir dir;
  make_data(dir);
  const std::string run = dir / "run";
  const std::string cache = "XDG_CACHE_HOME=" + (dir / "xdg") + " ";
  const auto result = run_command(cache + train_command("--config " + (dir / "tiny.yaml") + " run_dir=" + run +
                                                        " train.iterations=2 train.precision=auto"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string saved = nst::test::read_bytes(run + "/config.yaml");
  const bool fp32 = saved.find("precision: fp32") != std::string::npos;
  const bool bf16 = saved.find("precision: bf16") != std::string::npos;
  EXPECT_TRUE(fp32 != bf16) << saved;
  if (nst::cpu_runs_bf16_natively()) {
    EXPECT_CONTAINS(result.output, "x the time of fp32 for nst-train step of net");
    EXPECT_CONTAINS(result.output, std::string("train.precision auto: ") + (fp32 ? "fp32" : "bf16"));
  } else {  // bf16 is no candidate without AVX-512: fp32, untimed
    EXPECT_TRUE(fp32) << saved;
    EXPECT_EQ(result.output.find("train.precision auto"), std::string::npos) << result.output;
  }

  // A second run measures nothing either: the machine's choice is cached.
  const auto second = run_command(cache + train_command("--config " + (dir / "tiny.yaml") + " run_dir=" + (dir / "run2") +
                                                        " train.iterations=1 train.precision=auto"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(second.output.find("train.precision auto"), std::string::npos) << second.output;
  const auto resumed = run_command(train_command("--resume " + run + " train.iterations=3"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(resumed.output.find("train.precision auto"), std::string::npos) << resumed.output;
}

TEST(Train, ResumeEqualsAnUninterruptedRunBitForBit) {
  TempDir dir;
  make_data(dir);
  const std::string config = "--config " + (dir / "tiny.yaml");
  // Uninterrupted, one loader thread.
  auto a = run_command(train_command(config + " run_dir=" + (dir / "a") + " data.loader_threads=1"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  // Stopped after 6 iterations (mid-epoch, not at a checkpoint multiple of 4), then resumed to 12 with
  // three loader threads.
  auto b1 = run_command(train_command(config + " run_dir=" + (dir / "b") + " train.iterations=6 data.loader_threads=3"));
  ASSERT_EQ(b1.exit_code, 0) << b1.output;
  auto b2 = run_command(train_command("--resume " + (dir / "b") + " train.iterations=12"));
  ASSERT_EQ(b2.exit_code, 0) << b2.output;
  EXPECT_CONTAINS(b2.output, "resuming");
  expect_same_weights(dir / "a/model.safetensors", dir / "b/model.safetensors");
  // The log has each iteration once.
  const auto lines = training_lines(dir / "b");
  ASSERT_EQ(lines.size(), 12u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["iteration"].get<size_t>(), i + 1);
  // Another seed gives other weights (so the equality above means something).
  auto c = run_command(train_command(config + " run_dir=" + (dir / "c") + " seed=7"));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto x = nst::read_safetensors(dir / "a/model.safetensors"), y = nst::read_safetensors(dir / "c/model.safetensors");
  EXPECT_FALSE(torch::equal(x.tensors.at("conv1.conv2d.weight"), y.tensors.at("conv1.conv2d.weight")));
}

TEST(Train, SigtermWritesACheckpointAndResumeFinishesIdentically) {
  TempDir dir;
  make_data(dir);
  const std::string config = "--config " + (dir / "tiny.yaml") + " train.validate_every=0";

  // Start in the background, wait for the first training log line, then SIGTERM. The run is far too
  // long to finish first, so the signal always interrupts it.
  const std::string run = dir / "int";
  const std::string pid_file = dir / "pid";
  ASSERT_EQ(std::system(("(" + train_command(config + " train.iterations=1000000 run_dir=" + run) + " > " + (dir / "int.out") +
                         " 2>&1 & echo $! > " + pid_file + "; wait $!; echo $? > " + (dir / "int.rc") + ") &").c_str()),
            0);
  bool started = false;
  for (int i = 0; i < 6000 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    started = !training_lines(run).empty();
  }
  ASSERT_TRUE(started) << "no training progress";
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 6000 && !fs::exists(dir / "int.rc"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::ifstream rc_file(dir / "int.rc");
  int rc = -1;
  rc_file >> rc;
  std::ifstream out_file(dir / "int.out");
  const std::string out((std::istreambuf_iterator<char>(out_file)), {});
  EXPECT_EQ(rc, 130) << out;
  EXPECT_CONTAINS(out, "checkpoint written");
  EXPECT_FALSE(fs::exists(run + "/model.safetensors"));

  // Resumed to a few iterations past the interruption, it ends where an uninterrupted run does.
  const auto stopped_at = out.rfind(" at iteration ");
  ASSERT_NE(stopped_at, std::string::npos) << out;
  const int64_t total = std::stoll(out.substr(stopped_at + 14)) + 6;
  auto resumed = run_command(train_command("--resume " + run + " train.iterations=" + std::to_string(total)));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto reference = run_command(train_command(config + " train.iterations=" + std::to_string(total) + " run_dir=" + (dir / "ref")));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  expect_same_weights(dir / "ref/model.safetensors", run + "/model.safetensors");
}

TEST(Train, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  make_data(dir);
  const auto result = run_command(train_command("--config " + (dir / "tiny.yaml") + " run_dir=" + (dir / "nan") + " loss.style.weight=1e39"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_CONTAINS(result.output, "nst-train: error: loss is");
  EXPECT_CONTAINS(result.output, "last good checkpoint: " + (dir / "nan/checkpoints/ckpt_00000000.pt"));
  EXPECT_TRUE(fs::exists(dir / "nan/checkpoints/ckpt_00000000.pt"));
  EXPECT_FALSE(fs::exists(dir / "nan/model.safetensors"));
}

TEST(Train, BadConfigsAndArgumentsAreOneClearLine) {
  TempDir dir;
  make_data(dir);
  const std::string config = "--config " + (dir / "tiny.yaml") + " run_dir=" + (dir / "run") + " ";
  std::ofstream(dir / "junk.jpg") << "not an image";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {config + "train.lrr=1e-4", "unknown key 'train.lrr' (did you mean 'train.lr'?)"},
      {config + "train.iterations=many", "'train.iterations' must be an integer, got a string 'many'"},
      {config + "style.images=x.jpg", "'style.images' must be a list"},
      {config + "loss.style.layers.fire5=big", "'loss.style.layers.fire5' must be a number"},
      {config + "loss.style.layers.fire55=1", "fire55"},
      {config + "data.image_size=30", "data.image_size must be a multiple of 4"},
      {config + "train.precision=fp8", "train.precision must be fp32 or bf16"},
      {config + "style.images=[" + (dir / "missing.jpg") + "]", "missing.jpg: no such file"},
      {config + "style.images=[" + (dir / "junk.jpg") + "]", "junk.jpg: not a JPEG"},
      {config + "data.train_dir=" + (dir / "nowhere"), "nowhere: no such directory"},
      {config + "loss_network.weights=null", "loss_network.weights is not set"},
      {config + "loss_network.weights=" + (dir / "style.png"), "style.png"},
      {"--config " + (dir / "absent.yaml"), "absent.yaml: no such file"},
      {"--resume " + (dir / "photos"), "not a run directory"},
      {"", "give --config FILE"},
  };
  for (const auto& c : cases) {
    const auto result = run_command(train_command(c.args));
    EXPECT_EQ(result.exit_code, 1) << c.args << "\n" << result.output;
    EXPECT_CONTAINS(result.output, "nst-train: error: ");
    EXPECT_CONTAINS(result.output, c.message);
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << c.args << "\n" << result.output;
    EXPECT_FALSE(fs::exists(dir / "run")) << c.args << ": left a half-made run directory";
  }
  // A finished run is not overwritten by a fresh one.
  ASSERT_EQ(run_command(train_command(config + "train.iterations=2 train.validate_every=0")).exit_code, 0);
  const auto again = run_command(train_command(config + "train.iterations=2"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_CONTAINS(again.output, "already holds a run; continue it with --resume");
}
