// nst-train: learn a style transform net (Johnson et al. 2016) from a YAML config plus key=value
// overrides, or continue an interrupted run. See docs/training.md.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "nets/runtime.h"
#include "train/trainer.h"

int main(int argc, char** argv) {
  CLI::App app{"nst-train: train a fast style-transfer net with perceptual losses.\n"
               "  nst-train --config FILE [key=value ...]\n"
               "  nst-train --resume RUN_DIR [key=value ...]\n"
               "Overrides use dotted config keys with YAML values, e.g. train.lr=1e-4 style.images=[a.jpg,b.jpg]\n"
               "loss.style.layers.fire5=2.0"};
  std::string config_file, resume_dir;
  std::vector<std::string> overrides;
  bool print_defaults = false;
  auto* config_option = app.add_option("--config", config_file, "YAML config file (see configs/)");
  app.add_option("--resume", resume_dir, "continue the run in RUN_DIR from its newest checkpoint")->excludes(config_option);
  app.add_flag("--print-defaults", print_defaults, "print every config key with its default and exit");
  app.add_option("overrides", overrides, "key=value overrides, applied after the config file");
  CLI11_PARSE(app, argc, argv);

  return nst::run_tool("nst-train", [&] {
    if (print_defaults) {
      std::cout << nst::train_defaults_yaml();
      return 0;
    }
    if (config_file.empty() && resume_dir.empty())
      throw std::runtime_error("give --config FILE (a new run) or --resume RUN_DIR (see --help)");
    nst::Config config = nst::make_train_config();
    const bool resume = !resume_dir.empty();
    if (resume) {
      const std::string saved = nst::run_config_path(resume_dir);
      if (!std::filesystem::is_regular_file(saved))
        throw std::runtime_error(resume_dir + ": not a run directory (no config.yaml)");
      config.merge_file(saved);
      config.set("run_dir", YAML::Node(resume_dir));  // the directory may have moved
    } else {
      config.merge_file(config_file);
    }
    for (const auto& item : overrides) config.apply_override(item);
    nst::reuse_freed_memory();
    return nst::run_training(config, resume);
  });
}
