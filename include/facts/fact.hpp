#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace facts {

/** Represents one stored fact: its sequence number and its JSON object as compact text. */
struct fact {
  std::uint64_t seq = 0;
  std::string json;  ///< compact JSON, one line, fields in the order they were sent

  friend bool operator==(fact const&, fact const&) = default;
};

/** Represents the outcome of validating a POST body: the compact JSON, or what was wrong. */
struct fact_parse_result {
  std::string json;
  std::string error;  ///< empty when the body is a valid fact

  bool ok() const { return error.empty(); }
};

/// Deepest nesting of objects and arrays a fact may have.
inline constexpr std::size_t max_fact_depth = 64;

/**
 * Validates a POST /fact body: one JSON object, valid UTF-8, nested at most max_fact_depth
 * levels. Re-serializes it compactly.
 */
fact_parse_result parse_fact(std::string_view body);

/// parse_fact the long way, through a whole nlohmann document: the reference parse_fact's
/// single pass must match byte for byte (and where that pass gives up, what it falls back to).
fact_parse_result parse_fact_document(std::string_view body);

}  // namespace facts
