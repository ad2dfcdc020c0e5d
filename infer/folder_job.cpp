#include "infer/folder_job.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "data/image_io.h"
#include "data/progress.h"
#include "infer/pipeline.h"
#include "core/errors.h"

namespace fs = std::filesystem;

namespace nst {
namespace {

struct ImageJob {
  std::string input, output;
  ImageFile image;
  std::string error;  // set when decoding failed
};

bool inside(const fs::path& path, const fs::path& directory) {
  const auto mismatch = std::mismatch(directory.begin(), directory.end(), path.begin(), path.end());
  return mismatch.first == directory.end();
}

// Where the images of a run come from: all of them (`found`) and this shard's, less the outputs that exist.
struct JobList {
  std::vector<ImageJob> jobs;
  int64_t found = 0, in_this_shard = 0, existing = 0;

  void add(const std::string& key, const fs::path& input, fs::path target, const OutputOptions& output) {
    ++found;
    if (!in_shard(key, output.shard())) return;
    ++in_this_shard;
    if (!output.extension().empty()) target.replace_extension("." + output.extension());
    if (output.skip_existing() && fs::exists(target)) {
      ++existing;
      return;
    }
    jobs.push_back({input.string(), target.string(), {}, {}});
  }
};

void sort_and_check(std::vector<ImageJob>& jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const ImageJob& a, const ImageJob& b) { return a.input < b.input; });
  for (const auto& job : jobs)  // e.g. --output-ext png in the input folder next to an input .png
    if (std::binary_search(jobs.begin(), jobs.end(), ImageJob{job.output, {}, {}, {}},
                           [](const ImageJob& a, const ImageJob& b) { return a.input < b.input; }))
      throw path_error(job.output, "output would overwrite an input image; choose another output directory");
}

JobList folder_jobs(const std::string& input_dir, const std::string& output_dir, const OutputOptions& output) {
  const fs::path input_root = fs::weakly_canonical(input_dir), output_root = fs::weakly_canonical(output_dir);
  if (input_root == output_root && output.extension().empty())
    throw path_error(output_dir, "output directory is the input directory (would overwrite the originals)");
  JobList list;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(input_root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw path_error(input_dir, "cannot list directory (" + ec.message() + ")");
    // Outputs written inside the input tree must not become inputs of a later run.
    if (it->is_directory() && output_root != input_root && inside(it->path(), output_root)) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || !has_image_extension(it->path().string())) continue;
    // lexically: fs::relative would resolve a symlinked photo and write next to its target.
    const fs::path relative = it->path().lexically_relative(input_root);
    list.add(relative.generic_string(), it->path(), output_root / relative, output);
  }
  if (ec) throw path_error(input_dir, "cannot list directory (" + ec.message() + ")");
  if (list.found == 0) throw path_error(input_dir, "no images found (jpg, jpeg, png, bmp, webp, tif, tiff)");
  sort_and_check(list.jobs);
  return list;
}

// One path per line (blank lines and '#' comments ignored), each the key of its file: relative to
// the list's folder, output under the same relative path; absolute, output under its path less the root.
JobList list_file_jobs(const std::string& list_file, const std::string& output_dir, const OutputOptions& output) {
  std::ifstream in(list_file);
  if (!in) throw path_error(list_file, "cannot open the input list");
  const fs::path base = fs::absolute(list_file).parent_path(), output_root = fs::weakly_canonical(output_dir);
  JobList list;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const fs::path entry = fs::path(line.substr(start)).lexically_normal();
    const fs::path relative = entry.relative_path();
    if (relative.empty() || *relative.begin() == "..")
      throw std::runtime_error(list_file + ":" + std::to_string(line_number) + ": '" + entry.string() +
                               "' would be written outside the output directory (no leading '..')");
    list.add(entry.generic_string(), entry.is_absolute() ? entry : base / entry, output_root / relative, output);
  }
  if (list.found == 0) throw path_error(list_file, "the input list is empty");
  sort_and_check(list.jobs);
  return list;
}

BatchSummary stylize_jobs(Stylizer& stylizer, JobList list, const std::string& output_dir, const OutputOptions& output) {
  BatchSummary summary;
  summary.skipped = list.existing;
  if (!output.shard().whole())
    summary.scope = "shard " + output.shard().label() + " (" + std::to_string(list.in_this_shard) + " of " + std::to_string(list.found) + " images)";
  auto& jobs = list.jobs;
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec || !fs::is_directory(output_dir) || ::access(output_dir.c_str(), W_OK) != 0)
    throw path_error(output_dir, "cannot create or write the output directory" +
                             (ec ? " (" + ec.message() + ")" : ""));

  Progress progress("stylize", static_cast<int64_t>(jobs.size()), "img");
  std::mutex summary_mutex;
  auto fail = [&](const std::string& message) {
    report_line("nst-infer: failed: " + message);
    std::lock_guard<std::mutex> lock(summary_mutex);
    summary.failures.push_back(message);
  };
  size_t next = 0;
  auto read = [&](ImageJob& job) {
    if (next == jobs.size()) return false;
    job = std::move(jobs[next++]);
    try {
      job.image = read_image_file(job.input);
    } catch (const std::exception& e) {
      job.error = e.what();
    }
    return true;
  };
  auto stylize = [&](ImageJob& job) {
    bool keep = false;
    if (!job.error.empty()) {
      fail(job.error);
    } else {
      try {
        job.image.bgr = stylizer.stylize(job.image.bgr);
        keep = true;
      } catch (const std::exception& e) {
        fail(job.input + ": " + e.what());
      }
    }
    progress.advance(1);
    return keep;
  };
  auto write = [&](ImageJob& job) {
    try {
      fs::create_directories(fs::path(job.output).parent_path());
      write_image_file(job.output, job.image.bgr, job.image.alpha, output.quality());
      std::lock_guard<std::mutex> lock(summary_mutex);
      ++summary.written;
    } catch (const std::exception& e) {
      fail(e.what());
    }
  };
  run_pipeline<ImageJob>(2, read, stylize, write);
  summary.interrupted = stop_requested();
  summary.seconds = progress.elapsed_seconds();
  progress.finish();
  return summary;
}

}  // namespace

BatchSummary stylize_folder(Stylizer& stylizer, const std::string& input_dir, const std::string& output_dir,
                            const OutputOptions& output) {
  return stylize_jobs(stylizer, folder_jobs(input_dir, output_dir, output), output_dir, output);
}

BatchSummary stylize_list(Stylizer& stylizer, const std::string& list_file, const std::string& output_dir,
                          const OutputOptions& output) {
  return stylize_jobs(stylizer, list_file_jobs(list_file, output_dir, output), output_dir, output);
}

}  // namespace nst
