// The stylizer (any size in = same size out, colour preservation, strength, bf16, memory refusal)
// and the nst-infer tool on images, folders with bad files, videos and bad command lines.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <fstream>
#include <map>
#include <set>

#include "data/image_io.h"
#include "infer/shard.h"
#include "infer/stylizer.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

using test::small_net;
using test::write_bytes;

// A smooth colourful test image, float RGB [3,H,W] in 40..215.
torch::Tensor content_image(int64_t height, int64_t width) {
  auto y = torch::linspace(0, 1, height).view({1, height, 1});
  auto x = torch::linspace(0, 1, width).view({1, 1, width});
  auto phase = torch::tensor({0.0f, 2.0f, 4.0f}).view({3, 1, 1});
  return 127.5 + 87.5 * torch::sin(6 * x + 4 * y + phase);
}

std::string nst_infer() { return test::bin_dir() + "/nst-infer"; }

std::string save_small_model(const TempDir& dir) {
  auto net = small_net();
  save_model(dir / "model.safetensors", net, {{"style", "test"}});
  return dir / "model.safetensors";
}

size_t line_count(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

TEST(Stylizer, OutputHasTheInputSizeForAnySize) {
  Stylizer stylizer(small_net(), torch::kCPU, {});
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 517}, {333, 517}, {1000, 7}, {16, 16}}) {
    auto out = stylizer.stylize_tensor(torch::rand({3, h, w}) * 255);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, h, w})) << h << "x" << w;
    EXPECT_GE(out.min().item<float>(), 0.0f);
    EXPECT_LE(out.max().item<float>(), 255.0f);
  }
}

TEST(Stylizer, PaddingKeepsTheImageAtItsOffset) {
  auto x = torch::rand({1, 3, 13, 6});
  auto padded = pad_for_net(x, 4, 16);
  EXPECT_EQ(padded.tensor.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(padded.tensor.narrow(2, padded.top, 13).narrow(3, padded.left, 6), x));
  // Reflection where possible: the row above the image mirrors the row below its first.
  EXPECT_TRUE(torch::equal(padded.tensor.select(2, padded.top - 1), padded.tensor.select(2, padded.top + 1)));
  auto tiny = pad_for_net(torch::rand({1, 3, 1, 2}), 4, 16);  // too small to reflect: edge replicated
  EXPECT_EQ(tiny.tensor.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
  auto exact = pad_for_net(x.narrow(2, 0, 12).narrow(3, 0, 4).repeat({1, 1, 2, 5}), 4, 16);
  EXPECT_EQ(exact.top + exact.left, 0);  // 24x20 already fits
}

TEST(Stylizer, TargetSizeAppliesScaleThenMaxSize) {
  StylizeOptions options;
  EXPECT_EQ(target_size(300, 400, options), cv::Size(400, 300));
  options.scale(0.5);
  EXPECT_EQ(target_size(300, 400, options), cv::Size(200, 150));
  options.max_size(100);
  EXPECT_EQ(target_size(300, 400, options), cv::Size(100, 75));
  options.scale(1);
  options.max_size(1000);  // never upscales
  EXPECT_EQ(target_size(300, 400, options), cv::Size(400, 300));
  options.max_size(10);
  EXPECT_EQ(target_size(1, 4000, options), cv::Size(10, 1));
}

TEST(Stylizer, PreserveColorKeepsTheContentsChroma) {
  auto content = content_image(40, 52);
  StylizeOptions options;
  auto stylized = Stylizer(small_net(), torch::kCPU, options).stylize_tensor(content);
  options.preserve_color(true);
  auto preserved = Stylizer(small_net(), torch::kCPU, options).stylize_tensor(content);
  auto ycbcr = [](const torch::Tensor& rgb) {
    auto r = rgb[0], g = rgb[1], b = rgb[2];
    return torch::stack({0.299 * r + 0.587 * g + 0.114 * b, -0.168736 * r - 0.331264 * g + 0.5 * b,
                         0.5 * r - 0.418688 * g - 0.081312 * b});
  };
  auto unclamped = ((preserved > 0.5) & (preserved < 254.5)).all(0);
  ASSERT_GT(unclamped.sum().item<int64_t>(), 40 * 52 / 2);
  auto a = ycbcr(preserved), c = ycbcr(content), s = ycbcr(stylized);
  for (int channel : {1, 2})
    EXPECT_LT((a[channel] - c[channel]).abs().masked_select(unclamped).max().item<float>(), 0.05f) << channel;
  EXPECT_LT((a[0] - s[0]).abs().masked_select(unclamped).max().item<float>(), 0.05f);
  EXPECT_GT((a[0] - c[0]).abs().mean().item<float>(), 5.0f);  // the luminance did change
}

TEST(Stylizer, StrengthBlendsWithTheContent) {
  auto content = content_image(24, 20);
  StylizeOptions options;
  auto full = Stylizer(small_net(), torch::kCPU, options).stylize_tensor(content);
  options.strength(0);
  EXPECT_TRUE(torch::allclose(Stylizer(small_net(), torch::kCPU, options).stylize_tensor(content), content, 0, 1e-3));
  options.strength(0.25);
  auto quarter = Stylizer(small_net(), torch::kCPU, options).stylize_tensor(content);
  EXPECT_TRUE(torch::allclose(quarter, 0.25 * full + 0.75 * content, 0, 1e-3));
  EXPECT_GT((full - content).abs().mean().item<float>(), 5.0f);
}

TEST(Stylizer, Bf16WarningOnlyWhereBf16IsEmulated) {
  EXPECT_EQ(bf16_warning(Precision::fp32, torch::kCPU), "");
  EXPECT_EQ(bf16_warning(Precision::bf16, torch::Device("cuda")), "");
  EXPECT_EQ(bf16_warning(Precision::bf16, torch::kCPU).empty(), cpu_runs_bf16_natively());
}

TEST(Stylizer, Bfloat16IsCloseToFloat32) {
  if (!cpu_runs_bf16_natively()) {
    // LibTorch's reference bf16 path accumulates in bf16 (measured here: mean 8, max 46 grey levels
    // off); the tools warn instead (Bf16WarningOnlyWhereBf16IsEmulated), the bound below is oneDNN's.
    EXPECT_CONTAINS(bf16_warning(Precision::bf16, torch::kCPU), "no AVX-512");
    GTEST_SKIP() << "this CPU has no AVX-512: bf16 runs in LibTorch's reference path (the tools warn)";
  }
  auto content = content_image(64, 80);
  StylizeOptions options;
  auto fp32 = Stylizer(small_net(16), torch::kCPU, options).stylize_tensor(content);
  options.precision(Precision::bf16);
  auto bf16 = Stylizer(small_net(16), torch::kCPU, options).stylize_tensor(content);
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat32);
  const auto diff = (bf16 - fp32).abs();
  EXPECT_LT(diff.mean().item<float>(), 2.0f);
  EXPECT_LT(diff.max().item<float>(), 24.0f);
  EXPECT_GT((fp32 - content).abs().mean().item<float>(), 5.0f);
}

