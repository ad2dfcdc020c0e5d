// Issue 10 parts 2-4: tiles with thumbnail instance normalization (equal to the whole image, no
// seams, chosen automatically), --stroke-scale, and images with alpha, 16 bits or one channel.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <tuple>

#include "data/image_io.h"
#include "infer/stylizer.h"
#include "infer/tiling.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::small_net;
using test::TempDir;

// A colourful image with detail at several scales, float RGB [3,H,W] in 0..255.
torch::Tensor photo(int64_t height, int64_t width) {
  auto y = torch::linspace(0, 1, height).view({1, height, 1});
  auto x = torch::linspace(0, 1, width).view({1, 1, width});
  auto phase = torch::tensor({0.0f, 2.0f, 4.0f}).view({3, 1, 1});
  auto image = 127.5 + 70 * torch::sin(6 * x + 4 * y + phase) + 30 * torch::sin(40 * x * y + 3 * phase);
  return image.clamp(0, 255);
}

double max_abs(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(NormStatistics, FixedStatisticsOfTheSameInputGiveTheSameOutput) {
  auto net = small_net(8);
  auto x = torch::rand({1, 3, 40, 48}) * 255;
  torch::NoGradGuard no_grad;
  const auto plain = net(x);
  const auto statistics = net->record_norm_statistics(x);
  ASSERT_EQ(statistics.size(), 7u);  // in1..in5 and the block's in1, in2
  EXPECT_EQ(statistics[0].mean.sizes(), (std::vector<int64_t>{8}));
  // in1's statistics are those of conv1's output.
  auto [var, mean] = torch::var_mean(net->named_children()["conv1"]->as<ConvLayer>()->forward(x), {0, 2, 3}, false);
  EXPECT_LT(max_abs(statistics[0].mean, mean), 1e-3);
  EXPECT_LT(max_abs(statistics[0].var, var), 1e-2 * var.max().item<double>());
  EXPECT_TRUE(torch::equal(net(x), plain));  // recording leaves the net as it was
  net->use_norm_statistics(statistics);
  EXPECT_LT(max_abs(net(x), plain), 0.05);
  // Fixed statistics apply to other inputs too: a crop no longer normalizes with its own.
  const auto crop = x.narrow(2, 0, 20);
  const auto fixed_crop = net(crop);
  net->use_norm_statistics({});
  EXPECT_GT(max_abs(net(crop), fixed_crop), 1.0);
  EXPECT_TRUE(torch::equal(net(x), plain));
  TransformerNet batch_norm(TransformerNetOptions().width(4).res_blocks(1).norm(NormKind::batch));
  EXPECT_TRUE(batch_norm->record_norm_statistics(x).empty());
}

TEST(Tiles, WithTheWholeImageAsThumbnailTilesEqualTheUntiledResult) {
  const auto content = photo(203, 297);  // not multiples of 4: tiles follow the padded frame
  StylizeOptions options;
  auto whole = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  options.tile(64).thumbnail(1024);
  auto tiled = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  EXPECT_LT(max_abs(tiled, whole), 0.05);
  EXPECT_GT((whole - content).abs().mean().item<float>(), 5.0f);
  // bf16: tiles are as close to the fp32 result as the untiled bf16 run is (bf16 noise).
  options.precision(Precision::bf16);
  auto tiled_bf16 = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  options.tile(0);
  auto whole_bf16 = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  const double noise = (whole_bf16 - whole).abs().mean().item<double>();
  std::cerr << "bf16 mean error: whole " << noise << ", tiles " << (tiled_bf16 - whole).abs().mean().item<double>()
            << ", tiles vs whole " << (tiled_bf16 - whole_bf16).abs().mean().item<double>() << "\n";
  EXPECT_LT((tiled_bf16 - whole).abs().mean().item<double>(), 1.5 * noise + 0.1);
  // The cv::Mat path (tiles read and written one at a time) gives the same 8-bit image.
  StylizeOptions mat_options;
  const cv::Mat bgr = tensor_to_mat(content);
  const cv::Mat whole_mat = Stylizer(small_net(8), torch::kCPU, mat_options).stylize(bgr);
  mat_options.tile(96);
  const cv::Mat tiled_mat = Stylizer(small_net(8), torch::kCPU, mat_options).stylize(bgr);
  EXPECT_LE(cv::norm(whole_mat, tiled_mat, cv::NORM_INF), 1.0);
}

TEST(Tiles, ThumbnailStatisticsLeaveNoSeams) {
  const int64_t height = 256, width = 320;
  const auto content = photo(height, width);
  StylizeOptions options;
  options.tile(64).thumbnail(96);  // statistics from a copy a third the size
  auto tiled = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  // The tiles equal the whole image normalized with the thumbnail's statistics.
  auto net = small_net(8);
  torch::NoGradGuard no_grad;
  auto thumbnail = resize_image(content, 77, 96).unsqueeze(0);
  net->use_norm_statistics(net->record_norm_statistics(pad_for_net(thumbnail, 4, 16).tensor));
  const auto reference = net(content.unsqueeze(0)).squeeze(0).clamp(0, 255);
  EXPECT_LT(max_abs(tiled, reference), 0.05);
  // Across the seams (every 64 px) neighbouring pixels differ no more than inside a tile.
  auto column_steps = (tiled.narrow(2, 1, width - 1) - tiled.narrow(2, 0, width - 1)).abs().mean(std::vector<int64_t>{0, 1});
  auto row_steps = (tiled.narrow(1, 1, height - 1) - tiled.narrow(1, 0, height - 1)).abs().mean(std::vector<int64_t>{0, 2});
  for (const torch::Tensor& steps : std::vector<torch::Tensor>{column_steps, row_steps}) {
    auto seam = torch::zeros_like(steps, torch::kBool);
    for (int64_t at = 64; at < steps.size(0) + 1; at += 64) seam[at - 1] = true;  // step at-1 -> at
    const double seam_max = steps.masked_select(seam).max().item<double>();
    const double inside_max = steps.masked_select(~seam).max().item<double>();
    EXPECT_LE(seam_max, inside_max);
    EXPECT_LT(seam_max, 1.5 * steps.masked_select(~seam).mean().item<double>() + 1.0);
  }
  // The thumbnail's statistics are not the full image's: without them the result differs.
  net->use_norm_statistics({});
  EXPECT_GT(max_abs(net(content.unsqueeze(0)).squeeze(0).clamp(0, 255), tiled), 1.0);
}

// Equal tiles (one shape for the allocator to reuse), each core with its full context or the frame edge.
TEST(Tiles, SpansCoverTheFrameWithTilesOfOneLength) {
  for (const auto& [padded, core, margin] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {8000, 768, 60}, {6000, 768, 60}, {100, 64, 60}, {256, 64, 20}, {300, 512, 60}, {132, 128, 8}}) {
    const auto spans = tile_spans(padded, core, margin);
    ASSERT_FALSE(spans.empty());
    EXPECT_EQ(static_cast<int64_t>(spans.size()), (padded + core - 1) / core) << padded << " " << core;
    int64_t covered = 0;
    for (const TileSpan& span : spans) {
      EXPECT_EQ(span.core_begin, covered);
      EXPECT_LE(span.core_end - span.core_begin, core);
      EXPECT_EQ(span.tile_end - span.tile_begin, spans.front().tile_end - spans.front().tile_begin);
      EXPECT_EQ(span.tile_begin % 4, 0);
      EXPECT_GE(span.tile_begin, 0);
      EXPECT_LE(span.tile_end, padded);
      EXPECT_TRUE(span.tile_begin == 0 || span.core_begin - span.tile_begin >= margin) << span.core_begin;
      EXPECT_TRUE(span.tile_end == padded || span.tile_end - span.core_end >= margin) << span.core_end;
      covered = span.core_end;
    }
    EXPECT_EQ(covered, padded);
  }
}

