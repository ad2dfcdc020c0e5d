// nst-eval: perceptual losses (content, style per layer, TV) of stylized images, one image or whole
// folders matched by file name, as JSON lines plus a summary table. See docs/optimization.md.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "config/command_line.h"
#include "core/command_line.h"
#include "core/file_checks.h"
#include "core/paths.h"
#include "core/runtime.h"
#include "core/tool.h"
#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/video_io.h"
#include "optimize/evaluation.h"
#include "optimize/video_evaluation.h"

namespace {

// Scores every pair: JSON lines to stdout (or collected for --json); returns the records and counts failures.
std::vector<nst::EvalRecord> score_all(nst::Evaluator& evaluator, const nst::EvalPlan& plan,
                                       const std::vector<std::string>& style_paths, std::string* json_lines, int& failures) {
  std::vector<nst::EvalRecord> records;
  for (const auto& pair : plan.pairs) {
    try {
      records.push_back(evaluator.score(pair));
    } catch (const std::exception& e) {
      std::cerr << "nst-eval: error: " << e.what() << "\n";
      ++failures;
      continue;
    }
    const std::string line = nst::to_json(records.back(), style_paths).dump() + "\n";
    if (json_lines)
      *json_lines += line;
    else
      std::cout << line << std::flush;
  }
  return records;
}

// Videos: the warping error (and, with --style, the losses of sampled frames) as one JSON line.
int evaluate_video_mode(const std::string& content, const std::string& stylized, const nst::VideoEvalOptions& video,
                        const nst::EvalOptions& options, const std::vector<std::string>& style_paths,
                        const std::string& json_path) {
  std::unique_ptr<nst::Evaluator> evaluator;
  if (!style_paths.empty()) evaluator = std::make_unique<nst::Evaluator>(options, style_paths);
  const auto result = nst::evaluate_video(content, stylized, video, evaluator.get());
  const std::string line = result.dump() + "\n";
  if (json_path.empty()) {
    std::cout << line;
    std::cerr << nst::video_summary(result);
  } else {
    nst::write_bytes_atomically(json_path, line);
    std::cout << nst::video_summary(result);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-eval", [&] {
    CLI::App app{"nst-eval: score stylized images with perceptual losses.\n"
                 "  nst-eval --content IMG|DIR --style IMG [--style IMG ...] --stylized IMG|DIR [--config FILE] [key=value ...]\n"
                 "  nst-eval --content VIDEO --stylized VIDEO [--baseline VIDEO] [--style IMG ...] [--max-frames N]\n"
                 "Folders are matched by relative path without extension. JSON lines go to stdout (or --json FILE),\n"
                 "the summary table to stderr (stdout with --json). nst-optimize config files are accepted.\n"
                 "Videos: the temporal warping error (Lai et al. 2018) of the stylized clip, its ratio to a per-frame\n"
                 "--baseline, and with --style the mean losses of every --loss-every'th frame (docs/inference.md)."};
    std::string stylized, json_path;
    nst::ConfigCommandLine command_line(app, "YAML config file(s), merged in order (configs/eval_*.yaml or optimize_*.yaml)",
                                        true);
    command_line.add_content_and_style(app, "content image, folder or video");
    app.add_option("--stylized", stylized, "stylized image, folder or video");
    nst::VideoEvalOptions video;
    app.add_option("--baseline", video.baseline(), "videos: the same clip stylized frame by frame, for the ratio");
    app.add_option("--max-frames", video.max_frames(), "videos: only the first N frames (0 = all)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--loss-every", video.loss_every(), "videos with --style: score the losses of every Nth frame")
        ->check(CLI::PositiveNumber);
    app.add_option("--json", json_path, "write the JSON lines to this file (atomically) instead of stdout");
    command_line.add_shorthands(app, "score luminance only, as nst-optimize --preserve-color optimizes");
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-eval")) return *status;

    if (command_line.print_defaults()) {
      std::cout << nst::eval_defaults_yaml();
      return 0;
    }
    nst::Config config = nst::make_eval_config();
    command_line.apply(config, nst::optimize_only_sections());
    const std::string& content = command_line.content();
    const std::vector<std::string>& style_paths = command_line.styles();
    nst::require_option(!content.empty(), "--content IMG|DIR|VIDEO", "nst-eval");
    nst::require_option(!stylized.empty(), "--stylized IMG|DIR|VIDEO", "nst-eval");
    const bool videos = nst::has_video_extension(content) || nst::has_video_extension(stylized);
    if (videos && !(nst::has_video_extension(content) && nst::has_video_extension(stylized)))
      throw std::runtime_error("--content and --stylized must both be videos (" + content + ", " + stylized + ")");
    if (!videos && !video.baseline().empty()) throw std::runtime_error("--baseline is for videos (--content VIDEO)");
    if (!videos) nst::require_option(!style_paths.empty(), "--style IMG", "nst-eval");
    nst::EvalOptions options = nst::eval_options_from(config);

    if (!json_path.empty()) nst::require_writable_output(json_path);
    nst::configure_threads(static_cast<int>(options.objective().threads()));
    if (videos) return evaluate_video_mode(content, stylized, video, options, style_paths, json_path);
    const nst::EvalPlan plan = nst::plan_evaluation(content, stylized);
    if (!options.objective().precision() && !plan.pairs.empty()) {  // auto: timed on the first pair's size
      const torch::Tensor first = nst::read_image(plan.pairs.front().content);
      std::vector<torch::Tensor> styles;
      for (const auto& path : style_paths) styles.push_back(nst::read_image(path));
      const int64_t side = options.size() > 0 ? options.size() : std::max(first.size(1), first.size(2));
      options.objective().precision(
          nst::resolve_objective_precision(options.objective(), styles, first, side, "nst-eval", std::cerr));
    }
    nst::Evaluator evaluator(options, style_paths);
    std::string json_lines;
    int failures = 0;
    const auto records = score_all(evaluator, plan, style_paths, json_path.empty() ? nullptr : &json_lines, failures);
    for (const auto& message : plan.missing) std::cerr << "nst-eval: warning: " << message << "\n";
    if (!json_path.empty()) nst::write_bytes_atomically(json_path, json_lines);
    (json_path.empty() ? std::cerr : std::cout) << nst::summary_table(records);
    if (!plan.missing.empty()) std::cerr << plan.missing.size() << " image(s) without a counterpart (not scored)\n";
    if (failures > 0)
      throw std::runtime_error(std::to_string(failures) + " of " + std::to_string(plan.pairs.size()) +
                               " image pair(s) could not be scored (see above)");
    return 0;
  });
}
