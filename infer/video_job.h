// Stylizing a video frame by frame (OpenCV VideoCapture -> VideoWriter, same frame rate; audio is
// not carried over). Decoding, stylizing and encoding overlap in three threads; the output is
// written to a temporary file and renamed when complete.
#pragma once
#include <string>

#include "data/video_io.h"
#include "infer/batch.h"
#include "infer/stylizer.h"

namespace nst {

// Codec for an output path: MJPG for .avi, mp4v for .mp4/.m4v/.mov, VP80 for .webm, XVID otherwise.
std::string default_fourcc(const std::string& path);

// Throws "PATH: problem" when the input cannot be read or the output cannot be written; the summary
// counts frames.
BatchSummary stylize_video(Stylizer& stylizer, const std::string& input, const std::string& output,
                           const OutputOptions& options);

}  // namespace nst
