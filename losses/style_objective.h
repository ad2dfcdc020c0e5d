// "The loss of a stylized image" as nst-optimize minimizes it and nst-eval reports it: the config
// schema part both tools share (so one config file scores the same in both), its typed options,
// and StyleObjective, which scores images of one size against one content image and the
// (blended) style targets.
#pragma once
#include <torch/torch.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/precision.h"
#include "losses/loss_options.h"
#include "losses/perceptual_loss.h"

namespace nst {

// YAML defaults of the loss definition (seed, device, threads, loss_network.*, loss.*, style.weights,
// style.scale, preserve_color). nst-optimize's and nst-eval's schemas start with it.
std::string loss_defaults_yaml();

// Filled by objective_options_from (the defaults are loss_defaults_yaml()).
struct ObjectiveOptions {
  TORCH_ARG(LossOptions, loss);
  TORCH_ARG(double, style_scale) = 1.0;     // style.scale: style images at scale x the scored image's longest side
  TORCH_ARG(bool, preserve_color) = false;  // preserve_color
  TORCH_ARG(uint64_t, seed) = 0;            // seed
  TORCH_ARG(std::string, device) = "auto";  // device
  TORCH_ARG(int64_t, threads) = 0;          // threads (the tool configures them)
  // precision: the loss network's passes in fp32 or under bf16 autocast (Gram matrices and losses
  // stay fp32); nullopt = auto, which the tools resolve with resolve_objective_precision (fp32 if not).
  TORCH_ARG(std::optional<Precision>, precision) = std::nullopt;
};
ObjectiveOptions objective_options_from(const Config& config);

// With preserve_color, everything is scored on luminance only (Gatys et al. 2016, "Preserving
// colour in neural artistic style transfer"): the network sees Y replicated to three channels and
// the style's luminance is matched to the content's mean and standard deviation.
class StyleObjective {
 public:
  // Builds the loss network on options.device; styles are RGB [3,H,W] 0..255.
  StyleObjective(const ObjectiveOptions& options, std::vector<torch::Tensor> styles);

  // Resizes the content to height x width, computes its targets, and (if the size changed) the style
  // Gram targets from the style images resized to style_scale x the longest side.
  void prepare(const torch::Tensor& content_rgb, int64_t height, int64_t width);

  // The optimized variable for an RGB image [3,h,w]: [1,3,h,w] RGB, or [1,1,h,w] luminance when
  // preserving colour; and back to RGB [3,h,w] (the content's colours when preserving colour).
  torch::Tensor to_variable(const torch::Tensor& rgb) const;
  torch::Tensor to_rgb(const torch::Tensor& variable) const;

  LossTerms loss(const torch::Tensor& variable);  // differentiable in `variable`
  LossTerms score(const torch::Tensor& rgb);      // of an RGB image [3,h,w] 0..255, no gradient

  const torch::Tensor& content() const { return content_; }  // [3,h,w] resized, on the device
  int64_t height() const { return content_.size(1); }
  int64_t width() const { return content_.size(2); }
  bool preserve_color() const { return preserve_color_; }
  torch::Device device() const { return device_; }

 private:
  torch::Tensor network_input(const torch::Tensor& variable) const;

  torch::Device device_;
  Precision precision_;
  PerceptualLoss loss_;
  std::vector<torch::Tensor> styles_;
  std::vector<double> blend_;
  double style_scale_;
  bool preserve_color_;
  torch::Tensor content_;
  std::map<std::string, torch::Tensor> content_targets_;
  int64_t style_side_ = -1;  // longest side the style targets were computed at
};

// precision: auto -> the faster of fp32 and bf16 for this loss network at about `longest_side` px
// (a loss+gradient evaluation timed at up to 256 px, once per machine, cached: data/precision_cache.h),
// reported as "TOOL: precision auto: ..."; an explicit precision is returned as it is.
Precision resolve_objective_precision(const ObjectiveOptions& options, const std::vector<torch::Tensor>& styles,
                                      const torch::Tensor& content, int64_t longest_side, const std::string& tool,
                                      std::ostream& report);

}  // namespace nst
