// nst-infer --temporal-blend A: video frames stylized one by one flicker, because a feed-forward
// net answers small changes of the input with different strokes. Each output frame is blended with
// the previous output warped onto it along the input's optical flow (DIS, fast preset), only where
// the forward-backward check says the pixel is visible in both frames:
//   out_t = s_t + A * m_t * (warp(out_{t-1}) - s_t)
// (s_t the frame stylized alone, m_t the forward-backward consistency mask, motion boundaries kept:
// see consistency_mask). The recursion makes strokes follow the motion; occluded and newly visible
// regions take the fresh stylization, and after a scene cut (is_scene_cut) the whole frame does.
// The previous output is warped bicubically: it is resampled between pixels every frame, and a
// bilinear warp's low-pass, compounded by the recursion, washed out fine strokes (docs/inference.md).
#pragma once
#include <opencv2/core.hpp>

#include "motion/optical_flow.h"

namespace nst {

class TemporalBlend {
 public:
  explicit TemporalBlend(double amount);  // 0 <= amount < 1; throws otherwise

  // `input_bgr` is the input frame at the stylized frame's size (what the net saw); both 8-bit BGR.
  // Returns the blended frame (8-bit BGR). The first frame, or one whose size changed, passes as is.
  cv::Mat apply(const cv::Mat& input_bgr, const cv::Mat& stylized_bgr);

  double seconds() const { return seconds_; }  // total time spent in apply (flow, mask, warp, blend)
  int64_t frames() const { return frames_; }
  int64_t scene_cuts() const { return cuts_; }  // frames that started afresh after a scene cut

 private:
  double amount_;
  OpticalFlow flow_{FlowQuality::fast};
  cv::Mat previous_gray_, previous_output_;  // previous_output_: CV_32FC3, unrounded
  double seconds_ = 0;
  int64_t frames_ = 0, cuts_ = 0;
};

}  // namespace nst
