// Shared helpers for the test suites: paths to the source tree, binaries, ../shared and Debian's
// python3, temporary directories, files, running commands, small nets, the tiny loss set-up of the
// optimizer and meter tests, and skip-unless-CI for optional resources.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "nets/transformer_net.h"

namespace nst::test {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "text: " << (haystack)

// Skips the test with `why` when `available` is false, except in CI, where it fails: CI has everything.
#define NST_REQUIRE_OR_SKIP(available, why)                                       \
  do {                                                                            \
    if (!(available)) {                                                           \
      if (::nst::test::in_ci()) FAIL() << "required in CI: " << (why);            \
      GTEST_SKIP() << (why);                                                      \
    }                                                                             \
  } while (0)

inline std::string source_dir() { return NST_SOURCE_DIR; }
inline std::string bin_dir() { return NST_BIN_DIR; }
inline std::string shared_dir() { return (std::filesystem::path(NST_SOURCE_DIR) / ".." / "shared").lexically_normal().string(); }
inline bool have_shared() { return std::filesystem::is_directory(shared_dir() + "/weights"); }

// Debian's python3 with torch importable (checked once).
inline bool have_python_torch() {
  static const bool ok = std::string(NST_PYTHON).size() > 0 &&
                         std::system((std::string(NST_PYTHON) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}
inline std::string python() { return NST_PYTHON; }

// A fresh directory under the build tree's temp area, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("nst_test_" + std::string(info ? info->test_suite_name() : "x") + "_" + (info ? info->name() : "y") + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The message of the exception `action` throws, or "(no error)".
template <typename F>
std::string error_of(F&& action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A narrow, one-block transform net with random weights (seeded) whose output spans roughly
// 0..255 like a trained one's.
inline nst::TransformerNet small_net(int64_t width = 4) {
  torch::manual_seed(5);
  nst::TransformerNet net(nst::TransformerNetOptions().width(width).res_blocks(1));
  torch::NoGradGuard no_grad;
  auto params = net->named_parameters();
  params["deconv3.conv2d.weight"].mul_(60);
  params["deconv3.conv2d.bias"].add_(128);
  net->eval();
  return net;
}

// Overrides for a tiny loss on a random-weight SqueezeNet (nst-optimize and nst-eval tests).
inline std::string tiny_loss_args(int seed, const std::string& style_layers, double content_weight) {
  return " loss_network.name=squeezenet1_1 loss_network.weights=random seed=" + std::to_string(seed) +
         " 'loss.content.layers={fire3: 1.0}' 'loss.style.layers={" + style_layers +
         "}' loss.content.weight=" + std::to_string(content_weight) +
         " loss.style.weight=1e4 loss.tv.weight=10 threads=1 precision=fp32";  // fp32: compared with references
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing its combined output.
inline CommandResult run_command(const std::string& command) {
  CommandResult result{-1, ""};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// tests/python/perceptual_loss_reference.py (python3-torch): the losses of inputs_file's tensors
// with weights_file's loss network, as configured by config_json, written to output_file.
inline CommandResult run_loss_reference(const std::string& weights_file, const std::string& inputs_file,
                                        const std::string& config_json, const std::string& output_file) {
  return run_command(python() + " " + source_dir() + "/tests/python/perceptual_loss_reference.py " + weights_file + " " +
                     inputs_file + " '" + config_json + "' " + output_file);
}

}  // namespace nst::test
