#include "nets/loss_network.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "data/safetensors.h"
#include "nets/max_pool.h"

namespace nst {
namespace {

// One layer of torchvision's `features`; `tap` names the activation right after it.
struct LayerSpec {
  enum Kind { kConv, kRelu, kMaxPool, kFire } kind;
  int64_t in = 0, out = 0, kernel = 0, stride = 1, padding = 0;  // conv; maxpool uses kernel/stride
  int64_t squeeze = 0, expand = 0;                               // fire: expand1x1 == expand3x3 == expand
  std::string tap;
};

std::vector<LayerSpec> vgg_spec(const std::vector<int>& convs_per_block) {
  const int64_t widths[] = {64, 128, 256, 512, 512};
  std::vector<LayerSpec> layers;
  int64_t in = 3;
  for (size_t block = 0; block < convs_per_block.size(); ++block) {
    const std::string b = std::to_string(block + 1);
    for (int k = 1; k <= convs_per_block[block]; ++k) {
      const std::string suffix = b + "_" + std::to_string(k);
      layers.push_back({LayerSpec::kConv, in, widths[block], 3, 1, 1, 0, 0, "conv" + suffix});
      layers.push_back({LayerSpec::kRelu, 0, 0, 0, 1, 0, 0, 0, "relu" + suffix});
      in = widths[block];
    }
    layers.push_back({LayerSpec::kMaxPool, 0, 0, 2, 2, 0, 0, 0, "pool" + b});
  }
  return layers;
}

// torchvision squeezenet1_1().features; taps follow the SqueezeNet v1.1 Caffe names (conv1, fire2..fire9).
std::vector<LayerSpec> squeezenet1_1_spec() {
  std::vector<LayerSpec> layers;
  layers.push_back({LayerSpec::kConv, 3, 64, 3, 2, 0, 0, 0, "conv1"});
  layers.push_back({LayerSpec::kRelu, 0, 0, 0, 1, 0, 0, 0, "relu1"});
  auto pool = [&](const std::string& tap) { layers.push_back({LayerSpec::kMaxPool, 0, 0, 3, 2, 0, 0, 0, tap}); };
  auto fire = [&](int number, int64_t in, int64_t squeeze, int64_t expand) {
    layers.push_back({LayerSpec::kFire, in, 2 * expand, 0, 1, 0, squeeze, expand, "fire" + std::to_string(number)});
  };
  pool("pool1");
  fire(2, 64, 16, 64);
  fire(3, 128, 16, 64);
  pool("pool3");
  fire(4, 128, 32, 128);
  fire(5, 256, 32, 128);
  pool("pool5");
  fire(6, 256, 48, 192);
  fire(7, 384, 48, 192);
  fire(8, 384, 64, 256);
  fire(9, 512, 64, 256);
  return layers;
}

std::vector<LayerSpec> architecture(LossNetworkKind kind) {
  switch (kind) {
    case LossNetworkKind::vgg16: return vgg_spec({2, 2, 3, 3, 3});
    case LossNetworkKind::vgg19: return vgg_spec({2, 2, 4, 4, 4});
    case LossNetworkKind::squeezenet1_1: return squeezenet1_1_spec();
  }
  throw std::logic_error("unhandled LossNetworkKind");
}

// torchvision's Fire module (same submodule names, so tensor names match), with out-of-place ReLUs.
class FireImpl : public torch::nn::Module {
 public:
  FireImpl(int64_t in, int64_t squeeze, int64_t expand)
      : squeeze_(register_module("squeeze", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, squeeze, 1)))),
        expand1x1_(register_module("expand1x1", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze, expand, 1)))),
        expand3x3_(register_module("expand3x3",
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze, expand, 3).padding(1)))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = torch::relu(squeeze_(x));
    return torch::cat({torch::relu(expand1x1_(s)), torch::relu(expand3x3_(s))}, 1);
  }

 private:
  torch::nn::Conv2d squeeze_, expand1x1_, expand3x3_;
};
TORCH_MODULE(Fire);

