// A TransformerNet's forward for CPU inference at the speed of its convolutions: activations stay
// channels-last from the first convolution to the last (oneDNN's convolutions read and write that
// layout directly, so nothing is reordered between layers), the weights are prepared once, and each
// norm + ReLU (+ residual add, + x2 upsampling) is one pass that writes straight into the next
// convolution's reflection-padded input (nets/fused_norm.h). Same results as the module's forward
// within float rounding (fp32) or bf16 rounding (bf16).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "nets/transformer_net.h"

namespace nst {

class PackedTransformerNet {
 public:
  // The architectures it runs: instance norm, reflection padding, nearest upsampling (the
  // defaults), in float32, or in bfloat16 where oneDNN has bf16 convolutions (cpu_runs_bf16_natively);
  // others keep the module's forward.
  static bool supports(const TransformerNetOptions& options, torch::ScalarType dtype);

  // Takes the net's weights in their current dtype (float32 or bfloat16); the net must be on the
  // CPU. Instance-norm layers with fixed statistics (tiles, TransformerNetImpl::use_norm_statistics)
  // are honoured at each forward.
  explicit PackedTransformerNet(TransformerNet net);

  // [N,3,H,W] in the weights' dtype, sides as the module requires; the output likewise (contiguous).
  torch::Tensor forward(const torch::Tensor& x) const;

 private:
  struct Stage {  // x2 upsampling (its input is written so), a convolution, its norm and activation
    torch::Tensor weight, bias;
    int64_t stride = 1, pad = 0, upsample = 1;
    Norm norm{nullptr};  // null for the last convolution; read at each forward for fixed statistics (tiles)
    torch::Tensor norm_weight, norm_bias;  // its affine, float [1,C]
    bool relu = true;
    bool opens_block = false, closes_block = false;  // residual blocks: input kept / added back
  };
  TransformerNet net_;
  std::vector<Stage> stages_;
  // y's norm, activation and residual add, written upsampled and padded for `next`.
  torch::Tensor normalize(const torch::Tensor& y, const Stage& stage, const torch::Tensor& residual,
                          const Stage& next) const;
};

}  // namespace nst
