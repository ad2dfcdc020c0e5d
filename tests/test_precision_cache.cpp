// Precision auto: the per-machine cache (hit, miss, corrupt, tampered, other machine, unwritable),
// the trial's early stop, and the tools: nst-infer's default, an explicit precision that never
// times, nst-optimize's loss network in both precisions.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "data/image_io.h"
#include "data/precision_cache.h"
#include "infer/precision_auto.h"
#include "losses/style_objective.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// A timer that reports fixed seconds per precision and counts its calls.
struct FakeTimer {
  double fp32 = 1.0, bf16 = 0.5;
  int calls = 0;
  PrecisionTimer timer() {
    return [this](Precision p) {
      ++calls;
      return p == Precision::fp32 ? fp32 : bf16;
    };
  }
};

const std::string kMachine = "Test CPU (family 25 model 17, avx2+avx512f+avx512_bf16), 2 threads";

std::string cache_file(const std::string& directory) { return PrecisionCache(directory, kMachine).path(); }

TEST(PrecisionCache, MeasuresOnceThenRemembersPerWorkload) {
  TempDir dir;
  FakeTimer timer;
  std::ostringstream first;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), first, dir / "cache"), Precision::bf16);
  EXPECT_GT(timer.calls, 0);
  EXPECT_CONTAINS(first.str(), "tool: --precision auto: bf16 (bf16 takes 0.50x the time of fp32 for net A here");
  EXPECT_CONTAINS(first.str(), "remembered in " + cache_file(dir / "cache"));

  // Hit: no timing, nothing printed, even when the machine has since become slower in bf16.
  timer.calls = 0;
  timer.bf16 = 9;
  std::ostringstream second;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), second, dir / "cache"), Precision::bf16);
  EXPECT_EQ(timer.calls, 0);
  EXPECT_EQ(second.str(), "");

  // Miss: another workload is measured on its own and both entries stay.
  std::ostringstream third;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net B", kMachine, timer.timer(), third, dir / "cache"), Precision::fp32);
  EXPECT_GT(timer.calls, 0);
  PrecisionCache reread(dir / "cache", kMachine);
  EXPECT_TRUE(reread.notes().empty());
  ASSERT_TRUE(reread.find("net A") && reread.find("net B"));
  EXPECT_EQ(reread.find("net A")->faster, Precision::bf16);
  EXPECT_EQ(reread.find("net B")->faster, Precision::fp32);
  EXPECT_DOUBLE_EQ(reread.find("net B")->ratio(), 9.0);
}

TEST(PrecisionCache, CorruptOrTamperedFilesAreIgnoredWithANoteAndRewritten) {
  const std::string machine_line = "# machine: " + kMachine + "\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\x89PNG garbage\n", "not an nst precision cache"},
      {"# nst precision cache 1\n", "no machine line"},
      {"# nst precision cache 1\n" + machine_line + "net A\tbf16\t1\n", "line 3 is not a precision entry"},
      {"# nst precision cache 1\n" + machine_line + "net A\tfp16\t1\t0.5\n", "line 3 is not a precision entry"},
      {"# nst precision cache 1\n" + machine_line + "net A\tbf16\tnan\t0.5\n", "line 3 is not a precision entry"},
      // The choice contradicts the timings: edited by hand or damaged.
      {"# nst precision cache 1\n" + machine_line + "net A\tfp32\t1\t0.5\n", "line 3 is not a precision entry"},
  };
  for (const auto& [content, why] : cases) {
    TempDir dir;
    const std::string path = cache_file(dir / "cache");
    fs::create_directories(fs::path(path).parent_path());
    test::write_bytes(path, content);
    FakeTimer timer;
    std::ostringstream report;
    EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), report, dir / "cache"),
              Precision::bf16);
    EXPECT_GT(timer.calls, 0) << why;
    EXPECT_CONTAINS(report.str(), "tool: note: " + path + ": " + why + "; ignored");
    PrecisionCache rewritten(dir / "cache", kMachine);
    EXPECT_TRUE(rewritten.notes().empty()) << rewritten.notes().front();
    EXPECT_TRUE(rewritten.find("net A"));
  }
}

