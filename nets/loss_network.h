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

namespace nst {

class LossNetworkImpl : public torch::nn::Module {
 public:
  // name: vgg16 | vgg19 | squeezenet1_1. weights_path: safetensors file; empty means random
  // weights (current torch seed) with torch_rgb_01 preprocessing, for tests and benchmarks only.
  LossNetworkImpl(const std::string& name, const std::string& weights_path);

  // rgb255: [N,3,H,W] RGB in 0..255 (any float dtype). Returns the activations at `taps`, running
  // the net only as deep as the deepest requested tap. Unknown tap names are an error listing the valid ones.
  std::map<std::string, torch::Tensor> forward(const torch::Tensor& rgb255, const std::vector<std::string>& taps);

  const std::string& name() const { return name_; }
  const std::string& preprocess() const { return preprocess_; }  // caffe_bgr_255 | torch_rgb_01
  const std::vector<std::string>& tap_names() const { return tap_names_; }  // in depth order
  void check_taps(const std::vector<std::string>& taps) const;  // throws naming an unknown tap

 private:
  std::string name_, preprocess_;
  std::vector<std::string> tap_names_;
  // Implementation detail of the chosen architecture (layers in order, which index ends each tap).
  torch::nn::Sequential features_{nullptr};
  std::vector<std::pair<std::string, int64_t>> tap_after_layer_;
  torch::Tensor mean_, scale_;  // applied after optional RGB->BGR: (x * scale_pre - mean) / std
  bool bgr_ = false;
  double input_scale_ = 1.0;
};
TORCH_MODULE(LossNetwork);

}  // namespace nst
