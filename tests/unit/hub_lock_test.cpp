#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/http/routes.hpp"
#include "facts/store/memory_store.hpp"
#include "support/wait.hpp"

// Nothing slow runs under the broadcaster's lock, and what /status and /metrics read does not
// take it: a publish whose hand-over is stuck (a subscriber that blocks, standing in for any
// slow step under the lock) must not hold up /status.

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using facts::test::eventually;

namespace {

/** Represents a subscriber whose deliver() blocks until released: a publish stuck under the
 * hub's lock. */
class blocking_subscriber final : public facts::subscriber {
 public:
  void deliver(facts::frame, facts::frame_meta) override {
    std::unique_lock lock(mutex_);
    inside_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
  }
  void heartbeat(facts::frame) override {}
  void close() override {}

  bool wait_inside(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return inside_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;  // guards the flags
  std::condition_variable changed_;
  bool inside_ = false;
  bool released_ = false;
};

std::vector<facts::fact> facts_from(std::uint64_t first, std::uint64_t last) {
  std::vector<facts::fact> out;
  for (auto n = first; n <= last; ++n)
    out.push_back({n, "{\"n\":" + std::to_string(n) + "}"});
  return out;
}

}  // namespace

TEST_CASE("/status and /metrics answer while a publish is stuck under the hub's lock",
          "[concurrency]") {
  facts::memory_store store;
  store.append(std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"});
  facts::broadcaster hub(facts_from(1, 2), 100, &store);
  auto const sink = std::make_shared<blocking_subscriber>();
  hub.attach(sink);
  REQUIRE(hub.join(std::nullopt));

  facts::http::cors_policy cors{{"*"}};
  facts::http::static_files files{""};
  facts::http::access_gate access;
  facts::limits lim;
  facts::metrics stats;
  facts::http::route_context ctx{cors,   files, hub,  store, std::chrono::steady_clock::now(),
                                 access, lim,   stats};

  std::thread publisher([&] { hub.publish(facts_from(3, 3)); });
  REQUIRE(sink->wait_inside(5s));  // the publish holds the lock now, and keeps it

  std::atomic<int> status_code{0};
  std::atomic<int> metrics_code{0};
  std::string status_body;
  std::thread reader([&] {
    facts::http::request status{bhttp::verb::get, "/status", 11};
    auto const s = facts::http::route_request(status, ctx);
    status_body = s.res.body();
    status_code = static_cast<int>(s.res.result_int());
    facts::http::request metrics{bhttp::verb::get, "/metrics", 11};
    metrics_code = static_cast<int>(facts::http::route_request(metrics, ctx).res.result_int());
  });
  bool const answered = eventually([&] { return metrics_code.load() != 0; }, 3s);
  sink->release();  // whatever happened: let the publish end, so every thread can be joined
  publisher.join();
  reader.join();
  CHECK(answered);
  CHECK(status_code == 200);
  CHECK(metrics_code == 200);
  CHECK(status_body.find("\"clients\": 1") != std::string::npos);
  CHECK(hub.last_seq() == 3);
}

TEST_CASE("a snapshot is built from the window of its seq, while publishes go on",
          "[concurrency]") {
  // Joins build their snapshots outside the lock from an immutable window: publishes that land
  // meanwhile neither wait for them nor change what they build.
  facts::broadcaster hub(facts_from(1, 2000), 0);
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (std::uint64_t n = 2001; n <= 4000 && !stop; ++n)
      hub.publish(facts_from(n, n));
  });
  bool consistent = true;
  for (int i = 0; i < 200; ++i) {
    auto const joined = hub.join(std::nullopt);
    REQUIRE(joined);
    // The array holds exactly the facts 1..seq: count them by their closing braces.
    auto const& text = *joined->snapshot;
    auto const facts_in = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '}'));
    consistent = consistent && facts_in == joined->seq &&
                 text.starts_with("id: " + std::to_string(joined->seq) + "\n");
  }
  stop = true;
  publisher.join();
  CHECK(consistent);
}
