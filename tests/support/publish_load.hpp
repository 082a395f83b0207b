#pragma once

// Concurrent publishers spread over several instances, as clients behind a load balancer: each
// fact is POSTed with its own Idempotency-Key, and an attempt that gets no 201 (no answer, a
// 503) is retried with the same key on the next instance, so that every fact ends with exactly
// one id however the attempts went. Every attempt is recorded (where, what it answered, when,
// how long it took) for the tests to hold against their bounds. Bounded in facts and in time.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
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
  publish_load(std::vector<std::uint16_t> ports, publish_load_options opts)
      : ports_(std::move(ports)), opts_(std::move(opts)), facts_(opts_.facts) {
    for (std::size_t i = 0; i < facts_.size(); ++i) {
      facts_[i].key = opts_.tag + "-" + std::to_string(i);
      facts_[i].info = opts_.tag + "-fact-" + std::to_string(i);
    }
    start_ = steady_clock::now();
    for (std::size_t t = 0; t < opts_.publishers; ++t)
      threads_.emplace_back([this, t] { run(t); });
  }

  ~publish_load() { wait(); }
  publish_load(publish_load const&) = delete;
  publish_load& operator=(publish_load const&) = delete;

  /// Facts acknowledged so far (readable at any time).
  std::size_t acked() const { return acked_.load(); }

  /// Joins the publishers; afterwards facts() may be read.
  void wait() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  std::vector<published_fact> const& facts() const { return facts_; }
  steady_clock::time_point started() const { return start_; }

 private:
  /// One keep-alive connection per instance and publisher, opened again after a failure.
  using connections = std::map<std::uint16_t, std::unique_ptr<http_connection>>;

  void run(std::size_t publisher) {
    connections open;
    for (std::size_t i = publisher; i < facts_.size(); i += opts_.publishers) {
      publish(open, facts_[i], i);
      if (opts_.pause.count() > 0) std::this_thread::sleep_for(opts_.pause);
    }
  }

  /// Attempts until a 201, each on the next instance, until give_up_after from the start.
  void publish(connections& open, published_fact& fact, std::size_t index) {
    auto const body = nlohmann::json{{"info", fact.info}, {"source", "cluster-test"}}.dump();
    for (std::size_t n = 0; steady_clock::now() - start_ < opts_.give_up_after; ++n) {
      auto const attempt = post(open, ports_[(index + n) % ports_.size()], body, fact.key);
      fact.attempts.push_back(attempt);
      if (attempt.status == 201) {
        fact.id = attempt.id;
        ++acked_;
        return;
      }
      std::this_thread::sleep_for(opts_.retry_pause);
    }
  }

  publish_attempt post(connections& open, std::uint16_t port, std::string const& body,
                       std::string const& key) {
    publish_attempt a;
    a.port = port;
    a.sent = steady_clock::now();
    try {
      auto& conn = open[port];
      if (!conn) conn = std::make_unique<http_connection>(port, opts_.request_timeout);
      auto const res =
          conn->send(make_request(http::verb::post, "/fact", body,
                                  {{"Content-Type", "application/json"}, {"Idempotency-Key", key}}),
                     opts_.request_timeout);
      a.status = res.result_int();
      a.replayed = header(res, "Idempotent-Replayed") == "true";
      a.id = seq_from_location(res);
      if (!res.keep_alive()) open.erase(port);
    } catch (std::exception const&) {
      a.status = 0;  // no answer: the connection is gone, the next attempt opens another
      open.erase(port);
    }
    a.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - a.sent);
    return a;
  }

  std::vector<std::uint16_t> const ports_;
  publish_load_options const opts_;
  std::vector<published_fact> facts_;  // each element touched by one publisher thread only
  std::atomic<std::size_t> acked_{0};
  steady_clock::time_point start_;
  std::vector<std::thread> threads_;
};

}  // namespace facts::test
