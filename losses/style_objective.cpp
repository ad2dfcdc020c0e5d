#include "losses/style_objective.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>

#include <torch/cuda.h>

#include "core/errors.h"
#include "core/runtime.h"
#include "data/image_io.h"
#include "data/precision_cache.h"

namespace nst {

std::string loss_defaults_yaml() {
  return R"(# Loss definition (shared by nst-optimize and nst-eval).
seed: 0               # seeds random loss-net weights ("random") and noise initialization
device: auto          # auto | cpu | cuda | cuda:N
threads: 0            # intra-op threads; 0 = all available cores
precision: auto       # auto | fp32 | bf16 (autocast of the loss network; auto = the faster here, timed once)
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
    normalize: none   # none | auto: divide each layer by its style target's mean square
  tv:
    weight: 0.0
style:
  weights: []         # blend weights of the --style images (default equal), normalized to sum 1
  scale: 1.0          # style images are resized to scale x the stylized image's longest side
preserve_color: false # luminance-only transfer: score and optimize luminance, keep the content's colours
)";
}

ObjectiveOptions objective_options_from(const Config& config) {
  ObjectiveOptions options;
  options.loss(loss_options_from(config));
  options.style_scale(config.get_double("style.scale"));
  if (!(options.style_scale() > 0) || !std::isfinite(options.style_scale()))
    throw std::runtime_error("style.scale must be a positive number");
  options.preserve_color(config.get_bool("preserve_color"));
  options.seed(static_cast<uint64_t>(config.get_int("seed")));
  options.device(config.get_string("device"));
  options.threads(config.get_int("threads"));
  options.precision(kPrecisionSettingChoices.parse(config.get_string("precision"), "precision"));
  return options;
}

StyleObjective::StyleObjective(const ObjectiveOptions& options, std::vector<torch::Tensor> styles)
    : device_(pick_device(options.device())),
      precision_(options.precision().value_or(Precision::fp32)),
      loss_(make_loss_network(options.loss(), options.seed(), device_), options.loss().weights()),
      styles_(std::move(styles)),
      blend_(style_blend_for(options.loss(), styles_.size())),
      style_scale_(options.style_scale()),
      preserve_color_(options.preserve_color()) {}

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
  AutocastScope autocast(precision_, device_);
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
    throw std::runtime_error("cannot compute the loss at " + size_text + " (too small for the loss network's layers?): " +
                             torch_error_message(e));
  }
}

LossTerms StyleObjective::loss(const torch::Tensor& variable) {
  AutocastScope autocast(precision_, device_);
  return loss_.compute(network_input(variable), content_targets_);
}

LossTerms StyleObjective::score(const torch::Tensor& rgb) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(1) == height() && rgb.size(2) == width(), "score: image of size ", rgb.sizes(),
              " but the objective was prepared for ", height(), "x", width());
  return loss(to_variable(rgb));
}

Precision resolve_objective_precision(const ObjectiveOptions& options, const std::vector<torch::Tensor>& styles,
                                      const torch::Tensor& content, int64_t longest_side, const std::string& tool,
                                      std::ostream& report) {
  if (options.precision()) return *options.precision();
  const int64_t side = std::min<int64_t>(longest_side, 256);
  // Not a structured binding: the lambda below captures them (C++20; clang 14 builds the fuzzers).
  const auto size = fit_longest_side(content.size(1), content.size(2), side);
  const int64_t height = size.first, width = size.second;
  ObjectiveOptions trial = options;
  std::map<Precision, std::unique_ptr<StyleObjective>> objectives;  // autocast is fixed per objective
  auto time_run = [&](Precision precision) {
    auto& objective = objectives[precision];
    if (!objective) {
      objective = std::make_unique<StyleObjective>(trial.precision(precision), styles);
      objective->prepare(content, height, width);
    }
    auto variable = objective->to_variable(objective->content()).requires_grad_(true);
    const auto start = std::chrono::steady_clock::now();
    objective->loss(variable).total.backward();
    if (objective->device().is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const std::string workload = tool + " loss network " + kLossNetworkChoices.name(options.loss().network()) +
                               (options.preserve_color() ? " (luminance)" : "") + " at ~" +
                               std::to_string(size_class(longest_side)) + " px";
  return choose_precision(tool, "precision", workload, pick_device(options.device()), time_run, report);
}

}  // namespace nst