TEST(Stylizer, TilesCoverTheImageAndAgreeWithTheWholeImage) {
  // Batch norm in eval mode makes the net translation-equivariant apart from its borders, so tiles
  // must reproduce the whole-image result up to the receptive field near tile edges.
  torch::manual_seed(2);
  TransformerNet net(TransformerNetOptions().width(4).res_blocks(1).norm(NormKind::batch));
  {
    torch::NoGradGuard no_grad;
    net->named_parameters()["deconv3.conv2d.weight"].mul_(60);
    net->named_parameters()["deconv3.conv2d.bias"].add_(128);
  }
  auto content = content_image(152, 204);  // multiples of 4: no padding shifts the stride-2 grids
  StylizeOptions options;
  auto whole = Stylizer(net, torch::kCPU, options).stylize_tensor(content);
  options.tile(64);
  auto tiled = Stylizer(net, torch::kCPU, options).stylize_tensor(content);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const auto diff = (tiled - whole).abs();
  EXPECT_LT(diff.mean().item<float>(), 1.0f);
  EXPECT_GT((whole - content).abs().mean().item<float>(), 5.0f);
  // Away from every tile's border (the first tile's interior) the results are the same.
  EXPECT_LT(diff.narrow(1, 10, 20).narrow(2, 10, 20).max().item<float>(), 0.01f);
}

TEST(Stylizer, RefusesImagesTooLargeForMemory) {
  Stylizer stylizer(small_net(), torch::kCPU, {});
  // A 100000x100000 view costs no memory itself; the stylizer must refuse before allocating.
  auto huge = torch::zeros({3, 1, 1}).expand({3, 100001, 99999});  // padding would copy it: refuse first
  try {
    stylizer.stylize_tensor(huge);
    FAIL() << "no refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("use --max-size"), std::string::npos) << e.what();
  }
}

