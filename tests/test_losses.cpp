// Perceptual losses: Gram/TV/content/style against hand-computed values, against python3-torch
// (torchvision features + autograd, same weights and inputs, including the input gradient), style
// blending, bf16 autocast, and clear errors for bad configurations.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "core/precision.h"
#include "data/safetensors.h"
#include "losses/loss_jitter.h"
#include "losses/perceptual_loss.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;
using test::error_of;

double value(const torch::Tensor& t) { return t.item<double>(); }

TEST(GramMatrix, HandComputed) {
  // F = [[1,2],[3,4]] (C=2, H=1, W=2): F F^T = [[5,11],[11,25]], divided by C*H*W = 4.
  const auto features = torch::tensor({1.f, 2.f, 3.f, 4.f}).reshape({1, 2, 1, 2});
  const auto expected = torch::tensor({1.25f, 2.75f, 2.75f, 6.25f}).reshape({1, 2, 2});
  EXPECT_TRUE(torch::allclose(gram_matrix(features), expected));
  // Batched: each sample on its own.
  const auto batch = torch::cat({features, 2 * features});
  const auto grams = gram_matrix(batch);
  ASSERT_EQ(grams.sizes(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_TRUE(torch::allclose(grams[1], 4 * expected[0]));
}

// gram_matrix has its own backward (one product instead of autograd's two): the same gradient as
// autograd through F F^T (gram_matrix computes in float32, as the reference here).
TEST(GramMatrix, GradientIsAutogradsThroughTheProduct) {
  const auto features = torch::randn({3, 5, 4, 6});
  const auto weights = torch::randn({3, 5, 5});  // not symmetric: both halves of the gradient matter
  auto ours_leaf = features.clone().requires_grad_(), reference_leaf = features.clone().requires_grad_();
  const auto ours = torch::autograd::grad({(gram_matrix(ours_leaf) * weights).sum()}, {ours_leaf})[0];
  const auto f = reference_leaf.reshape({3, 5, 24});
  const auto reference =
      torch::autograd::grad({(torch::bmm(f, f.transpose(1, 2)) / 120.0 * weights).sum()}, {reference_leaf})[0];
  EXPECT_LT((ours - reference).abs().max().item<double>(), 1e-5 * reference.abs().max().item<double>());
}

TEST(TotalVariation, HandComputed) {
  // [[0,255],[255,0]] / 255: vertical diffs +1,-1 (mean sq 1), horizontal +1,-1 (mean sq 1) -> 2.
  EXPECT_NEAR(value(total_variation(torch::tensor({0.f, 255.f, 255.f, 0.f}).reshape({1, 1, 2, 2}))), 2.0, 1e-6);
  // [[0,.2,.4],[1,1,1]]: vertical (1,.8,.6) -> mean sq 2/3; horizontal (.2,.2,0,0) -> .02.
  const auto x = torch::tensor({0.f, 51.f, 102.f, 255.f, 255.f, 255.f}).reshape({1, 1, 2, 3});
  EXPECT_NEAR(value(total_variation(x)), 2.0 / 3.0 + 0.02, 1e-6);
  EXPECT_NEAR(value(total_variation(x[0])), 2.0 / 3.0 + 0.02, 1e-6);  // [C,H,W] too
  EXPECT_EQ(value(total_variation(torch::full({2, 3, 5, 4}, 77.f))), 0.0);  // flat image
}

LossWeights two_layer_weights() {
  LossWeights w;
  w.content_layers = {{"relu2_2", 1.0}};
  w.style_layers = {{"relu1_2", 0.5}, {"relu2_2", 2.0}};
  w.content_weight = 3.0;
  w.style_weight = 7.0;
  w.tv_weight = 0.25;
  return w;
}

// A small random-weight VGG16: terms assembled from the net's own features by hand.
TEST(PerceptualLoss, TermsAreWeightedSumsOfMse) {
  torch::manual_seed(1);
  LossNetwork net(LossNetworkKind::vgg16, "");
  PerceptualLoss loss(net, two_layer_weights());
  const auto style = torch::rand({3, 24, 20}) * 255;
  loss.set_style_targets({style}, {1.0});
  const auto content = torch::rand({2, 3, 16, 16}) * 255;
  const auto output = torch::rand({2, 3, 16, 16}) * 255;
  const auto terms = loss.compute(output, loss.content_targets(content));

  torch::NoGradGuard no_grad;
  auto f_out = net->forward(output, {"relu1_2", "relu2_2"});
  auto f_content = net->forward(content, {"relu2_2"});
  auto f_style = net->forward(style.unsqueeze(0), {"relu1_2", "relu2_2"});
  const double content_mse = ((f_out["relu2_2"] - f_content["relu2_2"]).pow(2).mean()).item<double>();
  auto style_term = [&](const std::string& l) {
    return (gram_matrix(f_out[l]) - gram_matrix(f_style[l])).pow(2).mean().item<double>();
  };
  const double s1 = 0.5 * style_term("relu1_2"), s2 = 2.0 * style_term("relu2_2");
  const double tv = value(total_variation(output));
  EXPECT_NEAR(value(terms.content_per_layer.at("relu2_2")), content_mse, 1e-5 * content_mse);
  EXPECT_NEAR(value(terms.style_per_layer.at("relu1_2")), s1, 1e-4 * s1);
  EXPECT_NEAR(value(terms.style_per_layer.at("relu2_2")), s2, 1e-4 * s2);
  EXPECT_NEAR(value(terms.content), 3.0 * content_mse, 1e-5 * content_mse);
  EXPECT_NEAR(value(terms.style), 7.0 * (s1 + s2), 1e-4 * (s1 + s2));
  EXPECT_NEAR(value(terms.tv), 0.25 * tv, 1e-6);
  EXPECT_NEAR(value(terms.total), value(terms.content) + value(terms.style) + value(terms.tv), 1e-5 * value(terms.total));
  // Identical output and content, style = output: content and style vanish.
  PerceptualLoss same(net, two_layer_weights());
  same.set_style_targets({output[0]}, {1.0});
  const auto zero = same.compute(output.narrow(0, 0, 1), same.content_targets(output.narrow(0, 0, 1)));
  EXPECT_LT(value(zero.content), 1e-6 * value(terms.content));
  EXPECT_LT(value(zero.style), 1e-6 * value(terms.style));
}

TEST(PerceptualLoss, StyleBlendIsWeightedMeanOfGrams) {
  torch::manual_seed(2);
  LossNetwork net(LossNetworkKind::squeezenet1_1, "");
  LossWeights w;
  w.content_weight = 0;
  w.style_layers = {{"fire3", 1.0}, {"relu1", 1.0}};
  PerceptualLoss loss(net, w);
  const auto a = torch::rand({3, 40, 40}) * 255, b = torch::rand({1, 3, 32, 48}) * 255;
  loss.set_style_targets({a}, {5.0});
  const auto gram_a = loss.style_grams().at("fire3").clone();
  loss.set_style_targets({b}, {0.1});
  const auto gram_b = loss.style_grams().at("fire3").clone();
  EXPECT_GT((gram_a - gram_b).abs().max().item<double>(), 1e-3 * gram_a.abs().max().item<double>());
  loss.set_style_targets({a, b}, {1.0, 3.0});
  EXPECT_TRUE(torch::allclose(loss.style_grams().at("fire3"), 0.25 * gram_a + 0.75 * gram_b, 1e-5, 1e-7));
  EXPECT_EQ(loss.style_grams().at("fire3").sizes(), (std::vector<int64_t>{1, 128, 128}));
  EXPECT_FALSE(loss.style_grams().at("fire3").requires_grad());
}

TEST(PerceptualLoss, GradientFlowsToInputNotParameters) {
  torch::manual_seed(3);
  LossNetwork net(LossNetworkKind::squeezenet1_1, "");
  EXPECT_FALSE(net->is_training());
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.requires_grad());
  LossWeights w;
  w.content_layers = {{"fire2", 1.0}};
  w.style_layers = {{"fire4", 1.0}};
  w.tv_weight = 1.0;
  PerceptualLoss loss(net, w);
  loss.set_style_targets({torch::rand({3, 32, 32}) * 255}, {1.0});
  const auto targets = loss.content_targets(torch::rand({1, 3, 32, 32}) * 255);
  auto output = (torch::rand({1, 3, 32, 32}) * 255).requires_grad_(true);
  loss.compute(output, targets).total.backward();
  ASSERT_TRUE(output.grad().defined());
  EXPECT_GT(output.grad().abs().max().item<double>(), 0.0);
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

// Under bf16 autocast the losses stay float32 and close to the float32 values.
TEST(PerceptualLoss, Bf16AutocastIsCloseToFloat) {
  torch::manual_seed(4);
  LossNetwork net(LossNetworkKind::vgg16, "");
  PerceptualLoss loss(net, two_layer_weights());
  loss.set_style_targets({torch::rand({3, 32, 32}) * 255}, {1.0});
  const auto content = torch::rand({1, 3, 32, 32}) * 255, output = torch::rand({1, 3, 32, 32}) * 255;
  const auto targets = loss.content_targets(content);
  const auto reference = loss.compute(output, targets);
  auto input = output.clone().requires_grad_(true);
  LossTerms bf16;
  {
    AutocastScope scope(Precision::bf16, torch::kCPU);
    bf16 = loss.compute(input.to(torch::kBFloat16), targets);
  }
  EXPECT_EQ(bf16.total.scalar_type(), torch::kFloat);
  EXPECT_NEAR(value(bf16.total), value(reference.total), 0.05 * value(reference.total));
  bf16.total.backward();
  ASSERT_TRUE(input.grad().defined());
  EXPECT_GT(input.grad().abs().max().item<double>(), 0.0);
}

// PerceptualLoss against tests/python/perceptual_loss_reference.py: every term, the Gram targets and
// the input gradient, with the given style normalization.
void expect_matches_python_torch(StyleNormalize normalize) {
  TempDir dir;
  // SqueezeNet keeps this fast; the VGG paths differ only in the net, which test_loss_network checks.
  const std::string net_name = "squeezenet1_1";
  // Random torchvision weights written by the network reference script (its reference output unused).
  const auto made = test::run_command(test::python() + " " + test::source_dir() +
                                      "/tests/python/loss_network_reference.py " + net_name + " " + dir.str() +
                                      " --size 32 --seed 5");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  torch::manual_seed(6);
  const int64_t size = 32;
  std::map<std::string, torch::Tensor> inputs = {
      {"output", torch::rand({2, 3, size, size}) * 255}, {"content", torch::rand({1, 3, size, size}) * 255},
      {"style0", torch::rand({1, 3, 40, 36}) * 255},     {"style1", torch::rand({1, 3, 28, 32}) * 255}};
  write_safetensors(dir / "inputs.safetensors", inputs);
  LossWeights w;
  w.content_layers = {{"fire3", 1.0}, {"pool3", 0.5}};
  w.style_layers = {{"relu1", 1.0}, {"fire2", 0.5}, {"fire5", 4.0}};
  w.content_weight = 2.0;
  w.style_weight = 1e3;
  w.tv_weight = 10.0;
  w.style_normalize = normalize;
  const std::vector<double> blend = {2.0, 1.0};
  const nlohmann::json config = {{"net", net_name}, {"content_layers", w.content_layers}, {"style_layers", w.style_layers},
                                 {"content_weight", w.content_weight}, {"style_weight", w.style_weight},
                                 {"tv_weight", w.tv_weight}, {"blend", blend},
                                 {"style_normalize", kStyleNormalizeChoices.name(normalize)}};
  const auto ran = test::run_loss_reference(dir / "weights.safetensors", dir / "inputs.safetensors", config.dump(),
                                            dir / "losses.safetensors");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const auto expected = read_safetensors(dir / "losses.safetensors").tensors;

  PerceptualLoss loss(LossNetwork(kLossNetworkChoices.parse(net_name, "net"), dir / "weights.safetensors"), w);
  loss.set_style_targets({inputs["style0"], inputs["style1"][0]}, blend);
  auto output = inputs["output"].clone().requires_grad_(true);
  const auto terms = loss.compute(output, loss.content_targets(inputs["content"]));
  terms.total.backward();

  auto expect_close = [&](const torch::Tensor& ours, const std::string& key) {
    const auto& ref = expected.at(key);
    const double scale = std::max(ref.abs().max().item<double>(), 1e-12);
    EXPECT_LT((ours.detach() - ref).abs().max().item<double>() / scale, 1e-4) << key;
  };
  expect_close(terms.total, "total");
  expect_close(terms.content, "content");
  expect_close(terms.style, "style");
  expect_close(terms.tv, "tv");
  for (const auto& [layer, t] : terms.content_per_layer) expect_close(t, "content." + layer);
  for (const auto& [layer, t] : terms.style_per_layer) expect_close(t, "style." + layer);
  for (const auto& [layer, g] : loss.style_grams()) expect_close(g, "gram." + layer);
  expect_close(output.grad(), "grad");
  EXPECT_EQ(terms.style_per_layer.size(), 3u);
}

TEST(PerceptualLoss, MatchesPythonTorchIncludingInputGradient) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  expect_matches_python_torch(StyleNormalize::none);
}

TEST(PerceptualLoss, AutoNormalizedStyleMatchesPythonTorch) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  expect_matches_python_torch(StyleNormalize::automatic);
}

