// Perceptual losses of Johnson et al. / Gatys et al. on a frozen loss network: content loss (MSE of
// features), style loss (MSE of Gram matrices normalized by C*H*W), total variation; per-layer
// weights and global weights. Style targets (one image or a weighted blend of several) are Gram
// matrices computed once. Definitions with formulas: docs/loss-networks.md.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "core/choices.h"
#include "nets/loss_network.h"

namespace nst {

// features [N,C,H,W] -> [N,C,C] = F F^T / (C*H*W), computed in float32 (also under autocast).
torch::Tensor gram_matrix(const torch::Tensor& features);

// Mean squared difference between horizontally and vertically neighbouring pixels (sum of both means),
// on the 0..255 scale divided by 255 so weights are resolution- and scale-independent:
//   tv(x) = mean_{n,c,i,j} ((x[i+1,j]-x[i,j])/255)^2 + mean_{n,c,i,j} ((x[i,j+1]-x[i,j])/255)^2
// for images [N,C,H,W] (or [C,H,W]) in 0..255; a scalar (float32).
torch::Tensor total_variation(const torch::Tensor& images);

// loss.style.normalize. Gram magnitudes fall by orders of magnitude from the first loss-network
// layer to the last, so equal layer weights would only ever match the finest texture. `automatic`
// divides each layer's term by the mean square of its style target, sum(T^2)/C^2: every layer then
// scores the relative error |G - T|^2 / |T|^2, about 0.5-1 for an unstyled photo at every depth,
// for any style image and any loss network, and the layer weights say what share each scale gets.
enum class StyleNormalize { none, automatic };
inline const Choices<StyleNormalize> kStyleNormalizeChoices{{"none", StyleNormalize::none},
                                                            {"auto", StyleNormalize::automatic}};

struct LossWeights {
  std::map<std::string, double> content_layers;  // layer -> weight
  std::map<std::string, double> style_layers;    // layer -> weight
  double content_weight = 1.0;
  double style_weight = 1.0;
  double tv_weight = 0.0;
  StyleNormalize style_normalize = StyleNormalize::none;
};

struct LossTerms {
  torch::Tensor total, content, style, tv;  // weighted scalars (content/style/tv include their global weights)
  torch::Tensor temporal;                   // nst-train's loss.temporal term (losses/temporal_loss.h), when on
  std::map<std::string, torch::Tensor> content_per_layer, style_per_layer;  // weighted, before global weight
};

// Losses as plain numbers: total, content, style, tv, and content_LAYER / style_LAYER (weighted,
// before the global weight, as in LossTerms); nst-train's log.jsonl, nst-optimize's curve and
// nst-eval's scores use these names. Undefined terms are 0; "temporal" is listed only when defined.
std::map<std::string, double> loss_values(const LossTerms& terms);

class PerceptualLoss {
 public:
  // Checks layer names against the net (unknown -> error listing the valid ones) and the weights
  // (negative, or all zero, or a global weight > 0 with no layers -> error). Layers of weight 0, and
  // the layers of a term whose global weight is 0, are not computed.
  PerceptualLoss(LossNetwork net, LossWeights weights);

  // Style images are RGB 0..255 [3,H,W] or [1,3,H,W] (used at the size given); blend weights must be
  // positive, one per image, and are normalized to sum 1. Each image's Gram matrices are computed
  // once, without gradient, and blended into one [1,C,C] target per style layer (and, with
  // StyleNormalize::automatic, each layer's scale 1 / mean(target^2) is taken from the blend).
  void set_style_targets(const std::vector<torch::Tensor>& style_images, const std::vector<double>& blend_weights);

  // Content features of `content` (no gradient) for reuse across many calls (e.g. optimization).
  // Batch 1 targets are broadcast over the batch of `output` in compute().
  std::map<std::string, torch::Tensor> content_targets(const torch::Tensor& content);

  // Loss of `output` [N,3,H,W] against content targets (features of the content batch) and the
  // style targets set before. One forward pass through the loss network for all layers.
  LossTerms compute(const torch::Tensor& output, const std::map<std::string, torch::Tensor>& content_targets);

  const LossWeights& weights() const { return weights_; }
  LossNetwork& net() { return net_; }
  const std::map<std::string, torch::Tensor>& style_grams() const { return style_grams_; }  // [1,C,C] per layer
  // The weight each style layer's MSE is multiplied by before the global style weight: the layer
  // weight, times the normalization scale (1 without normalization). Valid after set_style_targets.
  const std::map<std::string, double>& effective_style_weights() const { return effective_style_weights_; }

 private:
  LossNetwork net_;
  LossWeights weights_;
  std::vector<std::string> content_taps_, style_taps_, taps_;  // active layers (weight > 0); taps_ = union
  std::map<std::string, torch::Tensor> style_grams_;  // [1,C,C]
  std::map<std::string, double> effective_style_weights_;  // layer weight x (1, or 1 / mean(target^2) when auto)
};

}  // namespace nst
