// The machine's convolution peak on the transform net's own convolutions (nst-bench-infer --peak):
// each convolution timed alone in oneDNN's blocked layout (weights reordered once, input already
// blocked, output left blocked), so the figure is pure convolution compute, the ceiling a forward
// pass could reach if everything else (padding, norms, activations, layout reorders) were free.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/precision.h"
#include "nets/transformer_net.h"

namespace nst {

struct ConvShape {
  int64_t in_channels, out_channels, kernel, stride;
  int64_t height, width;  // of the convolution's input, after padding and upsampling
  int64_t out_height() const { return (height - kernel) / stride + 1; }
  int64_t out_width() const { return (width - kernel) / stride + 1; }
  double flops() const;  // multiply-adds x 2
};

// The net's convolutions, in forward order, for an input of height x width (multiples of 4).
std::vector<ConvShape> conv_shapes(const TransformerNetOptions& net, int64_t height, int64_t width);

double total_flops(const std::vector<ConvShape>& shapes);

struct ConvPeak {
  double seconds = 0;  // sum over the shapes of each one's best time
  double flops = 0;
  double gflops() const { return flops / seconds * 1e-9; }
};

// Best of `repeats` timed runs per shape (after a warm-up), in `precision`, on the CPU.
ConvPeak measure_conv_peak(const std::vector<ConvShape>& shapes, Precision precision, int repeats);

}  // namespace nst
