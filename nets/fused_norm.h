// The memory-bound steps between two convolutions of the transform net, for channels-last CPU
// tensors, in as few passes as possible: instance-norm statistics in one read, then one pass that
// applies the norm's scale and shift, the ReLU, the residual add and the x2 nearest upsampling and
// writes the result straight into the next convolution's reflection-padded input.
#pragma once
#include <torch/torch.h>

namespace nst {

// Per-sample, per-channel mean and biased variance of a contiguous channels-last [N,C,H,W] float or
// bfloat16 tensor, both float [N,C]. Summed row by row in a fixed order: the result does not depend
// on the thread count.
std::pair<torch::Tensor, torch::Tensor> channel_statistics(const torch::Tensor& x);

struct NormActPad {
  torch::Tensor scale, shift;  // float [N,C]: y = x * scale + shift
  bool relu = false;
  torch::Tensor residual;      // optional, [N,C,H,W] channels-last-strided (e.g. the interior of a padded input): added after the norm
  int64_t upsample = 1;        // 1 or 2 (nearest)
  int64_t pad = 0;             // reflection padding of the result on each side
};

// out = pad(upsample(act(x * scale + shift + residual))): a new contiguous channels-last tensor of
// [N, C, upsample*H + 2*pad, upsample*W + 2*pad] in x's dtype. x: contiguous channels-last [N,C,H,W].
// Needs pad < upsample*H and pad < upsample*W.
torch::Tensor norm_act_pad(const torch::Tensor& x, const NormActPad& step);

}  // namespace nst
