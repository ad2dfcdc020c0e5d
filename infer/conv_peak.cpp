#include "infer/conv_peak.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

namespace nst {

double ConvShape::flops() const {
  return 2.0 * in_channels * out_channels * kernel * kernel * out_height() * out_width();
}

std::vector<ConvShape> conv_shapes(const TransformerNetOptions& net, int64_t height, int64_t width) {
  const int64_t w = net.width();
  std::vector<ConvShape> shapes;
  int64_t h = height, x = width;
  auto add = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride, bool upsample) {
    if (upsample) h *= 2, x *= 2;
    const int64_t pad = kernel / 2;  // "same" padding, reflected or zero
    shapes.push_back({in, out, kernel, stride, h + 2 * pad, x + 2 * pad});
    h = shapes.back().out_height(), x = shapes.back().out_width();
  };
  add(3, w, 9, 1, false);
  add(w, 2 * w, 3, 2, false);
  add(2 * w, 4 * w, 3, 2, false);
  for (int64_t i = 0; i < 2 * net.res_blocks(); ++i) add(4 * w, 4 * w, 3, 1, false);
  add(4 * w, 2 * w, 3, 1, true);
  add(2 * w, w, 3, 1, true);
  add(w, 3, 9, 1, false);
  return shapes;
}

double total_flops(const std::vector<ConvShape>& shapes) {
  double flops = 0;
  for (const auto& shape : shapes) flops += shape.flops();
  return flops;
}

ConvPeak measure_conv_peak(const std::vector<ConvShape>& shapes, Precision precision, int repeats) {
  torch::NoGradGuard no_grad;
  const auto dtype = dtype_of(precision);
  // Identical shapes (the residual convolutions) are timed once and counted once each.
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, double> best;
  ConvPeak peak;
  for (const auto& s : shapes) {
    const auto key = std::make_tuple(s.in_channels, s.out_channels, s.kernel, s.stride, s.height, s.width);
    if (!best.count(key)) {
      torch::manual_seed(0);
      const auto input = torch::rand({1, s.in_channels, s.height, s.width}).to(dtype).to_mkldnn();
      const auto weight = at::mkldnn_reorder_conv2d_weight(
          (torch::randn({s.out_channels, s.in_channels, s.kernel, s.kernel}) * 0.1).to(dtype).to_mkldnn(), {0, 0},
          {s.stride, s.stride}, {1, 1}, 1);
      const auto bias = torch::zeros({s.out_channels}).to(dtype).to_mkldnn();
      double fastest = 1e30;
      for (int run = 0; run <= repeats; ++run) {
        const auto start = std::chrono::steady_clock::now();
        const auto output = at::mkldnn_convolution(input, weight, bias, {0, 0}, {s.stride, s.stride}, {1, 1}, 1);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (run > 0) fastest = std::min(fastest, seconds);  // run 0 creates the oneDNN primitive
      }
      best[key] = fastest;
    }
    peak.seconds += best[key];
    peak.flops += s.flops();
  }
  return peak;
}

}  // namespace nst
