#pragma once

#include <chrono>

namespace facts {

/**
 * Represents every wait of the nats:// store on NATS, in one place, derived from the two flags
 * it is given: --connect-timeout (C) and --publish-timeout (P). At the flags' defaults (C = 10 s,
 * P = 5 s) each is the constant it replaced; nats_timings.cpp says why each is derived as it is.
 */
struct nats_timings {
  using ms = std::chrono::milliseconds;

  // Not derived: pacing, not waits for an answer, and no flag says how fast to retry.
  /// Between tries to reach NATS: startup's connects and stream lookups, nats.c's reconnects.
  static constexpr ms reconnect_pause{250};
  /// Before a publish that failed at once (no responders: no stream leader) is sent again.
  static constexpr ms retry_pause{100};
  /// Between two rounds of the monitor: stream info, and a check of the follower.
  static constexpr ms poll_interval{500};

  ms connect{};          ///< C: startup's whole wait for NATS and the stream
  ms connect_attempt{};  ///< min(C/5, request): one try to reach a server (2 s)
  ms publish{};          ///< P: a POST's wait for its ack; a range read's budget (5 s)
  ms request{};          ///< 2P/5: one JetStream request: an attempt's ack, a get, info (2 s)
  ms stall_after{};      ///< 2P/5: behind the log without progress: a new consumer (2 s)
  ms ping_interval{};    ///< min(2P/5, nats.c's 2 min): how often to ping the server (2 s)
  ms health_grace{};     ///< max(P, two polls): stream info this old: unreachable (5 s)
  ms range_idle{};       ///< 6P: a range read's consumer, left idle, is dropped (30 s)
  /// connect_attempt: closing the connection at shutdown, and nats.c's threads leaving our
  /// callbacks after it (2 s)
  ms shutdown_wait{};

  /// The timings for --connect-timeout `connect_timeout` and --publish-timeout
  /// `publish_timeout`.
  static nats_timings from(ms connect_timeout, ms publish_timeout);
};

}  // namespace facts