std::vector<double> parse_triple(const std::string& path, const std::string& key, const std::string& text) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      values.push_back(std::stod(item, &used));
      if (item.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      values.clear();
      break;
    }
  }
  if (values.size() != 3)
    throw path_error(path, "__metadata__ '" + key + "' must be three comma-separated numbers, got '" + text + "'");
  return values;
}

}  // namespace

std::vector<std::string> loss_network_taps(LossNetworkKind kind) {
  std::vector<std::string> taps;
  for (const auto& layer : architecture(kind)) taps.push_back(layer.tap);
  return taps;
}

LossNetworkImpl::LossNetworkImpl(LossNetworkKind kind, const std::string& weights_path)
    : kind_(kind), name_(kLossNetworkChoices.name(kind)) {
  features_ = torch::nn::Sequential();
  const auto layers = architecture(kind);
  for (const auto& layer : layers) {
    switch (layer.kind) {
      case LayerSpec::kConv:
        features_->push_back(torch::nn::Conv2d(
            torch::nn::Conv2dOptions(layer.in, layer.out, layer.kernel).stride(layer.stride).padding(layer.padding)));
        break;
      case LayerSpec::kRelu:
        features_->push_back(torch::nn::ReLU());  // not in place: earlier taps keep their values
        break;
      case LayerSpec::kMaxPool:
        features_->push_back(MaxPool(layer.kernel, layer.stride, kind == LossNetworkKind::squeezenet1_1));
        break;
      case LayerSpec::kFire:
        features_->push_back(Fire(layer.in, layer.squeeze, layer.expand));
        break;
    }
    tap_after_layer_.emplace_back(layer.tap, static_cast<int64_t>(tap_names_.size()));
    tap_names_.push_back(layer.tap);
  }
  register_module("features", features_);
  scale_ = register_buffer("scale", torch::ones({1, 3, 1, 1}));
  shift_ = register_buffer("shift", torch::zeros({1, 3, 1, 1}));

  if (weights_path.empty()) {
    // Random weights for tests/benchmarks: Kaiming-normal (fan_in, ReLU) keeps activation scale with depth.
    torch::NoGradGuard no_grad;
    for (auto& item : named_parameters()) {
      const auto& key = item.key();
      auto& parameter = item.value();
      if (key.size() > 7 && key.compare(key.size() - 7, 7, ".weight") == 0)
        torch::nn::init::kaiming_normal_(parameter, 0.0, torch::kFanIn, torch::kReLU);
      else
        parameter.zero_();
    }
    preprocess_ = "torch_rgb_01";
    const double mean[] = {0.485, 0.456, 0.406}, std[] = {0.229, 0.224, 0.225};
    for (int c = 0; c < 3; ++c) {
      scale_[0][c].fill_(1.0 / (255.0 * std[c]));
      shift_[0][c].fill_(-mean[c] / std[c]);
    }
  } else {
    load_weights(weights_path);
  }
  for (auto& parameter : parameters()) parameter.set_requires_grad(false);
  eval();
}

