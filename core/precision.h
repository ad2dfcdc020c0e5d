// Numeric precision of a forward pass: fp32, or bf16 (about twice as fast on CPUs with
// AVX512-BF16). nst-infer converts the net's weights; nst-train runs under autocast.
#pragma once
#include <torch/torch.h>

#include "core/choices.h"

namespace nst {

enum class Precision { fp32, bf16 };
inline const Choices<Precision> kPrecisionChoices{{"fp32", Precision::fp32}, {"bf16", Precision::bf16}};

torch::ScalarType dtype_of(Precision precision);

// bf16 autocast for the forward passes on `device` while in scope (nothing for fp32).
class AutocastScope {
 public:
  AutocastScope(Precision precision, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_, cuda_;
};

}  // namespace nst
