#include "optimize/video_evaluation.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "data/image_io.h"
#include "data/video_io.h"
#include "motion/warping_error.h"

namespace nst {
namespace {

// Mean losses of every `every`th frame of `stylized` against the same frame of `content`.
nlohmann::json mean_frame_losses(const std::string& content, const std::string& stylized, int64_t max_frames, int64_t every,
                                 Evaluator& evaluator) {
  cv::VideoCapture content_video = open_video(content), stylized_video = open_video(stylized);
  std::map<std::string, double> sums;
  int64_t scored = 0;
  cv::Mat content_frame, stylized_frame;
  for (int64_t index = 0; max_frames <= 0 || index < max_frames; ++index) {
    if (!content_video.read(content_frame) || !stylized_video.read(stylized_frame)) break;
    if (content_frame.empty() || stylized_frame.empty()) break;
    if (index % every != 0) continue;
    const EvalRecord record = evaluator.score_images("frame " + std::to_string(index), mat_to_tensor(content_frame),
                                                     mat_to_tensor(stylized_frame));
    for (const auto& [key, value] : record.losses) sums[key] += value;
    ++scored;
  }
  if (scored == 0) throw path_error(stylized, "no frame to score");
  nlohmann::json means;
  for (const auto& [key, sum] : sums) means[key] = sum / static_cast<double>(scored);
  means["frames_scored"] = scored;
  return means;
}

}  // namespace

nlohmann::json evaluate_video(const std::string& content, const std::string& stylized, const VideoEvalOptions& options,
                              Evaluator* evaluator) {
  if (options.loss_every() < 1) throw std::runtime_error("--loss-every must be >= 1");
  std::vector<std::string> videos = {stylized};
  if (!options.baseline().empty()) videos.push_back(options.baseline());
  const ClipWarpingError clip = measure_warping_error(content, videos, options.max_frames());
  nlohmann::json result = {{"content", content},
                           {"stylized", stylized},
                           {"frames", clip.frames},
                           {"pairs", clip.pairs},
                           {"scene_cuts", clip.scene_cuts},
                           {"visible_fraction", clip.visible_fraction},
                           {"warping_error", clip.errors[0]}};
  if (!options.baseline().empty()) {
    result["baseline"] = options.baseline();
    result["baseline_warping_error"] = clip.errors[1];
    result["ratio"] = clip.errors[1] > 0 ? clip.errors[0] / clip.errors[1] : 0.0;
  }
  if (evaluator) {
    result["losses"] = mean_frame_losses(content, stylized, clip.frames, options.loss_every(), *evaluator);
    if (!options.baseline().empty())
      result["baseline_losses"] =
          mean_frame_losses(content, options.baseline(), clip.frames, options.loss_every(), *evaluator);
  }
  return result;
}

std::string video_summary(const nlohmann::json& result) {
  std::ostringstream out;
  char line[200];
  std::snprintf(line, sizeof line,
                "warping error %.6g over %lld frame pairs (%.0f%% of pixels visible in both frames; %lld scene cut(s) left out)\n",
                result["warping_error"].get<double>(), static_cast<long long>(result["pairs"].get<int64_t>()),
                100 * result["visible_fraction"].get<double>(), static_cast<long long>(result.value("scene_cuts", int64_t{0})));
  out << line;
  if (result.contains("baseline")) {
    std::snprintf(line, sizeof line, "baseline %.6g; ratio %.3f\n", result["baseline_warping_error"].get<double>(),
                  result["ratio"].get<double>());
    out << line;
  }
  for (const char* key : {"losses", "baseline_losses"}) {
    if (!result.contains(key)) continue;
    const auto& losses = result[key];
    std::snprintf(line, sizeof line, "%s (mean of %lld frames): total %.5g content %.5g style %.5g tv %.5g\n", key,
                  static_cast<long long>(losses["frames_scored"].get<int64_t>()), losses["total"].get<double>(),
                  losses["content"].get<double>(), losses["style"].get<double>(), losses["tv"].get<double>());
    out << line;
  }
  return out.str();
}

}  // namespace nst