TEST(Tiles, ChosenAutomaticallyWhenTheWholeImageWouldNotFit) {
  Stylizer stylizer(small_net(), torch::kCPU, {});
  EXPECT_EQ(stylizer.tile_core(300, 400, 0), 0);
  // 60000^2 needs terabytes whole; tiles of a GiB fit.
  const int64_t core = stylizer.tile_core(60000, 60000, 0);
  ASSERT_GT(core, 0);
  EXPECT_EQ(core % 64, 0);
  const int64_t tile = core + 2 * small_net()->receptive_radius();
  EXPECT_LE(stylizer.estimated_bytes(tile, tile), Stylizer::kAutoTileBytes);
  EXPECT_GT(stylizer.estimated_bytes(tile + 64, tile + 64), Stylizer::kAutoTileBytes);
  // Even in tiles an image must fit beside its copies.
  EXPECT_CONTAINS(test::error_of([&] { stylizer.tile_core(60000, 60000, int64_t{1} << 50); }), "use --max-size");
  // An explicit --tile applies only to images larger than it.
  StylizeOptions options;
  options.tile(130);
  Stylizer tiled(small_net(), torch::kCPU, options);
  EXPECT_EQ(tiled.tile_core(100, 130, 0), 0);
  EXPECT_EQ(tiled.tile_core(100, 131, 0), 128);
}

