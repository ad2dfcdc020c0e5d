// The command line the config-driven tools (nst-train, nst-optimize, nst-eval) share: config
// files, key=value overrides, --print-defaults, and flags that are shorthands for config keys.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "config/config.h"

namespace nst {

class ConfigCommandLine {
 public:
  // Declares --config (repeatable when several_files; merged in order), --print-defaults and the
  // positional key=value overrides.
  ConfigCommandLine(CLI::App& app, const std::string& config_help, bool several_files);

  // Declares --preserve-color, --threads and --device: shorthands for the keys preserve_color,
  // threads and device, applied after the overrides.
  void add_shorthands(CLI::App& app, const std::string& preserve_color_help);

  // Declares --content and the repeatable --style (the tools that compare with a painting), and
  // checks after parsing that both were given (`content_value` names the value in the message).
  void add_content_and_style(CLI::App& app, const std::string& content_help);
  void require_content_and_style(const std::string& content_value, const std::string& tool) const;
  const std::string& content() const { return content_; }
  const std::vector<std::string>& styles() const { return styles_; }

  // Merges the config files (without another tool's `ignored_sections`), the overrides, then the shorthands.
  void apply(Config& config, const std::vector<std::string>& ignored_sections = {}) const;

  CLI::Option* config_option() const { return config_option_; }
  bool has_config_file() const { return !config_file_.empty() || !config_files_.empty(); }
  bool print_defaults() const { return print_defaults_; }

 private:
  CLI::Option* config_option_ = nullptr;
  std::string config_file_;  // when only one is allowed
  std::vector<std::string> config_files_, overrides_, styles_;
  std::string content_;
  bool print_defaults_ = false, preserve_color_ = false;
  int threads_ = -1;  // -1: not given
  std::string device_;
};

}  // namespace nst
