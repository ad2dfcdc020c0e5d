// nst-bench-deploy: OpenCV DNN running the exported ONNX model vs nst's own LibTorch stylizer on
// the same image: median seconds per image (cv::Mat in, 8-bit cv::Mat out, both) and agreement in
// grey levels. scripts/bench_deploy.sh runs it; figures in docs/deploy.md.
#include <CLI/CLI.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/command_line.h"
#include "data/image_io.h"
#include "export/onnx_export.h"
#include "infer/stylizer.h"
#include "nets/model_file.h"
#include "core/runtime.h"
#include "core/tool.h"

namespace {

double median_seconds(int repeat, const std::function<void()>& run) {
  run();  // warm-up: first-call allocations, OpenCV's layer set-up
  std::vector<double> times;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// OpenCV DNN on an image whose sides suit the net (no padding needed): BGR 8-bit in and out;
// `raw` keeps the float output (BGR, unclamped).
cv::Mat dnn_stylize(cv::dnn::Net& net, const cv::Mat& bgr, cv::Mat* raw = nullptr) {
  net.setInput(cv::dnn::blobFromImage(bgr, 1.0, cv::Size(), cv::Scalar(), true));
  const cv::Mat out = net.forward();
  std::vector<cv::Mat> planes;
  for (int c = 2; c >= 0; --c) planes.emplace_back(bgr.rows, bgr.cols, CV_32F, const_cast<float*>(out.ptr<float>(0, c)));
  cv::Mat merged, result;
  cv::merge(planes, merged);
  merged.convertTo(result, CV_8UC3);
  if (raw) *raw = merged.clone();
  return result;
}

double max_abs(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  double max = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max);
  return max;
}

cv::Mat test_photo(const std::string& path, int size) {
  cv::Mat image;
  if (!path.empty()) {
    cv::resize(nst::read_image_bgr(path), image, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    return image;
  }
  cv::Mat noise(size / 8, size / 8, CV_8UC3);
  cv::randu(noise, 0, 255);
  cv::resize(noise, image, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  return image;
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-bench-deploy", [&] {
    CLI::App app{"Times OpenCV DNN (exported ONNX) against nst's LibTorch stylizer and measures their agreement.",
                 "nst-bench-deploy"};
    app.option_defaults()->always_capture_default();
    std::string model_path, image_path;
    int size = 512, repeat = 5, threads = 0;
    nst::add_model_option(app, model_path);
    app.add_option("--image", image_path, "Content image, resized to SIZE x SIZE (empty = synthetic)");
    app.add_option("--size", size, "Image side (multiple of 4)")->check(CLI::Range(16, 8192));
    app.add_option("--repeat", repeat, "Timed runs per engine (median reported)")->check(CLI::Range(1, 1000));
    nst::add_threads_option(app, threads, " (both engines)");
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-bench-deploy")) return *status;
    if (size % 4) throw std::runtime_error("--size must be a multiple of 4, got " + std::to_string(size));

    const int used = nst::configure_threads(threads);
    cv::setNumThreads(used);
    nst::reuse_freed_memory();
    nst::TransformerNet net = nst::load_model(model_path).net;
    const std::string onnx = nst::onnx_model_bytes(net, {}, {});
    const cv::Mat photo = test_photo(image_path, size);
    std::printf("image %dx%d, %d threads, median of %d runs\n", size, size, used, repeat);

    cv::Mat nst_out, nst_float;
    for (nst::Precision precision : {nst::Precision::fp32, nst::Precision::bf16}) {
      nst::StylizeOptions options;
      options.precision(precision);
      // A fresh copy each: the bf16 stylizer converts its net's weights in place.
      nst::Stylizer stylizer(nst::load_model(model_path).net, torch::kCPU, options);
      cv::Mat out;
      const double s = median_seconds(repeat, [&] { out = stylizer.stylize(photo); });
      std::printf("nst (LibTorch %s):           %.3f s\n", nst::kPrecisionChoices.name(precision).c_str(), s);
      if (nst_out.empty()) {  // fp32 also as floats (clamped 0..255, BGR) for the float agreement
        nst_out = out;
        const auto rgb = stylizer.stylize_tensor(nst::mat_to_tensor(photo)).permute({1, 2, 0}).flip(2).contiguous();
        nst_float = cv::Mat(size, size, CV_32FC3, rgb.data_ptr<float>()).clone();
      }
    }
    for (bool fusion : {true, false}) {
      cv::dnn::Net dnn = cv::dnn::readNetFromONNX(onnx.data(), onnx.size());
      dnn.enableFusion(fusion);
      cv::Mat out, raw;
      const double s = median_seconds(repeat, [&] { out = dnn_stylize(dnn, photo, &raw); });
      cv::Mat diff, low = cv::max(raw, 0.0);
      cv::absdiff(out, nst_out, diff);
      const cv::Mat clamped = cv::min(low, 255.0);
      std::printf("OpenCV DNN %s (fusion %s): %.3f s; vs nst fp32: 8-bit max %.0f, mean %.4f; float max %.4f grey levels\n",
                  CV_VERSION, fusion ? "on " : "off", s, max_abs(out, nst_out), cv::mean(diff.reshape(1))[0],
                  max_abs(clamped, nst_float));
    }
    return 0;
  });
}
