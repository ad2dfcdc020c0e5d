// Motion between frames (motion/): the flow warp against torch's grid_sample, DIS on a known shift,
// the forward-backward mask on hand-made flows, the warping error on hand-made clips (static: 0;
// injected flicker: the error the flicker predicts), the temporal blend, and nst-eval / nst-infer on
// videos.
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>
#include <sstream>
#include <tuple>

#include "data/image_io.h"
#include "losses/temporal_loss.h"
#include "motion/optical_flow.h"
#include "motion/temporal_blend.h"
#include "motion/warping_error.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

// A textured 8-bit BGR frame (smooth blobs and stripes: DIS finds its motion), `shift` pixels to the
// right and `down` pixels down of the texture at 0.
cv::Mat textured_frame(int height, int width, double shift = 0, double down = 0) {
  cv::Mat frame(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double u = x - shift, v = y - down;
      frame.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(128 + 60 * std::sin(u * 0.21) * std::cos(v * 0.17)),
                                            cv::saturate_cast<uchar>(128 + 70 * std::sin(u * 0.11 + v * 0.23)),
                                            cv::saturate_cast<uchar>(128 + 50 * std::cos(u * 0.31 - v * 0.07)));
    }
  return frame;
}

cv::Mat constant_flow(int height, int width, float dx, float dy) { return cv::Mat(height, width, CV_32FC2, cv::Scalar(dx, dy)); }

// Bilinear and bicubic (OpenCV and PyTorch both use the cubic kernel with a = -0.75). Compared where
// the sample and its kernel lie inside the image: outside, remap reads 0 and grid_sample the edge.
TEST(Motion, WarpByFlowAgreesWithTorchGridSample) {
  const int height = 40, width = 52;
  const torch::Tensor flow = random_smooth_flow(1, height, width, 5.0, 4, 11);
  const cv::Mat image = textured_frame(height, width);
  cv::Mat image_float, flow_mat(height, width, CV_32FC2, flow[0].data_ptr<float>());
  image.convertTo(image_float, CV_32FC3);
  const torch::Tensor flow_0 = flow[0];
  auto vectors = flow_0.accessor<float, 3>();
  for (const auto& [cv_mode, torch_mode, margin] : {std::tuple{cv::INTER_LINEAR, WarpInterpolation::bilinear, 0},
                                                    std::tuple{cv::INTER_CUBIC, WarpInterpolation::bicubic, 2}}) {
    const cv::Mat by_remap = warp_by_flow(image_float, flow_mat.clone(), cv_mode);
    const torch::Tensor by_torch = warp_images(mat_to_tensor(image).unsqueeze(0), flow, torch_mode)[0];  // RGB
    // cv::remap places samples on a 1/32-pixel grid: up to ~0.3 grey levels on this texture.
    int compared = 0;
    double total = 0;
    auto torch_rgb = by_torch.accessor<float, 3>();
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const float sx = x + vectors[y][x][0], sy = y + vectors[y][x][1];
        if (sx < margin || sy < margin || sx > width - 1 - margin || sy > height - 1 - margin) continue;
        const auto bgr = by_remap.at<cv::Vec3f>(y, x);
        for (int c = 0; c < 3; ++c) {
          EXPECT_NEAR(bgr[2 - c], torch_rgb[c][y][x], 0.5) << y << "," << x << " mode " << cv_mode;
          total += std::abs(bgr[2 - c] - torch_rgb[c][y][x]);
        }
        ++compared;
      }
    EXPECT_GT(compared, 0.6 * height * width) << cv_mode;
    EXPECT_LT(total / (3 * compared), 0.1) << cv_mode;
  }
}

TEST(Motion, DisFindsAKnownShiftAndTheWarpUndoesIt) {
  const cv::Mat a = textured_frame(96, 128), b = textured_frame(96, 128, 3, 2);
  OpticalFlow flow(FlowQuality::medium);
  const cv::Mat forward = flow(to_gray(a), to_gray(b)), backward = flow(to_gray(b), to_gray(a));
  const cv::Rect interior(16, 16, 96, 64);
  const cv::Scalar mean_flow = cv::mean(forward(interior));
  EXPECT_NEAR(mean_flow[0], 3.0, 0.3);
  EXPECT_NEAR(mean_flow[1], 2.0, 0.3);
  const cv::Mat mask = consistency_mask(forward, backward);
  EXPECT_GT(cv::mean(mask(interior))[0], 0.95);
  EXPECT_LT(cv::mean(mask.colRange(126, 128))[0], 0.5);  // these pixels leave frame b
  EXPECT_LT(masked_mse(a, warp_by_flow(b, forward), mask), 2e-4);
  EXPECT_GT(masked_mse(a, b, mask), 100 * masked_mse(a, warp_by_flow(b, forward), mask));
}

