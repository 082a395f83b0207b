#include "facts/store/retention_bounds.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>

namespace facts {

namespace {

/** Represents a number with a unit after it, as the flags spell them. */
struct number_and_unit {
  std::uint64_t number = 0;
  std::string_view unit;
};

std::optional<number_and_unit> split(std::string_view text) {
  number_and_unit out;
  auto const* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, out.number);
  if (text.empty() || ec != std::errc{} || stop == text.data()) return std::nullopt;
  out.unit = std::string_view(stop, static_cast<std::size_t>(end - stop));
  return out;
}

std::optional<std::uint64_t> times(std::uint64_t n, std::uint64_t unit, std::uint64_t max) {
  if (n > max / unit) return std::nullopt;
  return n * unit;
}

constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> age_units{
    {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}}};
constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> binary_units{
    {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}}};
constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> decimal_units{
    {{"TB", 1'000'000'000'000ULL}, {"GB", 1'000'000'000ULL}, {"MB", 1'000'000ULL}, {"KB", 1000}}};

// Seconds in a std::chrono::seconds, and a limit no store's clock arithmetic overflows near.
constexpr std::uint64_t max_age_seconds = std::numeric_limits<std::int64_t>::max() / 1000;
constexpr std::uint64_t max_bytes = std::numeric_limits<std::int64_t>::max();

}  // namespace

std::optional<std::chrono::seconds> parse_retention_age(std::string_view text) {
  auto const parsed = split(text);
  if (!parsed) return std::nullopt;
  std::uint64_t unit = parsed->unit.empty() ? 1 : 0;
  for (auto const& [name, seconds] : age_units)
    if (parsed->unit == name) unit = seconds;
  if (unit == 0) return std::nullopt;
  auto const total = times(parsed->number, unit, max_age_seconds);
  if (!total) return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(*total));
}

std::optional<std::uint64_t> parse_retention_bytes(std::string_view text) {
  auto const parsed = split(text);
  if (!parsed) return std::nullopt;
  std::uint64_t unit = parsed->unit.empty() || parsed->unit == "B" ? 1 : 0;
  for (auto const& units : {binary_units, decimal_units})
    for (auto const& [name, bytes] : units)
      if (parsed->unit == name) unit = bytes;
  if (unit == 0) return std::nullopt;
  return times(parsed->number, unit, max_bytes);
}

std::string format_retention_age(std::chrono::seconds age) {
  auto const s = static_cast<std::uint64_t>(age.count());
  for (auto const& [name, seconds] : age_units)
    if (s != 0 && s % seconds == 0) return std::to_string(s / seconds) + std::string(name);
  return std::to_string(s) + "s";
}

std::string format_retention_bytes(std::uint64_t bytes) {
  for (auto const& [name, size] : binary_units)
    if (bytes != 0 && bytes % size == 0) return std::to_string(bytes / size) + std::string(name);
  return std::to_string(bytes) + "B";
}

std::string retention_bounds::describe() const {
  if (!any()) return "unbounded (every fact is kept)";
  std::string out;
  auto const add = [&out](std::string part) { out += (out.empty() ? "" : ", ") + part; };
  if (facts != 0) add("the newest " + std::to_string(facts) + " facts");
  if (age.count() != 0) add("facts younger than " + format_retention_age(age));
  if (bytes != 0) add("the newest " + format_retention_bytes(bytes) + " of facts");
  return out;
}

}  // namespace facts
