#include "core/precision.h"

#include <ATen/autocast_mode.h>

#include <fstream>
#include <sstream>

namespace nst {

torch::ScalarType dtype_of(Precision precision) {
  return precision == Precision::bf16 ? torch::kBFloat16 : torch::kFloat32;
}

bool cpu_runs_bf16_natively() {
  static const bool native = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      bool bw = false, vl = false, dq = false;
      for (std::string flag; words >> flag;) bw |= flag == "avx512bw", vl |= flag == "avx512vl", dq |= flag == "avx512dq";
      return bw && vl && dq;
    }
    return true;  // no /proc/cpuinfo (not Linux): no evidence against it
  }();
  return native;
}

std::string bf16_warning(Precision precision, torch::Device device) {
  if (precision != Precision::bf16 || !device.is_cpu() || cpu_runs_bf16_natively()) return "";
  return "this CPU has no AVX-512, so bf16 runs in LibTorch's reference path: about 9x slower than fp32 and "
         "several grey levels off; use fp32";
}

AutocastScope::AutocastScope(Precision precision, torch::Device device)
    : enabled_(precision == Precision::bf16), cuda_(device.is_cuda()) {
  if (!enabled_) return;
  if (cuda_) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (cuda_)
    at::autocast::set_enabled(false);
  else
    at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
}

}  // namespace nst
