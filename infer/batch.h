// What folder and video runs share: output options, the run summary and reporting a line above the
// progress bar. Ctrl-C stops a run cleanly (core/signals.h): finished outputs are kept, nothing is
// half-written, and --skip-existing resumes.
#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "infer/shard.h"

namespace nst {

struct OutputOptions {
  TORCH_ARG(int, quality) = 95;            // JPEG/WebP quality
  TORCH_ARG(std::string, extension);       // folder outputs: new extension without dot ("" = keep the input's)
  TORCH_ARG(bool, skip_existing) = false;  // leave outputs that already exist (resume an interrupted run)
  TORCH_ARG(std::string, fourcc);          // video codec ("" = from the output extension)
  TORCH_ARG(int64_t, max_frames) = 0;      // video: stop after this many frames (0 = all)
  TORCH_ARG(double, temporal_blend) = 0;   // video: blend in the previous output along the flow (motion/temporal_blend.h); 0 = off
  TORCH_ARG(Shard, shard);                 // folder and list inputs: this worker's share of the images
};

struct BatchSummary {
  std::string scope;  // e.g. "shard 1/4 (26 of 100 images)", printed first; "" = everything
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
