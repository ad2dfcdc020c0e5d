// Perceptual losses of Johnson et al. / Gatys et al. on a frozen loss network: content loss (MSE of
// features), style loss (MSE of Gram matrices normalized by C*H*W), total variation; per-layer
// weights and global weights. Style targets (one image or a weighted blend of several) are Gram
// matrices computed once.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "nets/loss_network.h"

namespace nst {

// features [N,C,H,W] -> [N,C,C] = F F^T / (C*H*W)
torch::Tensor gram_matrix(const torch::Tensor& features);

// Mean squared difference between horizontally and vertically neighbouring pixels (sum of both means),
// on the 0..255 scale divided by 255 so weights are resolution- and scale-independent.
torch::Tensor total_variation(const torch::Tensor& images);

struct LossWeights {
  std::map<std::string, double> content_layers;  // layer -> weight
  std::map<std::string, double> style_layers;    // layer -> weight
  double content_weight = 1.0;
  double style_weight = 1.0;
  double tv_weight = 0.0;
};

struct LossTerms {
  torch::Tensor total, content, style, tv;  // weighted scalars (content/style/tv include their global weights)
  std::map<std::string, torch::Tensor> content_per_layer, style_per_layer;  // weighted, before global weight
};

class PerceptualLoss {
 public:
  PerceptualLoss(LossNetwork net, LossWeights weights);  // checks layer names against the net

  // Style images are RGB 0..255 [3,H,W] or [1,3,H,W]; blend weights are normalized to sum 1.
  void set_style_targets(const std::vector<torch::Tensor>& style_images, const std::vector<double>& blend_weights);

  // Content features of `content` (no gradient) for reuse across many calls (e.g. optimization).
  std::map<std::string, torch::Tensor> content_targets(const torch::Tensor& content);

  // Loss of `output` [N,3,H,W] against content targets (features of the content batch) and the
  // style targets set before.
  LossTerms compute(const torch::Tensor& output, const std::map<std::string, torch::Tensor>& content_targets);

  const LossWeights& weights() const { return weights_; }
  LossNetwork& net() { return net_; }

 private:
  LossNetwork net_;
  LossWeights weights_;
  std::vector<std::string> taps_;
  std::map<std::string, torch::Tensor> style_grams_;  // [1,C,C]
};

}  // namespace nst
