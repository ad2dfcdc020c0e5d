#include "motion/warping_error.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <memory>
#include <stdexcept>

#include "core/errors.h"
#include "data/image_io.h"
#include "data/video_io.h"

namespace nst {

double masked_mse(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  if (a.size() != b.size() || a.type() != b.type() || mask.size() != a.size() || mask.type() != CV_32F)
    throw std::invalid_argument("masked_mse: frames and mask must have one size");
  const double visible = cv::sum(mask)[0];
  if (visible <= 0) return 0.0;
  cv::Mat fa, fb, per_pixel;
  a.convertTo(fa, CV_32F, 1.0 / 255);
  b.convertTo(fb, CV_32F, 1.0 / 255);
  cv::Mat difference = fa - fb;
  const int pixels = static_cast<int>(a.total());
  // Squared differences summed over the channels, one row per pixel, weighted by the mask.
  const cv::Mat squared = difference.mul(difference);
  cv::reduce(squared.reshape(1, pixels), per_pixel, 1, cv::REDUCE_SUM, CV_32F);
  return per_pixel.dot(mask.clone().reshape(1, pixels)) / (visible * a.channels());
}

WarpingErrorMeter::WarpingErrorMeter(size_t versions) : sums_(versions, 0.0) {}

void WarpingErrorMeter::add(const cv::Mat& input_bgr, const std::vector<cv::Mat>& stylized_bgr) {
  if (stylized_bgr.size() != sums_.size()) throw std::invalid_argument("WarpingErrorMeter: wrong number of versions");
  const cv::Size size = stylized_bgr.front().size();
  for (const auto& frame : stylized_bgr)
    if (frame.size() != size) throw std::runtime_error("stylized frames differ in size");
  const cv::Mat gray = to_gray(input_bgr.size() == size ? input_bgr : resize_to(input_bgr, size));
  if (!previous_gray_.empty()) {
    const cv::Mat forward = flow_(previous_gray_, gray), backward = flow_(gray, previous_gray_);
    const cv::Mat mask = consistency_mask(forward, backward);
    if (is_scene_cut(previous_gray_, gray, forward, mask)) {
      ++cuts_;
    } else {
      for (size_t v = 0; v < sums_.size(); ++v)
        sums_[v] += masked_mse(previous_stylized_[v], warp_by_flow(stylized_bgr[v], forward), mask);
      visible_sum_ += cv::sum(mask)[0] / static_cast<double>(mask.total());
      ++pairs_;
    }
  }
  previous_gray_ = gray.clone();
  // Deep copies: VideoCapture::read refills the caller's Mat in place, which would overwrite them.
  previous_stylized_.clear();
  for (const auto& frame : stylized_bgr) previous_stylized_.push_back(frame.clone());
}

std::vector<double> WarpingErrorMeter::errors() const {
  std::vector<double> means;
  for (double sum : sums_) means.push_back(pairs_ > 0 ? sum / static_cast<double>(pairs_) : 0.0);
  return means;
}

double WarpingErrorMeter::visible_fraction() const { return pairs_ > 0 ? visible_sum_ / static_cast<double>(pairs_) : 0.0; }

ClipWarpingError measure_warping_error(const std::string& input, const std::vector<std::string>& stylized,
                                       int64_t max_frames) {
  if (stylized.empty()) throw std::invalid_argument("measure_warping_error: no stylized video");
  cv::VideoCapture input_video = open_video(input);
  std::vector<std::unique_ptr<cv::VideoCapture>> videos;
  for (const auto& path : stylized) videos.push_back(std::make_unique<cv::VideoCapture>(open_video(path)));
  WarpingErrorMeter meter(stylized.size());
  ClipWarpingError result;
  cv::Mat input_frame;
  std::vector<cv::Mat> frames(stylized.size());
  while ((max_frames <= 0 || result.frames < max_frames) && input_video.read(input_frame) && !input_frame.empty()) {
    bool complete = true;
    for (size_t v = 0; v < videos.size(); ++v) complete = complete && videos[v]->read(frames[v]) && !frames[v].empty();
    if (!complete) break;
    for (size_t v = 1; v < frames.size(); ++v)
      if (frames[v].size() != frames[0].size())
        throw path_error(stylized[v], "frames of " + std::to_string(frames[v].cols) + "x" +
                                 std::to_string(frames[v].rows) + " but " + stylized[0] + " has " +
                                 std::to_string(frames[0].cols) + "x" + std::to_string(frames[0].rows));
    meter.add(input_frame, frames);
    ++result.frames;
  }
  if (result.frames < 2) throw path_error(input, "fewer than two frames to compare");
  if (meter.pairs() == 0) throw path_error(input, "every pair of frames is a scene cut: nothing to compare");
  result.errors = meter.errors();
  result.pairs = meter.pairs();
  result.scene_cuts = meter.scene_cuts();
  result.visible_fraction = meter.visible_fraction();
  return result;
}

}  // namespace nst
