#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "facts/fact.hpp"
#include "facts/store/log_payloads.hpp"
#include "facts/store/nats_connection.hpp"
#include "facts/store/nats_timings.hpp"
#include "facts/store/nats_url.hpp"

namespace facts {

/**
 * Represents reads of stored facts straight from the JetStream stream, on the caller's thread,
 * for what the store does not keep among its recent facts: one fact by a direct get, a range
 * through a short-lived pull consumer (2.9 has no batch get), one consumer per range read.
 * Each read is bounded by --publish-timeout (see nats_timings), and ends at once when the
 * connection closes. Safe to use from several threads, as nats.c's calls are.
 */
class nats_log_reader {
 public:
  /// Reads through `connection`, and turns payloads into facts through `payloads`; both must
  /// outlive this.
  nats_log_reader(nats_connection const& connection, log_payloads& payloads, nats_url url,
                  nats_timings const& timings);

  /// The fact `seq`, or nothing when the stream has none. Throws store_error.
  std::optional<fact> get(std::uint64_t seq) const;

  /// The facts `first` to `last`, in order, through one consumer: fewer when the time runs out
  /// or the stream skips a seq (logged), and once `at_least` are read, fewer when their JSON has
  /// passed `enough_bytes` (the fact that passes it is the last). Throws store_error when none
  /// could be read.
  std::vector<fact> range(std::uint64_t first, std::uint64_t last, std::size_t enough_bytes,
                          std::uint64_t at_least) const;

  /// How many range reads (each a consumer of its own) were started.
  std::uint64_t ranges_read() const { return ranges_read_; }

 private:
  /// Returns once connected; throws store_error when not within `wait` or the store closes.
  void wait_connected(std::chrono::milliseconds wait, std::uint64_t first) const;

  nats_connection const& connection_;
  log_payloads& payloads_;
  nats_url url_;
  std::string subject_;
  nats_timings timings_;
  mutable std::atomic<std::uint64_t> ranges_read_{0};
};

}  // namespace facts
