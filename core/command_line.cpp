#include "core/command_line.h"

#include <stdexcept>

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

}  // namespace nst
