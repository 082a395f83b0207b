#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadgen {

/// What a published fact carries for the benchmark: which fact it is and when it was sent.
struct fact_stamp {
  std::uint64_t seq = 0;      ///< the generator's sequence number, 0-based within the session
  std::uint64_t sent_us = 0;  ///< send time, microseconds on the generator's monotonic clock
};

/// Bytes of JSON a benchmark fact is padded to, like a short tutorial fact.
inline constexpr std::size_t fact_bytes = 70;

/**
 * The JSON body of a benchmark fact, compact and padded to about fact_bytes:
 * `{"info":"xxxx","source":"loadgen","seq":12,"t":3456789}`. Servers store and forward it
 * verbatim or re-serialize it compactly keeping field order (factsd, JSON.stringify).
 */
std::string make_fact_json(fact_stamp stamp);

/// Reads "seq" and "t" back from an event's data; nullopt if the data is not one of our facts
/// (a snapshot array, say).
std::optional<fact_stamp> read_fact_stamp(std::string_view data);

}  // namespace loadgen
