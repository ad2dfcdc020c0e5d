#include "data/image_io.h"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "data/atomic_file.h"

namespace fs = std::filesystem;

namespace nst {

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".tif" ||
         ext == ".tiff";
}

cv::Mat read_image_bgr(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(path + ": no such file");
  if (!fs::is_regular_file(path, ec)) throw std::runtime_error(path + ": not a regular file");
  if (fs::file_size(path, ec) == 0) throw std::runtime_error(path + ": empty file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open (permission denied?)");
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(path + ": cannot decode image (" + e.err + ")");
  }
  if (image.empty()) throw std::runtime_error(path + ": not an image or corrupt (cannot decode)");
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
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext.empty()) throw std::runtime_error(path + ": output needs an image extension (.jpg, .png, .webp, ...)");
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(jpeg_quality, 1, 100)};
  std::vector<uchar> encoded;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, encoded, params);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(path + ": cannot encode as " + ext + " (" + e.err + ")");
  }
  if (!ok) throw std::runtime_error(path + ": cannot encode as " + ext);
  write_bytes_atomically(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
}

void write_image(const std::string& path, const torch::Tensor& rgb, int jpeg_quality) {
  write_image_bgr(path, tensor_to_mat(rgb), jpeg_quality);
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
