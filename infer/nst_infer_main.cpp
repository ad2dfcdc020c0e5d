// nst-infer: applies a trained style model to an image, a directory of images or a video.
#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/command_line.h"
#include "core/errors.h"
#include "core/file_checks.h"
#include "core/paths.h"
#include "core/runtime.h"
#include "core/signals.h"
#include "core/tool.h"
#include "data/image_header.h"
#include "data/image_io.h"
#include "data/video_io.h"
#include "infer/folder_job.h"
#include "infer/precision_auto.h"
#include "infer/stylizer.h"
#include "infer/video_job.h"
#include "nets/model_file.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One image: fail on a bad output path before spending time on the stylization.
int stylize_one_image(nst::Stylizer& stylizer, const std::string& input, std::string output,
                      const nst::OutputOptions& options) {
  if (fs::is_directory(output)) {
    fs::path target = fs::path(output) / fs::path(input).filename();
    if (!options.extension().empty()) target.replace_extension("." + options.extension());
    output = target.string();
  }
  if (options.skip_existing() && fs::exists(output)) {
    std::cerr << "nst-infer: " << output << " exists, skipped\n";
    return 0;
  }
  if (!cv::haveImageWriter(output))
    throw nst::path_error(output, "cannot write this image format (use .jpg, .png, .webp, .bmp or .tif)");
  nst::create_parent_directories(output);

  const nst::ImageFile image = nst::read_image_file(input);
  const auto start = std::chrono::steady_clock::now();
  cv::Mat result;
  try {
    result = stylizer.stylize(image.bgr);
  } catch (const std::exception& e) {
    throw nst::path_error(input, e.what());
  }
  const double stylize_seconds = seconds_since(start);
  nst::write_image_file(output, result, image.alpha, options.quality());
  std::fprintf(stderr, "nst-infer: wrote %s (%dx%d) in %.2f s\n", output.c_str(), result.cols, result.rows,
               stylize_seconds);
  return 0;
}

// The size of a typical input after --scale/--max-size, for precision auto: the image itself, a
// video's frame size, or the first image of a folder or list (unreadable: 512 px, a common size).
cv::Size typical_size(const std::string& input, const std::string& input_list, bool folder, bool video,
                      const nst::StylizeOptions& style) {
  std::string image = input;
  if (folder) {
    image.clear();
    for (const auto& entry : fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied))
      if (entry.is_regular_file() && nst::has_image_extension(entry.path().string())) {
        image = entry.path().string();
        break;
      }
  } else if (!input_list.empty()) {
    std::ifstream list(input_list);
    std::getline(list, image);
    if (!image.empty()) image = (fs::path(input_list).parent_path() / image).string();
  }
  cv::Size size(512, 512);
  try {  // a file that cannot be read keeps the default here; the job itself reports it, once
    if (video) {
      cv::VideoCapture capture = nst::open_video(input);
      const int w = static_cast<int>(capture.get(cv::CAP_PROP_FRAME_WIDTH)), h = static_cast<int>(capture.get(cv::CAP_PROP_FRAME_HEIGHT));
      if (w > 0 && h > 0) size = cv::Size(w, h);
    } else if (!image.empty() && fs::is_regular_file(image)) {
      std::ifstream in(image, std::ios::binary);  // the header is enough: nothing is decoded twice
      std::vector<uint8_t> head(256 << 10);
      in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
      head.resize(static_cast<size_t>(in.gcount()));
      if (const auto header = nst::image_size_from_header(head); header && header->area() > 0) size = *header;
    }
  } catch (const std::exception&) {
  }
  return nst::target_size(size.height, size.width, style);
}

