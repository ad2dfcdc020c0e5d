// Frozen ImageNet feature extractors used as perceptual loss networks: vgg16, vgg19 and
// squeezenet1_1, built as torchvision defines their `features`, with readable tap names
// (relu2_2, relu4_2, fire5, ...). Weights come from safetensors files with torchvision tensor
// names; the file's __metadata__ "preprocess" (caffe_bgr_255 + mean_bgr, or torch_rgb_01 with
// ImageNet mean/std) decides the input normalization.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "core/choices.h"

namespace nst {

// The networks LossNetwork knows (loss_network.name), and the taps each offers in depth order
// (without building it).
enum class LossNetworkKind { vgg16, vgg19, squeezenet1_1 };
inline const Choices<LossNetworkKind> kLossNetworkChoices{{"vgg16", LossNetworkKind::vgg16},
                                                          {"vgg19", LossNetworkKind::vgg19},
                                                          {"squeezenet1_1", LossNetworkKind::squeezenet1_1}};
std::vector<std::string> loss_network_taps(LossNetworkKind kind);

class LossNetworkImpl : public torch::nn::Module {
 public:
  // weights_path: safetensors file; empty means random
  // weights (current torch seed, Kaiming-normal so activations keep their scale with depth) with
  // torch_rgb_01 preprocessing, for tests and benchmarks only.
  LossNetworkImpl(LossNetworkKind kind, const std::string& weights_path);

  // rgb255: [N,3,H,W] RGB in 0..255 (any float dtype; computed in the parameters' dtype, or as
  // autocast decides). Returns the activations at `taps`, running the net only as deep as the
  // deepest requested tap. Unknown tap names are an error listing the valid ones. Gradients flow
  // to the input; parameters are frozen.
  std::map<std::string, torch::Tensor> forward(const torch::Tensor& rgb255, const std::vector<std::string>& taps);

  // The network input after normalization (BGR flip, scale, mean/std) as the first layer sees it.
  torch::Tensor normalize(const torch::Tensor& rgb255) const;

  LossNetworkKind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& preprocess() const { return preprocess_; }  // caffe_bgr_255 | torch_rgb_01
  const std::vector<std::string>& tap_names() const { return tap_names_; }  // in depth order
  void check_taps(const std::vector<std::string>& taps) const;  // throws naming an unknown tap
  torch::Device device() const { return scale_.device(); }

 private:
  void load_weights(const std::string& path);

  LossNetworkKind kind_;
  std::string name_, preprocess_;
  std::vector<std::string> tap_names_;
  torch::nn::Sequential features_{nullptr};  // torchvision's `features`, layer by layer
  std::vector<std::pair<std::string, int64_t>> tap_after_layer_;  // tap -> index of the layer it follows
  // normalized = rgb255 (channels flipped to BGR if bgr_) * scale_ + shift_, both [1,3,1,1] buffers.
  torch::Tensor scale_, shift_;
  bool bgr_ = false;
};
TORCH_MODULE(LossNetwork);

}  // namespace nst
