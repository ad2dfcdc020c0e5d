// Gatys et al. (2015/16) neural style by image optimization (nst-optimize), and the loss set-up it
// shares with nst-eval: the loss part of the config schema, the loss network and weights from a
// config, resizing rules, luminance-only ("preserve colour") transfer, and StyleObjective, the one
// definition of "the loss of a stylized image" that the optimizer minimizes and nst-eval reports.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "data/image_io.h"  // luminance, with_luminance
#include "losses/perceptual_loss.h"
#include "nets/loss_network.h"
#include "train/config.h"

namespace nst {

// ---------------------------------------------------------------------------------------------
// Shared with nst-eval.

// YAML defaults of the loss definition (seed, device, threads, loss_network.*, loss.*, style.weights,
// style.scale, preserve_color). Both tools' schemas start with it, so one config file scores the same.
std::string loss_defaults_yaml();
std::set<std::string> loss_weight_maps();  // loss.content.layers, loss.style.layers

// The configured loss network on `device`. loss_network.weights: a safetensors file, or "random"
// (random weights from `seed`, for tests and benchmarks). A missing file is an error that says where
// ImageNet weights come from (scripts/convert_torchvision_weights.py).
LossNetwork make_loss_network(const Config& config, torch::Device device);

// loss.* of the config (PerceptualLoss validates them).
LossWeights loss_weights_from(const Config& config);

// Height and width with the longest side scaled to `longest`, aspect ratio kept (each side >= 1).
std::pair<int64_t, int64_t> fit_longest_side(int64_t height, int64_t width, int64_t longest);

// [3,H,W] float -> [3,height,width] (area interpolation to shrink, bicubic to enlarge; identity when
// the size already matches). Both tools resize the content and style images with this.
torch::Tensor resize_image(const torch::Tensor& rgb, int64_t height, int64_t width);

// Losses as plain numbers: total, content, style, tv, and content_LAYER / style_LAYER (weighted,
// before the global weight, as in LossTerms), named as in nst-train's log.jsonl.
std::map<std::string, double> loss_values(const LossTerms& terms);

// The loss of images of one size against one content image and the (blended) style targets.
// With preserve_color, everything is scored on luminance only (Gatys et al. 2016, "Preserving
// colour in neural artistic style transfer"): the network sees Y replicated to three channels and
// the style's luminance is matched to the content's mean and standard deviation.
class StyleObjective {
 public:
  StyleObjective(LossNetwork net, LossWeights weights, std::vector<torch::Tensor> styles, std::vector<double> blend,
                 double style_scale, bool preserve_color, torch::Device device);

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

  PerceptualLoss loss_;
  std::vector<torch::Tensor> styles_;
  std::vector<double> blend_;
  double style_scale_;
  bool preserve_color_;
  torch::Device device_;
  torch::Tensor content_;
  std::map<std::string, torch::Tensor> content_targets_;
  int64_t style_side_ = -1;  // longest side the style targets were computed at
};

// Style images and their blend weights (style.weights; empty = equal), validated against the count.
std::vector<double> style_blend_from(const Config& config, size_t style_count);

// ---------------------------------------------------------------------------------------------
// nst-optimize.

// The complete default config of nst-optimize (loss_defaults_yaml() + output.* + optimize.*).
std::string optimize_defaults_yaml();

struct OptimizeLevel {
  int64_t size;        // longest side
  int64_t iterations;
};
// optimize.schedule (coarse to fine, last size = output.size) or one level at output.size;
// output.size 0 means the content image's longest side.
std::vector<OptimizeLevel> schedule_from(const Config& config, int64_t content_height, int64_t content_width);

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
OptimizeResult optimize_image(const Config& config, const torch::Tensor& content, const std::vector<torch::Tensor>& styles,
                              const IterationCallback& on_iteration = {});

// Where snapshot N of `output` goes: DIR/STEM.iterNNNN.EXT (DIR = output.snapshot_dir or the output's folder).
std::string snapshot_path(const std::string& output, const std::string& snapshot_dir, int64_t iteration);

}  // namespace nst
