// The Johnson et al. (2016) image transform net, by default exactly pytorch/examples
// fast_neural_style's TransformerNet (same layers, same state_dict names), plus jcjohnson's
// architecture options. Input and output are RGB in 0..255, [N,3,H,W].
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "core/choices.h"
#include "nets/border_pad.h"

namespace nst {

enum class NormKind { instance, batch };
enum class UpsampleKind { nearest_conv, transposed };  // nearest x2 then conv | stride-2 transposed conv
enum class PaddingKind { reflect, zero };
enum class OutputKind { linear, tanh };  // tanh: 127.5 * (1 + tanh)
inline const Choices<NormKind> kNormChoices{{"instance", NormKind::instance}, {"batch", NormKind::batch}};
inline const Choices<UpsampleKind> kUpsampleChoices{{"nearest-conv", UpsampleKind::nearest_conv},
                                                    {"transposed", UpsampleKind::transposed}};
inline const Choices<PaddingKind> kPaddingChoices{{"reflect", PaddingKind::reflect}, {"zero", PaddingKind::zero}};
inline const Choices<OutputKind> kOutputChoices{{"linear", OutputKind::linear}, {"tanh", OutputKind::tanh}};

// The architecture; the defaults are pytorch/examples'. Names in messages and JSON are the config's (model.*).
struct TransformerNetOptions {
  TORCH_ARG(int64_t, width) = 32;  // channels of the first conv; then 2x and 4x (16 = jcjohnson's half width)
  TORCH_ARG(int64_t, res_blocks) = 5;
  TORCH_ARG(NormKind, norm) = NormKind::instance;
  TORCH_ARG(UpsampleKind, upsample) = UpsampleKind::nearest_conv;
  TORCH_ARG(PaddingKind, padding) = PaddingKind::reflect;
  TORCH_ARG(OutputKind, output) = OutputKind::linear;

 public:
  void validate() const;  // throws naming the bad option (the enums are valid by construction)
  nlohmann::json to_json() const;
  static TransformerNetOptions from_json(const nlohmann::json& json);  // validates; unknown keys are errors
};

// Conv with "same" padding (reflect or zero) and a stride, optionally preceded by x2 upsampling:
// pytorch/examples' ConvLayer and UpsampleConvLayer in one (both keep their weights under "conv2d").
// upsample "transposed" uses a stride-2 ConvTranspose2d ("conv_transpose2d") instead.
class ConvLayerImpl : public torch::nn::Module {
 public:
  ConvLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, PaddingKind padding,
                std::optional<UpsampleKind> upsample = std::nullopt);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t pad_;
  bool reflect_, nearest_, polyphase_;
  torch::nn::Conv2d conv2d_{nullptr};
  torch::nn::ConvTranspose2d conv_transpose2d_{nullptr};
};
TORCH_MODULE(ConvLayer);

// Per-channel mean and biased variance of one instance-norm layer's input, float32 [C].
struct NormStatistics {
  torch::Tensor mean, var;
};

// Normalization slot with its parameters directly under the slot's name (in1.weight), as in
// pytorch/examples: instance norm (affine) or batch norm (with running statistics).
// Instance norm can also record its input's statistics or normalize with fixed ones (thumbnail
// instance normalization for tiles, see TransformerNetImpl::record_norm_statistics).
class NormImpl : public torch::nn::Module {
 public:
  NormImpl(int64_t channels, NormKind kind);
  torch::Tensor forward(const torch::Tensor& x);

  bool is_instance() const { return !batch_; }
  void record_statistics(bool on) { recording_ = on; }
  const NormStatistics& recorded() const { return recorded_; }
  void fix_statistics(std::optional<NormStatistics> statistics) { fixed_ = std::move(statistics); }
  const std::optional<NormStatistics>& fixed_statistics() const { return fixed_; }

 private:
  bool batch_, recording_ = false;
  torch::Tensor weight_, bias_, running_mean_, running_var_;
  NormStatistics recorded_;
  std::optional<NormStatistics> fixed_;
};
TORCH_MODULE(Norm);

class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t channels, const TransformerNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvLayer conv1_{nullptr}, conv2_{nullptr};
  Norm in1_{nullptr}, in2_{nullptr};
};
TORCH_MODULE(ResidualBlock);

class TransformerNetImpl : public torch::nn::Module {
 public:
  explicit TransformerNetImpl(TransformerNetOptions options = {});
  torch::Tensor forward(const torch::Tensor& x);
  const TransformerNetOptions& options() const { return options_; }

  // Thumbnail instance normalization (Chen et al., AAAI 2022, "URST"): runs `x` (a batch of one,
  // e.g. a downscaled copy of a huge image) and returns every instance-norm layer's statistics in
  // layer order. use_norm_statistics makes later forwards normalize with them instead of their own
  // input's, so tiles of the image all get one tone; an empty vector restores the default. With
  // norm: batch there are no instance-norm layers and both do nothing.
  std::vector<NormStatistics> record_norm_statistics(const torch::Tensor& x);
  void use_norm_statistics(const std::vector<NormStatistics>& statistics);

  // Pixels of input context on each side that can influence an output pixel, rounded up to
  // kSizeMultiple: a tile cropped this far inside its borders equals the whole image's result.
  int64_t receptive_radius() const;

  // Inputs must have H and W divisible by this and at least kMinSide (reflection pads need room);
  // infer/ pads any image to satisfy both and crops back.
  static constexpr int64_t kSizeMultiple = 4;
  static constexpr int64_t kMinSide = 16;

 private:
  TransformerNetOptions options_;
  ConvLayer conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, deconv1_{nullptr}, deconv2_{nullptr}, deconv3_{nullptr};
  Norm in1_{nullptr}, in2_{nullptr}, in3_{nullptr}, in4_{nullptr}, in5_{nullptr};
  std::vector<ResidualBlock> res_;
  std::vector<Norm> instance_norms();
};
TORCH_MODULE(TransformerNet);

// An independent copy (parameters and buffers), e.g. to convert one copy to bf16 and keep the other.
TransformerNet copy_net(TransformerNet& net);

}  // namespace nst
