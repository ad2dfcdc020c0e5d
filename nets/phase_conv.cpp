#include "nets/phase_conv.h"

#include "nets/border_pad.h"

namespace nst {

namespace {

torch::Tensor repeat_bias(const torch::Tensor& bias) { return bias.defined() ? bias.repeat_interleave(4) : bias; }

// pixel_shuffle (x2) and pixel_unshuffle as one strided copy each, with each other as backward:
// LibTorch 1.13's own kernels took 4-5x longer (a [4,64,128,128] bf16 shuffle: 6.0 ms against 1.2).
torch::Tensor shuffle_copy(const torch::Tensor& phases) {  // [N, 4C, H, W] -> [N, C, 2H, 2W]
  const auto x = phases.contiguous();
  const int64_t n = x.size(0), c = x.size(1) / 4, h = x.size(2), w = x.size(3);
  auto out = torch::empty({n, c, 2 * h, 2 * w}, x.options());
  out.view({n, c, h, 2, w, 2}).copy_(x.view({n, c, 2, 2, h, w}).permute({0, 1, 4, 2, 5, 3}));
  return out;
}

torch::Tensor unshuffle_copy(const torch::Tensor& image) {  // [N, C, 2H, 2W] -> [N, 4C, H, W]
  const auto x = image.contiguous();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2) / 2, w = x.size(3) / 2;
  auto out = torch::empty({n, 4 * c, h, w}, x.options());
  out.view({n, c, 2, 2, h, w}).copy_(x.view({n, c, h, 2, w, 2}).permute({0, 1, 3, 5, 2, 4}));
  return out;
}

// One direction's backward is the other direction.
class PixelShuffle : public torch::autograd::Function<PixelShuffle> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x, bool inverse) {
    context->saved_data["inverse"] = inverse;
    return inverse ? unshuffle_copy(x) : shuffle_copy(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list g) {
    const bool inverse = context->saved_data["inverse"].toBool();
    return {inverse ? shuffle_copy(g[0]) : unshuffle_copy(g[0]), torch::Tensor()};
  }
};

// The 3 taps of a 3x3 kernel along `dim` as 2 taps on the low-resolution input: output rows 2i (phase
// 0) read input rows i-1 | i (taps 0 | 1+2), rows 2i+1 (phase 1) read rows i | i+1 (taps 0+1 | 2).
torch::Tensor merge_taps(const torch::Tensor& weight, int64_t dim, int64_t phase) {
  auto tap = [&](int64_t i) { return weight.narrow(dim, i, 1); };
  return phase == 0 ? torch::cat({tap(0), tap(1) + tap(2)}, dim) : torch::cat({tap(0) + tap(1), tap(2)}, dim);
}

// [O, C, 3, 3] -> [4 O, C, 2, 2], output channel o * 4 + 2 a + b for phase (a, b).
torch::Tensor phase_weight(const torch::Tensor& weight) {
  std::vector<torch::Tensor> phases;
  for (int64_t a : {0, 1})
    for (int64_t b : {0, 1}) phases.push_back(merge_taps(merge_taps(weight, 2, a), 3, b));
  return torch::stack(phases, 1).flatten(0, 1);
}

// The 2x2 convolution over the input padded by 1 gives [N, 4 O, H+1, W+1]; phase (a, b) of output
// pixel (i, j) is its position (i + a, j + b). One strided view reads all four phases at their offsets.
torch::Tensor phases_view(const torch::Tensor& phases, int64_t h, int64_t w) {
  const int64_t n = phases.size(0), o = phases.size(1) / 4, plane = (h + 1) * (w + 1);
  return phases.as_strided({n, o, h, 2, w, 2}, {4 * o * plane, 4 * plane, w + 1, 2 * plane + w + 1, 1, plane + 1});
}

// The phases interleaved into [N, O, 2H, 2W] (a copy; the unused border positions get no gradient).
class InterleavePhases : public torch::autograd::Function<InterleavePhases> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& phases) {
    const auto x = phases.contiguous();
    const int64_t n = x.size(0), o = x.size(1) / 4, h = x.size(2) - 1, w = x.size(3) - 1;
    context->saved_data["sizes"] = x.sizes().vec();
    auto out = torch::empty({n, o, 2 * h, 2 * w}, x.options());
    out.view({n, o, h, 2, w, 2}).copy_(phases_view(x, h, w));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto sizes = context->saved_data["sizes"].toIntVector();
    const auto& g = gradients[0];
    auto phases = torch::zeros(sizes, g.options());
    const int64_t h = sizes[2] - 1, w = sizes[3] - 1;
    phases_view(phases, h, w).copy_(g.contiguous().view({sizes[0], sizes[1] / 4, h, 2, w, 2}));
    return {phases};
  }
};

// [O, C, k, k] -> [4 O, 4 C, (k+1)/2, (k+1)/2]: output phase (p, q) at input phase (b, c) and
// low-resolution tap (y, x) is the original tap (2y + b - p, 2x + c - q), zero outside the kernel.
torch::Tensor polyphase_weight(const torch::Tensor& weight) {
  const int64_t o = weight.size(0), c = weight.size(1), k = weight.size(2), half = (k + 1) / 2;
  const auto padded = torch::constant_pad_nd(weight, {1, 1, 1, 1});  // tap t at index t + 1
  std::vector<torch::Tensor> rows;
  for (int64_t p : {0, 1}) {
    const auto taps = padded.narrow(2, 1 - p, 2 * half).reshape({o, c, half, 2, k + 2});
    std::vector<torch::Tensor> columns;
    for (int64_t q : {0, 1}) columns.push_back(taps.narrow(4, 1 - q, 2 * half).reshape({o, c, half, 2, half, 2}));
    rows.push_back(torch::stack(columns, 1));
  }
  return torch::stack(rows, 1).permute({0, 1, 2, 3, 5, 7, 4, 6}).reshape({o * 4, c * 4, half, half});
}

}  // namespace

torch::Tensor upsample_conv_by_phases(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool reflect) {
  TORCH_CHECK(weight.size(2) == 3 && weight.size(3) == 3, "upsample_conv_by_phases needs a 3x3 kernel");
  const auto input = reflect ? replication_pad(x, 1) : torch::constant_pad_nd(x, {1, 1, 1, 1});
  return InterleavePhases::apply(torch::conv2d(input, phase_weight(weight), repeat_bias(bias)));
}

torch::Tensor polyphase_conv(const torch::Tensor& padded, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(weight.size(2) % 2 == 1 && weight.size(2) == weight.size(3), "polyphase_conv needs an odd square kernel");
  TORCH_CHECK(padded.size(2) % 2 == 0 && padded.size(3) % 2 == 0, "polyphase_conv needs an even-sized input");
  const auto phases = PixelShuffle::apply(padded, /*inverse=*/true);
  return PixelShuffle::apply(torch::conv2d(phases, polyphase_weight(weight), repeat_bias(bias)), /*inverse=*/false);
}

}  // namespace nst
