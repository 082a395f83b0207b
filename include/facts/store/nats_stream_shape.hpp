#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "facts/store/fact_store.hpp"
#include "facts/store/nats_url.hpp"
#include "facts/store/retention_bounds.hpp"

namespace facts {

/// How long JetStream remembers a Nats-Msg-Id (our Idempotency-Key): as long as keys live.
inline constexpr std::chrono::seconds nats_duplicate_window{idempotency_window_seconds};

/**
 * Represents the limits of a stream that retention sets: JetStream removes the oldest messages
 * past any of them (discard old), and the seqs of those that stay remain dense. JetStream wants
 * the duplicate window no longer than the age bound, so it is one of them.
 */
struct nats_stream_limits {
  std::int64_t max_msgs = -1;           ///< -1: none
  std::int64_t max_bytes = -1;          ///< -1: none
  std::chrono::nanoseconds max_age{0};  ///< 0: none
  std::chrono::nanoseconds duplicates{nats_duplicate_window};
  bool discard_old = true;  ///< JetStream removes the oldest at a limit (not: refuses the new)

  bool operator==(nats_stream_limits const&) const = default;
  /// "max_msgs 1000, max_bytes none, max_age 90d, duplicate window 24h", for the logs.
  std::string describe() const;
};

/// The limits the --retain-* flags ask for.
nats_stream_limits nats_limits_for(retention_bounds const& bounds);

/// The limits a stream has (JetStream's 0 and -1 both read as none).
nats_stream_limits nats_limits_of(jsStreamConfig const& cfg);

/// Sets the limits in `cfg`, with discard old; leaves everything else.
void set_stream_limits(jsStreamConfig& cfg, nats_stream_limits const& limits);

/**
 * Represents the one JetStream stream shape factsd runs on: one subject, file storage, the URL's
 * replicas, no deletes or purges (so seqs stay dense and are fact ids; limits only remove the
 * oldest), the limits of `bounds`, a 24-hour duplicate window (shorter with a shorter age
 * bound) and direct gets. The config's strings point into `url`: keep it alive.
 */
void fill_stream_config(jsStreamConfig& cfg, nats_url const& url, char const** subject,
                        retention_bounds const& bounds = {});

/**
 * What makes an existing stream unfit, in one line naming each difference ("" when it fits).
 * Anything that could let seqs skip inside the log (deletes, purges, other subjects, limits per
 * subject) or weaken what an acknowledgement means (storage, replicas) is refused rather than
 * adjusted: changing a stream in use is the operator's decision, not ours. Its limits (max msgs,
 * bytes, age, the duplicate window, discard) are not the shape: see nats_limits_of().
 */
std::string stream_shape_difference(jsStreamConfig const& have, nats_url const& want);

}  // namespace facts
