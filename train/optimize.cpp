#include "train/optimize.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "data/image_io.h"
#include "nets/runtime.h"

namespace fs = std::filesystem;

namespace nst {

// ---------------------------------------------------------------------------------------------
// Config schema. Comments in the YAML are the documentation `--print-config` shows.

std::string loss_defaults_yaml() {
  return R"(# Loss definition (shared by nst-optimize and nst-eval).
seed: 0               # seeds random loss-net weights ("random") and noise initialization
device: auto          # auto | cpu | cuda | cuda:N
threads: 0            # intra-op threads; 0 = all available cores
loss_network:
  name: vgg19         # vgg19 | vgg16 | squeezenet1_1
  weights: null       # safetensors file (see scripts/convert_torchvision_weights.py), or "random" (tests only)
loss:                 # Gatys et al.'s VGG19 layers; style:content 1e6:1 as in PyTorch's neural style tutorial
  content:
    layers: {relu4_2: 1.0}  # layer -> weight
    weight: 1.0
  style:
    layers: {relu1_1: 1.0, relu2_1: 1.0, relu3_1: 1.0, relu4_1: 1.0, relu5_1: 1.0}
    weight: 1.0e6
  tv:
    weight: 0.0
style:
  weights: []         # blend weights of the --style images (default equal), normalized to sum 1
  scale: 1.0          # style images are resized to scale x the stylized image's longest side
preserve_color: false # luminance-only transfer: score and optimize luminance, keep the content's colours
)";
}

std::set<std::string> loss_weight_maps() { return {"loss.content.layers", "loss.style.layers"}; }

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

// ---------------------------------------------------------------------------------------------
// Loss network and weights.

namespace {

std::string how_to_get_weights(const std::string& name) {
  if (name == "squeezenet1_1")
    return "use ../shared/weights/squeezenet1_1_imagenet_features.safetensors, or convert torchvision's: "
           "/usr/bin/python3 scripts/convert_torchvision_weights.py --download squeezenet1_1 squeezenet1_1.safetensors";
  return "get torchvision's ImageNet weights and convert them: /usr/bin/python3 scripts/convert_torchvision_weights.py "
         "--download " + name + " " + name + ".safetensors (or pass a downloaded " +
         (name == "vgg16" ? "vgg16-397923af.pth" : "vgg19-dcbb9e9d.pth") + " instead of --download " + name + ")";
}

}  // namespace

LossNetwork make_loss_network(const Config& config, torch::Device device) {
  const std::string name = config.get_string("loss_network.name");
  const auto& names = loss_network_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw std::runtime_error("loss_network.name '" + name + "' is unknown (expected vgg19, vgg16 or squeezenet1_1)");
  std::string weights = config.get_string("loss_network.weights");
  if (weights.empty())
    throw std::runtime_error("loss_network.weights is not set: " + name + " needs ImageNet weights (" +
                             how_to_get_weights(name) + ")");
  if (weights == "random") {
    weights.clear();  // LossNetwork's convention for random weights
    torch::manual_seed(static_cast<uint64_t>(config.get_int("seed")));
  } else if (!fs::is_regular_file(weights)) {
    throw std::runtime_error(weights + ": loss network weights not found (loss_network.weights); " +
                             how_to_get_weights(name));
  }
  LossNetwork net(name, weights);
  net->to(device);
  net->eval();
  for (auto& parameter : net->parameters()) parameter.requires_grad_(false);
  return net;
}

LossWeights loss_weights_from(const Config& config) {
  // Validation (negative weights, all zero, unknown layers) is PerceptualLoss's.
  LossWeights weights;
  weights.content_layers = config.get_weights("loss.content.layers");
  weights.style_layers = config.get_weights("loss.style.layers");
  weights.content_weight = config.get_double("loss.content.weight");
  weights.style_weight = config.get_double("loss.style.weight");
  weights.tv_weight = config.get_double("loss.tv.weight");
  return weights;
}

std::vector<double> style_blend_from(const Config& config, size_t style_count) {
  if (style_count == 0) throw std::runtime_error("no style image given (--style IMG)");
  std::vector<double> blend = config.get_doubles("style.weights");
  if (blend.empty()) blend.assign(style_count, 1.0);
  if (blend.size() != style_count)
    throw std::runtime_error("style.weights has " + std::to_string(blend.size()) + " entries for " +
                             std::to_string(style_count) + " style image(s)");
  return blend;  // PerceptualLoss::set_style_targets checks the values
}

// ---------------------------------------------------------------------------------------------
// Images.

std::pair<int64_t, int64_t> fit_longest_side(int64_t height, int64_t width, int64_t longest) {
  if (height <= 0 || width <= 0 || longest <= 0) throw std::runtime_error("fit_longest_side: sizes must be positive");
  const double scale = static_cast<double>(longest) / static_cast<double>(std::max(height, width));
  return {std::max<int64_t>(1, std::llround(height * scale)), std::max<int64_t>(1, std::llround(width * scale))};
}

