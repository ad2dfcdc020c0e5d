// The packed channels-last forward (nets/packed_transformer_net.h) and its fused kernels
// (nets/fused_norm.h) against LibTorch's own ops and the module's forward.
#include "core/precision.h"
#include "infer/stylizer.h"
#include "nets/fused_norm.h"
#include "nets/packed_transformer_net.h"
#include "test_support.h"

namespace nst {
namespace {

namespace F = torch::nn::functional;

torch::Tensor channels_last(const torch::Tensor& x) { return x.contiguous(torch::MemoryFormat::ChannelsLast); }

// A transform net with random weights and random instance-norm affines (the defaults are 1 and 0).
TransformerNet random_net(TransformerNetOptions options, int seed) {
  torch::manual_seed(seed);
  TransformerNet net(options);
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters())
    if (item.key().find("in") == 0 || item.key().find(".in") != std::string::npos)
      item.value().uniform_(item.key().find("weight") != std::string::npos ? 0.5 : -0.5, 1.5);
  auto params = net->named_parameters();
  params["deconv3.conv2d.weight"].mul_(60);
  params["deconv3.conv2d.bias"].add_(128);
  net->eval();
  return net;
}

torch::Tensor module_forward(TransformerNet& net, const torch::Tensor& x) {
  torch::InferenceMode inference;
  return net(x);
}

TEST(FusedNorm, StatisticsMatchVarMeanEvenFarFromZero) {
  torch::manual_seed(1);
  const auto x = channels_last(torch::randn({2, 24, 37, 53}) * 3 + 1000);  // mean far from 0: cancellation
  const auto [mean, var] = channel_statistics(x);
  const auto [ref_var, ref_mean] = torch::var_mean(x.to(torch::kFloat64), {2, 3}, /*unbiased=*/false);
  EXPECT_LT(((mean - ref_mean) / ref_mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT(((var - ref_var) / ref_var).abs().max().item<double>(), 1e-4);

  const auto b = x.to(torch::kBFloat16);  // channels-last kept
  const auto [b_mean, b_var] = channel_statistics(b);
  const auto [rb_var, rb_mean] = torch::var_mean(b.to(torch::kFloat64), {2, 3}, false);
  EXPECT_LT(((b_mean - rb_mean) / rb_mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT(((b_var - rb_var) / rb_var).abs().max().item<double>(), 1e-4);
}

TEST(FusedNorm, StatisticsDoNotDependOnTheThreadCount) {
  torch::manual_seed(2);
  const auto x = channels_last(torch::randn({1, 16, 64, 40}));
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto one = channel_statistics(x);
  torch::set_num_threads(std::max(2, threads));
  const auto many = channel_statistics(x);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.first, many.first));
  EXPECT_TRUE(torch::equal(one.second, many.second));
}

// act(x * scale + shift + residual), upsampled and reflection-padded, from LibTorch's own ops.
torch::Tensor reference(const torch::Tensor& x, const NormActPad& step) {
  const int64_t n = x.size(0), c = x.size(1);
  auto y = x.to(torch::kFloat32) * step.scale.view({n, c, 1, 1}) + step.shift.view({n, c, 1, 1});
  if (step.residual.defined()) y = y + step.residual.to(torch::kFloat32);
  if (step.relu) y = torch::relu(y);
  if (step.upsample == 2) y = F::interpolate(y, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
  if (step.pad > 0) y = F::pad(y, F::PadFuncOptions({step.pad, step.pad, step.pad, step.pad}).mode(torch::kReflect));
  return y;
}

TEST(FusedNorm, NormActPadMatchesLibTorchsOps) {
  torch::manual_seed(3);
  const int64_t n = 2, c = 8, h = 9, w = 13;
  const auto x = channels_last(torch::randn({n, c, h, w}));
  // The residual as the packed net passes it: the interior of a padded channels-last tensor.
  const auto residual = channels_last(torch::randn({n, c, h + 2, w + 2})).narrow(2, 1, h).narrow(3, 1, w);
  struct Case {
    bool relu, with_residual;
    int64_t upsample, pad;
  };
  for (const auto& k : {Case{true, false, 1, 1}, Case{false, true, 1, 1}, Case{true, false, 2, 1},
                        Case{true, false, 1, 4}, Case{true, true, 2, 4}, Case{false, false, 1, 0}}) {
    for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      NormActPad step;
      step.scale = torch::rand({n, c}) + 0.5;
      step.shift = torch::randn({n, c});
      step.relu = k.relu;
      if (k.with_residual) step.residual = residual.to(dtype);
      step.upsample = k.upsample;
      step.pad = k.pad;
      const auto input = x.to(dtype);
      const auto out = norm_act_pad(input, step);
      SCOPED_TRACE("relu " + std::to_string(k.relu) + " residual " + std::to_string(k.with_residual) + " upsample " +
                   std::to_string(k.upsample) + " pad " + std::to_string(k.pad) + " " + c10::toString(dtype));
      EXPECT_TRUE(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
      EXPECT_EQ(out.scalar_type(), dtype);
      const auto expected = reference(input, step);
      ASSERT_EQ(out.sizes(), expected.sizes());
      // fp32: the same arithmetic up to fused multiply-adds; bf16: one rounding of the result.
      const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 1.0 / 128;
      EXPECT_LE((out.to(torch::kFloat32) - expected).abs().max().item<double>(),
                tolerance * (1 + expected.abs().max().item<double>()));
    }
  }
}

TEST(FusedNorm, RefusesWhatItCannotRun) {
  NormActPad step;
  step.scale = torch::ones({1, 4});
  step.shift = torch::zeros({1, 4});
  EXPECT_THROW(norm_act_pad(torch::zeros({1, 4, 8, 8}), step), c10::Error);  // not channels-last
  step.pad = 8;
  EXPECT_THROW(norm_act_pad(channels_last(torch::zeros({1, 4, 8, 8})), step), c10::Error);  // pad too large
  step.pad = 1;
  step.scale = torch::ones({1, 3});
  EXPECT_THROW(norm_act_pad(channels_last(torch::zeros({1, 4, 8, 8})), step), c10::Error);
}

TEST(PackedTransformerNet, MatchesTheModuleForwardInFloat32) {
  struct Case {
    TransformerNetOptions options;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases = {
      {TransformerNetOptions().width(8).res_blocks(2), {1, 3, 64, 48}},
      {TransformerNetOptions().width(8).res_blocks(2), {2, 3, 20, 36}},
      {TransformerNetOptions().width(4).res_blocks(0), {1, 3, 16, 16}},  // the smallest input the net takes
      {TransformerNetOptions().width(4).res_blocks(1).output(OutputKind::tanh), {1, 3, 24, 40}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    auto net = random_net(cases[i].options, static_cast<int>(i));
    const auto x = torch::rand(cases[i].shape) * 255;
    const auto expected = module_forward(net, x);
    const auto actual = PackedTransformerNet(net).forward(x);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_TRUE(actual.is_contiguous());
    EXPECT_GT((expected.max() - expected.min()).item<float>(), 50.0f);  // a non-trivial output
    EXPECT_LT((actual - expected).abs().max().item<float>(), 0.02f) << "on the 0..255 scale";
  }
}

TEST(PackedTransformerNet, Bfloat16IsCloseToTheFloat32Module) {
  const TransformerNetOptions options = TransformerNetOptions().width(8).res_blocks(2);
  EXPECT_FALSE(PackedTransformerNet::supports(TransformerNetOptions(options).norm(NormKind::batch), torch::kFloat32));
  EXPECT_FALSE(PackedTransformerNet::supports(TransformerNetOptions(options).padding(PaddingKind::zero), torch::kFloat32));
  EXPECT_FALSE(
      PackedTransformerNet::supports(TransformerNetOptions(options).upsample(UpsampleKind::transposed), torch::kFloat32));
  EXPECT_EQ(PackedTransformerNet::supports(options, torch::kBFloat16), cpu_runs_bf16_natively());
  if (!cpu_runs_bf16_natively()) GTEST_SKIP() << "this CPU has no AVX-512: bf16 keeps the module's forward";
  auto net = random_net(options, 7);
  const auto x = torch::rand({1, 3, 64, 80}) * 255;
  const auto expected = module_forward(net, x);
  auto bf16 = copy_net(net);
  bf16->to(torch::kBFloat16);
  const auto actual = PackedTransformerNet(bf16).forward(x.to(torch::kBFloat16)).to(torch::kFloat32);
  const auto diff = (actual - expected).abs();
  EXPECT_LT(diff.mean().item<float>(), 2.0f);  // the module's bf16 bound (tests/test_infer.cpp)
  EXPECT_LT(diff.max().item<float>(), 24.0f);
}

TEST(PackedTransformerNet, HonoursFixedNormStatistics) {
  auto net = random_net(TransformerNetOptions().width(8).res_blocks(1), 4);
  const auto thumbnail = torch::rand({1, 3, 32, 32}) * 255;
  const auto tile = torch::rand({1, 3, 48, 40}) * 255;
  const PackedTransformerNet packed(net);
  const auto own = packed.forward(tile);
  net->use_norm_statistics(net->record_norm_statistics(thumbnail));
  const auto expected = module_forward(net, tile);
  const auto actual = packed.forward(tile);  // reads the statistics at each forward
  net->use_norm_statistics({});
  EXPECT_LT((actual - expected).abs().max().item<float>(), 0.02f);
  EXPECT_GT((actual - own).abs().max().item<float>(), 1.0f);  // the fixed statistics did change the result
}

TEST(PackedTransformerNet, TheStylizerUsesItWithTheModulesResult) {
  const auto content = torch::rand({3, 50, 70}) * 255;  // padded to the net's multiple inside
  auto packed = Stylizer(random_net(TransformerNetOptions().width(8).res_blocks(1), 5), torch::kCPU, StylizeOptions())
                    .stylize_tensor(content);
  auto module = Stylizer(random_net(TransformerNetOptions().width(8).res_blocks(1), 5), torch::kCPU,
                         StylizeOptions().packed(false))
                    .stylize_tensor(content);
  EXPECT_LT((packed - module).abs().max().item<float>(), 0.02f);
  // An architecture it does not run falls back to the module.
  auto batch_norm = Stylizer(random_net(TransformerNetOptions().width(4).res_blocks(1).norm(NormKind::batch), 6),
                             torch::kCPU, StylizeOptions())
                        .stylize_tensor(content);
  EXPECT_EQ(batch_norm.sizes(), content.sizes());
}

}  // namespace
}  // namespace nst
