#include "nets/transformer_net.h"

#include <stdexcept>

#include "nets/phase_conv.h"

namespace nst {

void TransformerNetOptions::validate() const {
  if (width_ < 1 || width_ > 1024) throw std::runtime_error("model.width must be in 1..1024, got " + std::to_string(width_));
  if (res_blocks_ < 0 || res_blocks_ > 64)
    throw std::runtime_error("model.res_blocks must be in 0..64, got " + std::to_string(res_blocks_));
}

nlohmann::json TransformerNetOptions::to_json() const {
  return {{"width", width_},
          {"res_blocks", res_blocks_},
          {"norm", kNormChoices.name(norm_)},
          {"upsample", kUpsampleChoices.name(upsample_)},
          {"padding", kPaddingChoices.name(padding_)},
          {"output", kOutputChoices.name(output_)}};
}

TransformerNetOptions TransformerNetOptions::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::runtime_error("architecture is not a JSON object");
  TransformerNetOptions options;
  for (const auto& [key, value] : json.items()) {
    try {
      // get<int64_t>() would turn 16.5 into 16: only integers are integers.
      if ((key == "width" || key == "res_blocks") && !value.is_number_integer())
        throw std::runtime_error("architecture option '" + key + "' must be an integer, got " + value.dump());
      if (key == "width") options.width(value.get<int64_t>());
      else if (key == "res_blocks") options.res_blocks(value.get<int64_t>());
      else if (key == "norm") options.norm(kNormChoices.parse(value.get<std::string>(), "model.norm"));
      else if (key == "upsample") options.upsample(kUpsampleChoices.parse(value.get<std::string>(), "model.upsample"));
      else if (key == "padding") options.padding(kPaddingChoices.parse(value.get<std::string>(), "model.padding"));
      else if (key == "output") options.output(kOutputChoices.parse(value.get<std::string>(), "model.output"));
      else throw std::runtime_error("unknown architecture option '" + key + "'");
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error("architecture option '" + key + "' has the wrong type");
    }
  }
  options.validate();
  return options;
}

ConvLayerImpl::ConvLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, PaddingKind padding,
                             std::optional<UpsampleKind> upsample)
    : pad_(kernel / 2),
      reflect_(padding == PaddingKind::reflect),
      nearest_(upsample == UpsampleKind::nearest_conv),
      // Measured faster in phases for the output layer (16->3, 9x9) and slower for the input layer
      // (3->16): only kernels with fewer outputs than inputs (docs/training.md, "Training speed").
      polyphase_(reflect_ && stride == 1 && kernel >= 5 && kernel % 2 == 1 && out < in) {
  if (upsample == UpsampleKind::transposed) {
    conv_transpose2d_ = register_module(
        "conv_transpose2d",
        torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, kernel).stride(2).padding(pad_).output_padding(1)));
  } else {
    conv2d_ = register_module(
        "conv2d", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(reflect_ ? 0 : pad_)));
  }
}

torch::Tensor ConvLayerImpl::forward(const torch::Tensor& x) {
  if (conv_transpose2d_) return conv_transpose2d_(x);
  // The phase forms are the same sums, faster in CPU training (nets/phase_conv.h); elsewhere (CUDA,
  // inference) the direct form is what was measured.
  const bool by_phases = x.is_cpu() && torch::GradMode::is_enabled();
  if (by_phases && nearest_ && pad_ == 1) return upsample_conv_by_phases(x, conv2d_->weight, conv2d_->bias, reflect_);
  auto y = x;
  // Nearest x2 by LibTorch's kernel (bf16 too), which has a dedicated backward: the gradient of
  // expand + reshape is a sum over strided dimensions, slow in training (docs/training.md).
  if (nearest_) y = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
  if (!reflect_) return conv2d_(y);
  auto padded = reflection_pad(y, pad_);
  if (by_phases && polyphase_ && padded.size(2) % 2 == 0 && padded.size(3) % 2 == 0)
    return polyphase_conv(padded, conv2d_->weight, conv2d_->bias);
  return conv2d_(padded);
}

NormImpl::NormImpl(int64_t channels, NormKind kind) : batch_(kind == NormKind::batch) {
  weight_ = register_parameter("weight", torch::ones({channels}));
  bias_ = register_parameter("bias", torch::zeros({channels}));
  if (batch_) {
    running_mean_ = register_buffer("running_mean", torch::zeros({channels}));
    running_var_ = register_buffer("running_var", torch::ones({channels}));
  }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  constexpr double kEps = 1e-5;
  if (batch_)
    return torch::batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), 0.1, kEps, false);
  if (fixed_) {  // (x - mean) / sqrt(var + eps) * weight + bias; subtracting first keeps bf16 accurate
    auto channel = [&](const torch::Tensor& t) { return t.to(x.dtype()).view({1, -1, 1, 1}); };
    const auto scale = weight_.to(torch::kFloat32) * (fixed_->var + kEps).rsqrt();
    return torch::addcmul(channel(bias_), x - channel(fixed_->mean), channel(scale));
  }
  if (recording_) {  // statistics in float32 even for bf16 activations
    auto [var, mean] = torch::var_mean(x.to(torch::kFloat32), {0, 2, 3}, /*unbiased=*/false);
    recorded_ = {mean, var};
  }
  return torch::instance_norm(x, weight_, bias_, {}, {}, true, 0.1, kEps, false);
}