void LossNetworkImpl::load_weights(const std::string& path) {
  auto file = read_safetensors(path);
  const auto preprocess = file.metadata.find("preprocess");
  if (preprocess == file.metadata.end())
    throw path_error(path, "no __metadata__ 'preprocess' (caffe_bgr_255 or torch_rgb_01) saying how to "
                             "normalize inputs; convert torchvision .pth files with scripts/convert_torchvision_weights.py");
  preprocess_ = preprocess->second;
  auto metadata = [&](const std::string& key, const std::string& fallback) {
    const auto it = file.metadata.find(key);
    if (it != file.metadata.end()) return it->second;
    if (fallback.empty()) throw path_error(path, "__metadata__ has preprocess '" + preprocess_ + "' but no '" + key + "'");
    return fallback;
  };
  torch::NoGradGuard no_grad;
  if (preprocess_ == "caffe_bgr_255") {
    const auto mean = parse_triple(path, "mean_bgr", metadata("mean_bgr", ""));
    bgr_ = true;
    for (int c = 0; c < 3; ++c) shift_[0][c].fill_(-mean[c]);
  } else if (preprocess_ == "torch_rgb_01") {
    const auto mean = parse_triple(path, "mean_rgb", metadata("mean_rgb", "0.485,0.456,0.406"));
    const auto std = parse_triple(path, "std_rgb", metadata("std_rgb", "0.229,0.224,0.225"));
    for (int c = 0; c < 3; ++c) {
      if (!(std[c] > 0)) throw path_error(path, "__metadata__ 'std_rgb' must be positive");
      scale_[0][c].fill_(1.0 / (255.0 * std[c]));
      shift_[0][c].fill_(-mean[c] / std[c]);
    }
  } else {
    throw path_error(path, "unknown __metadata__ preprocess '" + preprocess_ +
                             "' (expected caffe_bgr_255 or torch_rgb_01)");
  }

  auto parameters = named_parameters();
  for (const auto& [key, tensor] : file.tensors) {
    if (!parameters.contains(key))
      throw path_error(path, "unexpected tensor '" + key + "' (not part of " + name_ +
                               " features; is this the right network, or a file with the classifier?)");
  }
  for (auto& item : parameters) {
    const auto& key = item.key();
    auto& parameter = item.value();
    const auto found = file.tensors.find(key);
    if (found == file.tensors.end())
      throw path_error(path, "missing tensor '" + key + "' " + shape_text(parameter.sizes(), ",") + " for " + name_ +
                               " (is this a " + name_ + " weights file?)");
    const auto& tensor = found->second;
    if (!tensor.is_floating_point())
      throw path_error(path, "tensor '" + key + "' has integer dtype " + std::string(c10::toString(tensor.scalar_type())));
    if (tensor.sizes() != parameter.sizes())
      throw path_error(path, "tensor '" + key + "' has shape " + shape_text(tensor.sizes(), ",") + ", " + name_ +
                               " expects " + shape_text(parameter.sizes(), ","));
    parameter.copy_(tensor.to(torch::kFloat));
  }
}

void LossNetworkImpl::check_taps(const std::vector<std::string>& taps) const {
  for (const auto& tap : taps) {
    if (std::find(tap_names_.begin(), tap_names_.end(), tap) != tap_names_.end()) continue;
    std::string valid;
    for (const auto& n : tap_names_) valid += (valid.empty() ? "" : ", ") + n;
    throw std::runtime_error("unknown layer '" + tap + "' for loss network " + name_ + " (valid: " + valid + ")");
  }
}

torch::Tensor LossNetworkImpl::normalize(const torch::Tensor& rgb255) const {
  if (rgb255.dim() != 4 || rgb255.size(1) != 3 || !rgb255.is_floating_point())
    throw std::runtime_error("loss network " + name_ + " expects a float [N,3,H,W] batch, got " +
                             shape_text(rgb255.sizes(), ",") + " " + std::string(c10::toString(rgb255.scalar_type())));
  auto x = rgb255.to(scale_.scalar_type());
  if (bgr_) x = x.flip({1});
  return x * scale_ + shift_;
}

std::map<std::string, torch::Tensor> LossNetworkImpl::forward(const torch::Tensor& rgb255,
                                                              const std::vector<std::string>& taps) {
  check_taps(taps);
  std::map<std::string, torch::Tensor> out;
  if (taps.empty()) return out;
  int64_t deepest = -1;
  for (const auto& [tap, layer] : tap_after_layer_)
    if (std::find(taps.begin(), taps.end(), tap) != taps.end()) deepest = std::max(deepest, layer);
  auto x = normalize(rgb255);
  for (int64_t i = 0; i <= deepest; ++i) {
    try {
      x = (features_->begin() + i)->forward(x);
    } catch (const c10::Error& e) {
      throw std::runtime_error("loss network " + name_ + " failed at " + tap_names_[i] + " on input " +
                               shape_text(rgb255.sizes(), ",") + " (input too small?): " + torch_error_message(e));
    }
    const auto& tap = tap_after_layer_[i].first;
    if (std::find(taps.begin(), taps.end(), tap) != taps.end()) out[tap] = x;
  }
  return out;
}

}  // namespace nst