TEST(Motion, ConsistencyMaskKeepsAgreeingFlowsInsideTheFrame) {
  const cv::Mat forward = constant_flow(20, 30, 2, 0);
  const cv::Mat agree = consistency_mask(forward, constant_flow(20, 30, -2, 0));
  EXPECT_EQ(cv::sum(agree.colRange(0, 28))[0], 20 * 28);
  EXPECT_EQ(cv::sum(agree.colRange(28, 30))[0], 0);  // mapped outside frame b
  EXPECT_EQ(cv::sum(consistency_mask(forward, constant_flow(20, 30, 2, 0)))[0], 0);  // disagree everywhere
  // Small flows pass the consistency test against a zero backward flow; their jump at column 15 is
  // a motion boundary (central differences flag columns 14 and 15).
  cv::Mat boundary = constant_flow(20, 30, 0.2f, 0);
  boundary.colRange(15, 30).setTo(cv::Scalar(-0.2, 0));
  const cv::Mat at_boundary = consistency_mask(boundary, constant_flow(20, 30, 0, 0));
  EXPECT_EQ(cv::sum(at_boundary.colRange(14, 16))[0], 0);
  EXPECT_EQ(cv::sum(at_boundary.colRange(2, 13))[0], 20 * 11);
  EXPECT_EQ(cv::sum(at_boundary.colRange(17, 28))[0], 20 * 11);
  // The temporal blend keeps motion boundaries (DIS fast's patch seams would otherwise be dropped).
  const cv::Mat kept = consistency_mask(boundary, constant_flow(20, 30, 0, 0), MotionBoundaries::kept);
  EXPECT_EQ(cv::sum(kept.colRange(0, 30))[0], 20 * 30);
}