torch::Tensor resize_image(const torch::Tensor& rgb, int64_t height, int64_t width) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "resize_image expects [3,H,W], got ", rgb.sizes());
  if (rgb.size(1) == height && rgb.size(2) == width) return rgb;
  auto hwc = rgb.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0}).contiguous();
  cv::Mat source(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3, hwc.data_ptr<float>());
  cv::Mat resized;
  const bool shrink = height * width < rgb.size(1) * rgb.size(2);
  cv::resize(source, resized, cv::Size(static_cast<int>(width), static_cast<int>(height)), 0, 0,
             shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  auto chw = torch::from_blob(resized.data, {height, width, 3}, torch::kFloat32).permute({2, 0, 1}).clone();
  return chw.clamp(0, 255).to(rgb.device());  // bicubic overshoots
}

std::map<std::string, double> loss_values(const LossTerms& terms) {
  auto value = [](const torch::Tensor& t) { return t.defined() ? t.item<double>() : 0.0; };
  std::map<std::string, double> values{
      {"total", value(terms.total)}, {"content", value(terms.content)}, {"style", value(terms.style)}, {"tv", value(terms.tv)}};
  for (const auto& [layer, t] : terms.content_per_layer) values["content_" + layer] = value(t);
  for (const auto& [layer, t] : terms.style_per_layer) values["style_" + layer] = value(t);
  return values;
}

// ---------------------------------------------------------------------------------------------
// StyleObjective.

StyleObjective::StyleObjective(LossNetwork net, LossWeights weights, std::vector<torch::Tensor> styles,
                               std::vector<double> blend, double style_scale, bool preserve_color, torch::Device device)
    : loss_(std::move(net), std::move(weights)),
      styles_(std::move(styles)),
      blend_(std::move(blend)),
      style_scale_(style_scale),
      preserve_color_(preserve_color),
      device_(device) {
  if (!(style_scale_ > 0) || !std::isfinite(style_scale_))
    throw std::runtime_error("style.scale must be a positive number");
  if (styles_.empty()) throw std::runtime_error("no style image given (--style IMG)");
}

torch::Tensor StyleObjective::network_input(const torch::Tensor& variable) const {
  return variable.size(1) == 1 ? variable.expand({variable.size(0), 3, variable.size(2), variable.size(3)}) : variable;
}

torch::Tensor StyleObjective::to_variable(const torch::Tensor& rgb) const {
  auto image = rgb.to(device_, torch::kFloat32);
  return (preserve_color_ ? luminance(image) : image).unsqueeze(0).contiguous();
}

torch::Tensor StyleObjective::to_rgb(const torch::Tensor& variable) const {
  auto image = variable.detach()[0];
  return preserve_color_ ? with_luminance(content_, image) : image;
}

void StyleObjective::prepare(const torch::Tensor& content_rgb, int64_t height, int64_t width) {
  torch::NoGradGuard no_grad;
  content_ = resize_image(content_rgb, height, width).to(device_, torch::kFloat32);
  const std::string size_text = std::to_string(height) + "x" + std::to_string(width);
  try {
    content_targets_ = loss_.content_targets(network_input(to_variable(content_)));
    const int64_t side = std::max<int64_t>(1, std::llround(style_scale_ * std::max(height, width)));
    if (side == style_side_ && !preserve_color_) return;  // luminance matching depends on the content
    std::vector<torch::Tensor> inputs;
    for (const auto& style : styles_) {
      const auto [h, w] = fit_longest_side(style.size(1), style.size(2), side);
      auto image = resize_image(style, h, w).to(device_, torch::kFloat32);
      if (preserve_color_) {
        // Match the style's luminance statistics to the content's (Gatys et al. 2016, section 2.2).
        auto y = luminance(image), content_y = luminance(content_);
        y = (y - y.mean()) / (y.std() + 1e-6) * content_y.std() + content_y.mean();
        image = y.expand({3, h, w});
      }
      inputs.push_back(image);
    }
    loss_.set_style_targets(inputs, blend_);
    style_side_ = side;
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    throw std::runtime_error("cannot compute the loss at " + size_text + " (too small for the loss network's layers?): " +
                             message.substr(0, message.find('\n')));
  }
}

LossTerms StyleObjective::loss(const torch::Tensor& variable) {
  return loss_.compute(network_input(variable), content_targets_);
}

LossTerms StyleObjective::score(const torch::Tensor& rgb) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(1) == height() && rgb.size(2) == width(), "score: image of size ", rgb.sizes(),
              " but the objective was prepared for ", height(), "x", width());
  return loss(to_variable(rgb));
}

// ---------------------------------------------------------------------------------------------
// The optimizer.

