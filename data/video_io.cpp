#include "data/video_io.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "core/errors.h"
#include "core/file_checks.h"
#include "core/paths.h"

namespace nst {

bool has_video_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  for (const char* video : {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
    if (ext == video) return true;
  return false;
}

cv::VideoCapture open_video(const std::string& path) {
  require_regular_file(path);
  // FFmpeg logs a damaged frame's details to stderr itself; we report the damage in one line.
  static std::once_flag quiet;
  std::call_once(quiet, [] { ::setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0); });  // AV_LOG_QUIET
  // FFmpeg reads every container we write; trying GStreamer after it fails only prints its warnings.
  cv::VideoCapture capture(path, cv::CAP_FFMPEG);
  if (!capture.isOpened()) capture.open(path, cv::CAP_OPENCV_MJPEG);
  if (!capture.isOpened()) throw path_error(path, "cannot open as a video (unsupported or corrupt)");
  return capture;
}

}  // namespace nst
