// JSON from files we did not necessarily write (model headers and metadata): duplicate keys are an
// error, not "the last one wins", so a doctored file cannot say two things at once.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace nst {

// Parses `text`; throws std::runtime_error naming a duplicate key, or nlohmann's parse error.
nlohmann::json parse_json_strict(const std::string& text);

}  // namespace nst
