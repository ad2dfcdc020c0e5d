#include "data/precision_cache.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/atomic_file.h"

namespace fs = std::filesystem;

namespace nst {
namespace {

constexpr const char* kHeader = "# nst precision cache 1";
constexpr const char* kMachinePrefix = "# machine: ";

// The first processor's identity and the flags that decide bf16 speed (oneDNN's kernel choice).
std::string cpu_identity() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, name = "unknown CPU", family, model, flags;
  const std::set<std::string> relevant{"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile"};
  while (std::getline(cpuinfo, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      if (!flags.empty()) break;  // end of the first processor's block
      continue;
    }
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name") name = value;
    if (key == "cpu family") family = value;
    if (key == "model") model = value;
    if (key == "flags") {
      std::istringstream words(value);
      for (std::string flag; words >> flag;)
        if (relevant.count(flag)) flags += (flags.empty() ? "" : "+") + flag;
      if (flags.empty()) flags = "none";
    }
  }
  return name + " (family " + family + " model " + model + ", " + flags + ")";
}

std::string onednn_version() {
  const std::string config = at::show_config();
  const auto at = config.find("MKL-DNN v");
  if (at == std::string::npos) return "none";
  const auto end = config.find_first_of(" \n", at + 9);
  return config.substr(at + 9, end - at - 9);
}

std::string without_separators(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::string hex_hash(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across builds, unlike std::hash
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

bool valid_seconds(double s) { return std::isfinite(s) && s > 0; }

}  // namespace

std::string machine_fingerprint(torch::Device device) {
  std::ostringstream text;
  text << cpu_identity() << ", " << torch::get_num_threads() << " threads, LibTorch " << TORCH_VERSION
       << ", oneDNN " << onednn_version() << ", device " << device.str();
  return without_separators(text.str());
}

std::string default_cache_directory() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "nst").string();
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".cache" / "nst").string();
  return "";
}

PrecisionCache::PrecisionCache(std::string directory, std::string fingerprint)
    : fingerprint_(without_separators(std::move(fingerprint))) {
  if (directory.empty()) return;
  path_ = (fs::path(directory) / ("precision-" + hex_hash(fingerprint_) + ".tsv")).string();
  read();
}

void PrecisionCache::read() {
  std::error_code ec;
  if (!fs::exists(path_, ec)) return;
  std::ifstream in(path_, std::ios::binary);
  std::string line;
  auto ignore = [&](const std::string& why) {
    entries_.clear();
    notes_.push_back(path_ + ": " + why + "; ignored (it will be rewritten)");
  };
  if (!fs::is_regular_file(path_, ec) || !in) return ignore("not a readable file");
  if (!std::getline(in, line) || line != kHeader) return ignore("not an nst precision cache");
  if (!std::getline(in, line) || line.rfind(kMachinePrefix, 0) != 0) return ignore("no machine line");
  if (line.substr(std::string(kMachinePrefix).size()) != fingerprint_)
    return ignore("written on another machine (" + line.substr(std::string(kMachinePrefix).size()) + ")");
  for (int number = 3; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::string workload, choice, fp32_text, bf16_text, extra;
    const bool parsed = std::getline(fields, workload, '\t') && std::getline(fields, choice, '\t') &&
                        std::getline(fields, fp32_text, '\t') && std::getline(fields, bf16_text, '\t') &&
                        !std::getline(fields, extra, '\t');
    PrecisionTiming timing;
    char* end = nullptr;
    if (parsed) timing.fp32_seconds = std::strtod(fp32_text.c_str(), &end);
    bool ok = parsed && end && *end == 0;
    if (ok) timing.bf16_seconds = std::strtod(bf16_text.c_str(), &end), ok = *end == 0;
    ok = ok && valid_seconds(timing.fp32_seconds) && valid_seconds(timing.bf16_seconds) &&
         (choice == "fp32" || choice == "bf16");
    if (ok) timing.faster = kPrecisionChoices.parse(choice, "precision");
    // An entry whose choice contradicts its own timings was edited or damaged.
    if (ok && timing.faster != (timing.bf16_seconds < timing.fp32_seconds ? Precision::bf16 : Precision::fp32)) ok = false;
    if (!ok) return ignore("line " + std::to_string(number) + " is not a precision entry");
    entries_[workload] = timing;
  }
}

