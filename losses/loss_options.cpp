#include "losses/loss_options.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace nst {
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

std::set<std::string> loss_weight_maps() { return {"loss.content.layers", "loss.style.layers"}; }

LossOptions loss_options_from(const Config& config) {
  LossOptions options;
  options.network(config.get_choice("loss_network.name", kLossNetworkChoices));
  options.weights_file(config.get_string("loss_network.weights"));
  LossWeights weights;
  weights.content_layers = config.get_weights("loss.content.layers");
  weights.style_layers = config.get_weights("loss.style.layers");
  weights.content_weight = config.get_double("loss.content.weight");
  weights.style_weight = config.get_double("loss.style.weight");
  weights.tv_weight = config.get_double("loss.tv.weight");
  weights.style_normalize = kStyleNormalizeChoices.parse(config.get_string("loss.style.normalize"), "loss.style.normalize");
  options.weights(weights);
  options.style_blend(config.get_doubles("style.weights"));
  return options;
}

LossNetwork make_loss_network(const LossOptions& options, uint64_t seed, torch::Device device) {
  const std::string name = kLossNetworkChoices.name(options.network());
  std::string weights = options.weights_file();
  if (weights.empty())
    throw std::runtime_error("loss_network.weights is not set: " + name + " needs ImageNet weights (" +
                             how_to_get_weights(name) + ")");
  if (weights == "random")
    weights.clear();  // LossNetwork's convention for random weights
  else if (!fs::is_regular_file(weights))
    throw path_error(weights, "loss network weights not found (loss_network.weights); " + how_to_get_weights(name));
  torch::manual_seed(seed);
  LossNetwork net(options.network(), weights);
  net->to(device);
  net->eval();
  for (auto& parameter : net->parameters()) parameter.requires_grad_(false);
  return net;
}

std::vector<double> style_blend_for(const LossOptions& options, size_t style_count) {
  if (style_count == 0) throw std::runtime_error("no style image given");
  std::vector<double> blend = options.style_blend();
  if (blend.empty()) blend.assign(style_count, 1.0);
  if (blend.size() != style_count)
    throw std::runtime_error("style.weights has " + std::to_string(blend.size()) + " entries for " +
                             std::to_string(style_count) + " style image(s)");
  return blend;
}

}  // namespace nst
