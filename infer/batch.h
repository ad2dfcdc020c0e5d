// What folder and video runs share: output options, the run summary and reporting a line above the
// progress bar. Ctrl-C stops a run cleanly (core/signals.h): finished outputs are kept, nothing is
// half-written, and --skip-existing resumes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nst {

struct OutputOptions {
  int quality = 95;            // JPEG/WebP quality
  std::string extension;       // folder outputs: new extension without dot ("" = keep the input's)
  bool skip_existing = false;  // leave outputs that already exist (resume an interrupted run)
  std::string fourcc;          // video codec ("" = from the output extension)
  int64_t max_frames = 0;      // video: stop after this many frames (0 = all)
  double temporal_blend = 0;   // video: blend in the previous output along the flow (motion/temporal_blend.h); 0 = off
};

struct BatchSummary {
  int64_t written = 0, skipped = 0;
  std::vector<std::string> failures;  // "PATH: reason", one per failed file
  bool interrupted = false;
  double seconds = 0;
  // Prints the summary (and the failures again) to stderr; returns the exit status: 0 when
  // everything was written, 1 on failures, kExitInterrupted when interrupted.
  int report(const std::string& tool, const std::string& unit) const;
};

// Prints one line on stderr without garbling a progress bar drawn on a terminal.
void report_line(const std::string& line);

}  // namespace nst
