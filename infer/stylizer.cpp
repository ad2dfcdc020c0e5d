#include "infer/stylizer.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "core/runtime.h"
#include "data/image_io.h"

namespace nst {
namespace {

std::string gib_text(int64_t bytes) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << static_cast<double>(bytes) / (1 << 30) << " GiB";
  return out.str();
}

}  // namespace

void StylizeOptions::validate() const {
  if (max_size_ < 0) throw std::runtime_error("--max-size must be >= 0 (0 = no limit), got " + std::to_string(max_size_));
  if (!(scale_ > 0 && scale_ <= 16)) throw std::runtime_error("--scale must be in (0, 16], got " + std::to_string(scale_));
  if (!(strength_ >= 0 && strength_ <= 1))
    throw std::runtime_error("--strength must be in 0..1, got " + std::to_string(strength_));
  if (tile_ != 0 && tile_ < 64) throw std::runtime_error("--tile must be 0 (off) or at least 64, got " + std::to_string(tile_));
}

cv::Size target_size(int64_t height, int64_t width, const StylizeOptions& options) {
  double h = std::max<double>(1, std::round(height * options.scale()));
  double w = std::max<double>(1, std::round(width * options.scale()));
  if (options.max_size() > 0 && std::max(h, w) > options.max_size()) {
    const double f = static_cast<double>(options.max_size()) / std::max(h, w);
    h = std::max<double>(1, std::round(h * f));
    w = std::max<double>(1, std::round(w * f));
  }
  return cv::Size(static_cast<int>(w), static_cast<int>(h));
}

Padded pad_for_net(const torch::Tensor& batch, int64_t multiple, int64_t min_side) {
  namespace F = torch::nn::functional;
  auto padded = batch;
  int64_t before[2] = {0, 0};
  for (int axis = 0; axis < 2; ++axis) {  // 0: height, 1: width
    const int64_t size = batch.size(2 + axis);
    const int64_t target = std::max(min_side, (size + multiple - 1) / multiple * multiple);
    const int64_t total = target - size;
    if (total == 0) continue;
    before[axis] = total / 2;
    const int64_t after = total - before[axis];
    // Reflection needs pad < size; a tiny image falls back to repeating its edge.
    const bool reflect = std::max(before[axis], after) < size;
    const std::vector<int64_t> pads = axis == 0 ? std::vector<int64_t>{0, 0, before[axis], after}
                                                : std::vector<int64_t>{before[axis], after, 0, 0};
    auto pad_options = F::PadFuncOptions(pads);
    if (reflect)
      pad_options.mode(torch::kReflect);
    else
      pad_options.mode(torch::kReplicate);
    padded = F::pad(padded, pad_options);
  }
  return {padded, before[0], before[1]};
}

Stylizer::Stylizer(TransformerNet net, torch::Device device, StylizeOptions options)
    : net_(std::move(net)), device_(device), options_(std::move(options)) {
  options_.validate();
  dtype_ = dtype_of(options_.precision());
  net_->eval();
  net_->to(device_, dtype_);
}

int64_t Stylizer::estimated_bytes(int64_t height, int64_t width) const {
  // Peak live activations sit at full resolution around deconv2/deconv3 (upsampled 2w channels,
  // their padded copy and the conv output, plus the input/output images); calibrated against the
  // peak RSS of a forward pass (docs/inference.md), with margin.
  const int64_t element = dtype_ == torch::kBFloat16 ? 2 : 4;
  const int64_t pixels = (height + 16) * (width + 16);
  return pixels * (net_->options().width() * 8 * element + 64) + (int64_t{64} << 20);
}

torch::Tensor Stylizer::forward(const torch::Tensor& batch) {
  torch::InferenceMode inference;
  auto output = net_(batch.to(device_, dtype_));
  return output.to(torch::kFloat32);
}

