// Runs an nst style model exported to ONNX (nst-export --onnx) with OpenCV DNN alone: pad the image
// as nst-infer does (sides multiples of 4, at least 16), RGB 0..255 in and out, crop back.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: stylize_onnx MODEL.onnx INPUT_IMAGE OUTPUT_IMAGE\n";
    return 2;
  }
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[1]);
    net.enableFusion(false);  // OpenCV 4.6: a fused net reused at another input size gives wrong output
    const cv::Mat photo = cv::imread(argv[2], cv::IMREAD_COLOR);
    if (photo.empty()) throw std::runtime_error(std::string(argv[2]) + ": cannot read the image");
    // Pad as nst-infer does: centred, sides multiples of 4 and at least 16; reflection per axis
    // (edge replication where the image is too small to reflect).
    auto pad = [](const cv::Mat& image, int side, bool rows) {
      const int total = std::max(16, (side + 3) / 4 * 4) - side, before = total / 2, after = total - before;
      const int border = std::max(before, after) < side ? cv::BORDER_REFLECT_101 : cv::BORDER_REPLICATE;
      cv::Mat out;
      cv::copyMakeBorder(image, out, rows ? before : 0, rows ? after : 0, rows ? 0 : before, rows ? 0 : after, border);
      return std::make_pair(out, before);
    };
    const auto [tall, top] = pad(photo, photo.rows, true);
    const auto [padded, left] = pad(tall, photo.cols, false);
    net.setInput(cv::dnn::blobFromImage(padded, 1.0, cv::Size(), cv::Scalar(), /*swapRB=*/true));
    const cv::Mat out = net.forward();  // [1,3,H,W] float RGB 0..255
    std::vector<cv::Mat> planes;
    for (int c = 2; c >= 0; --c)  // RGB planes -> BGR image
      planes.emplace_back(padded.rows, padded.cols, CV_32F, const_cast<float*>(out.ptr<float>(0, c)));
    cv::Mat bgr, result;
    cv::merge(planes, bgr);
    bgr(cv::Rect(left, top, photo.cols, photo.rows)).convertTo(result, CV_8UC3);  // rounds, saturates
    // Atomic: write a temporary file beside the target (same extension: imwrite picks the format
    // by it), then rename it over the target.
    const std::filesystem::path target(argv[3]);
    const auto tmp = target.parent_path() / (".tmp-" + target.filename().string());
    if (!cv::imwrite(tmp.string(), result)) throw std::runtime_error(target.string() + ": cannot write");
    std::filesystem::rename(tmp, target);
  } catch (const std::exception& e) {
    std::cerr << "stylize_onnx: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
