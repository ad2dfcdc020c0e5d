#include "optimize/optimize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "data/image_io.h"

namespace fs = std::filesystem;

namespace nst {

std::string optimize_defaults_yaml() {
  return loss_defaults_yaml() + R"(output:
  size: 512           # longest side of the result in pixels; 0 = the content image's size
  jpeg_quality: 95
  snapshot_every: 0   # write the current image every N iterations (0 = never)
  snapshot_dir: null  # where snapshots go (STEM.iterNNNN.EXT); default: beside the output
  curve: null         # JSON lines file: losses after every iteration
optimize:
  optimizer: lbfgs    # lbfgs | adam
  iterations: 300     # iterations of the single level (when schedule.sizes is empty)
  clamp: true         # keep pixels in 0..255 after every step (what is written is what was optimized)
  init: content       # content | noise | PATH of an image (e.g. a feed-forward result to refine)
  lbfgs:
    lr: 1.0
    history_size: 100
    line_search: strong_wolfe  # strong_wolfe | none
  adam:
    lr: 5.0           # in pixel units (0..255)
  schedule:           # coarse to fine: optimize small, upsample, continue
    sizes: []         # longest sides, increasing; the last must equal output.size (e.g. [256, 512, 1024])
    iterations: []    # iterations per level (e.g. [300, 150, 50])
)";
}

OptimizeOptions optimize_options_from(const Config& config) {
  OptimizeOptions options;
  options.objective(objective_options_from(config));
  options.output_size(config.get_int("output.size"));
  options.optimizer(config.get_choice("optimize.optimizer", kOptimizerChoices));
  options.iterations(config.get_int("optimize.iterations"));
  options.clamp(config.get_bool("optimize.clamp"));
  options.init(config.get_string("optimize.init"));
  options.lbfgs_lr(config.get_double("optimize.lbfgs.lr"));
  options.lbfgs_history_size(config.get_int("optimize.lbfgs.history_size"));
  if (options.lbfgs_history_size() < 1 || options.lbfgs_history_size() > 1000)  // each entry holds two image-sized tensors
    throw std::runtime_error("optimize.lbfgs.history_size must be in 1..1000, got " + std::to_string(options.lbfgs_history_size()));
  options.line_search(config.get_choice("optimize.lbfgs.line_search", kLineSearchChoices));
  options.adam_lr(config.get_double("optimize.adam.lr"));
  options.schedule_sizes(config.get_doubles("optimize.schedule.sizes"));
  options.schedule_iterations(config.get_doubles("optimize.schedule.iterations"));
  return options;
}

std::vector<OptimizeLevel> schedule_for(const OptimizeOptions& options, int64_t content_height, int64_t content_width) {
  int64_t output_size = options.output_size();
  if (output_size < 0) throw std::runtime_error("output.size must be >= 0 (0 = the content image's size)");
  if (output_size == 0) output_size = std::max(content_height, content_width);
  constexpr int64_t kMaxSide = 16384;
  auto check_size = [&](const std::string& key, int64_t size) {
    if (size < 16 || size > kMaxSide)
      throw std::runtime_error(key + " " + std::to_string(size) + " is impossible (longest side must be 16.." +
                               std::to_string(kMaxSide) + " pixels)");
  };
  check_size("output.size", output_size);
  const std::vector<double>& sizes = options.schedule_sizes();
  const std::vector<double>& iterations = options.schedule_iterations();
  std::vector<OptimizeLevel> levels;
  if (sizes.empty() && iterations.empty()) {
    const int64_t n = options.iterations();
    if (n < 0 || n > 10'000'000) throw std::runtime_error("optimize.iterations must be in 0..10000000, got " + std::to_string(n));
    return {{output_size, n}};
  }
  if (sizes.size() != iterations.size())
    throw std::runtime_error("optimize.schedule.sizes has " + std::to_string(sizes.size()) +
                             " entries but optimize.schedule.iterations has " + std::to_string(iterations.size()));
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto size = static_cast<int64_t>(sizes[i]), n = static_cast<int64_t>(iterations[i]);
    if (size != sizes[i] || n != iterations[i] || n < 0)
      throw std::runtime_error("optimize.schedule: sizes and iterations must be whole numbers >= 0");
    check_size("optimize.schedule.sizes entry", size);
    if (!levels.empty() && size <= levels.back().size)
      throw std::runtime_error("optimize.schedule.sizes must increase (coarse to fine)");
    levels.push_back({size, n});
  }
  if (levels.back().size != output_size)
    throw std::runtime_error("optimize.schedule.sizes ends at " + std::to_string(levels.back().size) +
                             " but output.size is " + std::to_string(output_size) +
                             ": the last level is the output (set output.size=" + std::to_string(levels.back().size) + ")");
  return levels;
}

