// Shared helpers for the test suites: paths to the source tree, binaries, ../shared and Debian's
// python3, temporary directories, running commands, and skip-unless-CI for optional resources.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace nst::test {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

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

}  // namespace nst::test
