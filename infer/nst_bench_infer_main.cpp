// nst-bench-infer: the measurements behind scripts/bench_infer.sh. Median stylization time per
// image size and precision, and the bf16 output error against fp32; also writes the random-weight
// model and the JPEG folder the end-to-end run uses. Figures come from here, never from unit tests.
#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/command_line.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "core/tool.h"
#include "data/image_io.h"
#include "data/precision_cache.h"
#include "infer/conv_peak.h"
#include "infer/precision_auto.h"
#include "infer/stylizer.h"
#include "nets/model_file.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

cv::Size parse_size(const std::string& text) {
  int w = 0, h = 0;
  char x = 0;
  std::istringstream in(text);
  if (!(in >> w >> x >> h) || x != 'x' || w < 1 || h < 1) throw std::runtime_error("bad size '" + text + "' (expected WxH)");
  return {w, h};
}

// A photo cropped and resized to exactly `size` (so timings and errors see natural image content).
cv::Mat photo_of_size(const cv::Mat& photo, cv::Size size) {
  const double scale = std::max(static_cast<double>(size.width) / photo.cols, static_cast<double>(size.height) / photo.rows);
  const cv::Mat resized = nst::resize_to(photo, cv::Size(std::max(size.width, cvRound(photo.cols * scale)),
                                                         std::max(size.height, cvRound(photo.rows * scale))));
  const int x = (resized.cols - size.width) / 2, y = (resized.rows - size.height) / 2;
  return resized(cv::Rect(x, y, size.width, size.height)).clone();
}

// The random-weight stand-in for a trained model: default architecture, last conv scaled so the
// output spans 0..255 as a trained net's does (so bf16 errors are on a realistic scale).
nst::TransformerNet random_net() {
  torch::manual_seed(0);
  nst::TransformerNet net;
  torch::NoGradGuard no_grad;
  auto params = net->named_parameters();
  for (auto& item : params)
    if (item.key().find("in") == 0 || item.key().find(".in") != std::string::npos) item.value().uniform_(0.5, 1.5);
  params["deconv3.conv2d.weight"].mul_(60);
  params["deconv3.conv2d.bias"].add_(128);
  return net;
}

