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

// 8- or 16-bit BGR -> float [3,H,W] RGB 0..255 (16-bit divided by 257, keeping its precision).
torch::Tensor mat_to_tensor(const cv::Mat& bgr);
// float [3,H,W] RGB (clamped, rounded) -> BGR of `depth`: CV_8U, or CV_16U (x 257).
cv::Mat tensor_to_mat(const torch::Tensor& rgb, int depth = CV_8U);

// An image file's pixels as nst-infer keeps them: colour as 8- or 16-bit BGR (greyscale expanded),
// and the alpha channel (same depth) if the file has one.
struct ImageFile {
  cv::Mat bgr, alpha;
};
// Like read_image_bgr, but keeps 16 bits and alpha (other depths become 8-bit).
ImageFile read_image_file(const std::string& path);
// Writes `bgr` (any size) with `alpha` resized to it where the format stores alpha (png, tif, tiff,
// webp), at 16 bits where the format stores them (png, tif, tiff) and the image has them, else 8-bit.
void write_image_file(const std::string& path, const cv::Mat& bgr, const cv::Mat& alpha, int jpeg_quality = 95);

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
