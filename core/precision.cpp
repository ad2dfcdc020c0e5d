#include "core/precision.h"

#include <ATen/autocast_mode.h>

namespace nst {

torch::ScalarType dtype_of(Precision precision) {
  return precision == Precision::bf16 ? torch::kBFloat16 : torch::kFloat32;
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