std::string snapshot_path(const std::string& output, const std::string& snapshot_dir, int64_t iteration) {
  const fs::path out(output);
  char number[32];
  std::snprintf(number, sizeof number, ".iter%04lld", static_cast<long long>(iteration));
  const fs::path dir = snapshot_dir.empty() ? out.parent_path() : fs::path(snapshot_dir);
  return (dir / (out.stem().string() + number + out.extension().string())).string();
}

namespace {

// Loss + gradient of the current variable, remembered so that evaluating the same point twice costs
// nothing: LBFGS::step re-evaluates the point where the previous step (or line search) ended, and
// the curve records the loss after every step.
class MemoizedObjective {
 public:
  MemoizedObjective(StyleObjective& objective, torch::Tensor variable, bool clamp)
      : objective_(objective), x_(std::move(variable)), clamp_(clamp) {}

  torch::Tensor operator()() {
    if (clamp_) {
      // Projecting onto 0..255 here, before evaluating, keeps every evaluated point (line search
      // included) a valid image, so what is written is what was optimized, at no extra evaluation.
      torch::NoGradGuard no_grad;
      x_.clamp_(0, 255);
    }
    if (!point_.defined() || !torch::equal(point_, x_.detach())) {
      if (x_.grad().defined()) x_.mutable_grad().zero_();
      const LossTerms terms = objective_.loss(x_);
      terms.total.backward();
      point_ = x_.detach().clone();
      grad_ = x_.grad().clone();
      values_ = loss_values(terms);
      ++evaluations_;
      if (!std::isfinite(values_["total"])) throw std::runtime_error("the loss became " + std::to_string(values_["total"]));
    } else {
      x_.mutable_grad() = grad_.clone();
    }
    return torch::tensor(values_["total"], torch::TensorOptions().dtype(torch::kFloat64));
  }

  const std::map<std::string, double>& values() const { return values_; }
  int64_t evaluations() const { return evaluations_; }
  const torch::Tensor& gradient() const { return grad_; }  // at the last evaluated point

 private:
  StyleObjective& objective_;
  torch::Tensor x_, point_, grad_;
  bool clamp_;
  std::map<std::string, double> values_;
  int64_t evaluations_ = 0;
};

torch::Tensor quantize(const torch::Tensor& rgb) { return rgb.clamp(0, 255).round().to(torch::kCPU, torch::kFloat32); }

torch::Tensor initial_variable(const std::string& init, const StyleObjective& objective) {
  const int64_t h = objective.height(), w = objective.width();
  if (init == "content") return objective.to_variable(objective.content());
  if (init == "noise") {
    const int64_t channels = objective.preserve_color() ? 1 : 3;
    return (torch::rand({1, channels, h, w}) * 255).to(objective.device());  // CPU generator: same on every device
  }
  if (!fs::exists(init))
    throw std::runtime_error("optimize.init: " + init + ": no such file (expected content, noise or an image path)");
  return objective.to_variable(resize_image(read_image(init), h, w));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizeOptions& options, const torch::Tensor& x) {
  if (options.optimizer() == OptimizerKind::adam)
    return std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{x}, torch::optim::AdamOptions(options.adam_lr()));
  auto lbfgs = torch::optim::LBFGSOptions(options.lbfgs_lr())
                   .max_iter(1)  // one iteration per step(): progress, curve and snapshots per iteration
                   .max_eval(1000)
                   .history_size(options.lbfgs_history_size());
  if (options.line_search() == LineSearch::strong_wolfe) lbfgs.line_search_fn("strong_wolfe");
  return std::make_unique<torch::optim::LBFGS>(std::vector<torch::Tensor>{x}, lbfgs);
}

