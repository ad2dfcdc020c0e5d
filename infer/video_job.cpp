#include "infer/video_job.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "data/atomic_file.h"
#include "data/progress.h"
#include "infer/bounded_queue.h"

namespace fs = std::filesystem;

namespace nst {
namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext;
}

}  // namespace

bool has_video_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  for (const char* video : {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
    if (ext == video) return true;
  return false;
}

std::string default_fourcc(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".avi") return "MJPG";
  if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return "mp4v";
  if (ext == ".webm") return "VP80";
  return "XVID";
}

BatchSummary stylize_video(Stylizer& stylizer, const std::string& input, const std::string& output,
                           const OutputOptions& options) {
  if (!fs::is_regular_file(input)) throw std::runtime_error(input + ": no such file");
  if (!options.fourcc.empty() && options.fourcc.size() != 4)
    throw std::runtime_error("--fourcc must be 4 characters, got '" + options.fourcc + "'");
  cv::VideoCapture capture(input);
  if (!capture.isOpened()) throw std::runtime_error(input + ": cannot open as a video (unsupported or corrupt)");
  double fps = capture.get(cv::CAP_PROP_FPS);
  if (!(fps > 0 && fps < 1000)) {
    report_line("nst-infer: " + input + ": unknown frame rate, writing at 25 fps");
    fps = 25;
  }
  auto total = static_cast<int64_t>(std::max(0.0, capture.get(cv::CAP_PROP_FRAME_COUNT)));
  if (options.max_frames > 0) total = total > 0 ? std::min(total, options.max_frames) : options.max_frames;
  cv::Mat first;
  if (!capture.read(first) || first.empty()) throw std::runtime_error(input + ": no readable frames (corrupt video?)");
  const cv::Size size = target_size(first.rows, first.cols, stylizer.options());
  const std::string fourcc = options.fourcc.empty() ? default_fourcc(output) : options.fourcc;

  BatchSummary summary;
  Progress progress("stylize", total, "frame");
  write_atomically(output, [&](const std::string& tmp) {
    cv::VideoWriter writer(tmp, cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]), fps, size);
    if (!writer.isOpened())
      throw std::runtime_error(output + ": cannot write a video with codec " + fourcc +
                               " (try another extension, e.g. .avi, or --fourcc)");
    BoundedQueue<cv::Mat> decoded(4), stylized(4);
    std::thread reader([&] {
      cv::Mat frame = first;
      int64_t read = 0;
      do {
        if (interrupted() || !decoded.push(std::move(frame))) break;
        frame = cv::Mat();
      } while (++read != options.max_frames && capture.read(frame) && !frame.empty());
      decoded.close();
    });
    std::thread encoder([&] {
      while (auto frame = stylized.pop()) {
        writer.write(*frame);
        ++summary.written;  // read after join only
      }
    });
    auto stop = [&] {
      decoded.close();
      stylized.close();
      reader.join();
      encoder.join();
    };
    try {
      while (auto frame = decoded.pop()) {
        cv::Mat out = stylizer.stylize(*frame);
        if (out.size() != size) cv::resize(out, out, size, 0, 0, cv::INTER_AREA);  // frames that changed size
        stylized.push(std::move(out));
        progress.advance(1);
        if (interrupted()) break;
      }
    } catch (const std::exception& e) {
      stop();
      throw std::runtime_error(input + ": frame " + std::to_string(summary.written + 1) + ": " + e.what());
    }
    stylized.close();
    decoded.close();
    reader.join();
    encoder.join();
    writer.release();
    summary.interrupted = interrupted();
    if (summary.interrupted) throw std::runtime_error(output + ": interrupted; no output written");
    if (!fs::exists(tmp) || fs::file_size(tmp) == 0) throw std::runtime_error(output + ": the video writer produced no file");
  });
  summary.seconds = progress.elapsed_seconds();
  progress.finish("(audio is not copied)");
  return summary;
}

}  // namespace nst
