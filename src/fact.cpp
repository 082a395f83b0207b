#include "facts/fact.hpp"

#include <nlohmann/json.hpp>

namespace facts {

namespace {

// nlohmann parses iteratively but serializes recursively: a body of 60,000 nested brackets
// would overflow an I/O thread's stack in dump(). Measuring the depth first is one cheap pass.
std::size_t nesting_depth(std::string_view body) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char const c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

fact_parse_result parse_fact(std::string_view body) {
  // nlohmann stops at a NUL as if the input ended there; what follows would be dropped unseen.
  if (body.find('\0') != std::string_view::npos) return {{}, "body contains a NUL byte"};
  if (nesting_depth(body) > max_fact_depth)
    return {{}, "fact is nested deeper than " + std::to_string(max_fact_depth) + " levels"};
  // ordered_json keeps the fields in the order they were sent.
  auto const parsed = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return {{}, "body is not valid JSON"};
  if (!parsed.is_object()) return {{}, "a fact must be a JSON object"};
  return {parsed.dump(), {}};
}

}  // namespace facts
