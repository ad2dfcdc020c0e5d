// One-line error messages: every tool reports a failure as "TOOL: error: MESSAGE", and a message
// about a file starts with its path ("PATH: problem").
#pragma once
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <stdexcept>
#include <string>

namespace nst {

// "PATH: problem".
std::runtime_error path_error(const std::string& path, const std::string& problem);

// The text before the first newline.
std::string first_line(const std::string& text);

// A LibTorch error's message without its backtrace and C++ context lines (they follow the first line).
std::string torch_error_message(const c10::Error& error);

// A tensor shape as "[2, 3, 4]" (separator ", ") or "[2,3,4]" (separator ",").
std::string shape_text(c10::IntArrayRef shape, const char* separator = ", ");

}  // namespace nst
