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
#include "train/local_launch.h"
#include "train/precision_trial.h"
#include "train/trainer.h"

namespace {

// argv without --nproc N / --nproc=N: the command line of each rank.
std::vector<std::string> rank_arguments(int argc, char** argv) {
  std::vector<std::string> arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--nproc") {
      ++i;
    } else if (argument.rfind("--nproc=", 0) != 0) {
      arguments.push_back(argument);
    }
  }
  return arguments;
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-train", [&] {
    CLI::App app{"nst-train: train a fast style-transfer net with perceptual losses.\n"
                 "  nst-train --config FILE [key=value ...]\n"
                 "  nst-train --resume RUN_DIR [key=value ...]\n"
                 "  nst-train --nproc N ...  (data-parallel on this machine; or launched by torchrun/Slurm/Kubernetes: docs/scaling.md)\n"
                 "Overrides use dotted config keys with YAML values, e.g. train.lr=1e-4 style.images=[a.jpg,b.jpg]\n"
                 "loss.style.layers.fire5=2.0"};
    std::string resume_dir;
    nst::ConfigCommandLine command_line(app, "YAML config file (see configs/)", false);
    app.add_option("--resume", resume_dir, "continue the run in RUN_DIR from its newest checkpoint")
        ->excludes(command_line.config_option());
    int nproc = 0;
    double timeout_seconds = 300;
    app.add_option("--nproc", nproc, "data-parallel: start N ranks on this machine, each with its slice of every batch")
        ->check(CLI::Range(1, 4096));
    app.add_option("--dist-timeout", timeout_seconds,
                   "data-parallel: seconds a rank waits for the others (rendezvous, each gradient allreduce) before it fails")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
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
      // loss.temporal came with stable video (issue 10): older runs had no such term, and its warp
      // key came later still (session 10; the default, bilinear, is what they used).
      config.merge_complete_file(saved, {"loss.temporal", "loss.temporal.warp"});
      config.set("run_dir", YAML::Node(resume_dir));  // the directory may have moved
    }
    command_line.apply(config);  // the --config file (a new run) and the overrides
    nst::make_paths_absolute(config);
    const auto launch = nst::launch_environment();
    if (nproc > 1 || launch) {
      // Ranks measuring on their own could disagree; data-parallel runs take fp32 unless told bf16.
      if (config.get_string("train.precision") == "auto") {
        config.set("train.precision", YAML::Node("fp32"));
        if (!launch || launch->rank == 0) std::cerr << "nst-train: train.precision auto: fp32 (data-parallel; give bf16 explicitly where it is faster)\n";
      }
    } else {
      nst::resolve_auto_precision(config, std::cerr);
    }
    nst::TrainOptions options = nst::train_options_from(config);
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    if (nproc > 1) {
      if (launch) throw std::runtime_error("--nproc starts the ranks itself: unset WORLD_SIZE (set by a launcher) or drop --nproc");
      options.validate();
      if (options.train().batch_size() % nproc != 0)
        throw std::runtime_error("config: train.batch_size (" + std::to_string(options.train().batch_size()) +
                                 ") must be divisible by --nproc " + std::to_string(nproc));
      return nst::launch_local_ranks(std::filesystem::read_symlink("/proc/self/exe").string(), rank_arguments(argc, argv), nproc,
                                     timeout);
    }
    std::optional<nst::DataParallelOptions> parallel;
    if (launch) parallel = nst::DataParallelOptions{*launch, timeout};
    nst::reuse_freed_memory();
    nst::Trainer trainer(std::move(options), resume ? nst::Trainer::Start::resume : nst::Trainer::Start::fresh, config.dump(),
                         parallel);
    return trainer.run();
  });
}
