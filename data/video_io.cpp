#include "data/video_io.h"

#include <filesystem>
#include <stdexcept>

#include "core/errors.h"
#include "core/paths.h"

namespace nst {

bool has_video_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  for (const char* video : {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
    if (ext == video) return true;
  return false;
}

cv::VideoCapture open_video(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw path_error(path, "no such file");
  cv::VideoCapture capture(path);
  if (!capture.isOpened()) throw path_error(path, "cannot open as a video (unsupported or corrupt)");
  return capture;
}

}  // namespace nst
