#include "core/command_line.h"

#include <stdexcept>

#include "core/runtime.h"

namespace nst {

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, const std::string& tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    throw std::runtime_error(std::string(e.what()) + " (see " + tool + " --help)");
  }
  return std::nullopt;
}

void add_threads_option(CLI::App& app, int& threads, const std::string& note) {
  app.add_option("--threads", threads, "intra-op threads, 0 = all cores" + note)->check(CLI::Range(0, kMaxThreads));
}

void add_device_option(CLI::App& app, std::string& device, const std::string& note) {
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N" + note);
}

void add_model_option(CLI::App& app, std::string& path) {
  app.add_option("--model", path, "style model file (.safetensors)")->required();
}

void require_option(bool given, const std::string& option, const std::string& tool) {
  if (!given) throw std::runtime_error(option + " is required (see " + tool + " --help)");
}

}  // namespace nst
