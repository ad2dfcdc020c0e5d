// Shared by the libFuzzer targets: the loaders under test take paths, so each input is written to
// one scratch file per process (in RAM where /dev/shm exists). Errors the loaders are meant to
// report (std::exception: "PATH: problem") are the expected outcome for hostile bytes; anything else
// (a crash, a sanitizer report, a hang, an out-of-memory, another exception type) is a finding.
#pragma once
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace nst::fuzz {

// A scratch path named after the process, so fuzzers running side by side (-jobs) never share it.
inline std::string scratch_path(const std::string& name) {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    static fs::path d = base / ("nst-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {  // leave nothing in /dev/shm (a crash keeps it: the input is in build-fuzz/crashes anyway)
      std::error_code ignored;
      fs::remove_all(d, ignored);
    });
    return d;
  }();
  return (dir / name).string();
}

inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// One intra-op thread: a fuzzer is one process on one core, and OpenMP pools only add noise.
inline void init_torch() {
  torch::set_num_threads(1);
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}

// NST_FUZZ_WRITE_SEEDS=DIR makes a target write its seed corpus (from the project's own writers)
// into DIR and exit, instead of fuzzing: scripts/fuzz.sh --seeds regenerates tests/fuzz/corpus/.
inline void maybe_write_seeds(const std::function<void(const std::string& dir)>& write) {
  const char* dir = std::getenv("NST_FUZZ_WRITE_SEEDS");
  if (!dir || !*dir) return;
  std::filesystem::create_directories(dir);
  write(dir);
  std::exit(0);
}

// Runs one load of hostile bytes: an exception (the loader's "PATH: problem") is the expected
// outcome; a crash, a sanitizer report or an abort is a finding.
template <class Load>
void run_may_refuse(Load&& load) {
  try {
    load();
  } catch (const std::exception&) {
  }
}

}  // namespace nst::fuzz

// Every target's libFuzzer initialization: one intra-op thread, and its seed writer on request.
#define NST_FUZZ_INITIALIZE(write_seeds)               \
  extern "C" int LLVMFuzzerInitialize(int*, char***) { \
    nst::fuzz::init_torch();                           \
    nst::fuzz::maybe_write_seeds(write_seeds);         \
    return 0;                                          \
  }
