// nst-eval on videos: the temporal warping error of a stylized clip (motion/warping_error.h),
// optionally against a per-frame baseline of the same clip (the ratio is what compares across
// implementations), and the perceptual losses of every Nth frame as for images.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "optimize/evaluation.h"

namespace nst {

struct VideoEvalOptions {
  TORCH_ARG(std::string, baseline);        // "" = none; else a per-frame stylization of the same clip
  TORCH_ARG(int64_t, max_frames) = 0;      // 0 = all frames
  TORCH_ARG(int64_t, loss_every) = 10;     // score the perceptual losses of every Nth frame (with an evaluator)
};

// Measures `stylized` (and the baseline) against the input clip `content`. With an evaluator, also
// the mean perceptual losses of the sampled frames ("losses", "baseline_losses"). Returns one JSON
// object: content, stylized, frames, pairs, visible_fraction, warping_error, and with a baseline
// baseline, baseline_warping_error, ratio.
nlohmann::json evaluate_video(const std::string& content, const std::string& stylized, const VideoEvalOptions& options,
                              Evaluator* evaluator);

// A few lines for people: the errors, the ratio, and the losses when present.
std::string video_summary(const nlohmann::json& result);

}  // namespace nst
