#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <filesystem>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "core/file_checks.h"

namespace nst {
namespace {

enum class Kind { Null, Bool, Int, Float, String, Sequence, Map };

Kind scalar_kind(const YAML::Node& node) {
  if (node.IsNull()) return Kind::Null;
  if (node.IsSequence()) return Kind::Sequence;
  if (node.IsMap()) return Kind::Map;
  if (node.Tag() == "!") return Kind::String;  // quoted
  bool b;
  int64_t i;
  double d;
  if (YAML::convert<bool>::decode(node, b)) return Kind::Bool;
  if (YAML::convert<int64_t>::decode(node, i)) return Kind::Int;
  if (YAML::convert<double>::decode(node, d)) return Kind::Float;
  return Kind::String;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Int: return "an integer";
    case Kind::Float: return "a number";
    case Kind::String: return "a string";
    case Kind::Sequence: return "a list";
    case Kind::Map: return "a map";
  }
  return "?";
}

// Does a value of kind `got` fit where the schema has kind `want`?
bool fits(Kind want, Kind got) {
  if (want == got) return true;
  if (want == Kind::Float && got == Kind::Int) return true;
  if (want == Kind::String) return got != Kind::Sequence && got != Kind::Map && got != Kind::Null;
  if (want == Kind::Null) return got != Kind::Sequence && got != Kind::Map;  // optional scalar (e.g. a path)
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

void collect_keys(const YAML::Node& node, const std::string& prefix, std::vector<std::string>& keys) {
  if (!node.IsMap()) return;
  for (const auto& item : node) {
    const std::string key = prefix.empty() ? item.first.as<std::string>() : prefix + "." + item.first.as<std::string>();
    keys.push_back(key);
    collect_keys(item.second, key, keys);
  }
}

}  // namespace

Config::Config(const std::string& defaults_yaml, std::set<std::string> weight_maps)
    : schema_(YAML::Load(defaults_yaml)), root_(YAML::Clone(schema_)), weight_maps_(std::move(weight_maps)) {}

Config::Config(const Config& other)
    : schema_(YAML::Clone(other.schema_)), root_(YAML::Clone(other.root_)), weight_maps_(other.weight_maps_) {}

Config& Config::operator=(const Config& other) {
  if (this != &other) {
    schema_.reset(YAML::Clone(other.schema_));  // reset rebinds; operator= would write through
    root_.reset(YAML::Clone(other.root_));
    weight_maps_ = other.weight_maps_;
  }
  return *this;
}

std::string Config::suggest(const std::string& key) const {
  std::vector<std::string> keys;
  collect_keys(schema_, "", keys);
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& candidate : keys) {
    const size_t d = edit_distance(key, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  }
  return best.empty() || best_distance > std::max<size_t>(3, key.size() / 3) ? "" : " (did you mean '" + best + "'?)";
}

void Config::check_type(const YAML::Node& schema, const YAML::Node& value, const std::string& key,
                        const std::string& source) const {
  const Kind want = scalar_kind(schema), got = scalar_kind(value);
  if (weight_maps_.count(key)) {
    if (got != Kind::Map) throw path_error(source, "'" + key + "' must be a map of layer name -> weight");
    for (const auto& item : value) {
      const Kind k = scalar_kind(item.second);
      if (k != Kind::Int && k != Kind::Float)
        throw path_error(source, "'" + key + "." + item.first.as<std::string>() + "' must be a number");
    }
    return;
  }
  if (want == Kind::Sequence) {
    if (got != Kind::Sequence) throw path_error(source, "'" + key + "' must be a list, got " + kind_name(got));
    const Kind element = schema.size() > 0 ? scalar_kind(schema[0]) : Kind::String;
    for (const auto& item : value)
      if (!fits(element, scalar_kind(item)))
        throw path_error(source, "'" + key + "' must be a list of " + std::string(kind_name(element)) + "s");
    return;
  }
  if (!fits(want, got))
    throw path_error(source, "'" + key + "' must be " + std::string(kind_name(want == Kind::Null ? Kind::String : want)) +
                                   ", got " + kind_name(got) + (value.IsScalar() ? " '" + value.Scalar() + "'" : ""));
}

void Config::merge_into(YAML::Node target, const YAML::Node& defaults, const YAML::Node& value, const std::string& prefix,
                        const std::string& source) {
  if (!value.IsMap()) throw path_error(source, (prefix.empty() ? "the document" : "'" + prefix + "'") + " must be a map");
  std::set<std::string> seen;  // YAML forbids duplicate keys, yaml-cpp keeps both: which one would win is a guess
  for (const auto& item : value) {
    const std::string name = item.first.as<std::string>();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (!seen.insert(name).second) throw path_error(source, "duplicate key '" + key + "'");
    if (!defaults.IsMap() || !defaults[name].IsDefined())
      throw path_error(source, "unknown key '" + key + "'" + suggest(key));
    const YAML::Node schema = defaults[name];
    check_type(schema, item.second, key, source);
    if (schema.IsMap() && !weight_maps_.count(key))
      merge_into(target[name], schema, item.second, key, source);
    else
      target[name] = YAML::Clone(item.second);
  }
}

void Config::merge_yaml(const YAML::Node& node, const std::string& source) {
  if (node.IsNull()) return;  // an empty file changes nothing
  merge_into(root_, schema_, node, "", source);
}

void Config::merge_file(const std::string& path, const std::vector<std::string>& ignored_sections) {
  require_regular_file(path);
  YAML::Node node;
  try {
    node = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw path_error(path, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (node.IsMap())
    for (const auto& section : ignored_sections) node.remove(section);
  merge_yaml(node, path);
}

void Config::merge_complete_file(const std::string& path, const std::set<std::string>& added_later) {
  merge_file(path);
  const YAML::Node file = YAML::LoadFile(path);
  std::vector<std::string> keys;
  collect_keys(schema_, "", keys);
  auto inside_weight_map = [&](const std::string& key) {  // its entries are layer names, not schema keys
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
      if (weight_maps_.count(key.substr(0, dot))) return true;
    return false;
  };
  auto lookup_in_file = [&](const std::string& key) {
    YAML::Node node = file;
    std::stringstream stream(key);
    for (std::string part; std::getline(stream, part, '.');) node.reset(node.IsMap() ? node[part] : YAML::Node());
    return node;
  };
  auto absent_added_later = [&](const std::string& key) {
    for (const auto& section : added_later)
      if ((key == section || key.rfind(section + ".", 0) == 0) && !lookup_in_file(section).IsDefined()) return true;
    return false;
  };
  for (const auto& key : keys) {
    if (inside_weight_map(key) || absent_added_later(key)) continue;
    if (!lookup_in_file(key).IsDefined())
      throw path_error(path, "lacks '" + key + "' (the tools write this file whole: damaged or edited?)");
  }
}

void Config::set(const std::string& key, const YAML::Node& value) {
  // Build {a: {b: {c: value}}} and merge it, so validation is the same as for files.
  YAML::Node nested = value;
  std::vector<std::string> parts;
  std::stringstream stream(key);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  // A key inside a weight map ("loss.style.layers.relu1_2") sets one entry of that map.
  for (size_t i = parts.size(); i-- > 1;) {
    std::string map_key;
    for (size_t j = 0; j < i; ++j) map_key += (j ? "." : "") + parts[j];
    if (weight_maps_.count(map_key) && i == parts.size() - 1) {
      YAML::Node merged = YAML::Clone(lookup(map_key));
      merged[parts.back()] = value;
      set(map_key, merged);
      return;
    }
  }
  for (size_t i = parts.size(); i-- > 0;) {
    if (parts[i].empty()) throw std::runtime_error("override '" + key + "': malformed key");
    YAML::Node wrapper;
    wrapper[parts[i]] = nested;
    nested.reset(wrapper);
  }
  merge_yaml(nested, "override '" + key + "'");
}

void Config::apply_override(const std::string& key_equals_value) {
  const auto eq = key_equals_value.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::runtime_error("override '" + key_equals_value + "': expected key=value (e.g. train.lr=1e-4)");
  const std::string key = key_equals_value.substr(0, eq), text = key_equals_value.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("override '" + key + "': value is not valid YAML: " + e.msg);
  }
  set(key, value);
}

YAML::Node Config::lookup(const std::string& key) const {
  YAML::Node node = root_;
  std::stringstream stream(key);
  for (std::string part; std::getline(stream, part, '.');) {
    if (!node.IsMap() || !node[part].IsDefined()) throw std::runtime_error("unknown config key '" + key + "'" + suggest(key));
    node.reset(node[part]);
  }
  return node;
}

bool Config::has(const std::string& key) const {
  try {
    lookup(key);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

bool Config::is_null(const std::string& key) const { return lookup(key).IsNull(); }

template <typename T>
static T convert_or_throw(const YAML::Node& node, const std::string& key, const char* what) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw std::runtime_error("config key '" + key + "' must be " + what);
  }
}

int64_t Config::get_int(const std::string& key) const { return convert_or_throw<int64_t>(lookup(key), key, "an integer"); }
double Config::get_double(const std::string& key) const {
  const double value = convert_or_throw<double>(lookup(key), key, "a number");
  if (!std::isfinite(value)) throw std::runtime_error("config key '" + key + "' must be a finite number");
  return value;
}
bool Config::get_bool(const std::string& key) const { return convert_or_throw<bool>(lookup(key), key, "a boolean"); }
std::string Config::get_string(const std::string& key) const {
  const YAML::Node node = lookup(key);
  return node.IsNull() ? "" : convert_or_throw<std::string>(node, key, "a string");
}
std::vector<std::string> Config::get_strings(const std::string& key) const {
  return convert_or_throw<std::vector<std::string>>(lookup(key), key, "a list of strings");
}
std::vector<double> Config::get_doubles(const std::string& key) const {
  const auto values = convert_or_throw<std::vector<double>>(lookup(key), key, "a list of numbers");
  for (double value : values)
    if (!std::isfinite(value)) throw std::runtime_error("config key '" + key + "' must be a list of finite numbers");
  return values;
}
std::map<std::string, double> Config::get_weights(const std::string& key) const {
  const auto weights = convert_or_throw<std::map<std::string, double>>(lookup(key), key, "a map of name -> number");
  for (const auto& [name, weight] : weights)
    if (!std::isfinite(weight)) throw std::runtime_error("config key '" + key + "." + name + "' must be a finite number");
  return weights;
}

std::string Config::dump() const {
  YAML::Emitter out;
  out << root_;
  return std::string(out.c_str()) + "\n";
}

}  // namespace nst
