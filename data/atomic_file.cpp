#include "data/atomic_file.h"
#include "core/errors.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
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

}  // namespace nst
