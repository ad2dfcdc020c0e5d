#include "core/file_checks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/errors.h"
#include "core/paths.h"

namespace fs = std::filesystem;

namespace nst {

void require_regular_file(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw path_error(path, "no such file");
  if (fs::is_directory(status)) throw path_error(path, "is a directory, not a file");
  if (!fs::is_regular_file(status)) throw path_error(path, "not a regular file (a FIFO, socket or device)");
}

std::string read_whole_file(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw path_error(path, "cannot open (permission denied?)");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw path_error(path, "read error");
  return bytes;
}

void refuse_overwriting_input(const std::string& output, const std::string& input) {
  std::error_code ec;
  if (fs::equivalent(output, input, ec))  // false when the output does not exist yet
    throw path_error(output, "is the input " + input + "; writing it would destroy the input (choose another output)");
}

void require_writable_output(const std::string& output) {
  std::error_code ec;
  if (fs::is_directory(output, ec)) throw path_error(output, "is a directory; give a file name");
  create_parent_directories(output);
  const fs::path parent = fs::path(output).parent_path();
  const std::string probe =
      ((parent.empty() ? fs::path(".") : parent) / (".nst-write-test-" + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw path_error(output, std::string("cannot write there (") + std::strerror(errno) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace nst
