// nst-optimize: Gatys et al. neural style by optimizing the pixels of one image (L-BFGS or Adam),
// optionally coarse to fine. See docs/optimization.md.
#include <CLI/CLI.hpp>

#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "nets/runtime.h"
#include "train/optimize.h"

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

std::string loss_note(const std::map<std::string, double>& losses) {
  std::ostringstream note;
  note << std::setprecision(4) << "total " << losses.at("total") << " = content " << losses.at("content") << " + style "
       << losses.at("style") << " + tv " << losses.at("tv");
  return note.str();
}

void make_parent_directory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nst-optimize: neural style by image optimization (Gatys et al.).\n"
               "  nst-optimize --content IMG --style IMG [--style IMG ...] --output IMG [--config FILE] [key=value ...]\n"
               "Overrides use dotted config keys with YAML values, e.g. optimize.iterations=500 output.size=1024\n"
               "style.weights=[0.7,0.3] loss.style.layers.fire5=2.0 (see --print-defaults)"};
  std::string content_path, output_path, device;
  std::vector<std::string> style_paths, config_files, overrides;
  bool preserve_color = false, print_defaults = false, print_config = false;
  int threads = -1;
  app.add_option("--content", content_path, "content image");
  app.add_option("--style", style_paths, "style image (repeat for a blend; weights: style.weights=[...])")
      ->allow_extra_args(false);  // one value per flag, so key=value overrides after it stay positional
  app.add_option("--output", output_path, "result image (.png, .jpg, ...); written atomically");
  app.add_option("--config", config_files, "YAML config file(s), merged in order (see configs/optimize_*.yaml)")->allow_extra_args(false);
  app.add_flag("--preserve-color", preserve_color, "luminance-only transfer: keep the content's colours (preserve_color=true)");
  app.add_option("--threads", threads, "intra-op threads, 0 = all cores (same as threads=N)");
  app.add_option("--device", device, "auto | cpu | cuda[:N] (same as device=...)");
  app.add_flag("--print-defaults", print_defaults, "print every config key with its default and exit");
  app.add_flag("--print-config", print_config, "print the resolved config and exit");
  app.add_option("overrides", overrides, "key=value overrides, applied after the config files");
  CLI11_PARSE(app, argc, argv);

  return nst::run_tool("nst-optimize", [&] {
    if (print_defaults) {
      std::cout << nst::optimize_defaults_yaml();
      return 0;
    }
    nst::Config config(nst::optimize_defaults_yaml(), nst::loss_weight_maps());
    for (const auto& file : config_files) config.merge_file(file);
    for (const auto& item : overrides) config.apply_override(item);
    if (preserve_color) config.set("preserve_color", YAML::Node(true));
    if (threads >= 0) config.set("threads", YAML::Node(threads));
    if (!device.empty()) config.set("device", YAML::Node(device));
    if (print_config) {
      std::cout << config.dump();
      return 0;
    }
    if (content_path.empty()) throw std::runtime_error("--content IMG is required (see --help)");
    if (style_paths.empty()) throw std::runtime_error("--style IMG is required (see --help)");
    if (output_path.empty()) throw std::runtime_error("--output IMG is required (see --help)");
    if (!nst::has_image_extension(output_path))
      throw std::runtime_error(output_path + ": output needs an image extension (.png, .jpg, .webp, ...)");

    nst::configure_threads(static_cast<int>(config.get_int("threads")));
    nst::reuse_freed_memory();
    const torch::Tensor content = nst::read_image(content_path);
    std::vector<torch::Tensor> styles;
    for (const auto& path : style_paths) styles.push_back(nst::read_image(path));
    const auto levels = nst::schedule_from(config, content.size(1), content.size(2));
    make_parent_directory(output_path);

    const int64_t snapshot_every = config.get_int("output.snapshot_every");
    const std::string snapshot_dir = config.get_string("output.snapshot_dir");
    const std::string curve_path = config.get_string("output.curve");
    const int jpeg_quality = static_cast<int>(config.get_int("output.jpeg_quality"));
    if (!snapshot_dir.empty()) fs::create_directories(snapshot_dir);
    if (!curve_path.empty()) make_parent_directory(curve_path);

    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    std::unique_ptr<nst::Progress> progress;
    std::string curve_text;
    int64_t current_level = -1;
    auto on_iteration = [&](const nst::IterationRecord& r, const std::function<torch::Tensor()>& current_rgb) {
      const bool level_start = r.level != current_level;
      if (level_start) {
        if (progress) progress->finish();
        current_level = r.level;
        progress = std::make_unique<nst::Progress>(
            "level " + std::to_string(r.level + 1) + "/" + std::to_string(levels.size()) + " " +
                std::to_string(r.height) + "x" + std::to_string(r.width),
            levels[static_cast<size_t>(r.level)].iterations);
        std::cerr << "start " << loss_note(r.losses) << "\n";
      } else {
        progress->advance(1, loss_note(r.losses));
      }
      // Flat, like nst-train's log.jsonl, so scripts/plot_log.py plots it.
      nlohmann::json line = r.losses;
      line.update({{"iteration", r.iteration}, {"level", r.level}, {"height", r.height}, {"width", r.width},
                   {"evaluations", r.evaluations}, {"seconds", r.seconds},
                   {"it_per_s", r.seconds > 0 ? r.iteration / r.seconds : 0.0}});
      curve_text += line.dump() + "\n";
      if (!curve_path.empty() && r.iteration % 10 == 0) nst::write_bytes_atomically(curve_path, curve_text);
      if (snapshot_every > 0 && !level_start && r.iteration % snapshot_every == 0)
        nst::write_image(nst::snapshot_path(output_path, snapshot_dir, r.iteration), current_rgb(), jpeg_quality);
      return g_stop == 0;
    };

    const nst::OptimizeResult result = nst::optimize_image(config, content, styles, on_iteration);
    if (progress) progress->finish();
    nst::write_image(output_path, result.image, jpeg_quality);
    if (!curve_path.empty()) nst::write_bytes_atomically(curve_path, curve_text);

    const auto& last = result.curve.back();
    std::cerr << "final " << loss_note(result.final_loss) << "\n"
              << "as written (8-bit) " << loss_note(result.written_loss) << "\n"
              << "wrote " << output_path << " (" << last.height << "x" << last.width << ", " << last.iteration
              << " iterations, " << last.evaluations << " evaluations, " << std::fixed << std::setprecision(1)
              << last.seconds << " s)\n";
    nlohmann::json summary = {{"output", output_path},          {"height", last.height},
                              {"width", last.width},            {"iterations", last.iteration},
                              {"evaluations", last.evaluations}, {"seconds", last.seconds},
                              {"losses", result.final_loss},    {"written_losses", result.written_loss}};
    std::cout << summary.dump() << std::endl;
    if (result.stopped_early) {
      std::cerr << "nst-optimize: interrupted at iteration " << last.iteration << "; continue with optimize.init="
                << output_path << "\n";
      return 130;
    }
    return 0;
  });
}
