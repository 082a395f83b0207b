#include "facts/store/nats_timings.hpp"

#include <algorithm>

namespace facts {

namespace {

using namespace std::chrono_literals;

// nats.c's own ping interval (NATS_OPTS_DEFAULT_PING_INTERVAL): we never ping less often.
constexpr auto nats_default_ping_interval = std::chrono::milliseconds(2min);

}  // namespace

nats_timings nats_timings::from(ms connect_timeout, ms publish_timeout) {
  nats_timings t;
  auto const c = connect_timeout;
  auto const p = publish_timeout;
  t.connect = c;
  t.publish = p;
  // One request to JetStream and its answer: two fit in a POST's wait with room for a shorter
  // third. So a publish gets a retry (with the same message id) before its POST answers 503, and
  // a direct get and its fallback to the leader together answer within P.
  t.request = p * 2 / 5;
  // Startup tries each server and the stream about five times within C (a cluster that has just
  // started may need a few seconds to elect a meta leader). nats.c uses the same wait for each
  // reconnect while POSTs are waiting, so never longer than one request.
  t.connect_attempt = std::min(c / 5, t.request);
  // A POST waits up to P for its fact to come back through the follower: a stalled consumer is
  // given up after 2P/5 and its replacement created within one request (another 2P/5), so the
  // fact can still arrive in time.
  t.stall_after = p * 2 / 5;
  // A server that stopped answering is given up after two unanswered pings: within about one
  // POST's wait, so the POSTs after one that timed out go to a live server. Never less often than
  // nats.c pings by itself.
  t.ping_interval = std::min<ms>(p * 2 / 5, nats_default_ping_interval);
  // The stream counts as unreachable once its info is older than a POST would wait, and never
  // after one slow or lost poll: at least two polls (each its request and the pause after it).
  t.health_grace = std::max<ms>(p, 2 * (t.request + poll_interval));
  // The server drops a range read's consumer when we vanish mid-read. While we read, it is
  // never idle longer than one fetch (a request), so any bound well above that is safe; six
  // publish timeouts keeps 30 s at the defaults.
  t.range_idle = p * 6;
  // Shutdown waits for no answer from NATS: closing the connection ends every request, fetch
  // and ack wait at once. It waits only for nats.c's lock, which nats.c holds through one
  // connection attempt while it reconnects (conn.c, 3.4.1), and then for nats.c's threads to
  // leave our callbacks, which take no longer than a lock each.
  t.shutdown_wait = t.connect_attempt;
  return t;
}

}  // namespace facts
