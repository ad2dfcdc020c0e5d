// Precision `auto`: no fixed precision is fastest on every CPU (bf16 is ~1.8x faster than fp32 on
// AMD Zen 4, 0.75x on an Intel Xeon without AMX, 0.1x without AVX-512), so the tools time the actual
// net in both once per machine and remember the faster in the user's cache directory. The cache is a
// hint, never trusted blindly: a file that does not parse, or was written on another machine, is
// ignored with a note and rewritten.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "core/precision.h"

namespace nst {

struct PrecisionTiming {
  Precision faster = Precision::fp32;
  double fp32_seconds = 0, bf16_seconds = 0;  // best timed run of each
  double ratio() const { return bf16_seconds / fp32_seconds; }  // > 1: bf16 is slower
};

// What makes a timing valid elsewhere: CPU model (name, family, model, bf16/AMX flags), thread
// count, LibTorch and oneDNN versions, device. Entries of another fingerprint never match.
std::string machine_fingerprint(torch::Device device);

// $XDG_CACHE_HOME/nst, else $HOME/.cache/nst ("" when neither is set: no caching).
std::string default_cache_directory();

class PrecisionCache {
 public:
  // Reads DIRECTORY/precision-<hash of fingerprint>.tsv if it exists; problems become notes().
  PrecisionCache(std::string directory, std::string fingerprint);

  std::optional<PrecisionTiming> find(const std::string& workload) const;
  // Adds or replaces the entry and rewrites the file atomically; failures become a note, not an error.
  void store(const std::string& workload, const PrecisionTiming& timing);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& notes() const { return notes_; }  // one line each, for stderr

 private:
  void read();
  std::string path_, fingerprint_;
  std::map<std::string, PrecisionTiming> entries_;
  std::vector<std::string> notes_;
};

// An image's longest side rounded up to a power of two in 256..4096: one timing serves every image
// of about that size.
int64_t size_class(int64_t longest_side);

// Seconds of one timed run of the workload in `precision` (the callee warms up as it needs).
using PrecisionTimer = std::function<double(Precision)>;

// Alternates timed runs of fp32 and bf16 (after one warm-up each) and picks the faster: the best of
// three rounds, or of one when bf16 takes over 2x the time of fp32.
PrecisionTiming time_precisions(const PrecisionTimer& time_run);

// The whole `auto` policy for one tool's setting (e.g. "nst-infer", "--precision") and workload
// (e.g. "nst-infer net {...} at ~512 px"): the cached choice for this machine, else a measurement
// that is stored and reported once on `report` ("nst-infer: --precision auto: bf16 (bf16 takes
// 0.55x the time of fp32 for ...)"). cache_directory "" = no cache (always measure). Cache notes go
// to `report` too. A CPU without AVX-512 gets fp32 untimed (its bf16 path is slow and inexact).
Precision choose_precision(const std::string& tool, const std::string& setting, const std::string& workload,
                           torch::Device device,
                           const PrecisionTimer& time_run, std::ostream& report,
                           const std::string& cache_directory = default_cache_directory());

// choose_precision's cache and measurement for a given machine fingerprint (any CPU; for tests).
Precision choose_precision_cached(const std::string& tool, const std::string& setting, const std::string& workload,
                                  const std::string& fingerprint, const PrecisionTimer& time_run, std::ostream& report,
                                  const std::string& cache_directory);

}  // namespace nst
