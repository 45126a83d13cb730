// The shared expression form (expression.h): parsing the array, or the string holding one.
#include "breaker/expression.h"

namespace ringway::breaker::expression {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) {
      return false;
    }
  }
  return true;
}

bool Document::parse(std::string_view json, std::string* error) {
  if (outer_.parse(json.data(), json.size()).get(root_) != simdjson::SUCCESS) {
    *error = "not valid JSON";
    return false;
  }
  std::string_view inner;
  if (root_.get_string().get(inner) == simdjson::SUCCESS) {
    held_ = std::string(inner);
    if (inner_.parse(held_).get(root_) != simdjson::SUCCESS) {
      *error = "the string does not hold a JSON array";
      return false;
    }
  }
  return true;
}

}  // namespace ringway::breaker::expression
