#pragma once

// Concurrent publishers spread over several instances, as clients behind a load balancer: each
// fact is POSTed with its own Idempotency-Key, and an attempt that gets no 201 (no answer, a
// 503) is retried with the same key on the next instance, so that every fact ends with exactly
// one id however the attempts went. Every attempt is recorded (where, what it answered, when,
// how long it took) for the tests to hold against their bounds. Bounded in facts and in time.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

namespace facts::test {

/** Represents one POST of a fact. */
struct publish_attempt {
  std::uint16_t port = 0;
  int status = 0;  ///< the HTTP status, 0 when no answer came (refused, reset, timed out)
  steady_clock::time_point sent;
  std::chrono::milliseconds took{0};
  bool replayed = false;  ///< Idempotent-Replayed: true
  std::uint64_t id = 0;   ///< the id of a 201
};

/** Represents one fact and every attempt to publish it. */
struct published_fact {
  std::string key;       ///< its Idempotency-Key
  std::string info;      ///< its "info" field, unique
  std::uint64_t id = 0;  ///< the id of its 201 (0: never acknowledged)
  std::vector<publish_attempt> attempts;
};

struct publish_load_options {
  std::size_t publishers = 16;
  std::size_t facts = 600;
  std::string tag = "load";  ///< prefixes keys and infos, so loads never collide
  std::chrono::milliseconds request_timeout{15000};
  std::chrono::milliseconds pause{0};          ///< between one publisher's facts (paces the load)
  std::chrono::milliseconds retry_pause{100};  ///< before retrying an attempt without 201
  std::chrono::milliseconds give_up_after{40000};  ///< from the start: no attempt begins later
};

/** Represents the running load; its threads are joined by wait() or the destructor. */
class publish_load {
 public:
  publish_load(std::vector<std::uint16_t> ports, publish_load_options opts);

  ~publish_load();
  publish_load(publish_load const&) = delete;
  publish_load& operator=(publish_load const&) = delete;

  /// Facts acknowledged so far (readable at any time).
  std::size_t acked() const { return acked_.load(); }

  /// Joins the publishers; afterwards facts() may be read.
  void wait();

  std::vector<published_fact> const& facts() const { return facts_; }
  steady_clock::time_point started() const { return start_; }

 private:
  /// One keep-alive connection per instance and publisher, opened again after a failure.
  using connections = std::map<std::uint16_t, std::unique_ptr<http_connection>>;

  void run(std::size_t publisher);

  /// Attempts until a 201, each on the next instance, until give_up_after from the start.
  void publish(connections& open, published_fact& fact, std::size_t index);

  publish_attempt post(connections& open, std::uint16_t port, std::string const& body,
                       std::string const& key);

  std::vector<std::uint16_t> const ports_;
  publish_load_options const opts_;
  std::vector<published_fact> facts_;  // each element touched by one publisher thread only
  std::atomic<std::size_t> acked_{0};
  steady_clock::time_point start_;
  std::vector<std::thread> threads_;
};

}  // namespace facts::test
