// The loss definition every tool reads from the same config keys (loss_network.*, loss.*,
// style.weights): one reader, one loss-network factory. A new loss key is a field here and a line
// in loss_options_from.
#pragma once
#include <torch/torch.h>

#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "losses/perceptual_loss.h"
#include "nets/loss_network.h"

namespace nst {

// Filled by loss_options_from (the defaults are each tool's YAML document).
struct LossOptions {
  TORCH_ARG(LossNetworkKind, network) = LossNetworkKind::vgg16;  // loss_network.name
  TORCH_ARG(std::string, weights_file);          // loss_network.weights: safetensors file, or "random" (tests only)
  TORCH_ARG(LossWeights, weights);               // loss.content.*, loss.style.*, loss.tv.weight
  TORCH_ARG(std::vector<double>, style_blend);   // style.weights: one per style image; empty = equal
};

// The keys that are layer -> weight maps (loss.content.layers, loss.style.layers).
std::set<std::string> loss_weight_maps();

// Reads and checks the keys above (an unknown network name is an error here; the layer names and
// weights are checked against the network by PerceptualLoss).
LossOptions loss_options_from(const Config& config);

// The configured loss network on `device`, frozen, in eval mode. Seeds torch with `seed` first, so
// "random" weights (and everything drawn after) repeat. A missing or unset weights file is an error
// that says where ImageNet weights come from (scripts/convert_torchvision_weights.py).
LossNetwork make_loss_network(const LossOptions& options, uint64_t seed, torch::Device device);

// style_blend for `style_count` images: equal weights when none are given; a count mismatch is an
// error (the values are PerceptualLoss::set_style_targets's to check).
std::vector<double> style_blend_for(const LossOptions& options, size_t style_count);

}  // namespace nst
