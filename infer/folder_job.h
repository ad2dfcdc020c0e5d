// Stylizing a directory tree of images into a mirrored output tree: decoding, stylizing and
// encoding run in three threads joined by small queues, so the net is rarely kept waiting; a bad
// file is reported and skipped.
#pragma once
#include <string>

#include "infer/batch.h"
#include "infer/stylizer.h"

namespace nst {

// Images (by extension, recursively) under input_dir -> same relative paths under output_dir.
// Throws only for problems with the directories themselves; per-file problems land in the summary.
BatchSummary stylize_folder(Stylizer& stylizer, const std::string& input_dir, const std::string& output_dir,
                            const OutputOptions& output);

}  // namespace nst