// One image or video in, one file out: checked before the model loads, so a bad path costs nothing
// and the work never overwrites its own input or finds an unwritable output only at the end.
void check_single_input(const std::string& input, const std::string& output, bool video) {
  nst::require_regular_file(input);
  nst::refuse_overwriting_input(output, input);
  if (video && !nst::has_video_extension(output))
    throw nst::path_error(output, "the output of a video must be a video file (.avi, .mp4, .mkv, .webm, ...)");
  if (!video && !nst::has_image_extension(output))
    throw nst::path_error(output, "the output of an image must be an image file (.jpg, .png, .webp, .bmp, .tif)");
  nst::require_writable_output(output);
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-infer", [&] {
    CLI::App app{
        "Stylizes an image, a directory of images (recursively, mirrored into the output directory) or a video "
        "with a trained style model.",
        "nst-infer"};
    app.option_defaults()->always_capture_default();
    std::string model_path, input, input_list, output, device = "auto", precision = "auto", shard;
    nst::StylizeOptions style;
    nst::OutputOptions out;
    int threads = 0;
    nst::add_model_option(app, model_path);
    auto* input_option = app.add_option("--input", input, "Image, directory of images, or video (avi, mp4, mkv, mov, webm, ...)");
    app.add_option("--input-list", input_list,
                   "Text file of image paths, one per line (relative to the file's folder), mirrored into the --output directory")
        ->excludes(input_option);
    app.add_option("--shard", shard,
                   "For a directory or list input: process only share I of N (0 <= I < N), chosen by a hash of each file's "
                   "relative path (workers of a job array split a dataset without coordination; docs/scaling.md)");
    app.add_option("--output", output,
                   "Output image (format from its extension), directory (for a directory input), or video")
        ->required();
    app.add_option("--max-size", style.max_size(), "Shrink so the longest side is at most N pixels (0 = no limit)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--scale", style.scale(), "Resize by this factor before stylizing")->check(CLI::Range(0.01, 16.0));
    app.add_flag("--preserve-color", style.preserve_color(), "Keep the content's colours; take only luminance from the style (default: off)");
    app.add_option("--strength", style.strength(), "Blend with the content: 0 = content, 1 = fully stylized")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--precision", precision,
                   "auto (the faster on this machine, timed once and cached in $XDG_CACHE_HOME/nst), fp32 or bf16 "
                   "(see docs/inference.md)");
    app.add_option("--tile", style.tile(),
                   "Stylize images larger than N pixels in N x N tiles sharing one set of instance-norm statistics "
                   "(0 = only when the whole image would not fit in memory; >= 64)");
    app.add_option("--tile-thumbnail", style.thumbnail(),
                   "Tiles: longest side of the downscaled copy whose statistics every tile uses (>= 64)");
    app.add_option("--stroke-scale", style.stroke_scale(),
                   "Stroke size: > 1 larger strokes (stylize at 1/S resolution and upscale), < 1 finer; 0.25..8");
    app.add_flag("--stroke-detail", style.stroke_detail(),
                 "With --stroke-scale > 1: add back the photo's full-resolution luminance detail (default: off)");
    nst::add_threads_option(app, threads);
    nst::add_device_option(app, device);
    app.add_option("--quality", out.quality(), "JPEG/WebP quality")->check(CLI::Range(1, 100));
    app.add_option("--output-ext", out.extension(),
                   "For a directory input: write outputs with this extension (e.g. png; empty = keep the input's)");
    app.add_flag("--skip-existing", out.skip_existing(), "Leave outputs that already exist (resume an interrupted run; default: off)");
    app.add_option("--fourcc", out.fourcc(), "Video codec (empty = from the output extension: avi MJPG, mp4 mp4v, webm VP80)");
    app.add_option("--max-frames", out.max_frames(), "Video: stylize only the first N frames (0 = all)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--temporal-blend", out.temporal_blend(),
                   "Video: blend each frame with the previous output warped along the optical flow, where visible in "
                   "both, keeping the strokes' contrast (0 = off; 0.7 removed 75-78% of the flicker of the opencv-doc "
                   "clips at ~12% more CPU time, style and content within 10%; see docs/inference.md)")
        ->check(CLI::Range(0.0, 0.99));
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-infer")) return *status;
    const auto explicit_precision = nst::kPrecisionSettingChoices.parse(precision, "--precision");
    const bool auto_precision = !explicit_precision;
    if (explicit_precision) style.precision(*explicit_precision);
    style.validate();  // before the model loads: option errors come first
    if (input.empty() && input_list.empty()) throw std::runtime_error("give --input PATH or --input-list FILE (see --help)");
    if (!shard.empty()) out.shard(nst::parse_shard(shard, "--shard"));
    if (!out.extension().empty() && out.extension().front() == '.') out.extension().erase(0, 1);

    std::error_code ec;
    if (!input_list.empty()) {
      nst::require_regular_file(input_list);
      if (fs::exists(output) && !fs::is_directory(output))
        throw nst::path_error(output, "exists and is not a directory (--input-list needs an output directory)");
    } else if (!fs::exists(input, ec)) throw nst::path_error(input, "no such file or directory");
    const bool folder = input_list.empty() && fs::is_directory(input);
    const bool video = input_list.empty() && !folder && nst::has_video_extension(input);
    if (!out.shard().whole() && !folder && input_list.empty())
      throw std::runtime_error("--shard needs a directory --input or an --input-list");
    if (folder && fs::exists(output) && !fs::is_directory(output))
      throw nst::path_error(output, "exists and is not a directory (a directory input needs an output directory)");
    if (!folder && input_list.empty()) check_single_input(input, output, video);
    if (video && out.skip_existing() && fs::exists(output)) {
      std::cerr << "nst-infer: " << output << " exists, skipped\n";
      return 0;
    }

    nst::configure_threads(threads);
    nst::reuse_freed_memory();
    const torch::Device target = nst::pick_device(device);
    if (const auto warning = nst::bf16_warning(style.precision(), target); !warning.empty())
      std::cerr << "nst-infer: warning: " << warning << "\n";
    auto model = nst::load_model(model_path);
    for (const auto& warning : model.warnings) std::cerr << "nst-infer: warning: " << warning << "\n";
    if (auto_precision)
      style.precision(nst::resolve_inference_precision(
          model.net, target, typical_size(input, input_list, folder, video, style), std::cerr));
    nst::Stylizer stylizer(model.net, target, style);
    nst::install_stop_handlers();

    if (!input_list.empty()) return stylize_list(stylizer, input_list, output, out).report("nst-infer", "images");
    if (folder) return stylize_folder(stylizer, input, output, out).report("nst-infer", "images");
    if (video) return stylize_video(stylizer, input, output, out).report("nst-infer", "frames");
    return stylize_one_image(stylizer, input, output, out);
  });
}
