#include "losses/loss_jitter.h"

#include <random>

#include "nets/transformer_net.h"

namespace nst {

JitterOffset jitter_offset(int64_t pixels, uint64_t seed) {
  TORCH_CHECK(pixels >= 0, "jitter_offset: pixels must be >= 0, got ", pixels);
  if (pixels == 0) return {};
  // mt19937_64's sequence is fixed by the standard (a distribution's is not): the same offsets everywhere.
  std::mt19937_64 generator(seed);
  const auto range = static_cast<uint64_t>(pixels) + 1;
  const auto dy = static_cast<int64_t>(generator() % range);
  return {pixels, dy, static_cast<int64_t>(generator() % range)};
}

torch::Tensor jitter_window(const torch::Tensor& images, const JitterOffset& offset) {
  if (offset.pixels == 0) return images;
  TORCH_CHECK(images.dim() == 4, "jitter_window expects [N,C,H,W], got ", images.sizes());
  const int64_t h = images.size(2), w = images.size(3);
  return reflection_pad(images, offset.pixels).narrow(2, offset.dy, h + offset.pixels).narrow(3, offset.dx, w + offset.pixels);
}

}  // namespace nst
