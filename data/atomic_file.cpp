#include "data/atomic_file.h"
#include "core/errors.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace fs = std::filesystem;

namespace nst {

std::string temporary_path_for(const std::string& path) {
  const fs::path target(path);
  const std::string name = "." + target.stem().string() + ".tmp-" + std::to_string(::getpid()) +
                           target.extension().string();
  return (target.parent_path() / name).string();
}

void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  const std::string tmp = temporary_path_for(path);
  try {
    write(tmp);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw path_error(path, "cannot write (" + ec.message() + ")");
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_bytes_atomically(const std::string& path, std::string_view bytes) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw path_error(path, "cannot open for writing (does the directory exist and is it writable?)");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw path_error(path, "write failed (disk full?)");
  });
}

int remove_stale_temporaries(const std::string& directory) {
  static const std::regex temporary(R"(\..+\.tmp-([0-9]{1,9})(\.[^.]*)?)");  // temporary_path_for's names
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || !std::regex_match(name, match, temporary)) continue;
    const pid_t writer = static_cast<pid_t>(std::stol(match[1]));
    if (writer == ::getpid() || ::kill(writer, 0) == 0 || errno != ESRCH) continue;  // its writer may still be at work
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace nst