TEST(PrecisionCache, AFileFromAnotherMachineIsNeverTrusted) {
  TempDir dir;
  // Another machine's cache has its own file name (hash of its fingerprint)...
  PrecisionCache other(dir / "cache", "Some Other CPU (family 6 model 143, avx512f+amx_bf16), 2 threads");
  other.store("net A", {Precision::bf16, 1.0, 0.4});
  EXPECT_NE(other.path(), cache_file(dir / "cache"));
  EXPECT_FALSE(PrecisionCache(dir / "cache", kMachine).find("net A"));
  // ... and its file copied over this machine's is refused by its machine line.
  fs::copy_file(other.path(), cache_file(dir / "cache"));
  FakeTimer timer{1.0, 2.0};
  std::ostringstream report;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), report, dir / "cache"), Precision::fp32);
  EXPECT_CONTAINS(report.str(), "written on another machine (Some Other CPU");
  // The fingerprint names what makes timings comparable.
  const std::string fingerprint = machine_fingerprint(torch::kCPU);
  for (const char* part : {"family", " threads, LibTorch ", ", oneDNN ", "device cpu"}) EXPECT_CONTAINS(fingerprint, part);
}

TEST(PrecisionCache, AnUnwritableCacheStillChoosesAndSaysWhy) {
  TempDir dir;
  test::write_bytes(dir / "file", "x");  // a file where the cache directory should be
  FakeTimer timer;
  std::ostringstream report;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), report, dir / "file/nst"),
            Precision::bf16);
  EXPECT_CONTAINS(report.str(), "tool: note: could not save the precision choice");
  // No cache directory at all ($HOME and $XDG_CACHE_HOME unset): measured every time, no error.
  std::ostringstream uncached;
  EXPECT_EQ(choose_precision_cached("tool", "--precision", "net A", kMachine, timer.timer(), uncached, ""), Precision::bf16);
  EXPECT_EQ(uncached.str().find("remembered"), std::string::npos);
}

TEST(PrecisionCache, TrialStopsAfterOneRoundWhenTheAnswerIsClear) {
  FakeTimer clear{0.1, 1.0};
  EXPECT_EQ(time_precisions(clear.timer()).faster, Precision::fp32);
  EXPECT_EQ(clear.calls, 4);  // two warm-ups, one round
  FakeTimer faster{1.0, 0.3};  // a bf16 win is confirmed by three rounds
  EXPECT_EQ(time_precisions(faster.timer()).faster, Precision::bf16);
  EXPECT_EQ(faster.calls, 8);
  FakeTimer close{1.0, 1.1};
  EXPECT_EQ(time_precisions(close.timer()).faster, Precision::fp32);
  EXPECT_EQ(close.calls, 8);
  EXPECT_EQ(size_class(100), 256);
  EXPECT_EQ(size_class(513), 1024);
  EXPECT_EQ(size_class(100000), 4096);
}

std::string infer_command(const TempDir& dir, const std::string& model, const std::string& output, const std::string& extra) {
  return "XDG_CACHE_HOME=" + (dir / "xdg") + " " + test::bin_dir() + "/nst-infer --threads 1 --model " + model +
         " --input " + (dir / "in.png") + " --output " + (dir / output) + extra;
}

