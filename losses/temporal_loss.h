// loss.temporal.*: stability for video learned from still photos, the compound regularization of
// Wang et al. (2020, "Consistent video style transfer via relaxation and regularization",
// ReReVST). A second view of each training crop is made by warping it with a random smooth flow
// W and adding a little noise; a stable net commutes with the warp:
//   temporal = weight * mean over visible pixels ((W(f(x)) - f(W(x) + noise)) / 255)^2
// (the squared difference on the 0..1 scale, as the warping error of nst-eval measures it). It
// costs one more forward and backward pass of the transform net per step, no video data and
// nothing at inference time.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "core/choices.h"
#include "nets/transformer_net.h"

namespace nst {

// How the loss resamples images along the flow (loss.temporal.warp). A bilinear warp of the net's
// output is a slightly blurred target; bicubic blurs far less, but measured no better (the style loss
// on video frames rose as much: docs/inference.md, session 10), so bilinear stays the default.
enum class WarpInterpolation { bilinear, bicubic };
inline const Choices<WarpInterpolation> kWarpInterpolationChoices{{"bilinear", WarpInterpolation::bilinear},
                                                                   {"bicubic", WarpInterpolation::bicubic}};

// Filled by train_options_from (the defaults are train_defaults_yaml()).
struct TemporalLossOptions {
  TORCH_ARG(double, weight) = 0;      // loss.temporal.weight: 0 = off
  TORCH_ARG(double, flow_max) = 0;    // loss.temporal.flow_max: largest displacement, pixels
  TORCH_ARG(int64_t, flow_grid) = 0;  // loss.temporal.flow_grid: random vectors per side (fewer = smoother)
  TORCH_ARG(double, noise) = 0;       // loss.temporal.noise: standard deviation of Gaussian noise, 0..255 scale
  TORCH_ARG(WarpInterpolation, warp) = WarpInterpolation::bilinear;  // loss.temporal.warp

 public:
  void validate() const;  // throws "config: loss.temporal.KEY must ..."
};

// A random smooth flow [N,H,W,2] (dx, dy in pixels): vectors uniform in [-max_pixels, max_pixels]
// on a grid x grid lattice, upsampled bicubically. The same seed gives the same flow (a CPU
// generator of its own: the global RNG is untouched).
torch::Tensor random_smooth_flow(int64_t batch, int64_t height, int64_t width, double max_pixels, int64_t grid,
                                 uint64_t seed);

// Images [N,C,H,W] sampled at p + flow(p) (bilinear, as motion/warp_by_flow does with cv::remap
// inside the image, or bicubic; positions outside take the nearest edge pixel).
torch::Tensor warp_images(const torch::Tensor& images, const torch::Tensor& flow,
                          WarpInterpolation interpolation = WarpInterpolation::bilinear);
// [N,1,H,W] float: 1 where p + flow(p) lies inside the image.
torch::Tensor flow_inside_mask(const torch::Tensor& flow);

class TemporalLoss {
 public:
  explicit TemporalLoss(TemporalLossOptions options);

  // The weighted penalty for `net` on `batch` [N,3,H,W] 0..255, whose stylization `output` the
  // caller already has; the random flow and noise come from `seed` (the trainer derives it from the
  // run's seed and the iteration, so a resumed run draws the same). Differentiable in the net.
  torch::Tensor compute(TransformerNet& net, const torch::Tensor& batch, const torch::Tensor& output, uint64_t seed);

  const TemporalLossOptions& options() const { return options_; }

 private:
  TemporalLossOptions options_;
};

}  // namespace nst
