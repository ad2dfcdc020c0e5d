// ONNX export: the file passes onnx::checker, and OpenCV DNN (an independent runtime) reproduces
// nst-infer's output at several sizes and for every architecture option; nst-export's errors.
#include <opencv2/dnn.hpp>

#include <filesystem>
#include <fstream>

#include "export/onnx_export.h"
#include "export_support.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;

cv::dnn::Net load_dnn(const std::string& path, bool fusion) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  net.enableFusion(fusion);
  return net;
}

// OpenCV DNN on `rgb` [3,H,W], padded and cropped exactly as nst-infer does, clamped to 0..255.
torch::Tensor dnn_output(cv::dnn::Net& net, const torch::Tensor& rgb) {
  const auto padded = pad_for_net(rgb.unsqueeze(0), TransformerNetImpl::kSizeMultiple, TransformerNetImpl::kMinSide);
  auto input = padded.tensor.contiguous();
  const int sizes[] = {1, 3, static_cast<int>(input.size(2)), static_cast<int>(input.size(3))};
  net.setInput(cv::Mat(4, sizes, CV_32F, input.data_ptr<float>()).clone());
  cv::Mat out = net.forward();
  EXPECT_EQ(out.size[2], sizes[2]);
  EXPECT_EQ(out.size[3], sizes[3]);
  auto output = torch::from_blob(out.ptr<float>(), {1, 3, sizes[2], sizes[3]}).clone();
  return output.narrow(2, padded.top, rgb.size(1)).narrow(3, padded.left, rgb.size(2)).squeeze(0).clamp(0, 255);
}

std::string export_to(const TempDir& dir, TransformerNet& net, const std::string& name, int opset = 11) {
  const std::string path = dir / name;
  OnnxExportOptions options;
  options.opset = opset;
  export_onnx(path, net, {{"style", "test"}}, options);
  return path;
}

TEST(OnnxExport, DefaultNetInOpenCvDnnMatchesNstInferAtSquareNonSquareAndOddSizes) {
  TempDir dir;
  auto net = test::random_net();  // pytorch/examples' architecture: width 32, 5 residual blocks
  const std::string path = export_to(dir, net, "style.onnx");
  EXPECT_NO_THROW(check_onnx_file(path));
  // One net reused across sizes: needs fusion off in OpenCV 4.6 (see the next test).
  auto dnn = load_dnn(path, /*fusion=*/false);
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{256, 256}, {120, 200}, {97, 131}}) {
    const auto image = test::test_image(h, w);
    const auto expected = test::nst_output(net, image);
    const auto got = dnn_output(dnn, image);
    EXPECT_GT(expected.std().item<double>(), 10.0) << "the reference output should not be flat";
    const double diff = test::max_difference(got, expected);
    EXPECT_LT(diff, 0.5) << h << "x" << w << ": OpenCV DNN differs from nst-infer by up to " << diff << " grey levels";
  }
}

// OpenCV 4.6 fuses layers for the first input size; a fused net then run at another size gives
// wrong results (from the InstanceNorm/MVN layer on). docs/deploy.md tells users to call
// enableFusion(false). If this test fails, OpenCV fixed it: update docs/deploy.md.
TEST(OnnxExport, OpenCvReusingAFusedNetAtANewSizeIsWrongSoDocsSayDisableFusion) {
  TempDir dir;
  TransformerNetOptions options;
  options.width(8);
  options.res_blocks(1);
  auto net = test::random_net(options);
  const std::string path = export_to(dir, net, "style.onnx");
  auto fused = load_dnn(path, /*fusion=*/true);
  dnn_output(fused, test::test_image(64, 64));
  const auto image = test::test_image(96, 80, 5);
  const auto expected = test::nst_output(net, image);
  auto fresh = load_dnn(path, /*fusion=*/true);
  EXPECT_LT(test::max_difference(dnn_output(fresh, image), expected), 0.5) << "a fresh fused net is right";
  EXPECT_GT(test::max_difference(dnn_output(fused, image), expected), 2.0)
      << "OpenCV now handles a fused net at a new size: the enableFusion(false) advice in docs/deploy.md is obsolete";
}