TEST(StrokeScale, StylizesAtAnotherResolutionAndResizesBack) {
  const auto content = photo(96, 128);
  StylizeOptions plain;
  for (double scale : {2.0, 0.5}) {
    StylizeOptions options;
    options.stroke_scale(scale);
    auto out = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
    ASSERT_EQ(out.sizes(), content.sizes());
    const auto h = static_cast<int64_t>(96 / scale), w = static_cast<int64_t>(128 / scale);
    auto expected = resize_image(Stylizer(small_net(8), torch::kCPU, plain).stylize_tensor(resize_image(content, h, w)), 96, 128);
    EXPECT_LT(max_abs(out, expected), 0.05) << scale;
    // The cv::Mat path resizes 8-bit images (rounding the net's input and output): close.
    const cv::Mat mat = Stylizer(small_net(8), torch::kCPU, options).stylize(tensor_to_mat(content));
    const auto mat_diff = (mat_to_tensor(mat) - expected).abs();
    EXPECT_LT(mat_diff.mean().item<float>(), 0.75f) << scale;
    EXPECT_LT(mat_diff.max().item<float>(), 12.0f) << scale;
  }
  // --stroke-detail adds back the luminance the low resolution lost, equally to R, G and B.
  StylizeOptions options;
  options.stroke_scale(2);
  auto coarse = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  options.stroke_detail(true);
  auto detailed = Stylizer(small_net(8), torch::kCPU, options).stylize_tensor(content);
  const auto detail = luminance(content) - luminance(resize_image(resize_image(content, 48, 64), 96, 128));
  const auto unclamped = ((detailed > 0.5) & (detailed < 254.5) & (coarse > 0.5) & (coarse < 254.5)).all(0, true);
  ASSERT_GT(unclamped.sum().item<int64_t>(), 96 * 128 / 2);
  EXPECT_LT((detailed - coarse - detail).abs().masked_select(unclamped.expand({3, 96, 128})).max().item<float>(), 0.05f);
  EXPECT_GT(detail.abs().mean().item<float>(), 0.2f);
}

TEST(ImageFiles, SixteenBitsKeepTheirPrecision) {
  cv::Mat wide(5, 7, CV_16UC3);
  cv::randu(wide, 0, 65536);
  const auto rgb = mat_to_tensor(wide);
  cv::Mat bgr_float;
  wide.convertTo(bgr_float, CV_32F, 1.0 / 257);
  EXPECT_FLOAT_EQ(rgb[0][2][3].item<float>(), bgr_float.at<cv::Vec3f>(2, 3)[2]);
  EXPECT_EQ(cv::norm(tensor_to_mat(rgb, CV_16U), wide, cv::NORM_INF), 0.0);
}

std::string nst_infer() { return test::bin_dir() + "/nst-infer"; }

