#include "core/errors.h"

namespace nst {

std::runtime_error path_error(const std::string& path, const std::string& problem) {
  return std::runtime_error(path + ": " + problem);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string torch_error_message(const c10::Error& error) { return first_line(error.what_without_backtrace()); }

std::string shape_text(c10::IntArrayRef shape, const char* separator) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? separator : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace nst
