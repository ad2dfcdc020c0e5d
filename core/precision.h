// Numeric precision of a forward pass: fp32, or bf16 (about twice as fast on CPUs with
// AVX512-BF16). nst-infer converts the net's weights; nst-train runs under autocast.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "core/choices.h"

namespace nst {

enum class Precision { fp32, bf16 };
inline const Choices<Precision> kPrecisionChoices{{"fp32", Precision::fp32}, {"bf16", Precision::bf16}};

// A precision setting that may also say "auto" (choose by measurement, data/precision_cache.h):
// nullopt stands for auto.
inline const Choices<std::optional<Precision>> kPrecisionSettingChoices{
    {"auto", std::nullopt}, {"fp32", Precision::fp32}, {"bf16", Precision::bf16}};

torch::ScalarType dtype_of(Precision precision);

// True when this CPU has the AVX-512 (BW, VL, DQ) that LibTorch 1.13 needs to run bf16 convolutions
// in oneDNN. Without it they fall back to a reference path that is ~9x slower than fp32 and
// accumulates in bf16 (outputs several grey levels off).
bool cpu_runs_bf16_natively();

// A one-line warning when bf16 is asked for on `device` but this CPU lacks native bf16; "" otherwise.
std::string bf16_warning(Precision precision, torch::Device device);

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