TEST(NstInfer, AlphaSixteenBitAndGreyscaleImages) {
  TempDir dir;
  auto net = small_net();
  save_model(dir / "model.safetensors", net, {{"style", "test"}});
  const std::string command = nst_infer() + " --model " + (dir / "model.safetensors") + " --input ";
  const cv::Mat bgr = tensor_to_mat(photo(30, 40));
  // RGBA PNG: the output keeps the alpha channel exactly (and JPEG, which has none, drops it).
  cv::Mat alpha(30, 40, CV_8U), bgra;
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x) alpha.at<uchar>(y, x) = static_cast<uchar>((x * 6 + y * 3) % 256);
  cv::merge(std::vector<cv::Mat>{bgr, alpha}, bgra);
  cv::imwrite(dir / "rgba.png", bgra);
  for (const std::string out : {"rgba_out.png", "rgba_out.jpg", "rgba_out.webp"}) {
    auto result = test::run_command(command + (dir / "rgba.png") + " --output " + (dir / out));
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  cv::Mat out = cv::imread(dir / "rgba_out.png", cv::IMREAD_UNCHANGED);
  ASSERT_EQ(out.type(), CV_8UC4);
  cv::Mat out_alpha;
  cv::extractChannel(out, out_alpha, 3);
  EXPECT_EQ(cv::norm(out_alpha, alpha, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::imread(dir / "rgba_out.jpg", cv::IMREAD_UNCHANGED).type(), CV_8UC3);
  EXPECT_EQ(cv::imread(dir / "rgba_out.webp", cv::IMREAD_UNCHANGED).channels(), 4);
  // With --max-size the alpha is resized with the image.
  auto result = test::run_command(command + (dir / "rgba.png") + " --output " + (dir / "small.png") + " --max-size 20");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(cv::imread(dir / "small.png", cv::IMREAD_UNCHANGED).size(), cv::Size(20, 15));

  // 16-bit PNG: 16-bit PNG and TIFF out, 8-bit JPEG out, the same picture.
  cv::Mat wide;
  bgr.convertTo(wide, CV_16U, 257);
  cv::imwrite(dir / "wide.png", wide);
  for (const std::string out : {"wide_out.png", "wide_out.tif", "wide_out.jpg"}) {
    result = test::run_command(command + (dir / "wide.png") + " --output " + (dir / out));
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  const cv::Mat wide_png = cv::imread(dir / "wide_out.png", cv::IMREAD_UNCHANGED);
  EXPECT_EQ(wide_png.type(), CV_16UC3);
  EXPECT_EQ(cv::imread(dir / "wide_out.tif", cv::IMREAD_UNCHANGED).type(), CV_16UC3);
  EXPECT_EQ(cv::imread(dir / "wide_out.jpg", cv::IMREAD_UNCHANGED).type(), CV_8UC3);
  result = test::run_command(command + (dir / "rgba.png") + " --output " + (dir / "narrow_out.png"));
  cv::Mat narrow = cv::imread(dir / "narrow_out.png"), wide_as_8;
  wide_png.convertTo(wide_as_8, CV_8U, 1.0 / 257);
  EXPECT_LE(cv::norm(wide_as_8, narrow, cv::NORM_INF), 1.0);

  // Greyscale (8 and 16 bits) in: a colour image out.
  cv::Mat grey, grey16;
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  grey.convertTo(grey16, CV_16U, 257);
  cv::imwrite(dir / "grey.png", grey);
  cv::imwrite(dir / "grey16.tif", grey16);
  for (const std::string in : {"grey.png", "grey16.tif"}) {
    result = test::run_command(command + (dir / in) + " --output " + (dir / ("out_" + in)));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(cv::imread(dir / ("out_" + in), cv::IMREAD_UNCHANGED).channels(), 3) << in;
  }
  // A folder keeps alpha too.
  std::filesystem::create_directories(dir / "in");
  cv::imwrite(dir / "in/a.png", bgra);
  result = test::run_command(command + (dir / "in") + " --output " + (dir / "out"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(cv::imread(dir / "out/a.png", cv::IMREAD_UNCHANGED).type(), CV_8UC4);
}

TEST(NstInfer, StrokeScaleAndTileOptions) {
  TempDir dir;
  auto net = small_net();
  save_model(dir / "model.safetensors", net, {{"style", "test"}});
  write_image(dir / "in.png", photo(70, 90));
  const std::string command =
      nst_infer() + " --model " + (dir / "model.safetensors") + " --input " + (dir / "in.png") + " --output ";
  for (const std::string options : {"--stroke-scale 2 --stroke-detail", "--stroke-scale 0.5", "--tile 64 --tile-thumbnail 64"}) {
    auto result = test::run_command(command + (dir / "out.png") + " " + options);
    ASSERT_EQ(result.exit_code, 0) << options << "\n" << result.output;
    EXPECT_EQ(cv::imread(dir / "out.png").size(), cv::Size(90, 70)) << options;
  }
  for (const std::string bad : {"--stroke-scale 0", "--stroke-scale 9", "--tile-thumbnail 10", "--tile 10"}) {
    auto result = test::run_command(command + (dir / "bad.png") + " " + bad);
    EXPECT_EQ(result.exit_code, 1) << bad;
    EXPECT_CONTAINS(result.output, bad.substr(0, bad.find(' ')));
  }
}

}  // namespace
}  // namespace nst
