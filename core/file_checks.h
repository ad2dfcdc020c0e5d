// Checks on the files a tool is given, made before any work: an input must be a regular file (a
// FIFO blocks forever, a directory reads as garbage), an output must be writable and must not be
// one of the inputs (the work would destroy what it reads).
#pragma once
#include <string>

namespace nst {

// Throws "PATH: ..." unless `path` is an existing regular file (symbolic links followed).
void require_regular_file(const std::string& path);

// The whole file's bytes, after require_regular_file; throws "PATH: ..." when it cannot be read.
std::string read_whole_file(const std::string& path);

// Throws "OUTPUT: is the input INPUT ..." when both name one file (also through links or "./").
void refuse_overwriting_input(const std::string& output, const std::string& input);

// Creates the output's folder and checks that a file can be created in it, so an unwritable output
// fails before minutes of work rather than after. Throws "OUTPUT: ..." naming the problem.
void require_writable_output(const std::string& output);

}  // namespace nst
