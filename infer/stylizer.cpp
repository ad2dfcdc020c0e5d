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

// 6 significant digits: std::to_string would print 1e308 as 309 digits.
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

void StylizeOptions::validate() const {
  if (max_size_ < 0) throw std::runtime_error("--max-size must be >= 0 (0 = no limit), got " + std::to_string(max_size_));
  if (!(scale_ > 0 && scale_ <= 16)) throw std::runtime_error("--scale must be in (0, 16], got " + number(scale_));
  if (!(strength_ >= 0 && strength_ <= 1))
    throw std::runtime_error("--strength must be in 0..1, got " + number(strength_));
  if (tile_ != 0 && tile_ < 64) throw std::runtime_error("--tile must be 0 (auto) or at least 64, got " + std::to_string(tile_));
  if (thumbnail_ < 64) throw std::runtime_error("--tile-thumbnail must be at least 64, got " + std::to_string(thumbnail_));
  if (!(stroke_scale_ >= 0.25 && stroke_scale_ <= 8))
    throw std::runtime_error("--stroke-scale must be in 0.25..8, got " + number(stroke_scale_));
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

int64_t padded_side(int64_t side, int64_t multiple, int64_t min_side) {
  return std::max(min_side, (side + multiple - 1) / multiple * multiple);
}

torch::Tensor pad_sides(const torch::Tensor& batch, int64_t top, int64_t bottom, int64_t left, int64_t right) {
  namespace F = torch::nn::functional;
  auto padded = batch;
  for (int axis = 0; axis < 2; ++axis) {  // 0: height, 1: width
    const int64_t before = axis == 0 ? top : left, after = axis == 0 ? bottom : right;
    if (before + after == 0) continue;
    const std::vector<int64_t> pads = axis == 0 ? std::vector<int64_t>{0, 0, before, after}
                                                : std::vector<int64_t>{before, after, 0, 0};
    // Reflection needs pad < size; a tiny image falls back to repeating its edge.
    auto pad_options = F::PadFuncOptions(pads);
    if (std::max(before, after) < batch.size(2 + axis))
      pad_options.mode(torch::kReflect);
    else
      pad_options.mode(torch::kReplicate);
    padded = F::pad(padded, pad_options);
  }
  return padded;
}

Padded pad_for_net(const torch::Tensor& batch, int64_t multiple, int64_t min_side) {
  const int64_t height = batch.size(2), width = batch.size(3);
  const int64_t pad_h = padded_side(height, multiple, min_side) - height;
  const int64_t pad_w = padded_side(width, multiple, min_side) - width;
  return {pad_sides(batch, pad_h / 2, pad_h - pad_h / 2, pad_w / 2, pad_w - pad_w / 2), pad_h / 2, pad_w / 2};
}

Stylizer::Stylizer(TransformerNet net, torch::Device device, StylizeOptions options)
    : net_(std::move(net)), device_(device), options_(std::move(options)) {
  options_.validate();
  dtype_ = dtype_of(options_.precision());
  net_->eval();
  net_->to(device_, dtype_);
  if (options_.packed() && device_.is_cpu() && PackedTransformerNet::supports(net_->options(), dtype_)) packed_.emplace(net_);
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
  const auto input = batch.to(device_, dtype_);
  auto output = packed_ ? packed_->forward(input) : net_(input);
  return output.to(torch::kFloat32);
}

torch::Tensor Stylizer::stylize_whole(const torch::Tensor& content) {
  const int64_t height = content.size(2), width = content.size(3);
  // Checked before padding, which already copies the image.
  const int64_t m = TransformerNetImpl::kSizeMultiple, min_side = TransformerNetImpl::kMinSide;
  const int64_t need = estimated_bytes(padded_side(height, m, min_side), padded_side(width, m, min_side));
  const int64_t have = device_.is_cpu() ? available_memory_bytes() : -1;
  if (have >= 0 && need > have) {
    // Largest longest side that fits, from memory scaling with the pixel count.
    const double fit = std::sqrt(static_cast<double>(have) / need) * std::max(height, width) * 0.9;
    throw std::runtime_error("image " + std::to_string(width) + "x" + std::to_string(height) + " needs about " +
                             gib_text(need) + " of memory to stylize but only " + gib_text(have) +
                             " is available; use --max-size " + std::to_string(static_cast<int64_t>(fit)) +
                             " (or smaller), or --tile 512");
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

torch::Tensor Stylizer::finish(const torch::Tensor& content, torch::Tensor stylized) const {
  if (options_.preserve_color()) stylized = with_luminance(content, luminance(stylized));
  if (options_.strength() < 1) stylized = options_.strength() * stylized + (1 - options_.strength()) * content;
  return stylized;
}

cv::Size Stylizer::stroke_size(int64_t height, int64_t width) const {
  const double s = options_.stroke_scale();
  return cv::Size(static_cast<int>(std::max<double>(1, std::round(width / s))),
                  static_cast<int>(std::max<double>(1, std::round(height / s))));
}

torch::Tensor Stylizer::stylize_tensor_at_size(const torch::Tensor& rgb, bool finish_it) {
  const int64_t height = rgb.size(1), width = rgb.size(2);
  const int64_t core = tile_core(height, width, rgb.numel() * 4 * 2);
  if (core == 0) {
    auto content = rgb.to(device_, torch::kFloat32).unsqueeze(0);
    auto stylized = stylize_whole(content);
    if (finish_it) stylized = finish(content, stylized);
    return stylized.squeeze(0).clamp(0, 255).to(torch::kCPU);
  }
  const auto source = rgb.to(torch::kCPU, torch::kFloat32);
  auto output = torch::empty_like(source);
  const auto [thumb_h, thumb_w] = std::max(height, width) > options_.thumbnail()
                                      ? fit_longest_side(height, width, options_.thumbnail())
                                      : std::pair<int64_t, int64_t>{height, width};
  stylize_tiles(
      height, width, core, resize_image(source, thumb_h, thumb_w),
      [&](int64_t top, int64_t left, int64_t h, int64_t w) {
        return source.narrow(1, top, h).narrow(2, left, w).unsqueeze(0);
      },
      [&](int64_t top, int64_t left, const torch::Tensor& piece) {
        output.narrow(1, top, piece.size(2)).narrow(2, left, piece.size(3)).copy_(piece.squeeze(0));
      },
      finish_it);
  return output;
}

torch::Tensor Stylizer::stylize_tensor(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "stylize_tensor expects [3,H,W], got ", rgb.sizes());
  const int64_t height = rgb.size(1), width = rgb.size(2);
  if (height < 1 || width < 1) throw std::runtime_error("image has zero size");
  torch::InferenceMode inference;
  if (options_.stroke_scale() == 1) return stylize_tensor_at_size(rgb, true);
  const auto content = rgb.to(torch::kCPU, torch::kFloat32);
  const cv::Size small = stroke_size(height, width);
  const auto net_input = resize_image(content, small.height, small.width);
  auto stylized = resize_image(stylize_tensor_at_size(net_input, false), height, width);
  if (options_.stroke_detail() && options_.stroke_scale() > 1)
    stylized = stylized + (luminance(content) - luminance(resize_image(net_input, height, width)));
  return finish(content, stylized).clamp(0, 255);
}

cv::Mat Stylizer::stylize_mat(const cv::Mat& content, bool finish_it) {
  const int64_t core = tile_core(content.rows, content.cols, static_cast<int64_t>(content.total() * content.elemSize()) * 2);
  if (core == 0) return tensor_to_mat(stylize_tensor_at_size(mat_to_tensor(content), finish_it), content.depth());
  cv::Mat output(content.size(), content.type());
  stylize_tiles(
      content.rows, content.cols, core, thumbnail_of(content),
      [&](int64_t top, int64_t left, int64_t h, int64_t w) {
        return mat_to_tensor(content(cv::Rect(static_cast<int>(left), static_cast<int>(top), static_cast<int>(w),
                                              static_cast<int>(h))))
            .unsqueeze(0);
      },
      [&](int64_t top, int64_t left, const torch::Tensor& piece) {
        const cv::Rect where(static_cast<int>(left), static_cast<int>(top), static_cast<int>(piece.size(3)),
                             static_cast<int>(piece.size(2)));
        tensor_to_mat(piece.squeeze(0), content.depth()).copyTo(output(where));
      },
      finish_it);
  return output;
}

void Stylizer::finish_in_bands(const cv::Mat& content, const cv::Mat& net_input, cv::Mat& stylized) const {
  const bool detail = options_.stroke_detail() && options_.stroke_scale() > 1;
  const cv::Mat base = detail ? resize_to(net_input, content.size()) : cv::Mat();
  constexpr int kBand = 256;
  for (int top = 0; top < content.rows; top += kBand) {
    const cv::Rect band(0, top, content.cols, std::min(kBand, content.rows - top));
    const auto source = mat_to_tensor(content(band));
    auto result = mat_to_tensor(stylized(band));
    if (detail) result = result + (luminance(source) - luminance(mat_to_tensor(base(band))));
    tensor_to_mat(finish(source, result).clamp(0, 255), content.depth()).copyTo(stylized(band));
  }
}

cv::Mat Stylizer::stylize(const cv::Mat& bgr) {
  if (bgr.empty()) throw std::runtime_error("image has zero size");
  return stylize_resized(resize_to(bgr, target_size(bgr.rows, bgr.cols, options_)));
}

cv::Mat Stylizer::stylize_resized(const cv::Mat& content) {
  if (content.empty()) throw std::runtime_error("image has zero size");
  if (content.type() != CV_8UC3 && content.type() != CV_16UC3)
    throw std::runtime_error("the stylizer expects an 8- or 16-bit 3-channel image");
  torch::InferenceMode inference;
  if (options_.stroke_scale() == 1) return stylize_mat(content, true);
  const cv::Mat net_input = resize_to(content, stroke_size(content.rows, content.cols));
  cv::Mat stylized = resize_to(stylize_mat(net_input, false), content.size());
  finish_in_bands(content, net_input, stylized);
  return stylized;
}

}  // namespace nst
