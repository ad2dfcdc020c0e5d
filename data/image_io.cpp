#include "data/image_io.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "core/file_checks.h"
#include "core/paths.h"
#include "core/runtime.h"
#include "data/atomic_file.h"
#include "data/image_header.h"

namespace fs = std::filesystem;

namespace nst {

bool has_image_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".tif" ||
         ext == ".tiff";
}

namespace {

std::vector<uchar> read_file_bytes(const std::string& path) {
  const std::string bytes = read_whole_file(path);
  if (bytes.empty()) throw path_error(path, "empty file");
  return std::vector<uchar>(bytes.begin(), bytes.end());
}

// OpenCV's own pixel limit: larger images it refuses anyway, with a message that names no file.
constexpr int64_t kMaxDecodePixels = int64_t{1} << 30;

// Refuses, before any pixel is allocated, what the header says will not fit and what is damaged.
void check_before_decoding(const std::string& path, const std::vector<uchar>& bytes) {
  if (const std::string damage = image_damage(bytes); !damage.empty()) throw path_error(path, damage);
  if (!has_readable_image_signature(bytes)) throw path_error(path, "not a JPEG, PNG, BMP, WebP or TIFF image");
  const auto size = image_size_from_header(bytes);
  if (!size) throw path_error(path, "corrupt header (it gives no image size)");
  const int64_t pixels = int64_t{size->width} * size->height;
  const std::string dimensions = std::to_string(size->width) + "x" + std::to_string(size->height);
  if (size->width <= 0 || size->height <= 0) throw path_error(path, "corrupt header (image size " + dimensions + ")");
  if (pixels > kMaxDecodePixels) throw path_error(path, "image is " + dimensions + ", over the decoder's 1-gigapixel limit");
  const int64_t needed = pixels * 8, available = available_memory_bytes();  // 16-bit BGRA, the largest we decode
  if (available > 0 && needed > available / 2)
    throw path_error(path, "image is " + dimensions + ": decoding it needs " + std::to_string(needed >> 20) + " MiB, " +
                               std::to_string(available >> 20) + " MiB are available");
}

cv::Mat decode(const std::string& path, const std::vector<uchar>& bytes, int flags) {
  static std::once_flag quiet;  // failures are ours to report, in one line; OpenCV's [WARN] lines are noise
  std::call_once(quiet, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR); });
  check_before_decoding(path, bytes);
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    throw path_error(path, "cannot decode image (" + first_line(e.err) + ")");
  } catch (const std::bad_alloc&) {
    throw path_error(path, "cannot decode image (out of memory)");
  }
  if (image.empty()) throw path_error(path, "not an image or corrupt (cannot decode)");
  return image;
}

// Depths other than 8 and 16 bits (float TIFFs, signed) become 8-bit: floats as 0..1, integers as is.
cv::Mat to_8_or_16_bit(const cv::Mat& image) {
  if (image.depth() == CV_8U || image.depth() == CV_16U) return image;
  cv::Mat converted;
  const bool floating = image.depth() == CV_32F || image.depth() == CV_64F || image.depth() == CV_16F;
  image.convertTo(converted, CV_8U, floating ? 255.0 : 1.0);
  return converted;
}

}  // namespace

cv::Mat read_image_bgr(const std::string& path) {
  cv::Mat image = decode(path, read_file_bytes(path), cv::IMREAD_COLOR);
  if (image.depth() != CV_8U) image.convertTo(image, CV_8U);
  return image;
}

ImageFile read_image_file(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  // JPEGs have neither alpha nor 16 bits, and IMREAD_UNCHANGED would skip their EXIF orientation.
  const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  if (jpeg) return {decode(path, bytes, cv::IMREAD_COLOR), {}};
  const cv::Mat image = to_8_or_16_bit(decode(path, bytes, cv::IMREAD_UNCHANGED));
  ImageFile file;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, file.bgr, cv::COLOR_GRAY2BGR); break;
    case 2: {  // grey + alpha
      std::vector<cv::Mat> planes;
      cv::split(image, planes);
      cv::cvtColor(planes[0], file.bgr, cv::COLOR_GRAY2BGR);
      file.alpha = planes[1];
      break;
    }
    case 3: file.bgr = image; break;
    case 4:
      cv::cvtColor(image, file.bgr, cv::COLOR_BGRA2BGR);
      cv::extractChannel(image, file.alpha, 3);
      break;
    default: throw path_error(path, "unsupported number of channels (" + std::to_string(image.channels()) + ")");
  }
  return file;
}

torch::Tensor read_image(const std::string& path) { return mat_to_tensor(read_image_bgr(path)); }

torch::Tensor mat_to_tensor(const cv::Mat& bgr) {
  TORCH_CHECK(bgr.type() == CV_8UC3 || bgr.type() == CV_16UC3, "mat_to_tensor expects 8- or 16-bit BGR");
  if (bgr.depth() == CV_16U) {
    cv::Mat scaled;
    bgr.convertTo(scaled, CV_32F, 1.0 / 257);
    auto hwc = torch::from_blob(scaled.data, {scaled.rows, scaled.cols, 3}, torch::kFloat32);
    return hwc.flip(2).permute({2, 0, 1}).contiguous();
  }
  cv::Mat continuous = bgr.isContinuous() ? bgr : bgr.clone();
  auto hwc = torch::from_blob(continuous.data, {continuous.rows, continuous.cols, 3}, torch::kUInt8);
  // BGR -> RGB and HWC -> CHW; the result owns its memory.
  return hwc.flip(2).permute({2, 0, 1}).to(torch::kFloat32).contiguous();
}

