#include "nets/packed_transformer_net.h"

#include "core/precision.h"
#include "nets/fused_norm.h"

namespace nst {

bool PackedTransformerNet::supports(const TransformerNetOptions& options, torch::ScalarType dtype) {
  return options.norm() == NormKind::instance && options.padding() == PaddingKind::reflect &&
         options.upsample() == UpsampleKind::nearest_conv &&
         (dtype == torch::kFloat32 || (dtype == torch::kBFloat16 && cpu_runs_bf16_natively()));
}

PackedTransformerNet::PackedTransformerNet(TransformerNet net) : net_(std::move(net)) {
  const auto parameters = net_->named_parameters();
  const auto dtype = parameters["conv1.conv2d.weight"].scalar_type();
  TORCH_CHECK(supports(net_->options(), dtype), "PackedTransformerNet: unsupported architecture or dtype ",
              net_->options().to_json().dump(), " ", dtype);
  const auto modules = net_->named_modules();
  auto add = [&](const std::string& conv, const std::string& norm, int64_t stride, int64_t upsample = 1) {
    Stage s;
    s.weight = parameters[conv + ".conv2d.weight"].detach().contiguous();
    s.bias = parameters[conv + ".conv2d.bias"].detach();
    TORCH_CHECK(s.weight.device().is_cpu(), "PackedTransformerNet: the net must be on the CPU");
    s.stride = stride, s.pad = s.weight.size(-1) / 2, s.upsample = upsample;
    if (!norm.empty()) {
      s.norm = Norm(std::dynamic_pointer_cast<NormImpl>(modules[norm]));
      s.norm_weight = parameters[norm + ".weight"].detach().to(torch::kFloat32).view({1, -1});
      s.norm_bias = parameters[norm + ".bias"].detach().to(torch::kFloat32).view({1, -1});
    }
    stages_.push_back(s);
  };
  add("conv1", "in1", 1);
  add("conv2", "in2", 2);
  add("conv3", "in3", 2);
  for (int64_t i = 1; i <= net_->options().res_blocks(); ++i) {
    const auto block = "res" + std::to_string(i);
    add(block + ".conv1", block + ".in1", 1);
    stages_.back().opens_block = true;
    add(block + ".conv2", block + ".in2", 1);
    stages_.back().closes_block = true;
    stages_.back().relu = false;  // pytorch/examples: no ReLU after the residual add
  }
  add("deconv1", "in4", 1, 2);
  add("deconv2", "in5", 1, 2);
  add("deconv3", "", 1);
}

torch::Tensor PackedTransformerNet::normalize(const torch::Tensor& y, const Stage& stage,
                                              const torch::Tensor& residual, const Stage& next) const {
  constexpr double kEps = 1e-5;  // as NormImpl
  const int64_t n = y.size(0), channels = y.size(1);
  torch::Tensor mean, var;
  if (const auto& fixed = stage.norm->fixed_statistics()) {
    mean = fixed->mean.to(torch::kFloat32).view({1, channels}).expand({n, channels});
    var = fixed->var.to(torch::kFloat32).view({1, channels}).expand({n, channels});
  } else {
    std::tie(mean, var) = channel_statistics(y);
  }
  NormActPad step;
  step.scale = (stage.norm_weight * (var + kEps).rsqrt()).contiguous();
  step.shift = (stage.norm_bias - mean * step.scale).contiguous();
  step.relu = stage.relu;
  step.residual = residual;
  step.upsample = next.upsample;
  step.pad = next.pad;
  return norm_act_pad(y, step);
}

torch::Tensor PackedTransformerNet::forward(const torch::Tensor& x) const {
  torch::InferenceMode inference;
  auto input = reflection_pad(x, stages_.front().pad).contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor block_input;  // the current residual block's padded input
  for (size_t i = 0; i + 1 < stages_.size(); ++i) {
    const Stage& stage = stages_[i];
    if (stage.opens_block) block_input = input;
    torch::Tensor residual;
    if (stage.closes_block) {
      const int64_t p = stages_[i - 1].pad;
      residual = block_input.narrow(2, p, block_input.size(2) - 2 * p).narrow(3, p, block_input.size(3) - 2 * p);
    }
    // Channels-last input: oneDNN computes in that layout and returns it, nothing reordered.
    const auto y = at::mkldnn_convolution(input, stage.weight, stage.bias, {0, 0}, {stage.stride, stage.stride},
                                          {1, 1}, 1);
    input = normalize(y, stage, residual, stages_[i + 1]);
  }
  const Stage& last = stages_.back();
  auto y = at::mkldnn_convolution(input, last.weight, last.bias, {0, 0}, {last.stride, last.stride}, {1, 1}, 1);
  if (net_->options().output() == OutputKind::tanh) y = 127.5 * (torch::tanh(y) + 1.0);
  return y.contiguous();
}

}  // namespace nst