// Blurred noise: a texture that no shift of textured_frame resembles (a scene cut between them).
cv::Mat noise_frame(int height, int width, uint64_t seed) {
  cv::Mat frame(height, width, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(frame, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(frame, frame, cv::Size(0, 0), 2.0);
  cv::normalize(frame, frame, 0, 255, cv::NORM_MINMAX);
  return frame;
}

TEST(Motion, SceneCutsAreToldFromMotion) {
  const cv::Mat a = textured_frame(72, 96), moved = textured_frame(72, 96, 2, 1), other = noise_frame(72, 96, 5);
  OpticalFlow flow(FlowQuality::medium);
  auto cut = [&](const cv::Mat& from, const cv::Mat& to) {
    const cv::Mat forward = flow(to_gray(from), to_gray(to)), backward = flow(to_gray(to), to_gray(from));
    return is_scene_cut(to_gray(from), to_gray(to), forward, consistency_mask(forward, backward));
  };
  EXPECT_FALSE(cut(a, a));
  EXPECT_FALSE(cut(a, moved));
  EXPECT_TRUE(cut(a, other));
  EXPECT_TRUE(cut(other, a));
  // Few visible pixels alone are no cut when those match (a large occlusion).
  const cv::Mat few(72, 96, CV_32F, cv::Scalar(0));
  few(cv::Rect(0, 0, 10, 10)).setTo(1);
  EXPECT_FALSE(is_scene_cut(to_gray(a), to_gray(a), constant_flow(72, 96, 0, 0), few));
  EXPECT_TRUE(is_scene_cut(to_gray(a), to_gray(other), constant_flow(72, 96, 0, 0), few));
}

TEST(Motion, MaskedMseIsTheMeanOverVisiblePixelsAndChannels) {
  cv::Mat a(4, 5, CV_8UC3, cv::Scalar(10, 20, 30)), b(4, 5, CV_8UC3, cv::Scalar(10, 20, 30));
  b.at<cv::Vec3b>(1, 2) = cv::Vec3b(61, 20, 30);  // one pixel differs by 51 = 0.2 in one channel
  b.at<cv::Vec3b>(3, 4) = cv::Vec3b(255, 255, 255);  // masked out
  cv::Mat mask(4, 5, CV_32F, cv::Scalar(1));
  mask.at<float>(3, 4) = 0;
  EXPECT_NEAR(masked_mse(a, b, mask), 0.04 / (19 * 3), 1e-9);
  EXPECT_EQ(masked_mse(a, b, cv::Mat(4, 5, CV_32F, cv::Scalar(0))), 0.0);
}

// A camera pan: frame t is the texture shifted by t pixels; `flicker` adds a brightness offset per frame.
std::vector<cv::Mat> panning_clip(int frames, const std::vector<int>& flicker = {}, cv::Size size = {96, 72}) {
  std::vector<cv::Mat> clip;
  for (int t = 0; t < frames; ++t) {
    cv::Mat frame = textured_frame(size.height, size.width, 1.5 * t, 0.5 * t);
    if (!flicker.empty()) frame += cv::Scalar::all(flicker[t]);
    clip.push_back(frame);
  }
  return clip;
}

TEST(WarpingError, StaticClipHasZeroError) {
  WarpingErrorMeter meter(1);
  const cv::Mat frame = textured_frame(60, 80);
  for (int t = 0; t < 4; ++t) meter.add(frame, {frame});
  EXPECT_EQ(meter.pairs(), 3);
  EXPECT_EQ(meter.errors()[0], 0.0);
  EXPECT_GT(meter.visible_fraction(), 0.99);
}

// A scene cut in the clip: the pair across it is counted, not measured.
TEST(WarpingError, PairsAcrossASceneCutAreLeftOut) {
  const std::vector<cv::Mat> input = {textured_frame(72, 96), textured_frame(72, 96, 1, 0), noise_frame(72, 96, 5),
                                      noise_frame(72, 96, 5)};
  std::vector<cv::Mat> stylized;
  for (const auto& frame : input) stylized.push_back(255 - frame);
  WarpingErrorMeter meter(1);
  for (size_t t = 0; t < input.size(); ++t) meter.add(input[t], {stylized[t]});
  EXPECT_EQ(meter.scene_cuts(), 1);
  EXPECT_EQ(meter.pairs(), 2);
  EXPECT_LT(meter.errors()[0], 5e-4);  // what is left follows the motion
}

TEST(WarpingError, InjectedFlickerAddsTheErrorItPredicts) {
  const std::vector<int> offsets = {0, 20, 0, 20, 0, 20};  // brightness flicker, within 8 bits (texture 8..198+20)
  const auto input = panning_clip(6), flickering = panning_clip(6, offsets);
  WarpingErrorMeter meter(2);
  for (size_t t = 0; t < input.size(); ++t) meter.add(input[t], {input[t], flickering[t]});
  const auto errors = meter.errors();
  EXPECT_LT(errors[0], 5e-4);  // following the motion, the stable clip matches itself
  // Independent prediction: each pair adds (20/255)^2 to the stable clip's error.
  const double predicted = errors[0] + std::pow(20.0 / 255, 2);
  EXPECT_NEAR(errors[1], predicted, 0.05 * predicted);
}

// At two frame sizes the blend removes most of the injected flicker.
TEST(TemporalBlend, ReducesFlickerAndPassesTheFirstFrame) {
  const std::vector<int> offsets = {0, 24, 0, 24, 0, 24, 0, 24};
  for (const cv::Size size : {cv::Size(96, 72), cv::Size(256, 192)}) {
    const auto input = panning_clip(8, {}, size), flickering = panning_clip(8, offsets, size);
    TemporalBlend blend(0.7), off(0.0);
    WarpingErrorMeter meter(2);
    for (size_t t = 0; t < input.size(); ++t) {
      const cv::Mat blended = blend.apply(input[t], flickering[t]);
      const cv::Mat unblended = off.apply(input[t], flickering[t]);
      if (t == 0) {
        EXPECT_EQ(cv::norm(blended, flickering[0], cv::NORM_INF), 0);
      }
      EXPECT_EQ(cv::norm(unblended, flickering[t], cv::NORM_INF), 0);  // amount 0 changes nothing
      meter.add(input[t], {flickering[t], blended});
    }
    const auto errors = meter.errors();
    EXPECT_LT(errors[1], 0.3 * errors[0]) << size;
    EXPECT_EQ(blend.frames(), 8);
    EXPECT_GT(blend.seconds(), 0);
  }
  EXPECT_CONTAINS(test::error_of([] { TemporalBlend bad(1.0); }), "--temporal-blend");
}

// A clip blended with itself stays itself only if the previous output is warped by the right motion
// (4 px right and 2 down per frame; flows of halved frames, tried, missed it by 9 grey levels).
TEST(TemporalBlend, BlendingAClipWithItselfFollowsItsMotion) {
  TemporalBlend blend(0.9);
  cv::Mat last, blended;
  for (int t = 0; t < 6; ++t) {
    last = textured_frame(192, 256, 4.0 * t, 2.0 * t);
    blended = blend.apply(last, last);
  }
  const cv::Rect inside(16, 16, 256 - 32, 192 - 32);
  cv::Mat difference;
  cv::absdiff(blended(inside), last(inside), difference);
  EXPECT_LT(cv::mean(difference)[0], 2.0);
}

// Fine strokes (a 4-pixel period) that move half a pixel per frame with the input: every frame the
// previous output is resampled between pixels, and a bilinear warp halves such strokes' contrast
// each time (to ~0.6 of it under the recursion), which raised the style loss of blended videos.
double fine_contrast(const cv::Mat& bgr) {
  cv::Mat gray, smooth;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  gray.convertTo(gray, CV_32F);
  cv::GaussianBlur(gray, smooth, cv::Size(0, 0), 2.0);
  cv::Scalar mean, deviation;
  cv::meanStdDev((gray - smooth)(cv::Rect(24, 24, gray.cols - 48, gray.rows - 48)), mean, deviation);
  return deviation[0];
}

TEST(TemporalBlend, KeepsTheContrastOfFineStrokesUnderSubPixelMotion) {
  TemporalBlend blend(0.7);
  cv::Mat strokes, blended;
  for (int t = 0; t < 12; ++t) {
    const double shift = 0.5 * t;
    strokes = cv::Mat(144, 192, CV_8UC3);
    for (int y = 0; y < strokes.rows; ++y)
      for (int x = 0; x < strokes.cols; ++x)
        strokes.at<cv::Vec3b>(y, x) = cv::Vec3b::all(cv::saturate_cast<uchar>(128 + 80 * std::sin(CV_PI / 2 * (x - shift))));
    blended = blend.apply(textured_frame(144, 192, shift, 0), strokes);
  }
  EXPECT_GT(fine_contrast(blended), 0.8 * fine_contrast(strokes));
}

// Strokes that change from frame to frame on a still scene (what a per-frame net does): averaging
// them would flatten them; the blend removes most of the flicker and keeps their contrast.
TEST(TemporalBlend, FlickeringStrokesKeepTheirContrast) {
  const cv::Mat scene = textured_frame(144, 192);
  TemporalBlend blend(0.7);
  WarpingErrorMeter meter(2);
  double stylized_contrast = 0, blended_contrast = 0;
  for (int t = 0; t < 10; ++t) {
    cv::Mat noise(scene.size(), CV_32FC3), strokes;
    cv::RNG(static_cast<uint64_t>(t + 1)).fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(25));
    scene.convertTo(strokes, CV_32FC3);
    strokes += noise;
    strokes.convertTo(strokes, CV_8UC3);
    const cv::Mat blended = blend.apply(scene, strokes);
    meter.add(scene, {strokes, blended});
    if (t >= 5) stylized_contrast += fine_contrast(strokes), blended_contrast += fine_contrast(blended);
  }
  const auto errors = meter.errors();
  EXPECT_LT(errors[1], 0.5 * errors[0]);
  EXPECT_NEAR(blended_contrast, stylized_contrast, 0.1 * stylized_contrast);
}

TEST(TemporalBlend, StartsAfreshAfterASceneCut) {
  const std::vector<cv::Mat> input = {textured_frame(72, 96), textured_frame(72, 96, 1, 0), noise_frame(72, 96, 5)};
  const std::vector<cv::Mat> stylized = {cv::Mat(72, 96, CV_8UC3, cv::Scalar(40, 80, 120)),
                                         cv::Mat(72, 96, CV_8UC3, cv::Scalar(60, 100, 140)),
                                         cv::Mat(72, 96, CV_8UC3, cv::Scalar(200, 10, 90))};
  TemporalBlend blend(0.7);
  blend.apply(input[0], stylized[0]);
  const cv::Mat second = blend.apply(input[1], stylized[1]);
  EXPECT_GT(cv::norm(second, stylized[1], cv::NORM_INF), 5);  // blended with the first frame
  EXPECT_EQ(cv::norm(blend.apply(input[2], stylized[2]), stylized[2], cv::NORM_INF), 0);  // nothing of the old scene
  EXPECT_EQ(blend.scene_cuts(), 1);
}

void write_clip(const std::string& path, const std::vector<cv::Mat>& frames) {
  // OpenCV's own MJPEG writer: the FFmpeg one drops the last column / row of odd-sized frames.
  cv::VideoWriter writer(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10.0, frames.front().size());
  ASSERT_TRUE(writer.isOpened()) << path;
  for (const auto& frame : frames) writer.write(frame);
}

nlohmann::json last_json_line(const std::string& output) {
  std::istringstream lines(output);
  nlohmann::json found;
  for (std::string line; std::getline(lines, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) found = parsed;
  }
  return found;
}

// The meter keeps its own copies: a caller (VideoCapture::read) may refill the same Mat in place.
TEST(WarpingError, CallersReusingOneFrameBufferDoNotChangeTheResult) {
  const auto input = panning_clip(5), flickering = panning_clip(5, {0, 30, 0, 30, 0});
  WarpingErrorMeter fresh(1), reused(1);
  cv::Mat buffer(flickering[0].size(), flickering[0].type());
  for (size_t t = 0; t < input.size(); ++t) {
    fresh.add(input[t], {flickering[t].clone()});
    flickering[t].copyTo(buffer);  // same size and type: copyTo writes into the existing buffer
    reused.add(input[t], {buffer});
  }
  EXPECT_DOUBLE_EQ(reused.errors()[0], fresh.errors()[0]);
  EXPECT_GT(fresh.errors()[0], 0.5 * std::pow(30.0 / 255, 2));
}

TEST(NstEvalVideo, ReportsTheWarpingErrorAndTheRatioToABaseline) {
  TempDir dir;
  write_clip(dir / "input.avi", panning_clip(6));
  write_clip(dir / "stable.avi", panning_clip(6));
  write_clip(dir / "flicker.avi", panning_clip(6, {0, 30, 0, 30, 0, 30}));
  const std::string eval = test::bin_dir() + "/nst-eval";
  auto result = test::run_command(eval + " --content " + (dir / "input.avi") + " --stylized " + (dir / "stable.avi") +
                                  " --baseline " + (dir / "flicker.avi") + " --max-frames 5 threads=1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = last_json_line(result.output);
  ASSERT_TRUE(json.contains("ratio")) << result.output;
  EXPECT_EQ(json["frames"], 5);
  EXPECT_EQ(json["pairs"], 4);
  EXPECT_LT(json["ratio"].get<double>(), 0.2);
  EXPECT_NEAR(json["ratio"].get<double>(), json["warping_error"].get<double>() / json["baseline_warping_error"].get<double>(), 1e-9);
  EXPECT_CONTAINS(result.output, "ratio");

  result = test::run_command(eval + " --content " + (dir / "input.avi") + " --stylized " + (dir / "missing.avi") + " threads=1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_CONTAINS(result.output, "missing.avi: no such file");
  result = test::run_command(eval + " --content " + (dir / "input.avi") + " --stylized " + (dir / "x.png") + " threads=1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_CONTAINS(result.output, "must both be videos");
}

// nst-infer on a clip whose sides are not multiples of 4 (nor even): every frame keeps its size, and
// --temporal-blend lowers the warping error of the same model's per-frame output.
TEST(NstInferVideo, OddFrameSizesRoundTripAndTheTemporalBlendStabilizes) {
  TempDir dir;
  auto net = test::small_net();
  save_model(dir / "model.safetensors", net, {{"style", "test"}});
  std::vector<cv::Mat> clip;
  for (int t = 0; t < 6; ++t) clip.push_back(textured_frame(61, 83, 2.0 * t, 1.0 * t));
  write_clip(dir / "input.avi", clip);
  const std::string infer = test::bin_dir() + "/nst-infer --model " + (dir / "model.safetensors") + " --threads 1 --input " +
                            (dir / "input.avi");
  auto result = test::run_command(infer + " --output " + (dir / "per_frame.avi"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = test::run_command(infer + " --output " + (dir / "blended.avi") + " --temporal-blend 0.8");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_CONTAINS(result.output, "temporal blend");
  for (const char* name : {"per_frame.avi", "blended.avi"}) {
    cv::VideoCapture capture(dir / name);
    int frames = 0;
    for (cv::Mat frame; capture.read(frame); ++frames) EXPECT_EQ(frame.size(), cv::Size(83, 61)) << name;
    EXPECT_EQ(frames, 6) << name;
  }
  {
    cv::VideoCapture input(dir / "input.avi");
    cv::Mat frame;
    ASSERT_TRUE(input.read(frame));
    ASSERT_EQ(frame.size(), cv::Size(83, 61)) << "the test clip itself lost its odd column/row";
  }
  const auto clip_error = measure_warping_error(dir / "input.avi", {dir / "blended.avi", dir / "per_frame.avi"}, 0);
  EXPECT_EQ(clip_error.frames, 6);
  EXPECT_LT(clip_error.errors[0], clip_error.errors[1]);
  result = test::run_command(infer + " --output " + (dir / "bad.avi") + " --temporal-blend 1.5");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_CONTAINS(result.output, "--temporal-blend");
}

}  // namespace
}  // namespace nst
