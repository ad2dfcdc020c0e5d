// Motion between video frames: dense optical flow (OpenCV's DIS), the forward-backward
// consistency mask of Ruder et al. (2016) and warping by a flow with cv::remap. The temporal
// warping error (nst-eval) and the temporal blend (nst-infer) are built on these.
#pragma once
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

#include "core/choices.h"

namespace nst {

// DIS presets: fast for inference-time blending, medium (more accurate) for measuring.
enum class FlowQuality { fast, medium };
inline const Choices<FlowQuality> kFlowQualityChoices{{"fast", FlowQuality::fast}, {"medium", FlowQuality::medium}};

class OpticalFlow {
 public:
  explicit OpticalFlow(FlowQuality quality);
  // Flow from `from` to `to` (8-bit grayscale, same size) as CV_32FC2 (dx, dy):
  // from(y, x) ~ to(y + dy, x + dx).
  cv::Mat operator()(const cv::Mat& from_gray, const cv::Mat& to_gray);

 private:
  cv::Ptr<cv::DISOpticalFlow> dis_;
};

// 8-bit grayscale of an 8-bit BGR image (a grayscale image is returned as is).
cv::Mat to_gray(const cv::Mat& bgr);

// `image` sampled at p + flow(p) for every pixel p (bilinear, or `interpolation`: cv::InterpolationFlags);
// pixels that map outside `image` are 0.
// With `flow` from frame a to frame b and `image` of frame b, the result is b's content at a's pixels.
cv::Mat warp_by_flow(const cv::Mat& image, const cv::Mat& flow, int interpolation = cv::INTER_LINEAR);

// Where a pixel of frame a can be followed into frame b and back (Ruder et al. 2016, section 3.1):
// CV_32F, 1 where `forward` (a -> b) and `backward` (b -> a) agree,
//   |F + B~|^2 <= 0.01 (|F|^2 + |B~|^2) + 0.5  with B~(p) = backward(p + F(p)),
// the pixel is not on a motion boundary (|grad Fx|^2 + |grad Fy|^2 <= 0.01 |F|^2 + 0.002; only with
// MotionBoundaries::excluded), and p + F(p) lies inside frame b; 0 elsewhere (occluded,
// disoccluded or unreliable). The boundary test suits smooth flows (DIS medium, the meter); on the
// blocky flow of DIS fast it rejects the patch seams too (the temporal blend keeps them: the
// forward-backward test already drops real occlusions; docs/inference.md has the measurement).
enum class MotionBoundaries { excluded, kept };
cv::Mat consistency_mask(const cv::Mat& forward, const cv::Mat& backward,
                         MotionBoundaries boundaries = MotionBoundaries::excluded);

// Two frames across a scene cut: no motion relates them, so a flow between them means nothing.
// True when fewer than kCutVisible of the pixels pass `mask` and those that do still differ by more
// than kCutMismatch grey levels (mean absolute difference) after warping `to_gray` onto
// `from_gray` along `forward` (from -> to). Measured on the opencv-doc clips at 256 px: cuts keep
// 4-13% of the pixels at 10-61 grey levels, other pairs >= 53% at <= 9.
inline constexpr double kCutVisible = 0.3, kCutMismatch = 5.0;
bool is_scene_cut(const cv::Mat& from_gray, const cv::Mat& to_gray, const cv::Mat& forward, const cv::Mat& mask);

}  // namespace nst
