// Command-line parsing shared by every executable, so a bad command line is one line like every
// other error.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace nst {

// Parses argv. --help prints the help and returns its exit status; a bad command line throws
// "MESSAGE (see TOOL --help)"; nullopt means: go on.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, const std::string& tool);

}  // namespace nst
