#include "losses/temporal_loss.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace nst {

void TemporalLossOptions::validate() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw std::runtime_error("config: loss.temporal." + message);
  };
  require(weight_ >= 0 && std::isfinite(weight_), "weight must be >= 0 (0 = off)");
  require(flow_max_ >= 0 && std::isfinite(flow_max_), "flow_max must be >= 0 (pixels)");
  require(flow_grid_ >= 2, "flow_grid must be >= 2");
  require(noise_ >= 0 && std::isfinite(noise_), "noise must be >= 0");
}

torch::Tensor random_smooth_flow(int64_t batch, int64_t height, int64_t width, double max_pixels, int64_t grid,
                                 uint64_t seed) {
  namespace F = torch::nn::functional;
  auto generator = at::detail::createCPUGenerator(seed);
  auto coarse = torch::rand({batch, 2, grid, grid}, generator, torch::kFloat32) * 2 - 1;
  auto fine = F::interpolate(coarse, F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{height, width})
                                         .mode(torch::kBicubic)
                                         .align_corners(true));
  return (fine.clamp(-1, 1) * max_pixels).permute({0, 2, 3, 1}).contiguous();
}

namespace {

// Absolute positions p + flow(p) in grid_sample's [-1, 1] coordinates (align_corners = true).
torch::Tensor sampling_grid(const torch::Tensor& flow) {
  const int64_t height = flow.size(1), width = flow.size(2);
  auto options = flow.options();
  auto x = torch::arange(width, options).view({1, 1, width}) + flow.select(3, 0);
  auto y = torch::arange(height, options).view({1, height, 1}) + flow.select(3, 1);
  return torch::stack({x * (2.0 / std::max<int64_t>(1, width - 1)) - 1, y * (2.0 / std::max<int64_t>(1, height - 1)) - 1}, 3);
}

}  // namespace

torch::Tensor warp_images(const torch::Tensor& images, const torch::Tensor& flow, WarpInterpolation interpolation) {
  TORCH_CHECK(images.dim() == 4 && flow.dim() == 4 && flow.size(3) == 2 && images.size(0) == flow.size(0) &&
                  images.size(2) == flow.size(1) && images.size(3) == flow.size(2),
              "warp_images: images [N,C,H,W] and flow [N,H,W,2] of one size, got ", images.sizes(), " and ", flow.sizes());
  // ATen's grid_sampler: the C++ functional API of LibTorch 1.13 offers no bicubic mode.
  // Modes: interpolation 0 bilinear, 2 bicubic; padding 1 border.
  const int64_t mode = interpolation == WarpInterpolation::bicubic ? 2 : 0;
  return torch::grid_sampler(images, sampling_grid(flow.to(images.dtype())), mode, /*padding_mode=*/1,
                             /*align_corners=*/true);
}

torch::Tensor flow_inside_mask(const torch::Tensor& flow) {
  const int64_t height = flow.size(1), width = flow.size(2);
  auto options = flow.options();
  auto x = torch::arange(width, options).view({1, 1, width}) + flow.select(3, 0);
  auto y = torch::arange(height, options).view({1, height, 1}) + flow.select(3, 1);
  return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).to(torch::kFloat32).unsqueeze(1);
}

TemporalLoss::TemporalLoss(TemporalLossOptions options) : options_(std::move(options)) {}

torch::Tensor TemporalLoss::compute(TransformerNet& net, const torch::Tensor& batch, const torch::Tensor& output,
                                    uint64_t seed) {
  const int64_t n = batch.size(0), height = batch.size(2), width = batch.size(3);
  auto generator = at::detail::createCPUGenerator(seed ^ 0x9E3779B97F4A7C15ull);
  const auto flow =
      random_smooth_flow(n, height, width, options_.flow_max(), options_.flow_grid(), seed).to(batch.device());
  const auto noise = (torch::randn(batch.sizes(), generator, torch::kFloat32) * options_.noise()).to(batch.device());
  torch::Tensor second_view;
  {
    // Warps and the squared difference in float32 under bf16 autocast; the net runs as configured.
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    second_view = warp_images(batch.to(torch::kFloat32), flow, options_.warp()) + noise;
  }
  const auto second_output = net->forward(second_view);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const auto warped_output = warp_images(output.to(torch::kFloat32), flow, options_.warp());
  const auto mask = flow_inside_mask(flow);
  const auto squared = (warped_output - second_output.to(torch::kFloat32)).div(255.0).pow(2) * mask;
  return options_.weight() * squared.sum() / (mask.sum() * batch.size(1)).clamp_min(1);
}

}  // namespace nst
