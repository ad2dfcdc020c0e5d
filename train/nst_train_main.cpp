// nst-train: learn a style transform net (Johnson et al. 2016) from a YAML config plus key=value
// overrides, or continue an interrupted run. See docs/training.md.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "config/command_line.h"
#include "core/command_line.h"
#include "core/errors.h"
#include "core/runtime.h"
#include "core/tool.h"
#include "train/precision_trial.h"
#include "train/trainer.h"

int main(int argc, char** argv) {
  return nst::run_tool("nst-train", [&] {
    CLI::App app{"nst-train: train a fast style-transfer net with perceptual losses.\n"
                 "  nst-train --config FILE [key=value ...]\n"
                 "  nst-train --resume RUN_DIR [key=value ...]\n"
                 "Overrides use dotted config keys with YAML values, e.g. train.lr=1e-4 style.images=[a.jpg,b.jpg]\n"
                 "loss.style.layers.fire5=2.0"};
    std::string resume_dir;
    nst::ConfigCommandLine command_line(app, "YAML config file (see configs/)", false);
    app.add_option("--resume", resume_dir, "continue the run in RUN_DIR from its newest checkpoint")
        ->excludes(command_line.config_option());
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-train")) return *status;

    if (command_line.print_defaults()) {
      std::cout << nst::train_defaults_yaml();
      return 0;
    }
    if (!command_line.has_config_file() && resume_dir.empty())
      throw std::runtime_error("give --config FILE (a new run) or --resume RUN_DIR (see --help)");
    nst::Config config = nst::make_train_config();
    const bool resume = !resume_dir.empty();
    if (resume) {
      const std::string saved = nst::run_config_path(resume_dir);
      if (!std::filesystem::is_regular_file(saved))
        throw nst::path_error(resume_dir, "not a run directory (no config.yaml)");
      config.merge_file(saved);
      config.set("run_dir", YAML::Node(resume_dir));  // the directory may have moved
    }
    command_line.apply(config);  // the --config file (a new run) and the overrides
    nst::make_paths_absolute(config);
    nst::resolve_auto_precision(config, std::cerr);
    nst::reuse_freed_memory();
    nst::Trainer trainer(nst::train_options_from(config), resume ? nst::Trainer::Start::resume : nst::Trainer::Start::fresh,
                         config.dump());
    return trainer.run();
  });
}
