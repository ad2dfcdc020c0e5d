#include "data/json_strict.h"

#include <set>
#include <stdexcept>
#include <vector>

namespace nst {

nlohmann::json parse_json_strict(const std::string& text) {
  std::vector<std::set<std::string>> open_objects;  // the keys seen so far in each enclosing object
  std::string duplicate;
  auto check = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Event::key && !open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json json = nlohmann::json::parse(text, check);
  if (!duplicate.empty()) throw std::runtime_error("duplicate key '" + duplicate + "'");
  return json;
}

}  // namespace nst
