#include "infer/video_job.h"

#include <opencv2/videoio.hpp>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/errors.h"
#include "core/paths.h"
#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "infer/pipeline.h"
#include "motion/temporal_blend.h"

namespace fs = std::filesystem;

namespace nst {

std::string default_fourcc(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".avi") return "MJPG";
  if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return "mp4v";
  if (ext == ".webm") return "VP80";
  return "XVID";
}

namespace {

// OpenCV's FFmpeg writer drops the last column / row of frames with an odd side (swscale needs even
// sides); its own MJPEG writer keeps every pixel, so odd sizes go through it when the codec is MJPG.
cv::VideoWriter open_writer(const std::string& path, const std::string& fourcc, double fps, cv::Size size) {
  const int code = cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]);
  const bool odd = size.width % 2 != 0 || size.height % 2 != 0;
  if (odd && fourcc == "MJPG" && lower_extension(path) == ".avi") return cv::VideoWriter(path, cv::CAP_OPENCV_MJPEG, code, fps, size);
  if (odd)
    report_line("nst-infer: warning: frames of " + std::to_string(size.width) + "x" + std::to_string(size.height) +
                " lose their last odd column/row with codec " + fourcc + " (write .avi with MJPG to keep them)");
  return cv::VideoWriter(path, code, fps, size);
}

}  // namespace

BatchSummary stylize_video(Stylizer& stylizer, const std::string& input, const std::string& output,
                           const OutputOptions& options) {
  TemporalBlend blend(options.temporal_blend());  // checks the amount first
  if (!options.fourcc().empty() && options.fourcc().size() != 4)
    throw std::runtime_error("--fourcc must be 4 characters, got '" + options.fourcc() + "'");
  cv::VideoCapture capture = open_video(input);
  double fps = capture.get(cv::CAP_PROP_FPS);
  if (!(fps > 0 && fps < 1000)) {
    report_line("nst-infer: " + input + ": unknown frame rate, writing at 25 fps");
    fps = 25;
  }
  auto total = static_cast<int64_t>(std::max(0.0, capture.get(cv::CAP_PROP_FRAME_COUNT)));
  if (options.max_frames() > 0) total = total > 0 ? std::min(total, options.max_frames()) : options.max_frames();
  cv::Mat first;
  if (!capture.read(first) || first.empty()) throw path_error(input, "no readable frames (corrupt video?)");
  const cv::Size size = target_size(first.rows, first.cols, stylizer.options());
  const std::string fourcc = options.fourcc().empty() ? default_fourcc(output) : options.fourcc();

  BatchSummary summary;
  Progress progress("stylize", total, "frame");
  write_atomically(output, [&](const std::string& tmp) {
    cv::VideoWriter writer = open_writer(tmp, fourcc, fps, size);
    if (!writer.isOpened())
      throw path_error(output, "cannot write a video with codec " + fourcc +
                               " (try another extension, e.g. .avi, or --fourcc)");
    cv::Mat next = first;
    int64_t frames_read = 0;
    auto read = [&](cv::Mat& frame) {
      if (next.empty()) return false;
      frame = next;
      next = cv::Mat();
      if (++frames_read != options.max_frames()) capture.read(next);  // leaves `next` empty at the end
      return true;
    };
    auto stylize = [&](cv::Mat& frame) {
      // Every frame at the first frame's output size (a frame that changed size too), resized once
      // for the net and the blend.
      const cv::Mat content = resize_to(frame, size);
      frame = stylizer.stylize_resized(content);
      if (options.temporal_blend() > 0) frame = blend.apply(content, frame);
      progress.advance(1);
      return true;
    };
    auto encode = [&](cv::Mat& frame) {
      writer.write(frame);
      ++summary.written;  // read after the pipeline's threads have joined
    };
    try {
      run_pipeline<cv::Mat>(4, read, stylize, encode);
    } catch (const std::exception& e) {
      throw path_error(input, "frame " + std::to_string(summary.written + 1) + ": " + e.what());
    }
    writer.release();
    summary.interrupted = stop_requested();
    if (summary.interrupted) throw path_error(output, "interrupted; no output written");
    if (!fs::exists(tmp) || fs::file_size(tmp) == 0) throw path_error(output, "the video writer produced no file");
  });
  summary.seconds = progress.elapsed_seconds();
  // The container announced more (a cut-off download, a damaged file); mp4's count is an estimate: slack.
  if (total > 0 && summary.written + std::max<int64_t>(2, total / 100) < total)
    report_line("nst-infer: warning: " + input + ": ended after " + std::to_string(summary.written) + " of " +
                std::to_string(total) + " frames (truncated or damaged?); wrote those");
  std::string note = "(audio is not copied)";
  if (blend.frames() > 0) {
    char timing[96];
    std::snprintf(timing, sizeof timing, "; temporal blend %.1f ms/frame, %lld scene cut(s)",
                  1000 * blend.seconds() / blend.frames(), static_cast<long long>(blend.scene_cuts()));
    note += timing;
  }
  progress.finish(note);
  return summary;
}

}  // namespace nst