TEST(NstInfer, SingleImageKeepsItsOddSize) {
  TempDir dir;
  const auto model = save_small_model(dir);
  write_image(dir / "odd.png", content_image(37, 23));
  auto result = test::run_command(nst_infer() + " --model " + model + " --input " + (dir / "odd.png") + " --output " +
                                  (dir / "out/odd.jpg") + " --threads 1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto out = cv::imread(dir / "out/odd.jpg");
  EXPECT_EQ(out.cols, 23);
  EXPECT_EQ(out.rows, 37);
  // --max-size shrinks the longest side.
  result = test::run_command(nst_infer() + " --model " + model + " --input " + (dir / "odd.png") + " --output " +
                             (dir / "small.png") + " --max-size 18");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(cv::imread(dir / "small.png").size(), cv::Size(11, 18));
}

TEST(NstInfer, FolderWithBadFilesWritesTheGoodOnesAndFails) {
  TempDir dir;
  const auto model = save_small_model(dir);
  fs::create_directories(dir / "in/sub");
  write_image(dir / "in/a.jpg", content_image(30, 40));
  write_image(dir / "in/sub/b.png", content_image(21, 17));
  std::vector<uchar> png;
  cv::imencode(".png", tensor_to_mat(content_image(30, 30)), png);
  write_bytes(dir / "in/corrupt.png", std::string(png.begin(), png.begin() + png.size() / 2));
  write_bytes(dir / "in/empty.jpg", "");
  write_bytes(dir / "in/notes.jpg", "this is a text file, not a JPEG\n");
  write_bytes(dir / "in/readme.txt", "ignored: not an image extension\n");
  const std::string command = nst_infer() + " --model " + model + " --input " + (dir / "in") + " --output " + (dir / "out");
  auto result = test::run_command(command);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(cv::imread(dir / "out/a.jpg").size(), cv::Size(40, 30));
  EXPECT_EQ(cv::imread(dir / "out/sub/b.png").size(), cv::Size(17, 21));
  for (const char* bad : {"corrupt.png", "empty.jpg", "notes.jpg"}) {
    EXPECT_NE(result.output.find(dir / "in/" + bad), std::string::npos) << bad << "\n" << result.output;
    EXPECT_FALSE(fs::exists(dir / "out/" + bad)) << bad;
  }
  EXPECT_NE(result.output.find("2 images written, 3 failed"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("readme.txt"), std::string::npos);

  // Resuming skips what exists; --output-ext changes the format.
  result = test::run_command(command + " --skip-existing");
  EXPECT_NE(result.output.find("0 images written, 2 skipped (output exists), 3 failed"), std::string::npos) << result.output;
  fs::remove_all(dir / "in/corrupt.png"), fs::remove(dir / "in/empty.jpg"), fs::remove(dir / "in/notes.jpg");
  result = test::run_command(command + " --output-ext png");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(fs::exists(dir / "out/a.png"));
}

TEST(NstInfer, FolderNeverWritesOverItsInputs) {
  TempDir dir;
  const auto model = save_small_model(dir);
  fs::create_directories(dir / "in"), fs::create_directories(dir / "elsewhere");
  write_image(dir / "elsewhere/original.png", content_image(20, 24));
  const auto original = read_image(dir / "elsewhere/original.png");
  fs::create_symlink(dir / "elsewhere/original.png", dir / "in/linked.png");
  auto result = test::run_command(nst_infer() + " --model " + model + " --input " + (dir / "in") + " --output " + (dir / "out"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(fs::exists(dir / "out/linked.png")) << result.output;  // beside the link's name, not its target
  EXPECT_TRUE(torch::equal(read_image(dir / "elsewhere/original.png"), original));

  write_image(dir / "in/photo.jpg", content_image(20, 24));
  write_image(dir / "in/photo.png", content_image(20, 24));
  result = test::run_command(nst_infer() + " --model " + model + " --input " + (dir / "in") + " --output " + (dir / "in") +
                             " --output-ext png");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("would overwrite an input image"), std::string::npos) << result.output;
}

// N workers with --shard I/N together write exactly the outputs of one unsharded run, each image
// once; a shard keeps its files when others are added; --input-list mirrors listed paths.
TEST(NstInfer, ShardsTogetherEqualOneRunEachFileOnce) {
  TempDir dir;
  const auto model = save_small_model(dir);
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) {
    names.push_back((i % 3 ? "" : "sub/") + std::string("img") + std::to_string(i) + ".png");
    fs::create_directories(fs::path(dir / ("in/" + names.back())).parent_path());
    write_image(dir / ("in/" + names.back()), content_image(12 + i, 16));
  }
  const std::string base = nst_infer() + " --model " + model + " --input " + (dir / "in") + " --output ";
  auto whole = test::run_command(base + (dir / "whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  std::map<std::string, int> written;  // relative output path -> number of shards that wrote it
  std::vector<int> per_shard(3, 0);
  for (int shard = 0; shard < 3; ++shard) {
    const std::string out = dir / ("shard" + std::to_string(shard));
    const auto result = test::run_command(base + out + " --shard " + std::to_string(shard) + "/3");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_CONTAINS(result.output, "nst-infer: shard " + std::to_string(shard) + "/3 (");
    EXPECT_CONTAINS(result.output, " of 12 images): ");
    for (const auto& entry : fs::recursive_directory_iterator(out)) {
      if (!entry.is_regular_file()) continue;
      const std::string relative = fs::relative(entry.path(), out).generic_string();
      ++written[relative];
      ++per_shard[shard];
      EXPECT_EQ(test::read_bytes(entry.path()), test::read_bytes(dir / ("whole/" + relative))) << relative;
    }
  }
  ASSERT_EQ(written.size(), names.size());
  for (const auto& name : names) EXPECT_EQ(written[name], 1) << name;
  for (int shard = 0; shard < 3; ++shard) EXPECT_GT(per_shard[shard], 0) << shard;  // the hash spreads the files

  // Adding files moves no existing file to another shard.
  std::set<std::string> before;
  for (const auto& name : names) if (in_shard(name, {1, 3})) before.insert(name);
  write_image(dir / "in/new.png", content_image(10, 10));
  fs::remove_all(dir / "shard1");
  ASSERT_EQ(test::run_command(base + (dir / "shard1") + " --shard 1/3").exit_code, 0);
  for (const auto& name : names) EXPECT_EQ(fs::exists(dir / ("shard1/" + name)), before.count(name) > 0) << name;

  // --input-list: paths relative to the list's folder, mirrored; the shard key is the line.
  test::write_bytes(dir / "list.txt", "# frames\nin/img1.png\n\nin/sub/img3.png\n" + (dir / "in/img2.png") + "\n");
  const auto listed = test::run_command(nst_infer() + " --model " + model + " --input-list " + (dir / "list.txt") + " --output " + (dir / "listed"));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_CONTAINS(listed.output, "3 images written");
  EXPECT_TRUE(fs::exists(dir / "listed/in/img1.png"));
  EXPECT_TRUE(fs::exists(dir / "listed/in/sub/img3.png"));
  EXPECT_TRUE(fs::exists(dir / ("listed/" + fs::path(dir / "in/img2.png").relative_path().string())));
  test::write_bytes(dir / "escape.txt", "../outside.png\n");
  const auto escape = test::run_command(nst_infer() + " --model " + model + " --input-list " + (dir / "escape.txt") + " --output " + (dir / "listed"));
  EXPECT_EQ(escape.exit_code, 1);
  EXPECT_CONTAINS(escape.output, "escape.txt:1: '../outside.png' would be written outside the output directory");
}

// A shard with a failed file says so in its summary line and exits 1; the rerun with
// --skip-existing finishes only what is missing.
TEST(NstInfer, AShardWithAFailureExitsNonZeroAndItsRerunFinishes) {
  TempDir dir;
  const auto model = save_small_model(dir);
  fs::create_directories(dir / "in");
  write_image(dir / "in/good.png", content_image(12, 12));
  write_bytes(dir / "in/bad.png", "not a png");
  write_bytes(dir / "list.txt", "in/good.png\nin/bad.png\n");
  const std::string command = nst_infer() + " --model " + model + " --input-list " + (dir / "list.txt") + " --output " + (dir / "out") + " --shard 0/1";
  auto result = test::run_command(command);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_CONTAINS(result.output, "1 images written, 1 failed");
  write_image(dir / "in/bad.png", content_image(12, 12));
  result = test::run_command(command + " --skip-existing");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_CONTAINS(result.output, "1 images written, 1 skipped (output exists)");
}

TEST(NstInfer, VideoRoundTripKeepsFrameCountSizeAndRate) {
  TempDir dir;
  const auto model = save_small_model(dir);
  {
    cv::VideoWriter writer(dir / "in.avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 12.0, cv::Size(36, 28));
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 6; ++i) writer.write(tensor_to_mat(content_image(28, 36).roll(i * 3, 2)));
  }
  auto result = test::run_command(nst_infer() + " --model " + model + " --input " + (dir / "in.avi") + " --output " +
                                  (dir / "out.avi"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("6 frames written"), std::string::npos) << result.output;
  cv::VideoCapture capture(dir / "out.avi");
  ASSERT_TRUE(capture.isOpened());
  EXPECT_DOUBLE_EQ(capture.get(cv::CAP_PROP_FPS), 12.0);
  int frames = 0;
  cv::Mat frame;
  while (capture.read(frame)) {
    EXPECT_EQ(frame.size(), cv::Size(36, 28));
    ++frames;
  }
  EXPECT_EQ(frames, 6);
  for (const auto& entry : fs::directory_iterator(dir.str()))  // no temporary left behind
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

TEST(NstInfer, FirstFramesOfTheOpencvSampleVideo) {
  const std::string vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  NST_REQUIRE_OR_SKIP(fs::exists(vtest), "opencv-doc not installed (scripts/bootstrap.sh installs it)");
  TempDir dir;
  const auto model = save_small_model(dir);
  auto result = test::run_command(nst_infer() + " --model " + model + " --input " + vtest + " --output " +
                                  (dir / "vtest.mp4") + " --max-frames 3 --max-size 96");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  cv::VideoCapture capture(dir / "vtest.mp4");
  cv::Mat frame;
  ASSERT_TRUE(capture.read(frame));
  EXPECT_EQ(frame.size(), cv::Size(96, 72));  // 768x576 shrunk
  EXPECT_EQ(capture.get(cv::CAP_PROP_FRAME_COUNT), 3);
}

TEST(NstInfer, BadCommandLinesGiveOneLineErrors) {
  TempDir dir;
  const auto model = save_small_model(dir);
  write_image(dir / "in.png", content_image(20, 20));
  write_bytes(dir / "bad.safetensors", "not a model\n");
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"--model " + model + " --input " + (dir / "missing.png") + " --output " + (dir / "o.png"), "missing.png: no such file"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.png") + " --colour", "--colour"},
      {"--model " + (dir / "bad.safetensors") + " --input " + (dir / "in.png") + " --output " + (dir / "o.png"),
       dir / "bad.safetensors: "},
      {"--model " + model + " --input " + (dir / "bad.safetensors") + " --output " + (dir / "o.png"), "bad.safetensors"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.xyz"), "o.xyz: the output of an image must be an image file"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.png") + " --strength 2", "--strength"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.png") + " --precision fp8", "--precision"},
      {"--input " + (dir / "in.png") + " --output " + (dir / "o.png"), "--model"},
      {"--model " + model + " --output " + (dir / "o.png"), "give --input PATH or --input-list FILE"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.png") + " --shard 3/3",
       "--shard must be I/N with 0 <= I < N (e.g. 0/4 ... 3/4), got '3/3'"},
      {"--model " + model + " --input " + (dir / "in.png") + " --output " + (dir / "o.png") + " --shard 1/2",
       "--shard needs a directory --input or an --input-list"},
      {"--model " + model + " --input-list " + (dir / "absent.txt") + " --output " + (dir / "o"), "absent.txt: no such file"},
  };
  for (const auto& c : cases) {
    auto result = test::run_command(nst_infer() + " " + c.args);
    // On a machine's first run, precision auto may first say what it measured (one line, once).
    if (result.output.rfind("nst-infer: --precision auto: ", 0) == 0) result.output.erase(0, result.output.find('\n') + 1);
    EXPECT_EQ(result.exit_code, 1) << c.args << "\n" << result.output;
    EXPECT_EQ(line_count(result.output), 1u) << result.output;
    EXPECT_EQ(result.output.rfind("nst-infer: error: ", 0), 0u) << result.output;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << result.output;
  }
  EXPECT_FALSE(fs::exists(dir / "o.png"));
}

TEST(NstInfer, HelpListsEveryOptionWithItsDefault) {
  auto result = test::run_command(nst_infer() + " --help");
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--model", "--input", "--output", "--max-size", "--scale", "--preserve-color", "--strength",
                             "--precision", "--threads", "--device", "--quality", "--skip-existing", "--output-ext",
                             "--fourcc", "--max-frames", "--tile", "--shard", "--input-list", "=95", "=auto"})
    EXPECT_NE(result.output.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace nst
