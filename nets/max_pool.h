// Max pooling (no padding, dilation 1) as torch::nn::MaxPool2d computes it, faster on a CPU. LibTorch
// 1.13's NCHW max_pool2d forward is 2-4x slower than its channels-last one (SqueezeNet's 3x3/2 pools
// over a [4,64,131,131] bf16 batch: 18.5 ms, against 8.8 including the layout changes), while its
// NCHW backward is fast and the channels-last one slow. So the forward pools in channels-last and the
// backward scatters the gradient in NCHW with the same indices (an index counts within one channel's
// plane, whatever the layout). Values and gradients are the built-in's exactly.
#pragma once
#include <torch/torch.h>

namespace nst {

class MaxPoolImpl : public torch::nn::Module {
 public:
  MaxPoolImpl(int64_t kernel, int64_t stride, bool ceil_mode) : kernel_(kernel), stride_(stride), ceil_mode_(ceil_mode) {}
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t kernel_, stride_;
  bool ceil_mode_;
};
TORCH_MODULE(MaxPool);

}  // namespace nst
