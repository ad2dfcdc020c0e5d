// Video files: which paths are read as videos, and opening one for reading with a one-line error.
#pragma once
#include <opencv2/videoio.hpp>

#include <string>

namespace nst {

// True for extensions read as video (avi, mp4, mkv, mov, webm, m4v, mpg, mpeg, wmv, flv; any case).
bool has_video_extension(const std::string& path);

// An open capture; throws "PATH: problem" for a missing file or one OpenCV cannot decode.
cv::VideoCapture open_video(const std::string& path);

}  // namespace nst
