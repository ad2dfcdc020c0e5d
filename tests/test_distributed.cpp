// Data-parallel nst-train (train/distributed.h) on the loopback: the launch variables, each rank's
// slice of the data stream, and real two-rank runs (tiny net, a few steps, every command bounded by
// `timeout`): 2 ranks x batch 2 give the model of 1 process x batch 4 (through a corrupt photo),
// resume across the same world size, a stop signal, a rank that dies, a batch that does not split.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "data/image_io.h"
#include "nets/model_file.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/local_launch.h"
#include "train_fixture.h"

namespace nst {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Runs a bash script (written to DIR/script.sh).
test::CommandResult run_script(const TempDir& dir, const std::string& script) {
  test::write_bytes(dir / "script.sh", "cd " + dir.str() + "\n" + script);
  return test::run_command("bash " + (dir / "script.sh"));
}

// Every nst-train here runs under `timeout`: a hang fails the test instead of blocking the suite.
std::string train_command(const std::string& args, int seconds = 180) { return test::train_command(args, seconds); }

// Sets the launch variables for one scope.
class LaunchVariables {
 public:
  explicit LaunchVariables(const std::map<std::string, std::string>& values) {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
    for (const auto& [name, value] : values) ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~LaunchVariables() {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
  }
};

TEST(DataParallel, LaunchVariablesAreReadAndChecked) {
  {
    LaunchVariables none({});
    EXPECT_FALSE(launch_environment().has_value());
  }
  {
    LaunchVariables one({{"WORLD_SIZE", "1"}, {"RANK", "0"}});
    EXPECT_FALSE(launch_environment().has_value());  // a world of one is the single process
  }
  {
    LaunchVariables torchrun({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                              {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}});
    const auto launch = launch_environment();
    ASSERT_TRUE(launch.has_value());
    EXPECT_EQ(launch->rank, 3);
    EXPECT_EQ(launch->world_size, 4);
    EXPECT_EQ(launch->local_rank, 1);
    EXPECT_EQ(launch->local_world_size, 2);
    EXPECT_EQ(launch->master_addr, "node0");
    EXPECT_EQ(launch->master_port, 29500);
  }
  const std::map<std::string, std::string> good{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> bad = {
      {{"RANK", "2"}, "RANK must be an integer in 0..1, got '2'"},
      {{"RANK", ""}, "RANK is not set"},
      {{"MASTER_PORT", "http"}, "MASTER_PORT must be an integer in 1..65535, got 'http'"},
      {{"MASTER_ADDR", ""}, "MASTER_ADDR is not set"},
      {{"WORLD_SIZE", "two"}, "WORLD_SIZE must be an integer"},
  };
  for (const auto& [change, message] : bad) {
    auto values = good;
    values[change.first] = change.second;
    LaunchVariables scope(values);
    EXPECT_CONTAINS(test::error_of([] { launch_environment(); }), message);
  }
}

// A rank's loader decodes only its slice of each global batch: the same images, in the same
// order, as the rows of one process's stream (a failed file is an undefined tensor, not skipped).
TEST(DataParallel, SlicedLoadersPartitionTheSingleProcessStream) {
  TempDir dir;
  test::make_data(dir);
  const auto files = list_images(dir / "photos");
  const auto options = LoaderOptions().image_size(16).seed(3);
  ImageLoader whole(files, options, 5);
  const auto stream = whole.next_unskipped(12);
  for (int64_t rank = 0; rank < 2; ++rank) {
    LoaderOptions sliced = options;
    sliced.slice_block(4).slice_offset(2 * rank).slice_take(2);
    ImageLoader loader(files, sliced, 5);
    const auto mine = loader.next_unskipped(6);
    for (int64_t i = 0; i < 6; ++i) {
      const auto& expected = stream[(i / 2) * 4 + 2 * rank + i % 2];
      ASSERT_EQ(mine[i].defined(), expected.defined()) << rank << " " << i;
      if (expected.defined()) {
        EXPECT_TRUE(torch::equal(mine[i], expected)) << rank << " " << i;
      }
    }
    EXPECT_EQ(loader.position(), 5 + 12 + 2 * rank);  // the next item's stream position
  }
  int64_t failed = 0;
  for (const auto& image : stream) failed += image.defined() ? 0 : 1;
  EXPECT_GE(failed, 1);  // corrupt.jpg passes through the window
}

// The largest difference between the outputs of two models on the photos (0..255 scale).
double output_difference(const std::string& a, const std::string& b, const std::vector<std::string>& photos) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> images;
  for (const auto& photo : photos)
    if (photo.find("corrupt") == std::string::npos) images.push_back(resize_and_crop(read_image_bgr(photo), 32));
  const torch::Tensor batch = torch::stack(images);
  auto first = load_model(a).net, second = load_model(b).net;
  first->eval(), second->eval();
  return (first->forward(batch) - second->forward(batch)).abs().max().item<double>();
}

TEST(DataParallel, TwoRanksOfBatchTwoEqualOneProcessOfBatchFourAndResume) {
  TempDir dir;
  test::make_data(dir);
  const std::string config = "--config " + (dir / "tiny.yaml") + " train.batch_size=4 train.validate_every=0 ";
  const auto single = test::run_command(train_command(config + "train.iterations=4 run_dir=" + (dir / "single")));
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const auto parallel = test::run_command(train_command("--nproc 2 --dist-timeout 60 " + config + "train.iterations=4 run_dir=" + (dir / "dp")));
  ASSERT_EQ(parallel.exit_code, 0) << parallel.output;
  // "Within float tolerance": the summation order differs, and Adam's first steps (m / sqrt(v) is
  // about sign(gradient)) turn the rounding noise of small gradients into steps of +-lr. Two threads
  // instead of one reorder the sums too: that run's distance from the single process is the
  // tolerance.
  const auto reordered = test::run_command(train_command(config + "train.iterations=4 train.threads=2 run_dir=" + (dir / "threads2")));
  ASSERT_EQ(reordered.exit_code, 0) << reordered.output;
  const auto photos = list_images(dir / "photos");
  const double noise = output_difference(dir / "single/model.safetensors", dir / "threads2/model.safetensors", photos);
  const double difference = output_difference(dir / "single/model.safetensors", dir / "dp/model.safetensors", photos);
  // The amplification is chaotic (measured: 2 ranks 1.28, 2 threads 0.20 grey levels in one run,
  // equal weight distances in another), hence the factor; a wrong slice of the data shows in the
  // losses below, which agree within 1e-3.
  EXPECT_LE(difference, 10 * noise + 0.5) << "2 ranks vs 1 process: " << difference << "; 2 threads vs 1: " << noise;
  EXPECT_LT(difference, 4.0);  // grey levels
  // One log, written by rank 0: the same iterations and (averaged) losses, the same skipped photo.
  const auto one = test::training_lines(dir / "single"), two = test::training_lines(dir / "dp");
  ASSERT_EQ(two.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(two[i]["iteration"], one[i]["iteration"]);
    EXPECT_NEAR(two[i]["total"].get<double>() / one[i]["total"].get<double>(), 1.0, 1e-3) << i;
    EXPECT_TRUE(two[i].contains("communication_share"));
  }
  EXPECT_EQ(two.back()["skipped_images"], 1);
  EXPECT_EQ(test::read_log(dir / "dp").front()["world_size"], 2);
  const auto done = parallel.output.find("iterations done; model:");  // rank 0 alone reports
  ASSERT_NE(done, std::string::npos) << parallel.output;
  EXPECT_EQ(parallel.output.find("iterations done; model:", done + 1), std::string::npos) << parallel.output;

  // Resumed at iteration 2 with the same world size, it ends on the uninterrupted run's weights.
  auto first = test::run_command(train_command("--nproc 2 " + config + "train.iterations=2 run_dir=" + (dir / "resumed")));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = test::run_command(train_command("--nproc 2 --resume " + (dir / "resumed") + " train.iterations=4"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_CONTAINS(second.output, "resuming");
  test::expect_same_weights(dir / "dp/model.safetensors", dir / "resumed/model.safetensors");
}

// Started as torchrun would start it; rank 1 is killed mid-run: rank 0 names it and exits within
// the grace period, long before its own --dist-timeout.
TEST(DataParallel, ADeadRankMakesTheOthersExitWithAClearError) {
  TempDir dir;
  test::make_data(dir);
  const std::string run = dir / "run";
  const std::string launch = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_loopback_port()) + " ";
  const std::string args = "--dist-timeout 60 --config " + (dir / "tiny.yaml") + " train.iterations=100000 run_dir=" + run;
  // $r1 is `timeout`; its child is rank 1.
  const auto result = run_script(
      dir, launch + "RANK=0 " + train_command(args, 120) + " > r0.out 2>&1 & r0=$!\n" + launch + "RANK=1 " + train_command(args, 120) +
               " > r1.out 2>&1 & r1=$!\n"
               "for i in $(seq 1200); do grep -q '\"total\"' run/log.jsonl 2>/dev/null && break; sleep 0.1; done\n"
               "pkill -KILL -P $r1; start=$(date +%s); wait $r0\n"
               "echo \"rank0 exit $? after $(( $(date +%s) - start )) s\"; cat r0.out\n");
  EXPECT_CONTAINS(result.output, "rank0 exit 1 after");
  // Rank 1 dies in whichever collective the kill lands: the gradient allreduce, or (on a loaded
  // machine) the batch agreement that starts the next step.
  EXPECT_CONTAINS(result.output, "nst-train: error: rank 0: ");
  EXPECT_CONTAINS(result.output, " failed: rank 1 died or stopped responding");
  const auto after = result.output.find(" after ");
  ASSERT_NE(after, std::string::npos) << result.output;
  EXPECT_LT(std::stoi(result.output.substr(after + 7)), 30) << result.output;
}

// SIGTERM to `nst-train --nproc 2`: both ranks stop after the same step, rank 0 writes the
// checkpoint, and the run resumes from it.
TEST(DataParallel, AStopSignalStopsEveryRankAtOneCheckpoint) {
  TempDir dir;
  test::make_data(dir);
  const std::string run = dir / "run";
  // SIGTERM goes to the launcher itself, the child of `timeout`: `timeout` would also signal its process
  // group, and a second signal kills (core/signals), so signalling `timeout` races.
  const auto result = run_script(
      dir, train_command("--nproc 2 --config " + (dir / "tiny.yaml") + " train.validate_every=0 train.iterations=100000 run_dir=" + run, 120) +
               " > out 2>&1 & launcher=$!\n"
               "for i in $(seq 1200); do grep -q '\"total\"' run/log.jsonl 2>/dev/null && break; sleep 0.1; done\n"
               "pkill -TERM -P $launcher; wait $launcher; echo \"exit $?\"; cat out\n");
  EXPECT_CONTAINS(result.output, "exit 130");
  EXPECT_CONTAINS(result.output, "checkpoint written");
  const auto stopped_at = result.output.rfind(" at iteration ");
  ASSERT_NE(stopped_at, std::string::npos) << result.output;
  const int64_t iteration = std::stoll(result.output.substr(stopped_at + 14));
  EXPECT_EQ(list_checkpoints(run).back(), checkpoint_path(run, iteration));
  const auto resumed = test::run_command(train_command("--nproc 2 --resume " + run + " train.iterations=" + std::to_string(iteration + 2)));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(fs::exists(run + "/model.safetensors"));
}

TEST(DataParallel, ABatchThatDoesNotSplitIsOneLine) {
  TempDir dir;
  test::make_data(dir);
  const std::string config = "--config " + (dir / "tiny.yaml") + " train.batch_size=3 run_dir=" + (dir / "run");
  auto result = test::run_command(train_command("--nproc 2 " + config));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "nst-train: error: config: train.batch_size (3) must be divisible by --nproc 2\n");
  // As torchrun starts it: each rank says so before the rendezvous, rather than waiting for it.
  result = test::run_command("WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_loopback_port()) + " " +
                             train_command(config, 60));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "nst-train: error: config: train.batch_size (3) must be divisible by the number of ranks (WORLD_SIZE 2)\n");
  EXPECT_FALSE(fs::exists(dir / "run"));
}

}  // namespace
}  // namespace nst