ResidualBlockImpl::ResidualBlockImpl(int64_t channels, const TransformerNetOptions& options) {
  conv1_ = register_module("conv1", ConvLayer(channels, channels, 3, 1, options.padding()));
  in1_ = register_module("in1", Norm(channels, options.norm()));
  conv2_ = register_module("conv2", ConvLayer(channels, channels, 3, 1, options.padding()));
  in2_ = register_module("in2", Norm(channels, options.norm()));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(in1_(conv1_(x)));
  return in2_(conv2_(out)) + x;  // no ReLU after the add (Gross & Wilber, as pytorch/examples)
}

TransformerNetImpl::TransformerNetImpl(TransformerNetOptions options) : options_(std::move(options)) {
  options_.validate();
  const int64_t w = options_.width();
  conv1_ = register_module("conv1", ConvLayer(3, w, 9, 1, options_.padding()));
  in1_ = register_module("in1", Norm(w, options_.norm()));
  conv2_ = register_module("conv2", ConvLayer(w, 2 * w, 3, 2, options_.padding()));
  in2_ = register_module("in2", Norm(2 * w, options_.norm()));
  conv3_ = register_module("conv3", ConvLayer(2 * w, 4 * w, 3, 2, options_.padding()));
  in3_ = register_module("in3", Norm(4 * w, options_.norm()));
  for (int64_t i = 0; i < options_.res_blocks(); ++i)
    res_.push_back(register_module("res" + std::to_string(i + 1), ResidualBlock(4 * w, options_)));
  deconv1_ = register_module("deconv1", ConvLayer(4 * w, 2 * w, 3, 1, options_.padding(), options_.upsample()));
  in4_ = register_module("in4", Norm(2 * w, options_.norm()));
  deconv2_ = register_module("deconv2", ConvLayer(2 * w, w, 3, 1, options_.padding(), options_.upsample()));
  in5_ = register_module("in5", Norm(w, options_.norm()));
  deconv3_ = register_module("deconv3", ConvLayer(w, 3, 9, 1, options_.padding()));
}

std::vector<Norm> TransformerNetImpl::instance_norms() {
  std::vector<Norm> norms;
  for (const auto& module : modules(/*include_self=*/false))  // registration order: layer order
    if (auto norm = std::dynamic_pointer_cast<NormImpl>(module); norm && norm->is_instance()) norms.emplace_back(norm);
  return norms;
}

std::vector<NormStatistics> TransformerNetImpl::record_norm_statistics(const torch::Tensor& x) {
  auto norms = instance_norms();
  use_norm_statistics({});
  for (auto& norm : norms) norm->record_statistics(true);
  try {
    forward(x);
  } catch (...) {
    for (auto& norm : norms) norm->record_statistics(false);
    throw;
  }
  std::vector<NormStatistics> statistics;
  for (auto& norm : norms) {
    norm->record_statistics(false);
    statistics.push_back(norm->recorded());
  }
  return statistics;
}

void TransformerNetImpl::use_norm_statistics(const std::vector<NormStatistics>& statistics) {
  auto norms = instance_norms();
  TORCH_CHECK(statistics.empty() || statistics.size() == norms.size(), "use_norm_statistics: ", statistics.size(),
              " statistics for ", norms.size(), " instance-norm layers");
  for (size_t i = 0; i < norms.size(); ++i)
    norms[i]->fix_statistics(statistics.empty() ? std::nullopt : std::optional<NormStatistics>(statistics[i]));
}

int64_t TransformerNetImpl::receptive_radius() const {
  // In input pixels: conv1 (9x9) 4; conv2 and conv3 (3x3, stride 2) 1 + 2; each residual conv 4
  // (at stride 4); deconv1, deconv2 (3x3 after x2 upsampling) 2 + 1, plus 4 for the upsampling's
  // phase; deconv3 (9x9) 4.
  const int64_t radius = 18 + 8 * options_.res_blocks();
  return (radius + kSizeMultiple - 1) / kSizeMultiple * kSizeMultiple;
}

torch::Tensor TransformerNetImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(in1_(conv1_(x)));
  y = torch::relu(in2_(conv2_(y)));
  y = torch::relu(in3_(conv3_(y)));
  for (auto& block : res_) y = block(y);
  y = torch::relu(in4_(deconv1_(y)));
  y = torch::relu(in5_(deconv2_(y)));
  y = deconv3_(y);
  if (options_.output() == OutputKind::tanh) y = 127.5 * (torch::tanh(y) + 1.0);
  return y;
}

TransformerNet copy_net(TransformerNet& net) {
  TransformerNet copy(net->options());
  torch::NoGradGuard no_grad;
  auto parameters = net->named_parameters();
  for (auto& item : copy->named_parameters()) item.value().copy_(parameters[item.key()]);
  auto buffers = net->named_buffers();
  for (auto& item : copy->named_buffers()) item.value().copy_(buffers[item.key()]);
  copy->train(net->is_training());
  return copy;
}

}  // namespace nst