std::optional<PrecisionTiming> PrecisionCache::find(const std::string& workload) const {
  const auto it = entries_.find(without_separators(workload));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void PrecisionCache::store(const std::string& workload, const PrecisionTiming& timing) {
  entries_[without_separators(workload)] = timing;
  if (path_.empty()) return;
  std::ostringstream text;
  text << kHeader << "\n" << kMachinePrefix << fingerprint_ << "\n";
  for (const auto& [name, entry] : entries_) {
    char numbers[64];
    std::snprintf(numbers, sizeof numbers, "%.6g\t%.6g", entry.fp32_seconds, entry.bf16_seconds);
    text << name << "\t" << kPrecisionChoices.name(entry.faster) << "\t" << numbers << "\n";
  }
  try {
    fs::create_directories(fs::path(path_).parent_path());
    write_bytes_atomically(path_, text.str());
  } catch (const std::exception& e) {
    notes_.push_back(std::string("could not save the precision choice: ") + e.what());
  }
}

int64_t size_class(int64_t longest_side) {
  int64_t size = 256;
  while (size < longest_side && size < 4096) size *= 2;
  return size;
}

PrecisionTiming time_precisions(const PrecisionTimer& time_run) {
  PrecisionTiming timing;
  time_run(Precision::fp32);  // warm-ups: first-use allocations and oneDNN primitive creation
  time_run(Precision::bf16);
  timing.fp32_seconds = timing.bf16_seconds = INFINITY;
  for (int round = 0; round < 3; ++round) {
    timing.fp32_seconds = std::min(timing.fp32_seconds, time_run(Precision::fp32));
    timing.bf16_seconds = std::min(timing.bf16_seconds, time_run(Precision::bf16));
    // bf16 far slower: clear at once, spare the user its slow runs. A bf16 win is confirmed by
    // three rounds (one noisy fp32 run on a busy machine must not flip the choice).
    if (timing.ratio() > 2) break;
  }
  timing.faster = timing.bf16_seconds < timing.fp32_seconds ? Precision::bf16 : Precision::fp32;
  return timing;
}

Precision choose_precision(const std::string& tool, const std::string& setting, const std::string& workload,
                           torch::Device device, const PrecisionTimer& time_run, std::ostream& report,
                           const std::string& cache_directory) {
  // Without AVX-512, LibTorch runs bf16 convolutions in a reference path: slower and several grey
  // levels off (core/precision.h). Not a candidate, so nothing to time.
  if (device.is_cpu() && !cpu_runs_bf16_natively()) return Precision::fp32;
  return choose_precision_cached(tool, setting, workload, machine_fingerprint(device), time_run, report, cache_directory);
}

Precision choose_precision_cached(const std::string& tool, const std::string& setting, const std::string& workload,
                                  const std::string& fingerprint, const PrecisionTimer& time_run, std::ostream& report,
                                  const std::string& cache_directory) {
  PrecisionCache cache(cache_directory, fingerprint);
  for (const auto& note : cache.notes()) report << tool << ": note: " << note << "\n";
  if (const auto cached = cache.find(workload)) return cached->faster;
  const PrecisionTiming timing = time_precisions(time_run);
  const size_t read_notes = cache.notes().size();  // already reported above
  cache.store(workload, timing);
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2f", timing.ratio());
  report << tool << ": " << setting << " auto: " << kPrecisionChoices.name(timing.faster) << " (bf16 takes " << ratio
         << "x the time of fp32 for " << workload << " here"
         << (cache.path().empty() ? ")" : "; remembered in " + cache.path() + ")") << "\n";
  for (size_t i = read_notes; i < cache.notes().size(); ++i) report << tool << ": note: " << cache.notes()[i] << "\n";
  return timing.faster;
}

}  // namespace nst
