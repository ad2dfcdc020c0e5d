#include "motion/temporal_blend.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

namespace nst {

TemporalBlend::TemporalBlend(double amount) : amount_(amount) {
  if (!(amount >= 0 && amount < 1))
    throw std::runtime_error("--temporal-blend must be in [0, 1) (0 = off), got " + std::to_string(amount));
}

namespace {

// out = s + amount * m * (warped - s), in one pass.
cv::Mat blend(const cv::Mat& stylized, const cv::Mat& warped, const cv::Mat& mask, double amount) {
  cv::Mat output(stylized.size(), CV_32FC3);
  const auto a = static_cast<float>(amount);
  for (int y = 0; y < stylized.rows; ++y) {
    const auto* s = stylized.ptr<uchar>(y);
    const auto* w = warped.ptr<float>(y);
    const auto* m = mask.ptr<float>(y);
    auto* o = output.ptr<float>(y);
    for (int x = 0; x < stylized.cols; ++x) {
      const float k = a * m[x];
      for (int c = 3 * x; c < 3 * x + 3; ++c) o[c] = s[c] + k * (w[c] - s[c]);
    }
  }
  return output;
}

// Sum over the frame of each channel's squared fine detail (image minus its local mean).
template <typename T>
cv::Vec3d fine_detail_energy(const cv::Mat& image, const cv::Mat& local_mean) {
  cv::Vec3d energy(0, 0, 0);
  for (int y = 0; y < image.rows; ++y) {
    const auto* v = image.ptr<T>(y);
    const auto* m = local_mean.ptr<float>(y);
    for (int i = 0; i < 3 * image.cols; ++i) {
      const double detail = static_cast<float>(v[i]) - m[i];
      energy[i % 3] += detail * detail;
    }
  }
  return energy;
}

// Averaging strokes that differ from frame to frame flattens them (the style loss of blended videos
// rose 23-56%). Each channel's fine detail (below the 5x5 box mean) is scaled back to the energy it
// has in the frame stylized alone: one gain per channel and frame, a statistic of the whole frame,
// so it does not flicker itself. Gains stay within 1..2: detail is never lowered further, and a near-flat
// output is not blown up. Writes the scaled output and its 8-bit rounding.
void restore_fine_contrast(const cv::Mat& stylized, cv::Mat& output, cv::Mat& result) {
  constexpr int kBox = 5;
  cv::Mat stylized_mean, output_mean;
  cv::boxFilter(stylized, stylized_mean, CV_32F, cv::Size(kBox, kBox), cv::Point(-1, -1), true, cv::BORDER_REFLECT);
  cv::boxFilter(output, output_mean, CV_32F, cv::Size(kBox, kBox), cv::Point(-1, -1), true, cv::BORDER_REFLECT);
  const cv::Vec3d wanted = fine_detail_energy<uchar>(stylized, stylized_mean);
  const cv::Vec3d had = fine_detail_energy<float>(output, output_mean);
  float extra[3];
  for (int c = 0; c < 3; ++c) extra[c] = static_cast<float>(std::clamp(std::sqrt(wanted[c] / std::max(had[c], 1e-6)), 1.0, 2.0) - 1);
  result.create(output.size(), CV_8UC3);
  for (int y = 0; y < output.rows; ++y) {
    auto* o = output.ptr<float>(y);
    const auto* m = output_mean.ptr<float>(y);
    auto* r = result.ptr<uchar>(y);
    for (int i = 0; i < 3 * output.cols; ++i) {
      o[i] += extra[i % 3] * (o[i] - m[i]);
      r[i] = cv::saturate_cast<uchar>(o[i]);
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
      output = blend(stylized_bgr, warp_by_flow(previous_output_, to_previous, cv::INTER_CUBIC), mask, amount_);
      restore_fine_contrast(stylized_bgr, output, result);
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
