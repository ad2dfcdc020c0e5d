// The temporal warping error of a stylized clip (Lai et al., ECCV 2018): for each pair of
// consecutive frames, the optical flow between the *input* frames (DIS, medium preset) warps
// stylized frame t onto frame t-1, and the squared difference on the 0..1 scale is averaged over
// the pixels visible in both frames (consistency_mask) and the three channels; the clip's error is
// the mean over pairs. Pairs across a scene cut (is_scene_cut) are left out and counted: no motion
// relates them, so there is nothing a stable stylization could keep (Megamind.avi has two in its
// first 100 frames, which were 30% of its per-frame error). Several stylized versions of one clip share the flows, so comparing a model
// with a per-frame baseline costs one flow computation.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "motion/optical_flow.h"

namespace nst {

// Masked mean squared difference between two 8-bit BGR frames on the 0..1 scale; `mask` is CV_32F
// 0/1. 0 when the mask is empty.
double masked_mse(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask);

class WarpingErrorMeter {
 public:
  explicit WarpingErrorMeter(size_t versions);

  // The next frame: the input (any size; resized to the stylized frames' size) and each version's
  // stylized frame (8-bit BGR, all of one size).
  void add(const cv::Mat& input_bgr, const std::vector<cv::Mat>& stylized_bgr);

  std::vector<double> errors() const;        // per version: mean over pairs (0 before two frames)
  int64_t pairs() const { return pairs_; }   // pairs measured (scene cuts not included)
  int64_t scene_cuts() const { return cuts_; }
  double visible_fraction() const;           // mean share of pixels the mask kept

 private:
  OpticalFlow flow_{FlowQuality::medium};
  std::vector<double> sums_;
  int64_t pairs_ = 0, cuts_ = 0;
  double visible_sum_ = 0;
  cv::Mat previous_gray_;
  std::vector<cv::Mat> previous_stylized_;
};

struct ClipWarpingError {
  std::vector<double> errors;  // per stylized video, in the order given
  int64_t frames = 0, pairs = 0, scene_cuts = 0;
  double visible_fraction = 0;
};

// Reads the input video and the stylized videos frame by frame (up to max_frames; 0 = all) and
// measures each. Stops at the shortest video. Throws "PATH: problem" for unreadable videos or
// stylized videos whose frame sizes differ from one another.
ClipWarpingError measure_warping_error(const std::string& input, const std::vector<std::string>& stylized,
                                       int64_t max_frames);

}  // namespace nst
