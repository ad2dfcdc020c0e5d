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

cv::Mat TemporalBlend::apply(const cv::Mat& input_bgr, const cv::Mat& stylized_bgr) {
  const auto start = std::chrono::steady_clock::now();
  if (input_bgr.size() != stylized_bgr.size()) throw std::invalid_argument("TemporalBlend: input and stylized sizes differ");
  const cv::Mat gray = to_gray(input_bgr);
  cv::Mat stylized, output;
  stylized_bgr.convertTo(stylized, CV_32FC3);
  if (previous_gray_.empty() || previous_gray_.size() != gray.size()) {
    output = stylized;
  } else {
    const cv::Mat to_previous = flow_(gray, previous_gray_), from_previous = flow_(previous_gray_, gray);
    const cv::Mat mask = consistency_mask(to_previous, from_previous, MotionBoundaries::kept);
    if (is_scene_cut(gray, previous_gray_, to_previous, mask)) {
      output = stylized;
      ++cuts_;
    } else {
      cv::Mat weight = mask * amount_;
      cv::cvtColor(weight, weight, cv::COLOR_GRAY2BGR);
      const cv::Mat warped = warp_by_flow(previous_output_, to_previous);
      output = stylized + weight.mul(warped - stylized);
    }
  }
  previous_gray_ = gray.clone();  // callers may refill their frame buffers in place
  previous_output_ = output;
  cv::Mat result;
  output.convertTo(result, CV_8UC3);  // rounds and saturates
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++frames_;
  return result;
}

}  // namespace nst
