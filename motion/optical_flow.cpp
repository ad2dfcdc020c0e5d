#include "motion/optical_flow.h"

#include <opencv2/imgproc.hpp>

#include <stdexcept>

namespace nst {

OpticalFlow::OpticalFlow(FlowQuality quality)
    : dis_(cv::DISOpticalFlow::create(quality == FlowQuality::fast ? cv::DISOpticalFlow::PRESET_FAST
                                                                   : cv::DISOpticalFlow::PRESET_MEDIUM)) {}

cv::Mat OpticalFlow::operator()(const cv::Mat& from_gray, const cv::Mat& to_gray) {
  if (from_gray.type() != CV_8UC1 || to_gray.type() != CV_8UC1 || from_gray.size() != to_gray.size())
    throw std::invalid_argument("optical flow needs two 8-bit grayscale frames of one size");
  cv::Mat flow;
  dis_->calc(from_gray, to_gray, flow);
  return flow;
}

cv::Mat to_gray(const cv::Mat& bgr) {
  if (bgr.channels() == 1) return bgr;
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

namespace {

// Absolute sampling positions p + flow(p) for cv::remap.
cv::Mat sampling_map(const cv::Mat& flow) {
  cv::Mat map(flow.size(), CV_32FC2);
  for (int y = 0; y < flow.rows; ++y) {
    const auto* f = flow.ptr<cv::Vec2f>(y);
    auto* m = map.ptr<cv::Vec2f>(y);
    for (int x = 0; x < flow.cols; ++x) m[x] = cv::Vec2f(static_cast<float>(x) + f[x][0], static_cast<float>(y) + f[x][1]);
  }
  return map;
}

}  // namespace

cv::Mat warp_by_flow(const cv::Mat& image, const cv::Mat& flow, int interpolation) {
  if (flow.type() != CV_32FC2) throw std::invalid_argument("warp_by_flow needs a CV_32FC2 flow");
  cv::Mat warped;
  cv::remap(image, warped, sampling_map(flow), cv::noArray(), interpolation, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return warped;
}

cv::Mat consistency_mask(const cv::Mat& forward, const cv::Mat& backward, MotionBoundaries boundaries) {
  if (forward.type() != CV_32FC2 || backward.type() != CV_32FC2 || forward.size() != backward.size())
    throw std::invalid_argument("consistency_mask needs two CV_32FC2 flows of one size");
  const cv::Mat back_at_target = warp_by_flow(backward, forward);
  // |grad Fx|^2 + |grad Fy|^2 by central differences, only when motion boundaries are excluded.
  cv::Mat gradient;
  const bool check_boundaries = boundaries == MotionBoundaries::excluded;
  if (check_boundaries) {
    cv::Mat components[2];
    cv::split(forward, components);
    const cv::Mat central = (cv::Mat_<float>(1, 3) << -0.5f, 0.0f, 0.5f);
    gradient = cv::Mat::zeros(forward.size(), CV_32F);
    for (const auto& component : components)
      for (const cv::Mat& kernel : {central, cv::Mat(central.t())}) {
        cv::Mat derivative;
        cv::filter2D(component, derivative, CV_32F, kernel, cv::Point(-1, -1), 0, cv::BORDER_REPLICATE);
        gradient += derivative.mul(derivative);
      }
  }
  cv::Mat mask(forward.size(), CV_32F);
  const int rows = forward.rows, cols = forward.cols;
  for (int y = 0; y < rows; ++y) {
    const auto* f = forward.ptr<cv::Vec2f>(y);
    const auto* b = back_at_target.ptr<cv::Vec2f>(y);
    const float* g = check_boundaries ? gradient.ptr<float>(y) : nullptr;
    auto* m = mask.ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      const float tx = static_cast<float>(x) + f[x][0], ty = static_cast<float>(y) + f[x][1];
      const bool inside = tx >= 0 && ty >= 0 && tx <= static_cast<float>(cols - 1) && ty <= static_cast<float>(rows - 1);
      const cv::Vec2f sum = f[x] + b[x];
      const float f2 = f[x].dot(f[x]), b2 = b[x].dot(b[x]);
      const bool consistent = sum.dot(sum) <= 0.01f * (f2 + b2) + 0.5f;
      const bool boundary = g != nullptr && g[x] > 0.01f * f2 + 0.002f;
      m[x] = inside && consistent && !boundary ? 1.0f : 0.0f;
    }
  }
  return mask;
}

bool is_scene_cut(const cv::Mat& from_gray, const cv::Mat& to_gray, const cv::Mat& forward, const cv::Mat& mask) {
  if (from_gray.type() != CV_8UC1 || to_gray.type() != CV_8UC1 || mask.type() != CV_32F)
    throw std::invalid_argument("is_scene_cut needs two 8-bit grayscale frames and a CV_32F mask");
  const double visible = cv::sum(mask)[0];
  if (visible >= kCutVisible * static_cast<double>(mask.total())) return false;
  if (visible == 0) return true;
  cv::Mat from, warped, difference;
  from_gray.convertTo(from, CV_32F);
  to_gray.convertTo(warped, CV_32F);
  cv::absdiff(from, warp_by_flow(warped, forward), difference);
  return difference.dot(mask) / visible > kCutMismatch;
}

}  // namespace nst
