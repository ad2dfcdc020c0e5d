// Image files <-> tensors. Tensors are float32 [3,H,W], RGB, 0..255 (the transform net's scale).
// Reading reports every failure as one line naming the file; writing is atomic, format by extension.
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <string>
#include <utility>

namespace nst {

// True for the extensions we read as images (jpg, jpeg, png, bmp, webp, tif, tiff; any case).
bool has_image_extension(const std::string& path);

// Decodes an image to 8-bit BGR (grayscale expanded, alpha dropped). Throws "PATH: problem" for a
// missing, empty, unreadable or undecodable file.
cv::Mat read_image_bgr(const std::string& path);

// read_image_bgr + mat_to_tensor.
torch::Tensor read_image(const std::string& path);

torch::Tensor mat_to_tensor(const cv::Mat& bgr);     // 8-bit BGR -> float [3,H,W] RGB 0..255
cv::Mat tensor_to_mat(const torch::Tensor& rgb);     // float [3,H,W] RGB (clamped, rounded) -> 8-bit BGR

// Encodes by the extension of `path` and writes atomically. jpeg_quality applies to JPEG and WebP.
void write_image_bgr(const std::string& path, const cv::Mat& bgr, int jpeg_quality = 95);
void write_image(const std::string& path, const torch::Tensor& rgb, int jpeg_quality = 95);

// Resizing, one rule everywhere: area interpolation to shrink, bicubic to enlarge, a copy at the same size.
cv::Mat resize_to(const cv::Mat& image, cv::Size size);
// [3,H,W] float -> [3,height,width], clamped to 0..255 (bicubic overshoots); identity at the same size.
torch::Tensor resize_image(const torch::Tensor& rgb, int64_t height, int64_t width);
// Height and width with the longest side scaled to `longest`, aspect ratio kept (each side >= 1).
std::pair<int64_t, int64_t> fit_longest_side(int64_t height, int64_t width, int64_t longest);

// YIQ luminance of RGB images [...,3,H,W] -> [...,1,H,W] (same 0..255 scale).
torch::Tensor luminance(const torch::Tensor& rgb);
// `rgb` with its luminance replaced by `y` and its chrominance (I, Q) kept.
torch::Tensor with_luminance(const torch::Tensor& rgb, const torch::Tensor& y);

}  // namespace nst
