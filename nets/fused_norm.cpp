#include "nets/fused_norm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

// The row loops are compiled for AVX-512 and AVX2 as well as the baseline, chosen at load time
// (GCC function multiversioning): the build itself targets plain x86-64.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NST_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NST_VECTOR_CLONES
#endif

namespace nst {
namespace {

// Sums of (x - origin) and its square over one row of `width` pixels of `channels` values each.
template <typename T>
NST_VECTOR_CLONES void row_sums(const T* row, int64_t width, int64_t channels, const float* origin, float* sum,
                                float* sum_sq) {
  for (int64_t c = 0; c < channels; ++c) sum[c] = sum_sq[c] = 0.f;
  for (int64_t x = 0; x < width; ++x) {
    const T* pixel = row + x * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float v = static_cast<float>(pixel[c]) - origin[c];
      sum[c] += v;
      sum_sq[c] += v * v;
    }
  }
}

// One row of act(x * scale + shift + residual), each pixel written `upsample` times side by side.
template <typename T>
NST_VECTOR_CLONES void norm_row(const T* in, const T* residual, int64_t residual_pixel_stride, T* out, int64_t width,
                                int64_t channels, const float* scale, const float* shift, bool relu,
                                int64_t upsample) {
  for (int64_t x = 0; x < width; ++x) {
    const T* pixel = in + x * channels;
    T* target = out + x * upsample * channels;
    for (int64_t c = 0; c < channels; ++c) {
      float v = static_cast<float>(pixel[c]) * scale[c] + shift[c];
      if (residual) v += static_cast<float>(residual[x * residual_pixel_stride + c]);
      if (relu) v = std::max(v, 0.f);
      target[c] = static_cast<T>(v);
    }
    if (upsample == 2) std::memcpy(target + channels, target, channels * sizeof(T));
  }
}

template <typename T>
std::pair<torch::Tensor, torch::Tensor> statistics_of(const torch::Tensor& x) {
  const int64_t n = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const T* data = x.data_ptr<T>();
  // The first pixel of each sample as the origin keeps the float sums well conditioned.
  const auto origin = x.select(3, 0).select(2, 0).to(torch::kFloat32).contiguous();
  auto partial = torch::empty({n * height, 2 * channels}, torch::kFloat32);
  float* sums = partial.data_ptr<float>();
  at::parallel_for(0, n * height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      row_sums(data + r * width * channels, width, channels, origin.data_ptr<float>() + (r / height) * channels,
               sums + r * 2 * channels, sums + r * 2 * channels + channels);
  });
  // Rows summed in double in a fixed order.
  const auto totals = partial.view({n, height, 2 * channels}).to(torch::kFloat64).sum(1);
  const double count = static_cast<double>(height * width);
  const auto mean_shifted = totals.narrow(1, 0, channels) / count;
  const auto var = (totals.narrow(1, channels, channels) / count - mean_shifted * mean_shifted).clamp_min(0);
  return {(mean_shifted + origin).to(torch::kFloat32), var.to(torch::kFloat32)};
}

template <typename T>
torch::Tensor norm_act_pad_of(const torch::Tensor& x, const NormActPad& step) {
  const int64_t n = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t up = step.upsample, pad = step.pad;
  const int64_t out_h = up * height + 2 * pad, out_w = up * width + 2 * pad;
  auto out = torch::empty({n, channels, out_h, out_w}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const T* in = x.data_ptr<T>();
  T* base = out.data_ptr<T>();
  const float* scale = step.scale.data_ptr<float>();
  const float* shift = step.shift.data_ptr<float>();
  const T* residual = step.residual.defined() ? step.residual.data_ptr<T>() : nullptr;
  const int64_t row_elems = out_w * channels;
  auto out_row = [&](int64_t sample, int64_t row) { return base + (sample * out_h + row) * row_elems; };
  // Interior rows, each with its reflected left and right borders.
  at::parallel_for(0, n * height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t sample = r / height, y = r % height;
      T* target = out_row(sample, pad + y * up);
      const T* res = residual ? residual + sample * step.residual.stride(0) + y * step.residual.stride(2) : nullptr;
      norm_row(in + r * width * channels, res, residual ? step.residual.stride(3) : 0, target + pad * channels, width,
               channels, scale + sample * channels, shift + sample * channels, step.relu, up);
      for (int64_t i = 1; i <= pad; ++i) {
        std::memcpy(target + (pad - i) * channels, target + (pad + i) * channels, channels * sizeof(T));
        std::memcpy(target + (out_w - 1 - pad + i) * channels, target + (out_w - 1 - pad - i) * channels,
                    channels * sizeof(T));
      }
      if (up == 2) std::memcpy(target + row_elems, target, row_elems * sizeof(T));
    }
  });
  // Top and bottom borders: whole rows reflected.
  for (int64_t sample = 0; sample < n; ++sample)
    for (int64_t i = 1; i <= pad; ++i) {
      std::memcpy(out_row(sample, pad - i), out_row(sample, pad + i), row_elems * sizeof(T));
      std::memcpy(out_row(sample, out_h - 1 - pad + i), out_row(sample, out_h - 1 - pad - i), row_elems * sizeof(T));
    }
  return out;
}

void check_channels_last(const torch::Tensor& x, const char* what) {
  TORCH_CHECK(x.device().is_cpu() && x.dim() == 4 && x.is_contiguous(torch::MemoryFormat::ChannelsLast), what,
              ": needs a contiguous channels-last CPU tensor [N,C,H,W]");
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16, what,
              ": needs float32 or bfloat16");
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> channel_statistics(const torch::Tensor& x) {
  check_channels_last(x, "channel_statistics");
  return x.scalar_type() == torch::kFloat32 ? statistics_of<float>(x) : statistics_of<at::BFloat16>(x);
}

torch::Tensor norm_act_pad(const torch::Tensor& x, const NormActPad& step) {
  check_channels_last(x, "norm_act_pad");
  const int64_t n = x.size(0), channels = x.size(1);
  TORCH_CHECK(step.upsample == 1 || step.upsample == 2, "norm_act_pad: upsample must be 1 or 2");
  TORCH_CHECK(step.pad >= 0 && step.pad < step.upsample * x.size(2) && step.pad < step.upsample * x.size(3),
              "norm_act_pad: reflection pad ", step.pad, " needs a larger input");
  for (const auto* t : {&step.scale, &step.shift})
    TORCH_CHECK(t->scalar_type() == torch::kFloat32 && t->is_contiguous() && t->numel() == n * channels,
                "norm_act_pad: scale and shift must be contiguous float [N,C]");
  if (step.residual.defined())
    TORCH_CHECK(step.residual.sizes() == x.sizes() && step.residual.scalar_type() == x.scalar_type() &&
                    step.residual.stride(1) == 1,
                "norm_act_pad: the residual must match the input, channels innermost");
  return x.scalar_type() == torch::kFloat32 ? norm_act_pad_of<float>(x, step) : norm_act_pad_of<at::BFloat16>(x, step);
}

}  // namespace nst
