// TorchScript and .pth export, checked by LibTorch's torch::jit::load and independently by Debian's
// python3-torch: torch.jit.load, and a strict load into pytorch/examples' TransformerNet
// (tests/python/transformer_reference.py); the .pth round-trips through the importer unchanged.
#include <torch/script.h>

#include "data/safetensors.h"
#include "export/torchscript_export.h"
#include "export_support.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;

torch::Tensor net_forward(TransformerNet& net, const torch::Tensor& input) {
  torch::InferenceMode inference;
  return net(input);
}

// Runs tests/python/export_reference.py KIND on `input`; returns its output tensor.
torch::Tensor python_forward(const TempDir& dir, const std::string& kind, const std::string& model,
                             const torch::Tensor& input, const std::string& flags = "") {
  write_safetensors(dir / "input.safetensors", {{"input", input}});
  const auto ran = test::run_command(test::python() + " " + test::source_dir() + "/tests/python/export_reference.py " +
                                     kind + " " + model + " " + (dir / "input.safetensors") + " " +
                                     (dir / "output.safetensors") + " " + flags);
  EXPECT_EQ(ran.exit_code, 0) << ran.output;
  if (ran.exit_code != 0) return {};
  return read_safetensors(dir / "output.safetensors").tensors.at("output");
}

TEST(TorchScriptExport, LibTorchLoadsEveryArchitectureAndMatches) {
  TempDir dir;
  std::vector<TransformerNetOptions> variants(5);
  variants[1].norm(NormKind::batch);
  variants[2].upsample(UpsampleKind::transposed);
  variants[3].padding(PaddingKind::zero);
  variants[4].output(OutputKind::tanh);
  const auto input = test::test_image(36, 44).unsqueeze(0);
  for (size_t i = 0; i < variants.size(); ++i) {
    variants[i].width(8);
    variants[i].res_blocks(2);
    auto net = test::random_net(variants[i], 30 + i);
    const std::string path = dir / ("v" + std::to_string(i) + ".pt");
    export_torchscript(path, net, {{"style", "test"}});
    auto loaded = torch::jit::load(path);
    loaded.eval();
    torch::InferenceMode inference;
    const auto got = loaded.forward({input}).toTensor();
    EXPECT_LT(test::max_difference(got, net_forward(net, input)), 0.01) << variants[i].to_json().dump();
  }
}

TEST(TorchScriptExport, PythonTorchJitLoadRunsItWithPytorchExamplesNames) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  auto net = test::random_net();  // pytorch/examples' architecture
  export_torchscript(dir / "style.pt", net, {{"style", "test"}});
  const auto input = test::test_image(64, 48).unsqueeze(0);
  const auto got = python_forward(dir, "torchscript", dir / "style.pt", input, "--examples-names");
  ASSERT_TRUE(got.defined());
  const auto expected = net_forward(net, input);
  EXPECT_GT(expected.std().item<double>(), 10.0);
  EXPECT_LT(test::max_difference(got, expected), 0.5);
}

TEST(StateDictExport, LoadsStrictlyIntoPytorchExamplesTransformerNetAndMatches) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  auto net = test::random_net();
  export_state_dict(dir / "style.pth", net);
  const auto input = test::test_image(52, 40).unsqueeze(0);
  const auto got = python_forward(dir, "pth", dir / "style.pth", input);
  ASSERT_TRUE(got.defined());
  EXPECT_LT(test::max_difference(got, net_forward(net, input)), 0.5);
}

TEST(StateDictExport, RoundTripsThroughTheImporterUnchanged) {
  NST_REQUIRE_OR_SKIP(test::have_python_torch(), "python3-torch not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  TransformerNetOptions options;
  options.width(16);  // jcjohnson's half width and fewer blocks: the importer reads both from shapes
  options.res_blocks(3);
  auto net = test::random_net(options);
  export_state_dict(dir / "style.pth", net);
  const auto imported = test::run_command(test::python() + " " + test::source_dir() + "/scripts/import_pytorch_model.py " +
                                          (dir / "style.pth") + " " + (dir / "back.safetensors"));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  auto back = load_model(dir / "back.safetensors");
  EXPECT_EQ(back.net->options().to_json(), options.to_json());
  auto original = net->named_parameters();
  auto returned = back.net->named_parameters();
  ASSERT_EQ(original.size(), returned.size());
  for (const auto& item : original) {
    ASSERT_TRUE(returned.contains(item.key())) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), returned[item.key()])) << item.key() << " changed";
  }
}

TEST(StateDictExport, RefusesArchitecturesPytorchExamplesCannotExpress) {
  TempDir dir;
  const std::pair<std::string, std::string> options[] = {
      {"norm", "batch"}, {"upsample", "transposed"}, {"padding", "zero"}, {"output", "tanh"}};
  for (const auto& [option, value] : options) {
    const auto o = TransformerNetOptions::from_json({{"width", 4}, {"res_blocks", 1}, {option, value}});
    auto net = test::random_net(o);
    const std::string path = dir / "style.pth";
    const std::string error = test::error_of([&] { export_state_dict(path, net); });
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find("model." + option + " '" + value + "'"), std::string::npos) << error;
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace
}  // namespace nst
