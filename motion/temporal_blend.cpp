#include "motion/temporal_blend.h"

#include <opencv2/imgproc.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace nst {

TemporalBlend::TemporalBlend(double amount) : amount_(amount) {
  if (!(amount >= 0 && amount < 1))
    throw std::runtime_error("--temporal-blend must be in [0, 1) (0 = off), got " + std::to_string(amount));
}

namespace {

// out = s + amount * m * (warped - s) in one pass: float (kept for the next frame) and rounded 8-bit.
void blend_into(const cv::Mat& stylized, const cv::Mat& warped, const cv::Mat& mask, double amount, cv::Mat& output,
                cv::Mat& result) {
  output.create(stylized.size(), CV_32FC3);
  result.create(stylized.size(), CV_8UC3);
  const auto a = static_cast<float>(amount);
  for (int y = 0; y < stylized.rows; ++y) {
    const auto* s = stylized.ptr<uchar>(y);
    const auto* w = warped.ptr<float>(y);
    const auto* m = mask.ptr<float>(y);
    auto* o = output.ptr<float>(y);
    auto* r = result.ptr<uchar>(y);
    for (int x = 0; x < stylized.cols; ++x) {
      const float k = a * m[x];
      for (int c = 3 * x; c < 3 * x + 3; ++c) {
        o[c] = s[c] + k * (w[c] - s[c]);
        r[c] = cv::saturate_cast<uchar>(o[c]);
      }
    }
  }
}

}  // namespace

cv::Mat TemporalBlend::apply(const cv::Mat& input_bgr, const cv::Mat& stylized_bgr) {
  const auto start = std::chrono::steady_clock::now();
  if (input_bgr.size() != stylized_bgr.size()) throw std::invalid_argument("TemporalBlend: input and stylized sizes differ");
  if (stylized_bgr.type() != CV_8UC3) throw std::invalid_argument("TemporalBlend: the stylized frame must be 8-bit BGR");
  const cv::Mat gray = to_gray(input_bgr);
  cv::Mat output, result;
  bool fresh = previous_gray_.empty() || previous_gray_.size() != gray.size() || previous_output_.size() != stylized_bgr.size();
  if (!fresh) {
    const cv::Mat to_previous = flow_(gray, previous_gray_), from_previous = flow_(previous_gray_, gray);
    const cv::Mat mask = consistency_mask(to_previous, from_previous, MotionBoundaries::kept);
    fresh = is_scene_cut(gray, previous_gray_, to_previous, mask);
    if (fresh) {
      ++cuts_;
    } else {
      blend_into(stylized_bgr, warp_by_flow(previous_output_, to_previous), mask, amount_, output, result);
    }
  }
  if (fresh) {
    stylized_bgr.convertTo(output, CV_32FC3);
    result = stylized_bgr.clone();
  }
  previous_gray_ = gray.clone();  // callers may refill their frame buffers in place
  previous_output_ = output;
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++frames_;
  return result;
}

}  // namespace nst
