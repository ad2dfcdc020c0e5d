// train.loss_jitter: what the loss network sees moves by a random few pixels every step.
// SqueezeNet samples its input on a stride-2 grid from its first convolution (stride 4 after the
// first pool) and, without padding, never reads the last row and column of an even-sized crop. A
// transform net trained against one fixed grid learns to hide patterns in it: a fine hatching whose
// aliases match the painting's statistics, and borders no loss constrains (the bright frame of the
// first shipped model). Output and content are reflection-padded by `pixels` and cropped to a
// window of (H + pixels) x (W + pixels) at a random offset, the same one for both, so every pixel
// is always seen, at a phase of the grid that changes from step to step.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace nst {

struct JitterOffset {
  int64_t pixels = 0, dy = 0, dx = 0;  // offsets in 0..pixels
};

// The offset of one step: a pure function of the seed (e.g. the run's seed and the iteration, so a
// resumed run draws the same ones). pixels = 0 gives the identity.
JitterOffset jitter_offset(int64_t pixels, uint64_t seed);

// The window of images [N,C,H,W] for `offset` (autograd-friendly, any float dtype, keeps the memory
// format); `images` itself when offset.pixels is 0. Needs pixels < H and pixels < W.
torch::Tensor jitter_window(const torch::Tensor& images, const JitterOffset& offset);

}  // namespace nst
