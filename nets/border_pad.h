// Reflection and replication padding written by narrow/flip copies, each with its own backward:
// they work in bfloat16 (Debian's LibTorch 1.13 has neither reflection_pad2d nor replication_pad2d
// in bf16), keep the input's memory format, and are faster than the built-in ops in fp32 here.
#pragma once
#include <torch/torch.h>

namespace nst {

// Mirrors the border without repeating it (abc -> cb|abc|ba). Needs pad < H and pad < W.
torch::Tensor reflection_pad(const torch::Tensor& x, int64_t pad);
// Repeats the edge pixels (abc -> aa|abc|cc).
torch::Tensor replication_pad(const torch::Tensor& x, int64_t pad);

}  // namespace nst
