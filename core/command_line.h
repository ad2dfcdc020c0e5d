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

// --threads N and --device D, declared alike by every tool that runs a net; `note` (e.g.
// " (same as threads=N)") is appended to the help.
void add_threads_option(CLI::App& app, int& threads, const std::string& note = "");
void add_device_option(CLI::App& app, std::string& device, const std::string& note = "");

// --model PATH (required): the style model file the tool runs.
void add_model_option(CLI::App& app, std::string& path);

// Throws "OPTION is required (see TOOL --help)" when `given` is false: for options that --help-like
// flags (--print-defaults) make optional, so CLI11's required() cannot be used.
void require_option(bool given, const std::string& option, const std::string& tool);

}  // namespace nst
