// nst-eval: scores stylized images with the perceptual losses of a chosen loss network (content loss,
// style loss per layer and in total, total variation), one image or whole folders matched by file
// name. It scores with nst-optimize's StyleObjective, so both tools report the same number for the
// same image and config.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "losses/style_objective.h"

namespace nst {

// loss_defaults_yaml() + eval.size.
std::string eval_defaults_yaml();
Config make_eval_config();
// nst-optimize's config sections that nst-eval ignores when it reads an nst-optimize config file
// (they do not change the loss), so one file gives the optimizer and the meter the same loss.
const std::vector<std::string>& optimize_only_sections();

// Filled by eval_options_from (the defaults are eval_defaults_yaml()).
struct EvalOptions {
  TORCH_ARG(ObjectiveOptions, objective);
  TORCH_ARG(int64_t, size) = 0;  // eval.size: 0 = score at the stylized image's size; N = its longest side resized to N
};
EvalOptions eval_options_from(const Config& config);

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
  Evaluator(const EvalOptions& options, const std::vector<std::string>& style_paths);
  EvalRecord score(const EvalPair& pair);  // throws "PATH: problem" for unreadable images
  // The same for images in memory (RGB [3,H,W] 0..255), e.g. video frames; `name` labels the record.
  EvalRecord score_images(const std::string& name, const torch::Tensor& content, torch::Tensor stylized);

 private:
  std::vector<std::string> style_paths_;
  int64_t eval_size_;
  StyleObjective objective_;
};

nlohmann::json to_json(const EvalRecord& record, const std::vector<std::string>& style_paths);

// A fixed-width table: name, size, total, content, style, tv, and the mean of each column.
std::string summary_table(const std::vector<EvalRecord>& records);

}  // namespace nst
