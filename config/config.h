// YAML configuration shared by nst-train, nst-optimize and nst-eval: a tool's complete default
// document is its schema; a config file and dotted key=value overrides (values parsed as YAML) are
// merged over it. Unknown keys (with the closest valid one suggested) and wrong types are errors
// naming the key.
#pragma once
#include <yaml-cpp/yaml.h>

#include "core/choices.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nst {

class Config {
 public:
  // weight_maps: dotted keys whose children are free names mapping to numbers (e.g. the per-layer
  // loss weights "loss.style.layers"); a file or override that sets one replaces it whole.
  Config(const std::string& defaults_yaml, std::set<std::string> weight_maps = {});
  // Copies are deep: YAML::Node copies would otherwise share (and modify) one document.
  Config(const Config& other);
  Config& operator=(const Config& other);

  // ignored_sections: top-level sections of another tool's config that leave this tool's keys as
  // they are (nst-eval reads nst-optimize's files without their output/optimize sections).
  void merge_file(const std::string& path, const std::vector<std::string>& ignored_sections = {});
  // A file the tools wrote whole (a run's config.yaml): as merge_file, and every key of the schema
  // must be in it, so a damaged file is an error rather than silently filled with defaults.
  // added_later: sections introduced after runs were written whose defaults reproduce the older
  // behaviour (loss.temporal: weight 0 = off); a file may lack them whole, never in part.
  void merge_complete_file(const std::string& path, const std::set<std::string>& added_later = {});
  void merge_yaml(const YAML::Node& node, const std::string& source);
  void apply_override(const std::string& key_equals_value);  // "train.lr=1e-4", "style.images=[a.jpg]"

  bool has(const std::string& key) const;
  bool is_null(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  std::vector<double> get_doubles(const std::string& key) const;
  std::map<std::string, double> get_weights(const std::string& key) const;  // a weight map
  template <typename Enum>
  Enum get_choice(const std::string& key, const Choices<Enum>& choices) const {
    return choices.parse(get_string(key), key);
  }
  void set(const std::string& key, const YAML::Node& value);  // validated like an override

  const YAML::Node& root() const { return root_; }
  std::string dump() const;  // the resolved document as YAML

 private:
  YAML::Node lookup(const std::string& key) const;  // throws for an unknown key
  void merge_into(YAML::Node target, const YAML::Node& defaults, const YAML::Node& value, const std::string& prefix,
                  const std::string& source);
  void check_type(const YAML::Node& schema, const YAML::Node& value, const std::string& key,
                  const std::string& source) const;
  std::string suggest(const std::string& key) const;

  YAML::Node schema_;  // the defaults, never modified
  YAML::Node root_;
  std::set<std::string> weight_maps_;
};

}  // namespace nst
