#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace facts {

/**
 * Represents how much history a store keeps: the newest `facts`, those younger than `age`, and
 * the newest whose JSON adds up to at most `bytes`. A fact goes when any bound is passed; 0 is
 * no bound. Ids are never reused: the oldest facts go and the first id moves up.
 */
struct retention_bounds {
  std::uint64_t facts = 0;
  std::chrono::seconds age{0};
  std::uint64_t bytes = 0;

  bool any() const { return facts != 0 || age.count() != 0 || bytes != 0; }
  /// For the start line: "the newest 1000 facts, 90d, 2GiB of facts" or "unbounded".
  std::string describe() const;
};

/// "90d", "12h", "30m", "45s" or plain seconds ("45"); nothing for anything else or a duration
/// too long to count in seconds.
std::optional<std::chrono::seconds> parse_retention_age(std::string_view text);

/// "2GiB", "512MiB", "64KiB", "1TiB", "1GB" (powers of 1000), or plain bytes; nothing for
/// anything else or more than 2^63 bytes.
std::optional<std::uint64_t> parse_retention_bytes(std::string_view text);

/// A duration as parse_retention_age reads it back, in the largest unit that divides it.
std::string format_retention_age(std::chrono::seconds age);

/// A size as parse_retention_bytes reads it back, in the largest binary unit that divides it.
std::string format_retention_bytes(std::uint64_t bytes);

}  // namespace facts
