// Shared by the exporter tests: random nets whose output spans 0..255 (as a trained one does),
// smooth test images, and nst's own stylization as the reference the exports must match.
#pragma once
#include <torch/torch.h>

#include "infer/stylizer.h"
#include "nets/transformer_net.h"

namespace nst::test {

// Random weights (norm affines too, so a dropped or misnamed tensor shows in the output); the last
// conv scaled so a linear output spans ~0..255 like pytorch/examples' trained nets.
inline TransformerNet random_net(TransformerNetOptions options = {}, uint64_t seed = 11) {
  torch::manual_seed(seed);
  TransformerNet net(options);
  torch::NoGradGuard no_grad;
  auto ends_with = [](const std::string& text, const std::string& end) {
    return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
  };
  for (auto& item : net->named_parameters()) {
    const bool conv = item.key().find("conv2d") != std::string::npos || item.key().find("conv_transpose2d") != std::string::npos;
    if (!conv) ends_with(item.key(), ".weight") ? item.value().uniform_(0.5, 1.5) : item.value().uniform_(-0.5, 0.5);
  }
  for (auto& item : net->named_buffers()) {  // batch norm running statistics
    if (item.key().find("running_mean") != std::string::npos) item.value().uniform_(-0.2, 0.2);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 1.5);
  }
  if (options.output() == OutputKind::linear) {
    for (auto& item : net->named_parameters()) {
      if (item.key().rfind("deconv3.", 0) != 0) continue;
      ends_with(item.key(), ".weight") ? item.value().mul_(60.0) : item.value().add_(128.0);
    }
  }
  net->eval();
  return net;
}

// A smooth random RGB image [3,H,W] in 0..255 (blurry colour blobs plus a little noise).
inline torch::Tensor test_image(int64_t height, int64_t width, uint64_t seed = 3) {
  torch::manual_seed(seed);
  namespace F = torch::nn::functional;
  auto coarse = torch::rand({1, 3, height / 8 + 2, width / 8 + 2}) * 255;
  auto image = F::interpolate(coarse, F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{height, width})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
  return (image.squeeze(0) + torch::randn({3, height, width}) * 8).clamp(0, 255);
}

// What nst-infer computes for `rgb` (padding, fp32 forward, crop, clamp): [3,H,W] 0..255.
inline torch::Tensor nst_output(TransformerNet net, const torch::Tensor& rgb) {
  Stylizer stylizer(net, torch::kCPU, StylizeOptions{});
  return stylizer.stylize_tensor(rgb);
}

inline double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace nst::test
