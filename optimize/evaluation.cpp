#include "optimize/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "data/image_io.h"

namespace fs = std::filesystem;

namespace nst {

std::string eval_defaults_yaml() {
  return loss_defaults_yaml() + R"(eval:
  size: 0             # 0 = score at the stylized image's own size; N = resize it to longest side N first
)";
}

Config make_eval_config() { return Config(eval_defaults_yaml(), loss_weight_maps()); }

const std::vector<std::string>& optimize_only_sections() {
  static const std::vector<std::string> sections = {"output", "optimize"};
  return sections;
}

EvalOptions eval_options_from(const Config& config) {
  EvalOptions options;
  options.objective(objective_options_from(config));
  options.size(config.get_int("eval.size"));
  if (options.size() < 0) throw std::runtime_error("eval.size must be >= 0 (0 = the stylized image's size)");
  return options;
}

// ---------------------------------------------------------------------------------------------
// Pairing.

namespace {

// Relative path without extension -> file, for every image under `dir`.
std::map<std::string, std::vector<std::string>> images_by_name(const std::string& dir) {
  std::map<std::string, std::vector<std::string>> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied)) {
    if (!entry.is_regular_file() || !has_image_extension(entry.path().string())) continue;
    const fs::path relative = entry.path().lexically_relative(dir);  // not fs::relative: keep symlinks as named
    found[(relative.parent_path() / relative.stem()).string()].push_back(entry.path().string());
  }
  return found;
}

}  // namespace

EvalPlan plan_evaluation(const std::string& content, const std::string& stylized) {
  for (const auto& path : {content, stylized})
    if (!fs::exists(path)) throw path_error(path, "no such file or folder");
  const bool content_dir = fs::is_directory(content), stylized_dir = fs::is_directory(stylized);
  EvalPlan plan;
  if (!content_dir && !stylized_dir) {
    plan.pairs.push_back({fs::path(stylized).stem().string(), content, stylized});
    return plan;
  }
  if (content_dir != stylized_dir)
    throw std::runtime_error("--content and --stylized must both be images or both be folders (" +
                             (content_dir ? content : stylized) + " is a folder, " + (content_dir ? stylized : content) +
                             " is not)");
  const auto contents = images_by_name(content), outputs = images_by_name(stylized);
  for (const auto& [name, files] : outputs) {
    const auto match = contents.find(name);
    if (match == contents.end()) {
      plan.missing.push_back(files.front() + ": no content image named " + name + ".* in " + content);
    } else if (match->second.size() > 1 || files.size() > 1) {
      plan.missing.push_back(name + ": ambiguous, several images share this name (" +
                             (match->second.size() > 1 ? match->second[0] + ", " + match->second[1]
                                                       : files[0] + ", " + files[1]) +
                             ")");
    } else {
      plan.pairs.push_back({name, match->second.front(), files.front()});
    }
  }
  for (const auto& [name, files] : contents)
    if (!outputs.count(name)) plan.missing.push_back(files.front() + ": no stylized image named " + name + ".* in " + stylized);
  if (plan.pairs.empty())
    throw std::runtime_error("no stylized image in " + stylized + " has a content image of the same name in " + content);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Scoring.

namespace {

std::vector<torch::Tensor> read_images(const std::vector<std::string>& paths) {
  std::vector<torch::Tensor> images;
  for (const auto& path : paths) images.push_back(read_image(path));
  return images;
}

}  // namespace

Evaluator::Evaluator(const EvalOptions& options, const std::vector<std::string>& style_paths)
    : style_paths_(style_paths), eval_size_(options.size()), objective_(options.objective(), read_images(style_paths)) {}

EvalRecord Evaluator::score(const EvalPair& pair) {
  EvalRecord record = score_images(pair.stylized, read_image(pair.content), read_image(pair.stylized));
  record.pair = pair;
  return record;
}

EvalRecord Evaluator::score_images(const std::string& name, const torch::Tensor& content, torch::Tensor stylized) {
  if (eval_size_ > 0) {
    const auto [h, w] = fit_longest_side(stylized.size(1), stylized.size(2), eval_size_);
    stylized = resize_image(stylized, h, w);
  }
  const int64_t h = stylized.size(1), w = stylized.size(2);
  const double aspect_content = static_cast<double>(content.size(2)) / content.size(1),
               aspect_stylized = static_cast<double>(w) / h;
  if (std::abs(aspect_content / aspect_stylized - 1) > 0.02)
    std::cerr << "nst-eval: warning: " << name << " (" << h << "x" << w << ") and its content (" << content.size(1)
              << "x" << content.size(2) << ") differ in aspect ratio; the content is stretched\n";
  objective_.prepare(content, h, w);
  EvalRecord record;
  record.pair = {name, "", ""};
  record.height = h, record.width = w;
  record.losses = loss_values(objective_.score(stylized));
  return record;
}

nlohmann::json to_json(const EvalRecord& record, const std::vector<std::string>& style_paths) {
  return {{"name", record.pair.name},
          {"content", record.pair.content},
          {"stylized", record.pair.stylized},
          {"styles", style_paths},
          {"height", record.height},
          {"width", record.width},
          {"losses", record.losses}};
}

std::string summary_table(const std::vector<EvalRecord>& records) {
  size_t name_width = 4;
  for (const auto& r : records) name_width = std::max(name_width, r.pair.name.size());
  const std::vector<std::string> columns = {"total", "content", "style", "tv"};
  std::ostringstream out;
  char cell[64];
  auto row = [&](const std::string& name, const std::string& size, const std::vector<double>& values) {
    out << name << std::string(name_width - name.size() + 2, ' ');
    std::snprintf(cell, sizeof cell, "%-11s", size.c_str());
    out << cell;
    for (double v : values) {
      std::snprintf(cell, sizeof cell, "%13.5g", v);
      out << cell;
    }
    out << "\n";
  };
  out << "name" << std::string(name_width - 2, ' ');
  std::snprintf(cell, sizeof cell, "%-11s", "size");
  out << cell;
  for (const auto& c : columns) {
    std::snprintf(cell, sizeof cell, "%13s", c.c_str());
    out << cell;
  }
  out << "\n";
  std::vector<double> sums(columns.size(), 0.0);
  for (const auto& r : records) {
    std::vector<double> values;
    for (size_t i = 0; i < columns.size(); ++i) {
      values.push_back(r.losses.at(columns[i]));
      sums[i] += values.back();
    }
    row(r.pair.name, std::to_string(r.height) + "x" + std::to_string(r.width), values);
  }
  if (records.size() > 1) {
    for (auto& s : sums) s /= static_cast<double>(records.size());
    row("mean", "(" + std::to_string(records.size()) + ")", sums);
  }
  return out.str();
}

}  // namespace nst
