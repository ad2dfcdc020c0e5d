// TransformerNet against an independent reference: pytorch/examples' architecture written in
// Python (tests/python/transformer_reference.py) run by Debian's python3-torch on the same
// weights, imported through scripts/import_pytorch_model.py.
#include "data/safetensors.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;

TEST(TransformerNet, MatchesPytorchExamplesThroughTheImporter) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  const std::string reference = test::source_dir() + "/tests/python/transformer_reference.py";
  const std::string importer = test::source_dir() + "/scripts/import_pytorch_model.py";
  auto made = test::run_command(test::python() + " " + reference + " make-checkpoint " + (dir / "style.pth") +
                                " --seed 3 --stale-stats");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto imported = test::run_command(test::python() + " " + importer + " " + (dir / "style.pth") + " " +
                                    (dir / "style.safetensors"));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_NE(imported.output.find("dropped 30 stale running statistics"), std::string::npos) << imported.output;

  torch::manual_seed(11);
  // Odd-looking but net-compatible size (multiple of 4): no padding involved on either side.
  auto input = torch::rand({2, 3, 36, 44}) * 255;
  write_safetensors(dir / "input.safetensors", {{"input", input}});
  auto ran = test::run_command(test::python() + " " + reference + " forward " + (dir / "style.pth") + " " +
                               (dir / "input.safetensors") + " " + (dir / "output.safetensors"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  auto expected = read_safetensors(dir / "output.safetensors").tensors.at("output");

  auto model = load_model(dir / "style.safetensors");
  EXPECT_TRUE(model.warnings.empty());
  EXPECT_EQ(model.provenance.value("imported_from", ""), "style.pth");
  torch::InferenceMode inference;
  auto actual = model.net(input);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  // The reference output spans a wide range, so agreement is not trivial.
  EXPECT_GT((expected.max() - expected.min()).item<float>(), 100.0f);
  const float max_diff = (actual - expected).abs().max().item<float>();
  EXPECT_LT(max_diff, 0.5f) << "max abs difference on the 0..255 scale";
}

TEST(TransformerNet, ImporterRejectsWhatIsNotACheckpoint) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  test::run_command("echo 'not a checkpoint' > " + (dir / "bad.pth"));
  auto result = test::run_command(test::python() + " " + test::source_dir() + "/scripts/import_pytorch_model.py " +
                                  (dir / "bad.pth") + " " + (dir / "out.safetensors"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find(dir / "bad.pth"), std::string::npos) << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.safetensors"));
}

TEST(TransformerNet, ReflectionPadMatchesLibTorchAndWorksInBfloat16) {
  auto x = torch::rand({2, 3, 9, 7});
  namespace F = torch::nn::functional;
  for (int64_t pad : {1, 4, 6}) {
    auto expected = F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
    EXPECT_TRUE(torch::equal(reflection_pad(x, pad), expected)) << pad;
    EXPECT_TRUE(torch::equal(reflection_pad(x.to(torch::kBFloat16), pad), expected.to(torch::kBFloat16))) << pad;
    const auto channels_last = reflection_pad(x.contiguous(torch::MemoryFormat::ChannelsLast), pad);
    EXPECT_TRUE(channels_last.is_contiguous(torch::MemoryFormat::ChannelsLast)) << pad;
    EXPECT_TRUE(torch::equal(channels_last, expected)) << pad;
  }
}

// reflection_pad has its own backward: its gradient equals that of LibTorch's reflection_pad2d (double).
TEST(TransformerNet, ReflectionPadGradientMatchesLibTorch) {
  namespace F = torch::nn::functional;
  for (int64_t pad : {1, 3, 4}) {
    auto x = torch::rand({2, 3, 9, 7}, torch::kFloat64).requires_grad_();
    auto weights = torch::randn({2, 3, 9 + 2 * pad, 7 + 2 * pad}, torch::kFloat64);
    auto ours = torch::autograd::grad({(reflection_pad(x, pad) * weights).sum()}, {x})[0];
    auto reference =
        torch::autograd::grad({(F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect)) * weights).sum()}, {x})[0];
    EXPECT_LT((ours - reference).abs().max().item<double>(), 1e-12) << pad;
  }
}

// The upsampling layer is nearest x2: every output pixel is the input pixel at half its coordinates.
TEST(TransformerNet, NearestUpsamplingRepeatsEachPixelTwiceEachWay) {
  torch::NoGradGuard no_grad;
  ConvLayer layer(2, 2, 1, 1, PaddingKind::zero, UpsampleKind::nearest_conv);
  layer->named_parameters()["conv2d.weight"].copy_(torch::eye(2).view({2, 2, 1, 1}));
  layer->named_parameters()["conv2d.bias"].zero_();
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto x = torch::rand({1, 2, 3, 5}).to(dtype);
    layer->to(dtype);
    auto expected = x.repeat_interleave(2, 2).repeat_interleave(2, 3);
    EXPECT_TRUE(torch::equal(layer(x), expected));
  }
}

TEST(TransformerNet, EveryArchitectureKeepsTheInputSize) {
  torch::InferenceMode inference;
  for (const auto& options : {TransformerNetOptions().width(8).res_blocks(1),
                              TransformerNetOptions()
                                  .width(8)
                                  .res_blocks(2)
                                  .norm(NormKind::batch)
                                  .upsample(UpsampleKind::transposed)
                                  .padding(PaddingKind::zero)
                                  .output(OutputKind::tanh)}) {
    TransformerNet net(options);
    net->eval();
    auto y = net(torch::rand({1, 3, 20, 28}) * 255);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 20, 28})) << options.to_json().dump();
    if (options.output() == OutputKind::tanh) {
      EXPECT_GE(y.min().item<float>(), 0.0f);
      EXPECT_LE(y.max().item<float>(), 255.0f);
    }
  }
}

}  // namespace
}  // namespace nst
