#include "data/image_io.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "core/paths.h"
#include "data/atomic_file.h"

namespace fs = std::filesystem;

namespace nst {

bool has_image_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".tif" ||
         ext == ".tiff";
}

cv::Mat read_image_bgr(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw path_error(path, "no such file");
  if (!fs::is_regular_file(path, ec)) throw path_error(path, "not a regular file");
  if (fs::file_size(path, ec) == 0) throw path_error(path, "empty file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw path_error(path, "cannot open (permission denied?)");
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw path_error(path, "cannot decode image (" + e.err + ")");
  }
  if (image.empty()) throw path_error(path, "not an image or corrupt (cannot decode)");
  if (image.depth() != CV_8U) image.convertTo(image, CV_8U);
  return image;
}

torch::Tensor read_image(const std::string& path) { return mat_to_tensor(read_image_bgr(path)); }

torch::Tensor mat_to_tensor(const cv::Mat& bgr) {
  cv::Mat continuous = bgr.isContinuous() ? bgr : bgr.clone();
  auto hwc = torch::from_blob(continuous.data, {continuous.rows, continuous.cols, 3}, torch::kUInt8);
  // BGR -> RGB and HWC -> CHW; the result owns its memory.
  return hwc.flip(2).permute({2, 0, 1}).to(torch::kFloat32).contiguous();
}

cv::Mat tensor_to_mat(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "tensor_to_mat expects [3,H,W], got ", rgb.sizes());
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
