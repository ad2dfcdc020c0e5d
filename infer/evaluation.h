// nst-eval: scores stylized images with the perceptual losses of a chosen loss network (content loss,
// style loss per layer and in total, total variation), one image or whole folders matched by file
// name. It scores with nst-optimize's StyleObjective, so both tools report the same number for the
// same image and config.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/optimize.h"

namespace nst {

// loss_defaults_yaml() + eval.size.
std::string eval_defaults_yaml();
Config make_eval_config();
// Merges a config file. nst-optimize configs are accepted: their output/optimize sections (which do
// not change the loss) are ignored, so one file gives the optimizer and the meter the same loss.
void merge_eval_config_file(Config& config, const std::string& path);

struct EvalPair {
  std::string name;  // the stylized image's path relative to its folder, without extension
  std::string content, stylized;
};

struct EvalPlan {
  std::vector<EvalPair> pairs;        // sorted by name
  std::vector<std::string> missing;   // one message per image without a counterpart
};

// content and stylized are both image files, or both folders (searched recursively; images are
// matched by relative path without extension, e.g. content/a/b.jpg <-> stylized/a/b.png).
EvalPlan plan_evaluation(const std::string& content, const std::string& stylized);

struct EvalRecord {
  EvalPair pair;
  int64_t height = 0, width = 0;         // the size scored at
  std::map<std::string, double> losses;  // loss_values()
};

class Evaluator {
 public:
  Evaluator(const Config& config, const std::vector<std::string>& style_paths);
  EvalRecord score(const EvalPair& pair);  // throws "PATH: problem" for unreadable images

 private:
  std::vector<std::string> style_paths_;
  int64_t eval_size_;
  std::unique_ptr<StyleObjective> objective_;
};

nlohmann::json to_json(const EvalRecord& record, const std::vector<std::string>& style_paths);

// A fixed-width table: name, size, total, content, style, tv, and the mean of each column.
std::string summary_table(const std::vector<EvalRecord>& records);

}  // namespace nst
