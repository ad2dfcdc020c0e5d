#include "config/command_line.h"

#include "core/command_line.h"

namespace nst {

ConfigCommandLine::ConfigCommandLine(CLI::App& app, const std::string& config_help, bool several_files) {
  if (several_files)  // one value per flag, so key=value overrides after it stay positional
    config_option_ = app.add_option("--config", config_files_, config_help)->allow_extra_args(false);
  else
    config_option_ = app.add_option("--config", config_file_, config_help);
  app.add_flag("--print-defaults", print_defaults_, "print every config key with its default and exit");
  app.add_option("overrides", overrides_, several_files ? "key=value overrides, applied after the config files"
                                                        : "key=value overrides, applied after the config file");
}

void ConfigCommandLine::add_shorthands(CLI::App& app, const std::string& preserve_color_help) {
  app.add_flag("--preserve-color", preserve_color_, preserve_color_help);
  add_threads_option(app, threads_, " (same as threads=N)");
  add_device_option(app, device_, " (same as device=...)");
}

void ConfigCommandLine::add_content_and_style(CLI::App& app, const std::string& content_help) {
  app.add_option("--content", content_, content_help);
  app.add_option("--style", styles_, "style image (repeat for a blend; weights: style.weights=[...])")
      ->allow_extra_args(false);  // one value per flag, so key=value overrides after it stay positional
}

void ConfigCommandLine::require_content_and_style(const std::string& content_value, const std::string& tool) const {
  require_option(!content_.empty(), "--content " + content_value, tool);
  require_option(!styles_.empty(), "--style IMG", tool);
}

void ConfigCommandLine::apply(Config& config, const std::vector<std::string>& ignored_sections) const {
  if (!config_file_.empty()) config.merge_file(config_file_, ignored_sections);
  for (const auto& file : config_files_) config.merge_file(file, ignored_sections);
  for (const auto& item : overrides_) config.apply_override(item);
  if (preserve_color_) config.set("preserve_color", YAML::Node(true));
  if (threads_ >= 0) config.set("threads", YAML::Node(threads_));
  if (!device_.empty()) config.set("device", YAML::Node(device_));
}

}  // namespace nst
