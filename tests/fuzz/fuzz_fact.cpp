// Fact validation on arbitrary bytes: it never crashes, its single pass agrees with the
// document path, and what it accepts is one line of compact JSON that validates again to
// itself (so it can go into a `data:` line as it is).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "facts/fact.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const body(reinterpret_cast<char const*>(data), size);
  auto const first = facts::parse_fact(body);
  // The single pass and the document path agree byte for byte, errors included.
  auto const reference = facts::parse_fact_document(body);
  if (first.json != reference.json || first.error != reference.error) __builtin_trap();
  if (!first.ok()) {
    if (first.error.empty()) __builtin_trap();
    return 0;
  }
  if (first.json.find_first_of("\r\n") != std::string::npos) __builtin_trap();
  if (first.json.empty() || first.json.front() != '{') __builtin_trap();
  auto const again = facts::parse_fact(first.json);
  if (!again.ok() || again.json != first.json) __builtin_trap();
  return 0;
}