// normalize: auto makes every layer's term the relative Gram error: an output whose Grams are twice the
// target's scores exactly its layer weight, at every depth, however large that layer's Grams are.
TEST(PerceptualLoss, AutoNormalizedLayersScoreRelativeError) {
  torch::manual_seed(3);
  LossWeights w;
  w.content_layers = {};
  w.content_weight = 0;
  w.style_layers = {{"relu1", 1.0}, {"fire3", 2.0}, {"fire5", 0.5}};
  w.style_normalize = StyleNormalize::automatic;
  PerceptualLoss loss(LossNetwork(LossNetworkKind::squeezenet1_1, ""), w);
  const auto style = torch::rand({1, 3, 48, 48}) * 255;
  loss.set_style_targets({style}, {1.0});
  const auto effective = loss.effective_style_weights();
  for (const auto& [layer, gram] : loss.style_grams()) {
    const double scale = effective.at(layer) / w.style_layers.at(layer);
    EXPECT_NEAR(scale * gram.pow(2).mean().item<double>(), 1.0, 1e-5) << layer;
    // mse(2T, T) = mean(T^2): the normalized term is the layer weight.
    const double term = torch::mse_loss(gram * 2, gram).item<double>() * effective.at(layer);
    EXPECT_NEAR(term, w.style_layers.at(layer), 1e-4 * w.style_layers.at(layer)) << layer;
  }
  // Without normalization the same layers differ by orders of magnitude; with it they agree.
  LossWeights plain = w;
  plain.style_normalize = StyleNormalize::none;
  PerceptualLoss unnormalized(LossNetwork(LossNetworkKind::squeezenet1_1, ""), plain);
  unnormalized.set_style_targets({style}, {1.0});
  EXPECT_EQ(unnormalized.effective_style_weights(), plain.style_layers);
}

