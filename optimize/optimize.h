// Gatys et al. (2015/16) neural style by image optimization (nst-optimize): L-BFGS or Adam on the
// pixels of one image, optionally coarse to fine, minimizing the StyleObjective that nst-eval reports.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/choices.h"
#include "losses/style_objective.h"

namespace nst {

// The complete default config of nst-optimize (loss_defaults_yaml() + output.* + optimize.*).
std::string optimize_defaults_yaml();

enum class OptimizerKind { lbfgs, adam };
enum class LineSearch { strong_wolfe, none };
inline const Choices<OptimizerKind> kOptimizerChoices{{"lbfgs", OptimizerKind::lbfgs}, {"adam", OptimizerKind::adam}};
inline const Choices<LineSearch> kLineSearchChoices{{"strong_wolfe", LineSearch::strong_wolfe}, {"none", LineSearch::none}};

// Filled by optimize_options_from (the defaults are optimize_defaults_yaml()).
struct OptimizeOptions {
  TORCH_ARG(ObjectiveOptions, objective);
  TORCH_ARG(int64_t, output_size) = 0;                  // output.size; 0 = the content image's longest side
  TORCH_ARG(OptimizerKind, optimizer) = OptimizerKind::lbfgs;
  TORCH_ARG(int64_t, iterations) = 0;                   // optimize.iterations (single level)
  TORCH_ARG(bool, clamp) = true;                        // optimize.clamp
  TORCH_ARG(std::string, init) = "content";             // optimize.init: content | noise | PATH of an image
  TORCH_ARG(double, lbfgs_lr) = 1.0;
  TORCH_ARG(int64_t, lbfgs_history_size) = 100;
  TORCH_ARG(LineSearch, line_search) = LineSearch::strong_wolfe;
  TORCH_ARG(double, adam_lr) = 5.0;
  TORCH_ARG(std::vector<double>, schedule_sizes);       // optimize.schedule.sizes
  TORCH_ARG(std::vector<double>, schedule_iterations);  // optimize.schedule.iterations
};
OptimizeOptions optimize_options_from(const Config& config);

struct OptimizeLevel {
  int64_t size;        // longest side
  int64_t iterations;
};
// optimize.schedule (coarse to fine, last size = output.size) or one level at output.size;
// output.size 0 means the content image's longest side. Throws for an impossible schedule.
std::vector<OptimizeLevel> schedule_for(const OptimizeOptions& options, int64_t content_height, int64_t content_width);

struct IterationRecord {
  int64_t iteration = 0;    // global count over all levels; 0 = the initial image
  int64_t level = 0;
  int64_t height = 0, width = 0;
  int64_t evaluations = 0;  // loss+gradient evaluations so far (L-BFGS line search may use several per iteration)
  double seconds = 0;
  std::map<std::string, double> losses;  // loss_values() of the current (float) image
};

// Called after every iteration (and at the start of each level). current_rgb() gives the current
// image [3,h,w] as it would be written. Return false to stop early (e.g. Ctrl-C).
using IterationCallback = std::function<bool(const IterationRecord&, const std::function<torch::Tensor()>& current_rgb)>;

struct OptimizeResult {
  torch::Tensor image;                       // [3,h,w] 0..255 rounded and clamped: exactly what is written
  std::vector<IterationRecord> curve;
  std::map<std::string, double> final_loss;  // of the last float image (what the optimizer minimized)
  std::map<std::string, double> written_loss;  // of `image` after 8-bit quantization (what nst-eval sees)
  bool stopped_early = false;
};

// Runs the whole optimization (all levels) for one content image and one or more style images
// (RGB [3,H,W] 0..255). Threads are the caller's business (configure_threads).
OptimizeResult optimize_image(const OptimizeOptions& options, const torch::Tensor& content,
                              const std::vector<torch::Tensor>& styles, const IterationCallback& on_iteration = {});

// Where snapshot N of `output` goes: DIR/STEM.iterNNNN.EXT (DIR = output.snapshot_dir or the output's folder).
std::string snapshot_path(const std::string& output, const std::string& snapshot_dir, int64_t iteration);

}  // namespace nst
