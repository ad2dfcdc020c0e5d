// train.precision: auto. bf16 autocast is ~1.3x faster than fp32 for training on CPUs with
// AVX512-BF16 (AMD Zen 4), slower on others (Intel Xeon without AMX: 0.8x) and ~9x slower on
// CPUs without AVX-512 (AMD Zen 3), where oneDNN has no bf16 kernels. No fixed choice is right
// everywhere, so a run measures both on its own net and crop size before it starts.
#pragma once
#include <torch/torch.h>

#include <ostream>

#include "config/config.h"
#include "core/precision.h"
#include "nets/transformer_net.h"

namespace nst {

struct PrecisionTrial {
  Precision faster = Precision::fp32;
  double fp32_seconds = 0, bf16_seconds = 0;  // best of the timed transform-net steps
};

// Times a transform-net training step (forward, backward) on a [1,3,crop,crop] batch in fp32 and
// under bf16 autocast, alternating, after a warm-up of each; the current thread settings apply.
PrecisionTrial time_training_precisions(const TransformerNetOptions& net, int64_t crop, torch::Device device);

// When train.precision is auto: measures (at data.image_size, at most 128 px: the ratio, not the
// time, matters), sets train.precision to the faster and prints the choice with the ratio on
// `report`. The resolved value is what the run's config.yaml records, so a resume keeps it.
void resolve_auto_precision(Config& config, std::ostream& report);

}  // namespace nst
