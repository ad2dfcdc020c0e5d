// Two convolutions of the transform net regrouped by the 2x2 phases of their (high-resolution) output,
// exactly the same sums in shapes that oneDNN runs faster on a CPU in training: more channels at a
// quarter of the pixels, and no upsampled tensor to write, pad and reorder (docs/training.md,
// "Training speed"). The weights stay the net's; the regrouped kernels are computed from them on each
// call, so gradients reach the original weights.
#pragma once
#include <torch/torch.h>

namespace nst {

// Nearest x2 upsampling, padding 1 (reflect, else zero) and a 3x3 convolution, at the input's
// resolution: an output pixel of phase (a, b) reads only 2x2 distinct input pixels, so the four phases
// are one 2x2 convolution to 4x the channels with merged taps (4/9 of the multiply-adds), interleaved
// at their offsets. Reflecting the upsampled image's border is replicating the input's.
torch::Tensor upsample_conv_by_phases(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool reflect);

// A stride-1 convolution with an odd kernel k over an already padded input of even height and width, as
// one convolution with a (k+1)/2 kernel over the input's 2x2 phases as channels (pixel_unshuffle):
// 1.23x the multiply-adds for k = 9, but 16->3 channels become 64->12.
torch::Tensor polyphase_conv(const torch::Tensor& padded, const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace nst
