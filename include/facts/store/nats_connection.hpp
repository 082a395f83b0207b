#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "facts/store/nats_timings.hpp"
#include "facts/store/nats_url.hpp"
#include "facts/store/retention_bounds.hpp"

namespace facts {

/**
 * Represents the nats:// store's connection to NATS and its JetStream context, set up for a
 * shared log: connected within --connect-timeout, reconnecting forever after, the stream made
 * sure of, closed at once when the store ends, and freed only once nats.c says it is done with
 * the connection. nats.c calls the connection's callbacks on its own threads; they only set the
 * state below and log.
 */
class nats_connection {
 public:
  /// Connects, opens JetStream with `on_ack` (called with `ack_closure`) as the handler of every
  /// asynchronous publish's ack, and makes sure the stream exists in the shape factsd runs on,
  /// creating it when missing with the limits of `retention`, and updating the limits of one
  /// that has others (the instance that starts last sets them; a warning names both); all
  /// within timings.connect. Throws store_error, with one line, when it cannot or the stream
  /// has another shape.
  nats_connection(nats_url url, nats_timings const& timings, jsPubAckHandler on_ack,
                  void* ack_closure, retention_bounds const& retention = {});
  ~nats_connection();

  nats_connection(nats_connection const&) = delete;
  nats_connection& operator=(nats_connection const&) = delete;

  natsConnection* conn() const { return conn_; }
  jsCtx* js() const { return js_; }
  /// The stream's last seq when it was made sure of, at startup.
  std::uint64_t last_seq_at_start() const { return last_seq_at_start_; }
  /// The stream's first seq then (1 for an empty stream that never dropped a message).
  std::uint64_t first_seq_at_start() const { return first_seq_at_start_; }
  /// As nats.c last reported it, without taking nats.c's lock: while nats.c reconnects, it holds
  /// that lock through each connection attempt (up to timings.connect_attempt).
  bool connected() const { return connected_; }
  /// Waits until connected, at most until `deadline`; false when not connected by then, or
  /// once close() was called.
  bool wait_connected(std::chrono::steady_clock::time_point deadline) const;
  /// True once close() was called.
  bool closing() const { return closing_; }
  /// True once after each reconnect: nats.c restarts an ordered consumer itself, but a server
  /// that has just come back may not take it yet, and its next try waits for missed heartbeats.
  bool take_reconnected() { return reconnected_.exchange(false); }

  /// Closes the connection to NATS: every call into nats.c that waits on it (a request, a
  /// fetch) returns at once, and every later one fails at once; no ack handler or subscription
  /// callback starts from now on. Waits at most for nats.c's lock (one connection attempt while
  /// it reconnects). Safe to call more than once, from any thread; the JetStream context stays
  /// usable for its pending acks (js_PublishAsyncGetPendingList) until the destructor.
  void close();

 private:
  /// close(), then waits (up to timings.shutdown_wait) for nats.c's last callback on the
  /// connection and frees it with the JetStream context. Whatever was still to call the owner's
  /// callbacks must be done by now.
  void release();
  void set_connected(bool up);
  void connect(std::chrono::steady_clock::time_point deadline, jsPubAckHandler on_ack,
               void* ack_closure);
  void ensure_stream(std::chrono::steady_clock::time_point deadline,
                     retention_bounds const& retention);
  /// Sets the limits of `retention` on the stream `info` describes; throws when JetStream
  /// refuses. Frees `info` and replaces it with the updated stream's.
  void update_limits(jsStreamInfo*& info, retention_bounds const& retention,
                     std::chrono::steady_clock::time_point deadline);
  static void on_closed(natsConnection* nc, void* closure);
  static void on_disconnected(natsConnection* nc, void* closure);
  static void on_reconnected(natsConnection* nc, void* closure);
  static void on_async_error(natsConnection* nc, natsSubscription* sub, natsStatus err,
                             void* closure);

  nats_url url_;
  nats_timings timings_;
  // Set by the constructor and let go by close(), on the owner's thread; read by any thread in
  // between without a lock (nats.c's calls on them are thread-safe).
  natsOptions* nats_opts_ = nullptr;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  std::uint64_t last_seq_at_start_ = 0;
  std::uint64_t first_seq_at_start_ = 1;

  // Written under state_mutex_, so that wait_connected() cannot miss a change; read without it.
  std::atomic<bool> connected_{false};
  std::atomic<bool> closing_{false};  // close() was called: the end, not worth a warning
  mutable std::mutex state_mutex_;
  mutable std::condition_variable state_wake_;
  std::atomic<bool> reconnected_{false};
  // nats.c calls the connection's callbacks from its own thread, after Close returns; the
  // closed callback comes last, and we wait for it before going away.
  std::mutex closed_mutex_;  // guards closed_
  std::condition_variable closed_wake_;
  bool closed_ = false;
};

}  // namespace facts
