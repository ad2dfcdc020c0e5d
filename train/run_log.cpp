#include "train/run_log.h"

#include <ctime>
#include <stdexcept>

#include "core/errors.h"
#include "data/atomic_file.h"

using json = nlohmann::json;

namespace nst {

RunLog::RunLog(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw path_error(path, "cannot open for writing");
}

void RunLog::write(const json& line) {
  out_ << line.dump() << "\n";
  out_.flush();
}

void truncate_log(const std::string& path, int64_t iteration) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("iteration") && j["iteration"].is_number() && j["iteration"].get<int64_t>() > iteration)
      continue;
    kept += line + "\n";
  }
  write_bytes_atomically(path, kept);
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
}

}  // namespace nst
