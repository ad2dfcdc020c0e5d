// Hostile training runs (issue 9): doctored and damaged checkpoints, damaged run configs, absurd
// numbers, failed starts, stale temporary files, and kill -9 at random moments. Each refusal is one
// line naming the file or key; a run killed any number of times ends with the weights of a run
// never interrupted, and nothing stray in its directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "train/checkpoint.h"
#include "train_fixture.h"

namespace fs = std::filesystem;
using nst::test::expect_same_weights;
using nst::test::make_data;
using nst::test::read_bytes;
using nst::test::run_command;
using nst::test::TempDir;
using nst::test::write_bytes;

namespace {

std::string train(const std::string& args) { return nst::test::train_command(args, 120); }

size_t lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

void expect_one_line_error(const std::string& args, const std::string& message) {
  const auto result = run_command(train(args));
  EXPECT_EQ(result.exit_code, 1) << args << "\n" << result.output;
  EXPECT_EQ(lines(result.output), 1u) << args << "\n" << result.output;
  EXPECT_NE(result.output.find("nst-train: error: "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(message), std::string::npos) << args << "\nexpected: " << message << "\n" << result.output;
  EXPECT_LT(result.output.size(), 400u) << result.output;
}

// Names under `dir` that are neither the run's files nor its checkpoints: temporaries, probes.
std::vector<std::string> stray_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().front() == '.') found.push_back(entry.path().string());
  return found;
}

