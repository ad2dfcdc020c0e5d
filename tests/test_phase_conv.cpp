// The transform net's training fast paths (nets/phase_conv.h, nets/border_pad.h) against LibTorch's
// direct operations: the same values and gradients, in double so that only the grouping of the sums
// differs.
#include "nets/border_pad.h"
#include "nets/phase_conv.h"
#include "nets/transformer_net.h"
#include "test_support.h"

namespace nst {
namespace {

namespace F = torch::nn::functional;

double largest_difference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Gradients of sum(f(inputs) * weights) with respect to each input.
template <typename Function>
std::vector<torch::Tensor> gradients(Function f, const std::vector<torch::Tensor>& inputs, const torch::Tensor& weights) {
  std::vector<torch::Tensor> leaves;
  for (const auto& input : inputs) leaves.push_back(input.detach().clone().requires_grad_());
  return torch::autograd::grad({(f(leaves) * weights).sum()}, leaves);
}

TEST(BorderPad, ReplicationPadMatchesLibTorchValuesAndGradient) {
  for (int64_t pad : {1, 3, 9}) {  // wider than the input too: the edge repeats
    auto x = torch::rand({2, 3, 5, 4}, torch::kFloat64);
    auto expected = F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReplicate));
    EXPECT_TRUE(torch::equal(replication_pad(x, pad), expected)) << pad;
    EXPECT_TRUE(torch::equal(replication_pad(x.to(torch::kBFloat16), pad), expected.to(torch::kBFloat16))) << pad;
    const auto weights = torch::randn(expected.sizes(), torch::kFloat64);
    const auto ours = gradients([&](auto v) { return replication_pad(v[0], pad); }, {x}, weights)[0];
    const auto reference = gradients(
        [&](auto v) { return F::pad(v[0], F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReplicate)); }, {x}, weights)[0];
    EXPECT_LT(largest_difference(ours, reference), 1e-12) << pad;
  }
}

// What the phase form replaces: nearest x2, padding 1, 3x3 convolution.
torch::Tensor upsample_conv_directly(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, bool reflect) {
  const auto up = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
  return reflect ? torch::conv2d(reflection_pad(up, 1), w, b) : torch::conv2d(up, w, b, 1, 1);
}

TEST(PhaseConv, UpsampleConvByPhasesIsTheDirectFormValuesAndGradients) {
  torch::manual_seed(1);
  const auto x = torch::randn({2, 5, 7, 6}, torch::kFloat64);  // odd and even sides
  const auto w = torch::randn({4, 5, 3, 3}, torch::kFloat64), b = torch::randn({4}, torch::kFloat64);
  for (bool reflect : {true, false}) {
    const auto expected = upsample_conv_directly(x, w, b, reflect);
    ASSERT_EQ(upsample_conv_by_phases(x, w, b, reflect).sizes(), expected.sizes());
    EXPECT_LT(largest_difference(upsample_conv_by_phases(x, w, b, reflect), expected), 1e-12) << reflect;
    const auto weights = torch::randn(expected.sizes(), torch::kFloat64);
    const auto ours = gradients([&](auto v) { return upsample_conv_by_phases(v[0], v[1], v[2], reflect); }, {x, w, b}, weights);
    const auto reference = gradients([&](auto v) { return upsample_conv_directly(v[0], v[1], v[2], reflect); }, {x, w, b}, weights);
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_LT(largest_difference(ours[i], reference[i]), 1e-10) << reflect << " " << i;
  }
}

TEST(PhaseConv, PolyphaseConvIsConv2dValuesAndGradients) {
  torch::manual_seed(2);
  for (int64_t kernel : {3, 9}) {
    const auto x = torch::randn({2, 6, 20, 14}, torch::kFloat64);
    const auto w = torch::randn({3, 6, kernel, kernel}, torch::kFloat64), b = torch::randn({3}, torch::kFloat64);
    const auto expected = torch::conv2d(x, w, b);
    EXPECT_LT(largest_difference(polyphase_conv(x, w, b), expected), 1e-11) << kernel;
    const auto weights = torch::randn(expected.sizes(), torch::kFloat64);
    const auto ours = gradients([&](auto v) { return polyphase_conv(v[0], v[1], v[2]); }, {x, w, b}, weights);
    const auto reference = gradients([&](auto v) { return torch::conv2d(v[0], v[1], v[2]); }, {x, w, b}, weights);
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_LT(largest_difference(ours[i], reference[i]), 1e-10) << kernel << " " << i;
  }
  EXPECT_THROW(polyphase_conv(torch::zeros({1, 2, 9, 10}), torch::zeros({1, 2, 3, 3}), {}), c10::Error);  // odd height
}

// The net takes the phase forms only when training on a CPU: with gradients on, a training step sees
// the same outputs as inference (direct forms), for each architecture the forms apply to.
TEST(PhaseConv, TheNetTrainsOnTheSameFunctionItInfersWith) {
  torch::manual_seed(3);
  for (auto padding : {PaddingKind::reflect, PaddingKind::zero}) {
    TransformerNet net(TransformerNetOptions().width(4).res_blocks(1).padding(padding));
    net->to(torch::kFloat64);
    const auto x = torch::rand({2, 3, 36, 28}, torch::kFloat64) * 255;
    torch::Tensor inferred;
    {
      torch::NoGradGuard no_grad;
      inferred = net(x);
    }
    const auto trained = net(x);
    ASSERT_TRUE(trained.requires_grad());
    EXPECT_LT(largest_difference(trained, inferred), 1e-9) << static_cast<int>(padding);
  }
  // Which layers take them: the upsampling convolutions and the output layer (16->3), not the input one.
  auto by_phases = [](ConvLayer layer, int64_t channels) {
    const auto name = layer(torch::rand({1, channels, 12, 12}).requires_grad_()).grad_fn()->name();
    return name.find("PixelShuffle") != std::string::npos || name.find("InterleavePhases") != std::string::npos;
  };
  EXPECT_TRUE(by_phases(ConvLayer(4, 2, 3, 1, PaddingKind::reflect, UpsampleKind::nearest_conv), 4));
  EXPECT_TRUE(by_phases(ConvLayer(16, 3, 9, 1, PaddingKind::reflect), 16));
  EXPECT_FALSE(by_phases(ConvLayer(3, 16, 9, 1, PaddingKind::reflect), 3));
}

}  // namespace
}  // namespace nst
