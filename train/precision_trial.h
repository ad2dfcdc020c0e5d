// train.precision: auto. bf16 autocast is ~1.3x faster than fp32 for training on CPUs with
// AVX512-BF16 (AMD Zen 4), slower on others (Intel Xeon without AMX: 0.8x) and ~10x slower on
// CPUs without AVX-512 (AMD Zen 3), where oneDNN has no bf16 kernels. No fixed choice is right
// everywhere, so a run uses the faster on its own net and crop size, timed once per machine and
// remembered (data/precision_cache.h).
#pragma once
#include <torch/torch.h>

#include <ostream>
#include <string>

#include "config/config.h"
#include "data/precision_cache.h"
#include "nets/transformer_net.h"

namespace nst {

// Seconds of one transform-net training step (forward, backward) on `batch` in `precision`; the
// current thread settings apply.
double time_training_step(TransformerNet& net, const torch::Tensor& batch, Precision precision, torch::Device device);

// When train.precision is auto: sets it to the cached or measured faster precision (timed on a
// [1,3,crop,crop] batch, crop = data.image_size capped at 128 px: the ratio, not the time,
// matters). The resolved value is what the run's config.yaml records, so a resume keeps it.
void resolve_auto_precision(Config& config, std::ostream& report,
                            const std::string& cache_directory = default_cache_directory());

}  // namespace nst