TEST(PerceptualLoss, ClearErrors) {
  torch::manual_seed(7);
  LossNetwork net(LossNetworkKind::squeezenet1_1, "");
  LossWeights unknown;
  unknown.content_layers = {{"relu2_2", 1.0}};
  const auto message = error_of([&] { PerceptualLoss(net, unknown); });
  EXPECT_NE(message.find("unknown layer 'relu2_2'"), std::string::npos) << message;
  EXPECT_NE(message.find("fire9"), std::string::npos) << message;  // lists the valid names

  LossWeights zero;
  zero.content_layers = {{"fire2", 0.0}};
  zero.style_layers = {{"fire3", 1.0}};
  zero.style_weight = 0.0;
  EXPECT_NE(error_of([&] { PerceptualLoss(net, zero); }).find("every loss weight is zero"), std::string::npos);

  LossWeights negative;
  negative.content_layers = {{"fire2", -1.0}};
  EXPECT_NE(error_of([&] { PerceptualLoss(net, negative); }).find("must be >= 0"), std::string::npos);

  LossWeights no_layers;
  no_layers.style_layers = {{"fire3", 1.0}};  // content weight 1 but no content layer
  EXPECT_NE(error_of([&] { PerceptualLoss(net, no_layers); }).find("loss.content.layers"), std::string::npos);

  LossWeights ok;
  ok.content_layers = {{"fire2", 1.0}};
  ok.style_layers = {{"fire3", 1.0}};
  PerceptualLoss loss(net, ok);
  const auto image = torch::rand({3, 24, 24}) * 255;
  EXPECT_NE(error_of([&] { loss.compute(image.unsqueeze(0), loss.content_targets(image.unsqueeze(0))); })
                .find("no style targets"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loss.set_style_targets({image, image}, {1.0}); }).find("2 style images but 1 style weights"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loss.set_style_targets({image, image}, {1.0, 0.0}); }).find("must be positive"),
            std::string::npos);
  EXPECT_NE(error_of([&] { loss.set_style_targets({image}, {-2.0}); }).find("must be positive"), std::string::npos);
  EXPECT_NE(error_of([&] { loss.set_style_targets({}, {}); }).find("no style image"), std::string::npos);
  loss.set_style_targets({image}, {1.0});
  EXPECT_NE(error_of([&] { loss.compute(image.unsqueeze(0), {}); }).find("no content target for layer fire2"),
            std::string::npos);
  const auto small = torch::rand({1, 3, 16, 16}) * 255;
  EXPECT_NE(error_of([&] { loss.compute(image.unsqueeze(0), loss.content_targets(small)); }).find("same size"),
            std::string::npos);
}