cv::Mat tensor_to_mat(const torch::Tensor& rgb, int depth) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "tensor_to_mat expects [3,H,W], got ", rgb.sizes());
  TORCH_CHECK(depth == CV_8U || depth == CV_16U, "tensor_to_mat: depth must be CV_8U or CV_16U");
  if (depth == CV_16U) {
    auto hwc = rgb.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 255).flip(0).permute({1, 2, 0}).contiguous();
    const cv::Mat source(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3, hwc.data_ptr<float>());
    cv::Mat bgr;
    source.convertTo(bgr, CV_16U, 257.0);  // rounds
    return bgr;
  }
  auto hwc = rgb.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 255).round().to(torch::kUInt8)
                 .flip(0).permute({1, 2, 0}).contiguous();
  cv::Mat bgr(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3);
  std::memcpy(bgr.data, hwc.data_ptr(), static_cast<size_t>(hwc.numel()));
  return bgr;
}

void write_image_bgr(const std::string& path, const cv::Mat& bgr, int jpeg_quality) {
  const std::string ext = lower_extension(path);
  if (ext.empty()) throw path_error(path, "output needs an image extension (.jpg, .png, .webp, ...)");
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(jpeg_quality, 1, 100)};
  std::vector<uchar> encoded;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, encoded, params);
  } catch (const cv::Exception& e) {
    throw path_error(path, "cannot encode as " + ext + " (" + e.err + ")");
  }
  if (!ok) throw path_error(path, "cannot encode as " + ext);
  write_bytes_atomically(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
}

void write_image_file(const std::string& path, const cv::Mat& bgr, const cv::Mat& alpha, int jpeg_quality) {
  const std::string ext = lower_extension(path);
  const bool wide = ext == ".png" || ext == ".tif" || ext == ".tiff";
  const int depth = wide && bgr.depth() == CV_16U ? CV_16U : CV_8U;
  auto at_depth = [&](const cv::Mat& image) {
    if (image.depth() == depth) return image;
    cv::Mat converted;  // 8 <-> 16 bits: x 257 or / 257
    image.convertTo(converted, depth, depth == CV_16U ? 257.0 : 1.0 / 257);
    return converted;
  };
  cv::Mat image = at_depth(bgr);
  if (!alpha.empty() && (wide || ext == ".webp")) {
    cv::Mat planes[4], merged;
    cv::split(image, planes);
    planes[3] = at_depth(resize_to(alpha, image.size()));
    cv::merge(planes, 4, merged);
    image = merged;
  }
  write_image_bgr(path, image, jpeg_quality);
}

void write_image(const std::string& path, const torch::Tensor& rgb, int jpeg_quality) {
  write_image_bgr(path, tensor_to_mat(rgb), jpeg_quality);
}

cv::Mat resize_to(const cv::Mat& image, cv::Size size) {
  if (image.size() == size) return image;
  cv::Mat resized;
  cv::resize(image, resized, size, 0, 0, size.area() < image.size().area() ? cv::INTER_AREA : cv::INTER_CUBIC);
  return resized;
}

torch::Tensor resize_image(const torch::Tensor& rgb, int64_t height, int64_t width) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "resize_image expects [3,H,W], got ", rgb.sizes());
  if (rgb.size(1) == height && rgb.size(2) == width) return rgb;
  auto hwc = rgb.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0}).contiguous();
  const cv::Mat source(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3, hwc.data_ptr<float>());
  cv::Mat resized = resize_to(source, cv::Size(static_cast<int>(width), static_cast<int>(height)));
  auto chw = torch::from_blob(resized.data, {height, width, 3}, torch::kFloat32).permute({2, 0, 1}).clone();
  return chw.clamp(0, 255).to(rgb.device());
}

std::pair<int64_t, int64_t> fit_longest_side(int64_t height, int64_t width, int64_t longest) {
  if (height <= 0 || width <= 0 || longest <= 0) throw std::runtime_error("fit_longest_side: sizes must be positive");
  const double scale = static_cast<double>(longest) / static_cast<double>(std::max(height, width));
  return {std::max<int64_t>(1, std::llround(height * scale)), std::max<int64_t>(1, std::llround(width * scale))};
}

// YIQ (NTSC) luminance, the same as BT.601 luma.
torch::Tensor luminance(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() >= 3 && rgb.size(-3) == 3, "luminance expects [...,3,H,W], got ", rgb.sizes());
  return rgb.select(-3, 0).unsqueeze(-3) * 0.299 + rgb.select(-3, 1).unsqueeze(-3) * 0.587 +
         rgb.select(-3, 2).unsqueeze(-3) * 0.114;
}

torch::Tensor with_luminance(const torch::Tensor& rgb, const torch::Tensor& y) {
  // The I and Q rows of the YIQ matrix sum to zero (and Y's to one), so adding the same amount to R,
  // G and B changes Y by that amount and leaves I and Q as they are.
  return rgb + (y - luminance(rgb));
}

}  // namespace nst
