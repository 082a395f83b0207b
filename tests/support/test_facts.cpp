#include "support/test_facts.hpp"

#include <nlohmann/json.hpp>

namespace facts::test {

std::string numbered_fact(int n) {
  return nlohmann::ordered_json{{"info", "fact " + std::to_string(n)}, {"source", "test"}}.dump();
}

std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace facts::test