std::vector<OptimizeLevel> schedule_from(const Config& config, int64_t content_height, int64_t content_width) {
  int64_t output_size = config.get_int("output.size");
  if (output_size < 0) throw std::runtime_error("output.size must be >= 0 (0 = the content image's size)");
  if (output_size == 0) output_size = std::max(content_height, content_width);
  constexpr int64_t kMaxSide = 16384;
  auto check_size = [&](const std::string& key, int64_t size) {
    if (size < 16 || size > kMaxSide)
      throw std::runtime_error(key + " " + std::to_string(size) + " is impossible (longest side must be 16.." +
                               std::to_string(kMaxSide) + " pixels)");
  };
  check_size("output.size", output_size);
  std::vector<double> sizes = config.get_doubles("optimize.schedule.sizes");
  std::vector<double> iterations = config.get_doubles("optimize.schedule.iterations");
  std::vector<OptimizeLevel> levels;
  if (sizes.empty() && iterations.empty()) {
    const int64_t n = config.get_int("optimize.iterations");
    if (n < 0) throw std::runtime_error("optimize.iterations must be >= 0");
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

torch::Tensor initial_variable(const std::string& init, StyleObjective& objective) {
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

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& config, const torch::Tensor& x) {
  if (config.get_string("optimize.optimizer") == "adam")
    return std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{x},
                                                torch::optim::AdamOptions(config.get_double("optimize.adam.lr")));
  auto options = torch::optim::LBFGSOptions(config.get_double("optimize.lbfgs.lr"))
                     .max_iter(1)  // one iteration per step(): progress, curve and snapshots per iteration
                     .max_eval(1000)
                     .history_size(config.get_int("optimize.lbfgs.history_size"));
  if (config.get_string("optimize.lbfgs.line_search") == "strong_wolfe") options.line_search_fn("strong_wolfe");
  return std::make_unique<torch::optim::LBFGS>(std::vector<torch::Tensor>{x}, options);
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

}  // namespace

OptimizeResult optimize_image(const Config& config, const torch::Tensor& content, const std::vector<torch::Tensor>& styles,
                              const IterationCallback& on_iteration) {
  const torch::Device device = pick_device(config.get_string("device"));
  const auto levels = schedule_from(config, content.size(1), content.size(2));
  const std::string optimizer_name = config.get_string("optimize.optimizer");
  if (optimizer_name != "lbfgs" && optimizer_name != "adam")
    throw std::runtime_error("optimize.optimizer '" + optimizer_name + "' is unknown (expected lbfgs or adam)");
  const std::string line_search = config.get_string("optimize.lbfgs.line_search");
  if (line_search != "strong_wolfe" && line_search != "none")
    throw std::runtime_error("optimize.lbfgs.line_search '" + line_search + "' is unknown (expected strong_wolfe or none)");
  const std::string init = config.get_string("optimize.init");
  const bool clamp = config.get_bool("optimize.clamp");
  const LossWeights weights = loss_weights_from(config);
  const std::vector<double> blend = style_blend_from(config, styles.size());

  torch::manual_seed(static_cast<uint64_t>(config.get_int("seed")));
  LossNetwork net = make_loss_network(config, device);
  StyleObjective objective(net, weights, styles, blend, config.get_double("style.scale"),
                           config.get_bool("preserve_color"), device);

  OptimizeResult result;
  const auto start = std::chrono::steady_clock::now();
  int64_t iteration = 0, evaluations_before_level = 0;
  torch::Tensor x;
  for (size_t level = 0; level < levels.size() && !result.stopped_early; ++level) {
    const auto [h, w] = fit_longest_side(content.size(1), content.size(2), levels[level].size);
    objective.prepare(content, h, w);
    if (level == 0) {
      x = initial_variable(init, objective);
    } else {
      namespace F = torch::nn::functional;
      x = F::interpolate(x.detach(), F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{h, w})
                                         .mode(torch::kBicubic)
                                         .align_corners(false));
    }
    x = x.detach().clone().requires_grad_(true);

    auto optimizer = make_optimizer(config, x);
    MemoizedObjective evaluate(objective, x, clamp);
    auto record = [&]() {
      IterationRecord r;
      r.iteration = iteration;
      r.level = static_cast<int64_t>(level);
      r.height = h, r.width = w;
      r.evaluations = evaluations_before_level + evaluate.evaluations();
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      r.losses = evaluate.values();
      result.curve.push_back(r);
      if (on_iteration && !on_iteration(r, [&] { return quantize(objective.to_rgb(x)); })) result.stopped_early = true;
    };

    try {
      evaluate();
      record();
      for (int64_t i = 0; i < levels[level].iterations && !result.stopped_early; ++i) {
        auto& options = optimizer->param_groups()[0].options();
        const double lr = options.get_lr();
        if (i == 0 && optimizer_name == "lbfgs") options.set_lr(first_lbfgs_step_lr(lr, evaluate.gradient()));
        optimizer->step([&] { return evaluate(); });
        options.set_lr(lr);
        ++iteration;
        evaluate();
        record();
      }
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) + " at iteration " + std::to_string(iteration) +
                               " (try a smaller optimize." + optimizer_name + ".lr" +
                               (optimizer_name == "lbfgs" ? " or optimize.lbfgs.line_search=strong_wolfe)" : ")"));
    }
    evaluations_before_level += evaluate.evaluations();
    result.final_loss = evaluate.values();
  }

  result.image = quantize(objective.to_rgb(x));
  result.written_loss = loss_values(objective.score(result.image));
  return result;
}

}  // namespace nst
