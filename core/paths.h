// Small path helpers the tools share.
#pragma once
#include <string>

namespace nst {

// The extension with its dot, lower-cased (".jpg" for "A.JPG"; "" for none).
std::string lower_extension(const std::string& path);

// Creates the folder a file will be written into (nothing for a bare file name); throws "PATH: ..." on failure.
void create_parent_directories(const std::string& path);

}  // namespace nst
