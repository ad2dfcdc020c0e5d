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

#include "data/safetensors.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using nst::test::run_command;
using nst::test::TempDir;

namespace {

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "output: " << (haystack)

// Smooth synthetic "photos" (gradients and discs) and a striped "painting".
void make_data(const TempDir& dir) {
  fs::create_directories(dir / "photos/sub");
  cv::RNG rng(5);
  for (int i = 0; i < 6; ++i) {
    cv::Mat image(40 + 4 * i, 56 - 3 * i, CV_8UC3);
    for (int r = 0; r < image.rows; ++r)
      for (int c = 0; c < image.cols; ++c)
        image.at<cv::Vec3b>(r, c) = cv::Vec3b(static_cast<uchar>(4 * r + 20 * i), static_cast<uchar>(3 * c), static_cast<uchar>(128 + 20 * i));
    cv::circle(image, {rng.uniform(5, 30), rng.uniform(5, 30)}, rng.uniform(4, 12), cv::Scalar(rng.uniform(0, 255), 40, 200), -1);
    ASSERT_TRUE(cv::imwrite(dir / ("photos/" + std::string(i % 2 ? "sub/" : "") + "p" + std::to_string(i) + ".png"), image));
  }
  std::ofstream(dir / "photos/corrupt.jpg") << "\xFF\xD8\xFF\xE0 truncated";
  cv::Mat style(48, 48, CV_8UC3);
  for (int r = 0; r < 48; ++r)
    for (int c = 0; c < 48; ++c)
      style.at<cv::Vec3b>(r, c) = ((r + c) / 4) % 2 ? cv::Vec3b(30, 200, 250) : cv::Vec3b(120, 20, 10);
  ASSERT_TRUE(cv::imwrite(dir / "style.png", style));
  std::ofstream(dir / "tiny.yaml") << "data:\n  train_dir: " << (dir / "photos") << "\n  image_size: 32\n  val_count: 2\n"
                                   << "style:\n  images: [" << (dir / "style.png") << "]\n  size: 48\n"
                                   << "model:\n  width: 8\n  res_blocks: 1\n"
                                   << "loss_network:\n  name: squeezenet1_1\n  weights: random\n"
                                   << "loss:\n  content:\n    weight: 1.0\n    layers: {fire2: 1.0}\n"
                                   << "  style:\n    weight: 1.0e4\n    layers: {relu1: 1.0, fire2: 1.0, fire3: 1.0}\n"
                                   << "  tv:\n    weight: 10.0\n"
                                   << "train:\n  iterations: 12\n  batch_size: 2\n  lr: 0.01\n  checkpoint_every: 4\n"
                                   << "  keep_checkpoints: 2\n  validate_every: 6\n  log_every: 1\n  threads: 1\n";
}

// OMP_WAIT_POLICY=PASSIVE: spinning OpenMP threads crawl when ctest runs suites in parallel.
std::string train_command(const std::string& args) {
  return "OMP_WAIT_POLICY=PASSIVE " + nst::test::bin_dir() + "/nst-train " + args;
}

// Complete lines only (a running trainer may be writing the last one).
std::vector<json> read_log(const std::string& run_dir) {
  std::vector<json> lines;
  std::ifstream in(run_dir + "/log.jsonl");
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

std::vector<json> training_lines(const std::string& run_dir) {
  std::vector<json> out;
  for (auto& line : read_log(run_dir))
    if (line.contains("total") && !line.contains("phase")) out.push_back(line);
  return out;
}

void expect_same_weights(const std::string& a, const std::string& b) {
  const auto x = nst::read_safetensors(a), y = nst::read_safetensors(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (const auto& [name, tensor] : x.tensors) {
    ASSERT_TRUE(y.tensors.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, y.tensors.at(name))) << name << " differs: max |diff| "
                                                          << (tensor - y.tensors.at(name)).abs().max().item<double>();
  }
}

}  // namespace

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
  EXPECT_EQ(model.net->options().width, 8);
  EXPECT_EQ(model.net->options().res_blocks, 1);
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
  const std::string config = "--config " + (dir / "tiny.yaml") + " train.iterations=60 train.validate_every=0";
  auto reference = run_command(train_command(config + " run_dir=" + (dir / "ref")));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;

  // Start in the background, wait until a few iterations are logged, then SIGTERM.
  const std::string run = dir / "int";
  const std::string pid_file = dir / "pid";
  ASSERT_EQ(std::system(("(" + train_command(config + " run_dir=" + run) + " > " + (dir / "int.out") + " 2>&1 & echo $! > " +
                         pid_file + "; wait $!; echo $? > " + (dir / "int.rc") + ") &").c_str()),
            0);
  bool started = false;
  for (int i = 0; i < 1200 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    started = training_lines(run).size() >= 3;
  }
  ASSERT_TRUE(started) << "no training progress";
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 600 && !fs::exists(dir / "int.rc"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::ifstream rc_file(dir / "int.rc");
  int rc = -1;
  rc_file >> rc;
  std::ifstream out_file(dir / "int.out");
  const std::string out((std::istreambuf_iterator<char>(out_file)), {});
  if (rc == 0) GTEST_SKIP() << "the run finished before the signal arrived";
  EXPECT_EQ(rc, 130) << out;
  EXPECT_CONTAINS(out, "checkpoint written");
  EXPECT_FALSE(fs::exists(run + "/model.safetensors"));
  auto resumed = run_command(train_command("--resume " + run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
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
      {config + "data.train_dir=" + (dir / "nowhere"), "nowhere: no such directory"},
      {config + "loss_network.weights=null", "loss_network.weights is not set"},
      {config + "loss_network.weights=" + (dir / "style.png"), "style.png"},
      {"--config " + (dir / "absent.yaml"), "absent.yaml: config file not found"},
      {"--resume " + (dir / "photos"), "not a run directory"},
      {"", "give --config FILE"},
  };
  for (const auto& c : cases) {
    const auto result = run_command(train_command(c.args));
    EXPECT_EQ(result.exit_code, 1) << c.args << "\n" << result.output;
    EXPECT_CONTAINS(result.output, "nst-train: error: ");
    EXPECT_CONTAINS(result.output, c.message);
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << c.args << "\n" << result.output;
  }
  // A finished run is not overwritten by a fresh one.
  ASSERT_EQ(run_command(train_command(config + "train.iterations=2 train.validate_every=0")).exit_code, 0);
  const auto again = run_command(train_command(config + "train.iterations=2"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_CONTAINS(again.output, "already holds a run; continue it with --resume");
}
