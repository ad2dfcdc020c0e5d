// Fixed choices (norm: instance | batch, precision: fp32 | bf16, ...) are enums. Each has one
// Choices table: the names users write, parsed once where a config value or option is read, with
// the same message for every bad value: "KEY must be a, b or c, got 'x'".
#pragma once
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nst {

template <typename Enum>
class Choices {
 public:
  Choices(std::initializer_list<std::pair<const char*, Enum>> names) : names_(names) {}

  Enum parse(const std::string& text, const std::string& key) const {
    for (const auto& [name, value] : names_)
      if (text == name) return value;
    throw std::runtime_error(key + " must be " + list() + ", got '" + text + "'");
  }

  std::string name(Enum value) const {
    for (const auto& [name, v] : names_)
      if (v == value) return name;
    return "?";
  }

  std::string list() const {  // "a, b or c"
    std::string text;
    for (size_t i = 0; i < names_.size(); ++i)
      text += std::string(i == 0 ? "" : i + 1 == names_.size() ? " or " : ", ") + names_[i].first;
    return text;
  }

 private:
  std::vector<std::pair<const char*, Enum>> names_;
};

}  // namespace nst
