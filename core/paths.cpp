#include "core/paths.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace nst {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

void create_parent_directories(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw path_error(path, "cannot create directory " + parent.string() + " (" + ec.message() + ")");
}

}  // namespace nst