torch::Tensor Stylizer::stylize_whole(const torch::Tensor& content) {
  const int64_t height = content.size(2), width = content.size(3);
  // Checked before padding, which already copies the image.
  auto padded_side = [](int64_t side) {
    const int64_t m = TransformerNetImpl::kSizeMultiple;
    return std::max(TransformerNetImpl::kMinSide, (side + m - 1) / m * m);
  };
  const int64_t need = estimated_bytes(padded_side(height), padded_side(width));
  const int64_t have = device_.is_cpu() ? available_memory_bytes() : -1;
  if (have >= 0 && need > have) {
    // Largest longest side that fits, from memory scaling with the pixel count.
    const double fit = std::sqrt(static_cast<double>(have) / need) * std::max(height, width) * 0.9;
    throw std::runtime_error("image " + std::to_string(width) + "x" + std::to_string(height) + " needs about " +
                             gib_text(need) + " of memory to stylize but only " + gib_text(have) +
                             " is available; use --max-size " + std::to_string(static_cast<int64_t>(fit)) +
                             " (or smaller), or --tile 1024");
  }
  const auto padded = pad_for_net(content, TransformerNetImpl::kSizeMultiple, TransformerNetImpl::kMinSide);
  try {
    return forward(padded.tensor).narrow(2, padded.top, height).narrow(3, padded.left, width).clamp(0, 255);
  } catch (const c10::Error& e) {
    const std::string message = torch_error_message(e);
    if (message.find("out of memory") != std::string::npos)
      throw std::runtime_error("out of memory stylizing a " + std::to_string(width) + "x" + std::to_string(height) +
                               " image; use --max-size or --tile to shrink the work");
    throw std::runtime_error(message);
  }
}

namespace {

// Tile start offsets covering `size` with tiles of `tile` overlapping by at least `overlap`.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  std::vector<int64_t> starts = {0};
  while (starts.back() + tile < size) starts.push_back(std::min(starts.back() + tile - overlap, size - tile));
  return starts;
}

// Blend weights along one side of a tile: 1 inside, rising linearly over the overlap towards a
// neighbouring tile (never 0, so every pixel has weight).
torch::Tensor ramp(int64_t length, int64_t overlap, bool before, bool after) {
  auto weights = torch::ones({length});
  auto rise = torch::arange(1, overlap + 1, torch::kFloat32) / (overlap + 1);
  if (before) weights.narrow(0, 0, overlap).mul_(rise);
  if (after) weights.narrow(0, length - overlap, overlap).mul_(rise.flip(0));
  return weights;
}

}  // namespace

torch::Tensor Stylizer::stylize_tiles(const torch::Tensor& content) {
  const int64_t height = content.size(2), width = content.size(3);
  const int64_t tile = options_.tile() / TransformerNetImpl::kSizeMultiple * TransformerNetImpl::kSizeMultiple;
  const int64_t overlap = std::max<int64_t>(16, (tile / 8 + 3) / 4 * 4);  // multiple of 4 keeps stride grids aligned
  const int64_t tile_h = std::min(tile, height), tile_w = std::min(tile, width);
  const auto rows = tile_starts(height, tile_h, overlap), cols = tile_starts(width, tile_w, overlap);
  auto sum = torch::zeros_like(content), weight = torch::zeros({1, 1, height, width}, content.options());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto row_weights = ramp(tile_h, overlap, i > 0, i + 1 < rows.size()).to(content.device());
    for (size_t j = 0; j < cols.size(); ++j) {
      const auto col_weights = ramp(tile_w, overlap, j > 0, j + 1 < cols.size()).to(content.device());
      const auto mask = row_weights.view({1, 1, tile_h, 1}) * col_weights.view({1, 1, 1, tile_w});
      const auto piece = stylize_whole(content.narrow(2, rows[i], tile_h).narrow(3, cols[j], tile_w));
      sum.narrow(2, rows[i], tile_h).narrow(3, cols[j], tile_w).add_(piece * mask);
      weight.narrow(2, rows[i], tile_h).narrow(3, cols[j], tile_w).add_(mask);
    }
  }
  return sum / weight;
}

torch::Tensor Stylizer::stylize_tensor(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "stylize_tensor expects [3,H,W], got ", rgb.sizes());
  const int64_t height = rgb.size(1), width = rgb.size(2);
  if (height < 1 || width < 1) throw std::runtime_error("image has zero size");
  torch::InferenceMode inference;
  auto content = rgb.to(device_, torch::kFloat32).unsqueeze(0);
  const bool tiled = options_.tile() > 0 && std::max(height, width) > options_.tile();
  auto stylized = tiled ? stylize_tiles(content) : stylize_whole(content);
  if (options_.preserve_color()) stylized = with_luminance(content, luminance(stylized));
  if (options_.strength() < 1) stylized = options_.strength() * stylized + (1 - options_.strength()) * content;
  return stylized.squeeze(0).clamp(0, 255).to(torch::kCPU);
}

cv::Mat Stylizer::stylize(const cv::Mat& bgr) {
  if (bgr.empty()) throw std::runtime_error("image has zero size");
  const cv::Size size = target_size(bgr.rows, bgr.cols, options_);
  return tensor_to_mat(stylize_tensor(mat_to_tensor(resize_to(bgr, size))));
}

}  // namespace nst
