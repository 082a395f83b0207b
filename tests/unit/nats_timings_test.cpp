#include "facts/store/nats_timings.hpp"

#include <catch2/catch.hpp>
#include <chrono>

#include "facts/config.hpp"

namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

facts::nats_timings at_flags(std::chrono::seconds connect, std::chrono::seconds publish) {
  return facts::nats_timings::from(connect, publish);
}

}  // namespace

TEST_CASE("at the flags' defaults, every NATS timing is the constant it replaced") {
  facts::config const defaults;
  auto const t = at_flags(defaults.connect_timeout, defaults.publish_timeout);
  CHECK(t.connect == 10s);
  CHECK(t.publish == 5s);
  CHECK(t.connect_attempt == 2s);  // natsOptions_SetTimeout, each stream lookup at startup
  CHECK(t.request == 2s);          // a publish attempt, a direct get and its fallback, info
  CHECK(t.stall_after == 2s);
  CHECK(t.ping_interval == 2s);
  CHECK(t.health_grace == 5s);  // was max(3 s, P)
  CHECK(t.range_idle == 30s);
  CHECK(t.shutdown_wait == 2s);  // closing: one connection attempt of nats.c's (was P)
  CHECK(facts::nats_timings::reconnect_pause == 250ms);
  CHECK(facts::nats_timings::retry_pause == 100ms);
  CHECK(facts::nats_timings::poll_interval == 500ms);
}

TEST_CASE("NATS timings keep their relations at any --publish-timeout and --connect-timeout") {
  for (auto const publish : {1s, 2s, 5s, 30s, 3600s}) {
    for (auto const connect : {1s, 10s, 3600s}) {
      auto const t = at_flags(connect, publish);
      INFO("connect " << connect.count() << " s, publish " << publish.count() << " s");
      // A publish is sent again at least once before its POST answers 503, and a direct get
      // and its fallback to the leader answer within a POST's wait.
      CHECK(2 * t.request <= t.publish);
      // A stalled consumer is replaced in time for a POST waiting for its fact.
      CHECK(t.stall_after + t.request < t.publish);
      // Startup tries several times; no single try outlasts a request.
      CHECK(5 * t.connect_attempt <= t.connect);
      CHECK(t.connect_attempt <= t.request);
      CHECK(t.ping_interval <= ms(2min));
      CHECK(t.health_grace >= t.publish);
      CHECK(t.health_grace >= 2 * (t.request + facts::nats_timings::poll_interval));
      CHECK(t.range_idle > t.request);
      // Shutdown waits no longer than nats.c's one connection attempt, well within a request.
      CHECK(t.shutdown_wait == t.connect_attempt);
    }
  }
}
