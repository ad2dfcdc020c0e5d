// RUN_DIR/log.jsonl: one JSON object per line (start event, training losses every log_every
// iterations, validation losses, skipped images), flushed line by line so a crash loses nothing.
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace nst {

class RunLog {
 public:
  explicit RunLog(const std::string& path);  // appends
  void write(const nlohmann::json& line);

 private:
  std::ofstream out_;
};

// Keeps only the lines up to `iteration` (on resume, the lines written after the checkpoint go).
void truncate_log(const std::string& path, int64_t iteration);

// The current UTC time as 2026-01-31T12:00:00Z.
std::string now_iso8601();

}  // namespace nst
