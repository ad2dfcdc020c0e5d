// nst-eval: perceptual losses (content, style per layer, TV) of stylized images, one image or whole
// folders matched by file name, as JSON lines plus a summary table. See docs/optimization.md.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "data/atomic_file.h"
#include "infer/evaluation.h"
#include "nets/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"nst-eval: score stylized images with perceptual losses.\n"
               "  nst-eval --content IMG|DIR --style IMG [--style IMG ...] --stylized IMG|DIR [--config FILE] [key=value ...]\n"
               "Folders are matched by relative path without extension. JSON lines go to stdout (or --json FILE),\n"
               "the summary table to stderr (stdout with --json). nst-optimize config files are accepted."};
  std::string content, stylized, json_path, device;
  std::vector<std::string> style_paths, config_files, overrides;
  bool preserve_color = false, print_defaults = false;
  int threads = -1;
  app.add_option("--content", content, "content image or folder");
  app.add_option("--style", style_paths, "style image (repeat for a blend; weights: style.weights=[...])")
      ->allow_extra_args(false);  // one value per flag, so key=value overrides after it stay positional
  app.add_option("--stylized", stylized, "stylized image or folder");
  app.add_option("--config", config_files, "YAML config file(s), merged in order (configs/eval_*.yaml or optimize_*.yaml)")->allow_extra_args(false);
  app.add_option("--json", json_path, "write the JSON lines to this file (atomically) instead of stdout");
  app.add_flag("--preserve-color", preserve_color, "score luminance only, as nst-optimize --preserve-color optimizes");
  app.add_option("--threads", threads, "intra-op threads, 0 = all cores (same as threads=N)");
  app.add_option("--device", device, "auto | cpu | cuda[:N] (same as device=...)");
  app.add_flag("--print-defaults", print_defaults, "print every config key with its default and exit");
  app.add_option("overrides", overrides, "key=value overrides, applied after the config files");
  CLI11_PARSE(app, argc, argv);

  return nst::run_tool("nst-eval", [&] {
    if (print_defaults) {
      std::cout << nst::eval_defaults_yaml();
      return 0;
    }
    nst::Config config = nst::make_eval_config();
    for (const auto& file : config_files) nst::merge_eval_config_file(config, file);
    for (const auto& item : overrides) config.apply_override(item);
    if (preserve_color) config.set("preserve_color", YAML::Node(true));
    if (threads >= 0) config.set("threads", YAML::Node(threads));
    if (!device.empty()) config.set("device", YAML::Node(device));
    if (content.empty()) throw std::runtime_error("--content IMG|DIR is required (see --help)");
    if (style_paths.empty()) throw std::runtime_error("--style IMG is required (see --help)");
    if (stylized.empty()) throw std::runtime_error("--stylized IMG|DIR is required (see --help)");

    if (!json_path.empty() && std::filesystem::path(json_path).has_parent_path())
      std::filesystem::create_directories(std::filesystem::path(json_path).parent_path());
    nst::configure_threads(static_cast<int>(config.get_int("threads")));
    const nst::EvalPlan plan = nst::plan_evaluation(content, stylized);
    nst::Evaluator evaluator(config, style_paths);
    std::vector<nst::EvalRecord> records;
    std::string json_lines;
    int failures = 0;
    for (const auto& pair : plan.pairs) {
      try {
        records.push_back(evaluator.score(pair));
      } catch (const std::exception& e) {
        std::cerr << "nst-eval: error: " << e.what() << "\n";
        ++failures;
        continue;
      }
      const std::string line = nst::to_json(records.back(), style_paths).dump() + "\n";
      if (json_path.empty())
        std::cout << line << std::flush;
      else
        json_lines += line;
    }
    for (const auto& message : plan.missing) std::cerr << "nst-eval: warning: " << message << "\n";
    if (!json_path.empty()) nst::write_bytes_atomically(json_path, json_lines);
    (json_path.empty() ? std::cerr : std::cout) << nst::summary_table(records);
    if (!plan.missing.empty())
      std::cerr << plan.missing.size() << " image(s) without a counterpart (not scored)\n";
    if (failures > 0) throw std::runtime_error(std::to_string(failures) + " of " + std::to_string(plan.pairs.size()) +
                                               " image pair(s) could not be scored (see above)");
    return 0;
  });
}