// LibTorch's (like PyTorch's) first L-BFGS step is lr * g / |g|_1: over a million pixels that moves
// each by ~1e-6 grey levels, below float32 resolution near 255, so the step changes nothing and the
// line search wastes a dozen evaluations. This lr makes the first step move the steepest pixel by 4
// grey levels; later steps use lr on L-BFGS's curvature-scaled direction as usual.
double first_lbfgs_step_lr(double lr, const torch::Tensor& gradient) {
  const double l1 = gradient.abs().sum().item<double>(), steepest = gradient.abs().max().item<double>();
  if (!(steepest > 0)) return lr;
  return lr * 4.0 / (steepest * std::min(1.0, 1.0 / l1));
}

// The starting point of a level: the configured initial image, or the previous level's result upsampled.
torch::Tensor level_start(const OptimizeOptions& options, const StyleObjective& objective, const torch::Tensor& previous) {
  if (!previous.defined()) return initial_variable(options.init(), objective).detach().clone().requires_grad_(true);
  namespace F = torch::nn::functional;
  const auto upsampled = F::interpolate(previous.detach(), F::InterpolateFuncOptions()
                                                               .size(std::vector<int64_t>{objective.height(), objective.width()})
                                                               .mode(torch::kBicubic)
                                                               .align_corners(false));
  return upsampled.detach().clone().requires_grad_(true);
}

// Optimizes one level from `x`, recording every iteration (and the start) through `record`;
// returns the loss+gradient evaluations it used. `record` returns false to stop.
int64_t optimize_level(const OptimizeOptions& options, int64_t iterations, StyleObjective& objective, torch::Tensor& x,
                       int64_t& iteration, const std::function<bool(const MemoizedObjective&)>& record,
                       std::map<std::string, double>& final_loss) {
  auto optimizer = make_optimizer(options, x);
  MemoizedObjective evaluate(objective, x, options.clamp());
  const bool lbfgs = options.optimizer() == OptimizerKind::lbfgs;
  try {
    evaluate();
    bool go_on = record(evaluate);
    for (int64_t i = 0; i < iterations && go_on; ++i) {
      auto& group_options = optimizer->param_groups()[0].options();
      const double lr = group_options.get_lr();
      if (i == 0 && lbfgs) group_options.set_lr(first_lbfgs_step_lr(lr, evaluate.gradient()));
      optimizer->step([&] { return evaluate(); });
      group_options.set_lr(lr);
      ++iteration;
      evaluate();
      go_on = record(evaluate);
    }
  } catch (const std::runtime_error& e) {
    const std::string name = kOptimizerChoices.name(options.optimizer());
    throw std::runtime_error(std::string(e.what()) + " at iteration " + std::to_string(iteration) + " (try a smaller optimize." +
                             name + ".lr" + (lbfgs ? " or optimize.lbfgs.line_search=strong_wolfe)" : ")"));
  }
  final_loss = evaluate.values();
  return evaluate.evaluations();
}

}  // namespace

OptimizeResult optimize_image(const OptimizeOptions& options, const torch::Tensor& content,
                              const std::vector<torch::Tensor>& styles, const IterationCallback& on_iteration) {
  const auto levels = schedule_for(options, content.size(1), content.size(2));
  StyleObjective objective(options.objective(), styles);
  OptimizeResult result;
  const auto start = std::chrono::steady_clock::now();
  int64_t iteration = 0, evaluations_before_level = 0;
  torch::Tensor x;
  for (size_t level = 0; level < levels.size() && !result.stopped_early; ++level) {
    const auto [h, w] = fit_longest_side(content.size(1), content.size(2), levels[level].size);
    objective.prepare(content, h, w);
    x = level_start(options, objective, x);
    auto record = [&, h = h, w = w](const MemoizedObjective& evaluate) {
      IterationRecord r;
      r.iteration = iteration;
      r.level = static_cast<int64_t>(level);
      r.height = h, r.width = w;
      r.evaluations = evaluations_before_level + evaluate.evaluations();
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      r.losses = evaluate.values();
      result.curve.push_back(r);
      if (on_iteration && !on_iteration(r, [&] { return quantize(objective.to_rgb(x)); })) result.stopped_early = true;
      return !result.stopped_early;
    };
    evaluations_before_level +=
        optimize_level(options, levels[level].iterations, objective, x, iteration, record, result.final_loss);
  }
  result.image = quantize(objective.to_rgb(x));
  result.written_loss = loss_values(objective.score(result.image));
  return result;
}

}  // namespace nst
