#include "facts/fact.hpp"

#include <nlohmann/json.hpp>

namespace facts {

fact_parse_result parse_fact(std::string_view body) {
  // ordered_json keeps the fields in the order they were sent.
  auto const parsed = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return {{}, "body is not valid JSON"};
  if (!parsed.is_object()) return {{}, "a fact must be a JSON object"};
  return {parsed.dump(), {}};
}

}  // namespace facts