double now_seconds(bool cpu_time) {
  timespec t;
  clock_gettime(cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// --make-images: `count` JPEGs of side x side cut from the photos under source_dir (or `photo`).
void make_images(const cv::Mat& photo, const std::string& source_dir, const std::string& images_dir, int count, int side) {
  std::vector<std::string> sources;
  if (!source_dir.empty())
    for (const auto& entry : fs::recursive_directory_iterator(source_dir))
      if (entry.is_regular_file() && nst::has_image_extension(entry.path().string())) sources.push_back(entry.path());
  std::sort(sources.begin(), sources.end());
  fs::create_directories(images_dir);
  for (int i = 0; i < count; ++i) {
    cv::Mat source = sources.empty() ? photo : nst::read_image_bgr(sources[i % sources.size()]);
    if (sources.size() < static_cast<size_t>(count))  // reused photos: shift so every file differs
      source = source(cv::Rect(i % 7, i % 5, source.cols - 7, source.rows - 5)).clone();
    char name[32];
    std::snprintf(name, sizeof name, "img%04d.jpg", i);
    nst::write_image_bgr((fs::path(images_dir) / name).string(), photo_of_size(source, {side, side}), 90);
  }
  std::cerr << "nst-bench-infer: wrote " << count << " JPEGs of " << side << "x" << side << " to " << images_dir << "\n";
}

// One --precisions entry: fp32 or bf16 (the packed forward), "-module" appended for the module's
// own forward (its layout reorders around every convolution, as before issue 14), "bf16-autocast"
// (fp32 weights under bf16 autocast), or "auto" (what nst-infer would choose for this input, cached
// per machine).
struct Variant {
  nst::Precision precision = nst::Precision::fp32;
  bool module = false, autocast = false;
};

Variant parse_variant(nst::TransformerNet& net, const std::string& text, const torch::Tensor& input) {
  if (text == "bf16-autocast") return {nst::Precision::fp32, true, true};
  const std::string suffix = "-module";
  const bool module = text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
  const auto setting =
      nst::kPrecisionSettingChoices.parse(module ? text.substr(0, text.size() - suffix.size()) : text, "--precisions entry");
  if (setting) return {*setting, module, false};
  return {nst::resolve_inference_precision(net, torch::kCPU, cv::Size(input.size(2), input.size(1)), std::cerr), module, false};
}

// Median seconds of `repeats` stylizations (after a warm-up run) and the last output, rounded to 8 bits.
std::pair<double, torch::Tensor> time_stylization(nst::TransformerNet& net, const Variant& variant,
                                                  const torch::Tensor& input, int repeats, bool cpu_time) {
  nst::StylizeOptions options;
  options.precision(variant.precision);
  options.packed(!variant.autocast && !variant.module);
  nst::Stylizer stylizer(nst::copy_net(net), torch::kCPU, options);
  nst::AutocastScope scope(variant.autocast ? nst::Precision::bf16 : nst::Precision::fp32, torch::kCPU);
  std::vector<double> times;
  torch::Tensor output;
  for (int run = 0; run <= repeats; ++run) {
    const double start = now_seconds(cpu_time);
    output = stylizer.stylize_tensor(input);
    const double seconds = now_seconds(cpu_time) - start;
    if (run > 0) times.push_back(seconds);  // run 0 warms up (oneDNN primitive creation)
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], output.round()};  // errors as the user sees them: 8-bit values
}

// --peak: the net's convolution GFLOP/s at each size and precision against the same convolutions
// timed alone in oneDNN's blocked layout (infer/conv_peak.h).
void print_peak_table(nst::TransformerNet& net, const std::vector<std::string>& sizes, const std::vector<std::string>& precisions,
                      const cv::Mat& photo, int repeats) {
  std::cout << "\n| size | precision | net s/img | net conv GFLOP/s | conv peak GFLOP/s | share of peak |\n|---|---|---|---|---|---|\n";
  for (const auto& size_text : sizes) {
    const cv::Size size = parse_size(size_text);
    const auto input = nst::mat_to_tensor(photo_of_size(photo, size));
    const auto shapes = nst::conv_shapes(net->options(), (size.height + 3) / 4 * 4, (size.width + 3) / 4 * 4);
    for (const auto& text : precisions) {
      const Variant variant = parse_variant(net, text, input);
      if (variant.autocast) continue;  // same convolutions as bf16
      const nst::Precision precision = variant.precision;
      const double seconds = time_stylization(net, variant, input, repeats, false).first;
      const nst::ConvPeak peak = nst::measure_conv_peak(shapes, precision, repeats);
      const double net_gflops = nst::total_flops(shapes) / seconds * 1e-9;
      char row[200];
      std::snprintf(row, sizeof row, "| %s | %s%s | %.3f | %.1f | %.1f | %.0f%% |\n", size_text.c_str(), text.c_str(),
                    text == "auto" ? (" (" + nst::kPrecisionChoices.name(precision) + ")").c_str() : "", seconds,
                    net_gflops, peak.gflops(), 100 * net_gflops / peak.gflops());
      std::cout << row << std::flush;
    }
  }
}

// One markdown row: the median time per precision, then each precision's error against the first.
void print_row(const std::string& size_text, const std::vector<std::pair<double, torch::Tensor>>& results) {
  std::cout << "| " << size_text << " |";
  char cell[64];
  for (const auto& result : results) {
    std::snprintf(cell, sizeof cell, " %.3f |", result.first);
    std::cout << cell;
  }
  for (size_t i = 1; i < results.size(); ++i) {
    const auto diff = (results[i].second - results[0].second).abs();
    std::snprintf(cell, sizeof cell, " %.0f / %.2f |", diff.max().item<double>(), diff.mean().item<double>());
    std::cout << cell;
  }
  std::cout << "\n" << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-bench-infer", [&] {
    CLI::App app{"Inference benchmark: median stylization time per size and precision, bf16 error vs fp32.",
                 "nst-bench-infer"};
    app.option_defaults()->always_capture_default();
    std::string model_path, sizes = "256x256,512x512,1024x1024,1920x1080", precisions = "fp32,bf16,bf16-autocast";
    std::string photo_path = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg", save_model_path, images_dir,
                source_dir;
    int repeats = 5, threads = 0, count = 100, side = 512;
    bool cpu_time = false, peak = false;
    app.add_option("--model", model_path, "Model file (empty = default architecture with random weights)");
    app.add_option("--sizes", sizes, "Comma-separated WxH sizes");
    app.add_option("--precisions", precisions,
                   "Comma-separated: fp32, bf16 (bf16 weights), bf16-autocast, auto (what nst-infer picks here); fp32, bf16 "
                   "and auto with -module (e.g. bf16-module) run the module's forward instead of the packed one");
    app.add_flag("--peak", peak,
                 "Also time the net's convolutions alone in oneDNN's blocked layout per size and precision (auto = the "
                 "chosen one) and print the net's GFLOP/s as a share of that peak");
    app.add_option("--repeats", repeats, "Timed runs per size (after one warm-up)")->check(CLI::PositiveNumber);
    nst::add_threads_option(app, threads);
    app.add_flag("--cpu-time", cpu_time,
                 "Measure process CPU time instead of wall time (with --threads 1: robust to other load)");
    app.add_option("--photo", photo_path, "Photo resized to each size as the input");
    app.add_option("--save-model", save_model_path, "Only write the model used (random weights unless --model) here");
    app.add_option("--make-images", images_dir, "Only write --count JPEGs of --side x --side into this directory");
    app.add_option("--source", source_dir, "Photos to cut the --make-images JPEGs from (default: --photo)");
    app.add_option("--count", count, "Number of JPEGs for --make-images")->check(CLI::PositiveNumber);
    app.add_option("--side", side, "Side of the --make-images JPEGs")->check(CLI::PositiveNumber);
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-bench-infer")) return *status;
    const int used_threads = nst::configure_threads(threads);
    if (!getenv("NST_BENCH_DEFAULT_MALLOC")) nst::reuse_freed_memory();  // the env var measures its effect
    const cv::Mat photo = nst::read_image_bgr(photo_path);
    if (!images_dir.empty()) {
      make_images(photo, source_dir, images_dir, count, side);
      return 0;
    }
    nst::TransformerNet net = model_path.empty() ? random_net() : nst::load_model(model_path).net;
    if (!save_model_path.empty()) {
      nst::save_model(save_model_path, net, {{"note", "random weights for benchmarking"}});
      return 0;
    }

    std::cout << "# CPU: " << nst::machine_fingerprint(torch::kCPU) << "\n";
    std::cout << "# " << (model_path.empty() ? "default TransformerNet, random weights" : model_path) << ", "
              << used_threads << " threads, input " << fs::path(photo_path).filename().string()
              << " resized; median " << (cpu_time ? "process CPU time" : "wall time") << " of " << repeats
              << " runs after a warm-up\n";
    const auto precision_list = split(precisions);
    std::cout << "| size |";
    for (const auto& p : precision_list) std::cout << " " << p << " s/img |";
    for (size_t i = 1; i < precision_list.size(); ++i)
      std::cout << " " << precision_list[i] << " vs fp32 max / mean abs err |";
    std::cout << "\n|---|";
    for (size_t i = 1; i < 2 * precision_list.size(); ++i) std::cout << "---|";
    std::cout << "\n";
    for (const auto& size_text : split(sizes)) {
      const auto input = nst::mat_to_tensor(photo_of_size(photo, parse_size(size_text)));
      std::vector<std::pair<double, torch::Tensor>> results;
      for (const auto& text : precision_list)
        results.push_back(time_stylization(net, parse_variant(net, text, input), input, repeats, cpu_time));
      print_row(size_text, results);
    }
    if (peak) print_peak_table(net, split(sizes), precision_list, photo, repeats);
    return 0;
  });
}