// Little-endian 16/32-bit fields of a zip header.
uint32_t le(const std::string& bytes, size_t at, int size) {
  uint32_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

// A run of `iterations` with a checkpoint every 2 (unless `settings` say otherwise); returns its directory.
std::string finished_run(const TempDir& dir, const std::string& name, int iterations, const std::string& settings = "") {
  const std::string run = dir / name;
  const auto result = run_command(train("--config " + (dir / "tiny.yaml") + " run_dir=" + run + " train.validate_every=0 " +
                                        "train.checkpoint_every=2 train.iterations=" + std::to_string(iterations) + settings));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return run;
}

class HostileRuns : public ::testing::Test {
 protected:
  void SetUp() override { make_data(dir); }
  TempDir dir;
};

// Class 2: every number has a range, checked before any work.
TEST_F(HostileRuns, AbsurdNumbersAreRefusedAtParseTime) {
  const std::string config = "--config " + (dir / "tiny.yaml") + " run_dir=" + (dir / "run") + " ";
  expect_one_line_error(config + "train.batch_size=100000", "train.batch_size must be in 1..256, got 100000");
  expect_one_line_error(config + "train.epochs=9223372036854775807", "train.epochs must be in 0..1000000");
  expect_one_line_error(config + "train.threads=100000", "train.threads must be in 0..1024");
  expect_one_line_error(config + "train.lr=.inf", "'train.lr' must be a finite number");
  expect_one_line_error(config + "data.image_size=1000000", "data.image_size must be in");
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints"));
}

// Class 1 and 6: what a checkpoint says is checked: its checksum, its numbers, its shapes.
TEST_F(HostileRuns, DoctoredAndDamagedCheckpointsAreRefused) {
  const std::string run = finished_run(dir, "run", 2);
  const std::string newest = run + "/checkpoints/ckpt_00000002.pt";
  fs::remove(run + "/model.safetensors");
  fs::remove(run + "/checkpoints/ckpt_00000000.pt");
  const std::string good = read_bytes(newest);

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x01;  // inside the tensor data
  write_bytes(newest, flipped);
  expect_one_line_error("--resume " + run, "ckpt_00000002.pt: checksum mismatch");

  // Valid checksums over doctored values: a negative data position, a net of another width.
  nst::TransformerNet net(nst::TransformerNetOptions().width(8).res_blocks(1));
  torch::optim::Adam adam(net->parameters());
  auto state = [](int64_t iteration, int64_t position) {
    nst::CheckpointState s;
    s.iteration = iteration;
    s.data_position = position;
    return s;
  };
  nst::save_checkpoint(newest, net, adam, state(2, -5));
  expect_one_line_error("--resume " + run, "ckpt_00000002.pt: data position -5 is out of range");
  nst::TransformerNet wider(nst::TransformerNetOptions().width(12).res_blocks(1));
  torch::optim::Adam wider_adam(wider->parameters());
  nst::save_checkpoint(newest, wider, wider_adam, state(2, 4));
  expect_one_line_error("--resume " + run, "ckpt_00000002.pt: parameter 0 has shape");

  // A damaged newest checkpoint with an older good one: a warning, then the older one is used.
  write_bytes(newest, good);
  const std::string older = run + "/checkpoints/ckpt_00000001.pt";
  fs::copy_file(newest, older);
  write_bytes(newest, flipped);
  const auto resumed = run_command(train("--resume " + run + " train.iterations=3"));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("checksum mismatch"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("trying an older checkpoint"), std::string::npos) << resumed.output;
}

// LibTorch deflates a checkpoint's TorchScript records and its zip reader skips their CRC-32, so a
// damaged one would reach the TorchScript compiler (the likely path of the SEGV CI's checkpoint
// fuzzer found; its input stayed on CI).
TEST_F(HostileRuns, DamagedCompressedOrEncryptedRecordsAreRefusedBeforeLibTorchReadsThem) {
  nst::TransformerNet net(nst::TransformerNetOptions().width(4).res_blocks(1));
  torch::optim::Adam adam(net->parameters());
  const std::string path = dir / "ckpt.pt";
  nst::save_checkpoint(path, net, adam, {});
  std::string bytes = read_bytes(path);
  bytes.resize(bytes.rfind("\nnst-sha256:"));  // no checksum: the file reaches the archive check
  const std::string record = "code/__torch__.py";
  size_t local = 0;  // the record's local header (signature, then the name at offset 30)
  while ((local = bytes.find("PK\x03\x04", local + 1)) != std::string::npos) {
    const std::string name(bytes, local + 30, le(bytes, local + 26, 2));
    if (name.size() > record.size() && name.compare(name.size() - record.size() - 1, std::string::npos, "/" + record) == 0) break;
  }
  ASSERT_NE(local, std::string::npos);
  ASSERT_EQ(le(bytes, local + 8, 2), 8u) << record << " is expected deflated";
  const size_t data = local + 30 + le(bytes, local + 26, 2) + le(bytes, local + 28, 2);
  std::string damaged = bytes;
  damaged[data + le(bytes, local + 18, 4) / 2] ^= 0x20;
  write_bytes(path, damaged);
  try {
    nst::load_checkpoint(path, net, adam);
    FAIL() << "a damaged " << record << " was loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(record + "'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a checkpoint archive or damaged"), std::string::npos) << e.what();
  }
  // An entry marked encrypted (miniz refuses it only after LibTorch has allocated its zip state).
  std::string encrypted = bytes;
  encrypted[encrypted.find("PK\x01\x02") + 8] |= 0x40;
  write_bytes(path, encrypted);
  EXPECT_THROW(
      {
        try {
          nst::load_checkpoint(path, net, adam);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("unsupported zip flags"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
  write_bytes(path, bytes);  // the same file undamaged loads (with a note that it has no checksum)
  EXPECT_EQ(nst::load_checkpoint(path, net, adam).warnings.size(), 1u);
}

// Class 6: a run's config.yaml is written whole by nst-train; one with a section missing is damaged.
TEST_F(HostileRuns, ARunConfigWithASectionMissingIsAnError) {
  const std::string run = finished_run(dir, "run", 2);
  std::ifstream in(run + "/config.yaml");
  std::string text, line;
  bool in_model = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') in_model = line.rfind("model:", 0) == 0;
    if (!in_model) text += line + "\n";
  }
  write_bytes(run + "/config.yaml", text);
  expect_one_line_error("--resume " + run + " train.iterations=4", "config.yaml: lacks 'model'");
}

// Class 4: a failed start leaves nothing that blocks the corrected rerun; a run killed before its
// first checkpoint resumes from iteration 0; temporaries left by a kill are removed.
TEST_F(HostileRuns, FailedStartsAndKilledWritersLeaveNothingInTheWay) {
  const std::string run = dir / "run";
  const auto failed = run_command(train("--config " + (dir / "tiny.yaml") + " run_dir=" + run + " loss.style.weight=1e39"));
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  const auto rerun = run_command(train("--config " + (dir / "tiny.yaml") + " run_dir=" + run + " train.iterations=2"));
  EXPECT_EQ(rerun.exit_code, 0) << rerun.output;

  const std::string unstarted = dir / "unstarted";
  fs::create_directories(unstarted);
  fs::copy_file(run + "/config.yaml", unstarted + "/config.yaml");
  write_bytes(unstarted + "/.model.tmp-999999999.safetensors", "left by a kill");
  fs::create_directories(unstarted + "/checkpoints");
  write_bytes(unstarted + "/checkpoints/.ckpt_00000004.tmp-999999999.pt", "left by a kill");
  const auto resumed = run_command(train("--resume " + unstarted + " train.iterations=2"));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("has no checkpoint yet; starting it from iteration 0"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("removed 2 temporary file(s)"), std::string::npos) << resumed.output;
  EXPECT_TRUE(stray_files(unstarted).empty());
  expect_same_weights(run + "/model.safetensors", unstarted + "/model.safetensors");
}

// kill -9 at random moments (start-up, steps, checkpoint and model writes), then resume, until the
// run is done: the weights equal those of a run never interrupted, and no stray file remains.
TEST_F(HostileRuns, KillNineAtRandomMomentsThenResumeGivesTheUninterruptedWeights) {
  const std::string settings = " train.checkpoint_every=25 train.keep_checkpoints=2";  // ~60 it/s here
  const std::string reference = finished_run(dir, "reference", 600, settings);
  const std::string run = dir / "killed";
  std::mt19937 random(9);
  std::uniform_int_distribution<int> delay_ms(100, 4000);
  int kills = 0;
  for (int attempt = 0; attempt < 16 && !fs::exists(run + "/model.safetensors"); ++attempt) {
    const std::string args = fs::exists(run + "/config.yaml")
                                 ? "--resume " + run
                                 : "--config " + (dir / "tiny.yaml") + " run_dir=" + run +
                                       " train.validate_every=0 train.iterations=600" + settings;
    // The trainer itself is the background process (no wrapper to kill instead); its shell reaps it.
    fs::remove(dir / "rc");
    const std::string script = "OMP_WAIT_POLICY=PASSIVE " + nst::test::bin_dir() + "/nst-train " + args + " > " + (dir / "out.txt") +
                               " 2>&1 & echo $! > " + (dir / "pid") + "; wait $!; echo $? > " + (dir / "rc");
    write_bytes(dir / "attempt.sh", script);
    ASSERT_EQ(std::system(("bash " + (dir / "attempt.sh") + " 2>/dev/null &").c_str()), 0);  // not bash's "Killed" lines
    pid_t pid = 0;
    for (int i = 0; i < 200 && pid == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::ifstream(dir / "pid") >> pid;
    }
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    if (attempt < 8 && !fs::exists(dir / "rc") && ::kill(pid, SIGKILL) == 0) ++kills;
    for (int i = 0; i < 2400 && !fs::exists(dir / "rc"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fs::remove(dir / "pid");
  }
  ASSERT_TRUE(fs::exists(run + "/model.safetensors")) << read_bytes(dir / "out.txt");
  EXPECT_GE(kills, 3);
  std::cout << "[ info ] killed " << kills << " times\n";
  expect_same_weights(reference + "/model.safetensors", run + "/model.safetensors");
  const auto stray = stray_files(run);
  EXPECT_TRUE(stray.empty()) << stray.front();
}

}  // namespace
