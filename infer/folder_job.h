// Stylizing a directory tree of images (or a list of image files) into a mirrored output tree: decoding, stylizing and
// encoding run in three threads joined by small queues, so the net is rarely kept waiting; a bad
// file is reported and skipped.
#pragma once
#include <string>

#include "infer/batch.h"
#include "infer/stylizer.h"

namespace nst {

// Images (by extension, recursively) under input_dir -> same relative paths under output_dir.
// Throws only for problems with the directories themselves; per-file problems land in the summary.
// With output.shard, only this shard's images (infer/shard.h; keyed by the relative path).
BatchSummary stylize_folder(Stylizer& stylizer, const std::string& input_dir, const std::string& output_dir,
                            const OutputOptions& output);

// The images named in `list_file`, one path per line (blank lines and '#' comments ignored):
// a relative path is relative to the list's folder and is written under the same relative path
// in output_dir; an absolute one under its path less the leading '/'. The shard key is the line.
BatchSummary stylize_list(Stylizer& stylizer, const std::string& list_file, const std::string& output_dir,
                          const OutputOptions& output);

}  // namespace nst