// nst-infer's default is auto: measured on the first run, applied (the output equals the explicit
// run in the chosen precision), silent on the second; an explicit precision never measures.
TEST(NstInferPrecision, AutoIsTheDefaultMeasuredOnceAndApplied) {
  TempDir dir;
  auto net = test::small_net();
  save_model(dir / "model.safetensors", net, {{"style", "test"}});
  write_image(dir / "in.png", torch::rand({3, 40, 56}) * 255);
  auto explicit_run = test::run_command(infer_command(dir, dir / "model.safetensors", "fp32.png", " --precision fp32"));
  ASSERT_EQ(explicit_run.exit_code, 0) << explicit_run.output;
  EXPECT_EQ(explicit_run.output.find("precision auto"), std::string::npos) << explicit_run.output;
  EXPECT_FALSE(fs::exists(dir / "xdg/nst")) << "an explicit precision wrote a cache";
  auto bad = test::run_command(infer_command(dir, dir / "model.safetensors", "bad.png", " --precision fast"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.output, "--precision must be auto, fp32 or bf16, got 'fast'");

  auto first = test::run_command(infer_command(dir, dir / "model.safetensors", "auto.png", ""));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  if (!cpu_runs_bf16_natively()) {  // fp32 untimed: bf16 is no candidate here
    EXPECT_EQ(first.output.find("precision auto"), std::string::npos) << first.output;
    EXPECT_EQ(test::read_bytes(dir / "auto.png"), test::read_bytes(dir / "fp32.png"));
    GTEST_SKIP() << "this CPU has no AVX-512: auto is fp32 without a trial (checked); the trial needs one";
  }
  EXPECT_CONTAINS(first.output, "nst-infer: --precision auto: ");
  EXPECT_CONTAINS(first.output, "at ~256 px here; remembered in " + (dir / "xdg/nst/precision-"));
  const bool bf16 = first.output.find("--precision auto: bf16") != std::string::npos;
  auto same = test::run_command(infer_command(dir, dir / "model.safetensors", "chosen.png",
                                              std::string(" --precision ") + (bf16 ? "bf16" : "fp32")));
  ASSERT_EQ(same.exit_code, 0) << same.output;
  EXPECT_EQ(test::read_bytes(dir / "auto.png"), test::read_bytes(dir / "chosen.png"));

  auto second = test::run_command(infer_command(dir, dir / "model.safetensors", "again.png", ""));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(second.output.find("precision auto"), std::string::npos) << second.output;
}

// The loss network's bf16 autocast path (nst-optimize/nst-eval precision: bf16) scores within bf16
// noise of fp32; Gram matrices and losses stay fp32.
TEST(ObjectivePrecision, Bfloat16LossIsCloseToFloat32) {
  torch::manual_seed(0);
  const auto content = torch::rand({3, 48, 48}) * 255, style = torch::rand({3, 48, 48}) * 255;
  ObjectiveOptions options;
  options.loss().network(LossNetworkKind::squeezenet1_1).weights_file("random");
  options.loss().weights().content_layers = {{"fire3", 1.0}};
  options.loss().weights().style_layers = {{"relu1", 1.0}, {"fire2", 1.0}};
  options.device("cpu");
  std::map<Precision, double> totals;
  for (Precision precision : {Precision::fp32, Precision::bf16}) {
    StyleObjective objective(ObjectiveOptions(options).precision(precision), {style});
    objective.prepare(content, 48, 48);
    totals[precision] = objective.score(torch::rand({3, 48, 48}) * 255).total.item<double>();
  }
  EXPECT_GT(totals[Precision::fp32], 0);
  EXPECT_NEAR(totals[Precision::bf16] / totals[Precision::fp32], 1.0, 0.05);
}

TEST(ObjectivePrecision, OptimizeResolvesAutoOncePerMachine) {
  TempDir dir;
  write_image(dir / "content.png", torch::rand({3, 32, 32}) * 255);
  write_image(dir / "style.png", torch::rand({3, 32, 32}) * 255);
  const std::string command = "XDG_CACHE_HOME=" + (dir / "xdg") + " " + test::bin_dir() + "/nst-optimize --content " +
                              (dir / "content.png") + " --style " + (dir / "style.png") + " --output " + (dir / "o.png") +
                              test::tiny_loss_args(1, "relu1: 1.0", 1) + " optimize.iterations=2 output.size=32 precision=auto";
  auto first = test::run_command(command);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  if (!cpu_runs_bf16_natively()) {
    EXPECT_EQ(first.output.find("precision auto"), std::string::npos) << first.output;
    GTEST_SKIP() << "this CPU has no AVX-512: auto is fp32 without a trial (checked); the trial needs one";
  }
  EXPECT_CONTAINS(first.output, "nst-optimize: precision auto: ");
  EXPECT_CONTAINS(first.output, "for nst-optimize loss network squeezenet1_1 at ~256 px here");
  auto second = test::run_command(command);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(second.output.find("precision auto"), std::string::npos) << second.output;
}

}  // namespace
}  // namespace nst