// train.loss_jitter: the window is LibTorch's reflection padding cropped at the offset, gradients
// reach every pixel of the image, and the offsets repeat for a seed and cover 0..pixels both ways.
TEST(LossJitter, WindowIsTheReflectionPaddedImageAtTheOffset) {
  const auto images = torch::rand({2, 3, 12, 10}, torch::kDouble).requires_grad_();
  const JitterOffset offset{4, 3, 1};
  const auto window = jitter_window(images, offset);
  const auto expected = torch::reflection_pad2d(images, {4, 4, 4, 4}).narrow(2, 3, 16).narrow(3, 1, 14);
  ASSERT_EQ(window.sizes(), expected.sizes());
  EXPECT_TRUE(torch::equal(window, expected));
  const auto weights = torch::rand_like(window);
  const auto grad = torch::autograd::grad({(window * weights).sum()}, {images})[0];
  const auto expected_grad = torch::autograd::grad({(expected * weights).sum()}, {images})[0];
  EXPECT_TRUE(torch::allclose(grad, expected_grad));
  EXPECT_GT(grad.abs().min().item<double>(), 0.0);  // every pixel, borders included, is seen

  EXPECT_TRUE(jitter_window(images, jitter_offset(0, 7)).is_same(images));
  std::set<int64_t> rows, columns;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto drawn = jitter_offset(4, seed);
    const auto again = jitter_offset(4, seed);
    EXPECT_EQ(drawn.dy, again.dy);
    EXPECT_EQ(drawn.dx, again.dx);
    rows.insert(drawn.dy);
    columns.insert(drawn.dx);
  }
  EXPECT_EQ(rows, (std::set<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(columns, (std::set<int64_t>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace nst