TEST(OnnxExport, EveryArchitectureOptionPassesTheCheckerAndMatchesInOpenCvDnn) {
  TempDir dir;
  const auto image = test::test_image(36, 52);
  std::vector<TransformerNetOptions> variants(6);
  variants[1].norm(NormKind::batch);
  variants[2].upsample(UpsampleKind::transposed);
  variants[3].padding(PaddingKind::zero);
  variants[4].output(OutputKind::tanh);
  variants[5].res_blocks(0);
  for (size_t i = 0; i < variants.size(); ++i) {
    auto& options = variants[i];
    options.width(8);
    if (i != 5) options.res_blocks(2);
    auto net = test::random_net(options, 20 + i);
    const std::string what = options.to_json().dump();
    for (int opset : {11, 13}) {
      const std::string path = export_to(dir, net, "v" + std::to_string(i) + "_" + std::to_string(opset) + ".onnx", opset);
      EXPECT_NO_THROW(check_onnx_file(path)) << what << " opset " << opset;
      auto dnn = load_dnn(path, false);
      const double diff = test::max_difference(dnn_output(dnn, image), test::nst_output(net, image));
      EXPECT_LT(diff, 0.5) << what << " opset " << opset << ": differs by " << diff;
    }
  }
}

TEST(OnnxExport, CheckerRejectsDamagedFilesNamingThem) {
  TempDir dir;
  const std::string path = dir / "bad.onnx";
  std::ofstream(path) << "not a protobuf at all";
  const std::string error = test::error_of([&] { check_onnx_file(path); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(test::error_of([&] { OnnxExportOptions o; o.opset = 12; o.validate(); }).find("opset"), std::string::npos);
}

TEST(OnnxExport, UnwritableOutputIsNamedAndLeavesNoFile) {
  TempDir dir;
  TransformerNetOptions options;
  options.width(4);
  auto net = test::random_net(options);
  const std::string path = dir / "missing_dir/style.onnx";
  const std::string error = test::error_of([&] { export_onnx(path, net, {}, {}); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_TRUE(std::filesystem::is_empty(dir.str()));
}

// The tool: one line naming the file for bad input, a non-zero exit, and no output left behind.
TEST(NstExport, BadInputGivesOneLineNamingTheProblem) {
  TempDir dir;
  const std::string tool = test::bin_dir() + "/nst-export";
  std::ofstream(dir / "broken.safetensors") << "garbage";
  TransformerNetOptions options;
  options.width(4);
  options.norm(NormKind::batch);
  auto net = test::random_net(options);
  save_model(dir / "batch.safetensors", net, {});
  const std::pair<std::string, std::string> cases[] = {
      {"--model " + (dir / "none.safetensors") + " --onnx " + (dir / "a.onnx"), dir / "none.safetensors"},
      {"--model " + (dir / "broken.safetensors") + " --onnx " + (dir / "a.onnx"), dir / "broken.safetensors"},
      {"--model " + (dir / "batch.safetensors") + " --onnx " + (dir / "no/a.onnx"), dir / "no/a.onnx"},
      {"--model " + (dir / "batch.safetensors") + " --pth " + (dir / "a.pth"), "model.norm 'batch'"},
      {"--model " + (dir / "batch.safetensors"), "nothing to do"},
      {"--model " + (dir / "batch.safetensors") + " --onnx " + (dir / "a.onnx") + " --opset 9", "--opset"},
  };
  for (const auto& [args, expected] : cases) {
    const auto result = test::run_command(tool + " " + args);
    EXPECT_NE(result.exit_code, 0) << args;
    EXPECT_NE(result.output.find(expected), std::string::npos) << args << "\n" << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << args << "\n" << result.output;
  }
  for (const char* name : {"a.onnx", "a.pth"}) EXPECT_FALSE(std::filesystem::exists(dir / name)) << name;
}

TEST(NstExport, WritesOnnxTorchScriptAndStateDict) {
  TempDir dir;
  TransformerNetOptions options;
  options.width(8);
  options.res_blocks(1);
  auto net = test::random_net(options);
  save_model(dir / "style.safetensors", net, {{"style", "tiny"}});
  const auto result = test::run_command(test::bin_dir() + "/nst-export --model " + (dir / "style.safetensors") +
                                        " --onnx " + (dir / "s.onnx") + " --torchscript " + (dir / "s.pt") +
                                        " --pth " + (dir / "s.pth") + " --opset 13");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NO_THROW(check_onnx_file(dir / "s.onnx"));
  for (const char* name : {"s.pt", "s.pth"}) EXPECT_GT(std::filesystem::file_size(dir / name), 10000u) << name;
}

}  // namespace
}  // namespace nst
