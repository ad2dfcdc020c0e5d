// nst-optimize: Gatys et al. neural style by optimizing the pixels of one image (L-BFGS or Adam),
// optionally coarse to fine. See docs/optimization.md.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/command_line.h"
#include "core/command_line.h"
#include "core/errors.h"
#include "core/file_checks.h"
#include "core/paths.h"
#include "core/runtime.h"
#include "core/signals.h"
#include "core/tool.h"
#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "optimize/optimize.h"

namespace {

std::string loss_note(const std::map<std::string, double>& losses) {
  std::ostringstream note;
  note << std::setprecision(4) << "total " << losses.at("total") << " = content " << losses.at("content") << " + style "
       << losses.at("style") << " + tv " << losses.at("tv");
  return note.str();
}

// Output settings of nst-optimize (output.*), read once.
struct OutputSettings {
  int64_t snapshot_every;
  std::string snapshot_dir, curve_path;
  int jpeg_quality;
};

OutputSettings output_settings_from(const nst::Config& config) {
  return {config.get_int("output.snapshot_every"), config.get_string("output.snapshot_dir"),
          config.get_string("output.curve"), static_cast<int>(config.get_int("output.jpeg_quality"))};
}

// Progress per level on the terminal, the curve as JSON lines (flat, like nst-train's log.jsonl, so
// scripts/plot_log.py plots it) and snapshots; false once a stop signal arrived.
class IterationReporter {
 public:
  IterationReporter(std::vector<nst::OptimizeLevel> levels, OutputSettings settings, std::string output_path)
      : levels_(std::move(levels)), settings_(std::move(settings)), output_path_(std::move(output_path)) {}

  bool operator()(const nst::IterationRecord& r, const std::function<torch::Tensor()>& current_rgb) {
    const bool level_start = r.level != current_level_;
    if (level_start) {
      if (progress_) progress_->finish();
      current_level_ = r.level;
      progress_ = std::make_unique<nst::Progress>("level " + std::to_string(r.level + 1) + "/" + std::to_string(levels_.size()) +
                                                      " " + std::to_string(r.height) + "x" + std::to_string(r.width),
                                                  levels_[static_cast<size_t>(r.level)].iterations);
      std::cerr << "start " << loss_note(r.losses) << "\n";
    } else {
      progress_->advance(1, loss_note(r.losses));
    }
    nlohmann::json line = r.losses;
    line.update({{"iteration", r.iteration}, {"level", r.level}, {"height", r.height}, {"width", r.width},
                 {"evaluations", r.evaluations}, {"seconds", r.seconds},
                 {"it_per_s", r.seconds > 0 ? r.iteration / r.seconds : 0.0}});
    curve_text_ += line.dump() + "\n";
    if (r.iteration % 10 == 0) write_curve();
    if (settings_.snapshot_every > 0 && !level_start && r.iteration % settings_.snapshot_every == 0)
      nst::write_image(nst::snapshot_path(output_path_, settings_.snapshot_dir, r.iteration), current_rgb(),
                       settings_.jpeg_quality);
    return !nst::stop_requested();
  }

  void finish() {
    if (progress_) progress_->finish();
    write_curve();
  }

 private:
  void write_curve() const {
    if (!settings_.curve_path.empty()) nst::write_bytes_atomically(settings_.curve_path, curve_text_);
  }

  std::vector<nst::OptimizeLevel> levels_;
  OutputSettings settings_;
  std::string output_path_, curve_text_;
  std::unique_ptr<nst::Progress> progress_;
  int64_t current_level_ = -1;
};

int report_result(const nst::OptimizeResult& result, const std::string& output_path) {
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
  if (!result.stopped_early) return 0;
  std::cerr << "nst-optimize: interrupted at iteration " << last.iteration << "; continue with optimize.init=" << output_path
            << "\n";
  return nst::kExitInterrupted;
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-optimize", [&] {
    CLI::App app{"nst-optimize: neural style by image optimization (Gatys et al.).\n"
                 "  nst-optimize --content IMG --style IMG [--style IMG ...] --output IMG [--config FILE] [key=value ...]\n"
                 "Overrides use dotted config keys with YAML values, e.g. optimize.iterations=500 output.size=1024\n"
                 "style.weights=[0.7,0.3] loss.style.layers.fire5=2.0 (see --print-defaults)"};
    std::string output_path;
    bool print_config = false;
    nst::ConfigCommandLine command_line(app, "YAML config file(s), merged in order (see configs/optimize_*.yaml)", true);
    command_line.add_content_and_style(app, "content image");
    app.add_option("--output", output_path, "result image (.png, .jpg, ...); written atomically");
    command_line.add_shorthands(app, "luminance-only transfer: keep the content's colours (preserve_color=true)");
    app.add_flag("--print-config", print_config, "print the resolved config and exit");
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-optimize")) return *status;

    if (command_line.print_defaults()) {
      std::cout << nst::optimize_defaults_yaml();
      return 0;
    }
    nst::Config config(nst::optimize_defaults_yaml(), nst::loss_weight_maps());
    command_line.apply(config);
    if (print_config) {
      std::cout << config.dump();
      return 0;
    }
    command_line.require_content_and_style("IMG", "nst-optimize");
    nst::require_option(!output_path.empty(), "--output IMG", "nst-optimize");
    const std::string& content_path = command_line.content();
    const std::vector<std::string>& style_paths = command_line.styles();
    if (!nst::has_image_extension(output_path))
      throw nst::path_error(output_path, "output needs an image extension (.png, .jpg, .webp, ...)");
    // optimize.init may be the output (continuing a run refines it); the content and styles may not.
    nst::refuse_overwriting_input(output_path, content_path);
    for (const auto& path : style_paths) nst::refuse_overwriting_input(output_path, path);
    nst::require_writable_output(output_path);
    nst::OptimizeOptions options = nst::optimize_options_from(config);
    const OutputSettings output = output_settings_from(config);

    nst::configure_threads(static_cast<int>(options.objective().threads()));
    nst::reuse_freed_memory();
    const torch::Tensor content = nst::read_image(content_path);
    std::vector<torch::Tensor> styles;
    for (const auto& path : style_paths) styles.push_back(nst::read_image(path));
    const auto levels = nst::schedule_for(options, content.size(1), content.size(2));
    options.objective().precision(nst::resolve_objective_precision(options.objective(), styles, content,
                                                                   levels.back().size, "nst-optimize", std::cerr));
    nst::create_parent_directories(output_path);
    if (!output.snapshot_dir.empty()) std::filesystem::create_directories(output.snapshot_dir);
    if (!output.curve_path.empty()) nst::create_parent_directories(output.curve_path);

    nst::install_stop_handlers();
    IterationReporter reporter(levels, output, output_path);
    const nst::OptimizeResult result = nst::optimize_image(options, content, styles, std::ref(reporter));
    reporter.finish();
    nst::write_image(output_path, result.image, output.jpeg_quality);
    return report_result(result, output_path);
  });
}
