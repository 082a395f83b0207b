// Liveness and availability (issue 10): heartbeats keep their period, a peer that vanished
// without a word is found, a client that feeds its stream is closed, and readers at
// --max-clients cannot lock publishers out. The server runs in-process on 127.0.0.1:0, or, for
// the dead peer, in a network namespace of the test's own. Every wait has a deadline.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "facts/config.hpp"
#include "facts/sse.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/net_namespace.hpp"
#include "support/raw_socket.hpp"
#include "support/sse_client.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

std::string one_fact(std::string const& info) {
  return nlohmann::json{{"info", info}, {"source", "https://liveness.example"}}.dump();
}

/// Opens a stream on `peer` and reads until its snapshot (of an empty store) has arrived.
void open_stream(raw_socket& peer) {
  REQUIRE(peer.send_all(events_request()) == raw_socket::io::ok);
  REQUIRE(peer.read_until([](std::string const& got) {
    return got.find("data: []\n\n") != std::string::npos;
  }) == raw_socket::io::ok);
}

std::int64_t streams_open(std::uint16_t port) {
  return static_cast<std::int64_t>(
      metric_value(metrics_text(port), "factsd_streams_open").value_or(-1));
}

double ended(std::uint16_t port, std::string const& reason) {
  return metric_value(metrics_text(port), "factsd_streams_ended_total{reason=\"" + reason + "\"}")
      .value_or(-1);
}

}  // namespace

TEST_CASE("liveness: an idle stream gets a heartbeat every --heartbeat seconds",
          "[liveness][heartbeat]") {
  test_server srv([](facts::config& cfg) { cfg.heartbeat = 1s; });
  raw_socket peer(srv.port());
  open_stream(peer);

  // Each heartbeat's arrival, taken as its bytes come in, for 5 s from the first one.
  auto const heartbeat = facts::make_heartbeat();
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::size_t scanned = 0;
  auto const result = peer.read_until(
      [&](std::string const& got) {
        for (auto at = got.find(heartbeat, scanned); at != std::string::npos;
             at = got.find(heartbeat, scanned)) {
          arrivals.push_back(std::chrono::steady_clock::now());
          scanned = at + heartbeat.size();
        }
        return !arrivals.empty() && std::chrono::steady_clock::now() - arrivals.front() >= 5s;
      },
      12s);
  REQUIRE(result == raw_socket::io::ok);

  auto const in_window = std::count_if(arrivals.begin(), arrivals.end(),
                                       [&](auto t) { return t - arrivals.front() < 5s; });
  std::vector<double> gaps;
  for (std::size_t i = 1; i < arrivals.size(); ++i)
    gaps.push_back(std::chrono::duration<double>(arrivals[i] - arrivals[i - 1]).count());
  CAPTURE(gaps);
  // One a second: 5 in the 5 s from the first (one every other second would be 3).
  CHECK(in_window >= 4);
  CHECK(std::all_of(gaps.begin(), gaps.end(), [](double g) { return g >= 0.5; }));
}

TEST_CASE(
    "liveness: with the default --heartbeat no stream is silent for more than 15 s, whether it "
    "is new or was just sent an event",
    "[liveness][heartbeat]") {
  // The default period, not a short one: a stream that just got bytes must not wait for a
  // second tick (up to 30 s, past a proxy's common 30 s idle timeout).
  facts::config const defaults;
  REQUIRE(defaults.heartbeat == 15s);
  test_server srv([&](facts::config& cfg) { cfg.heartbeat = defaults.heartbeat; });
  auto const port = srv.port();
  using clock = std::chrono::steady_clock;
  // The promise is the period plus a stated slack (README: a second at most, for the tick's own
  // lateness on a busy machine). A tick sends to a stream silent for 3/4 of the period: the
  // heartbeats of a silent stream come no closer together than that.
  constexpr auto most_silence = 15s + 1s;
  constexpr auto least_gap = 11s;

  raw_socket evented(port);
  open_stream(evented);
  REQUIRE(post_fact(port, one_fact("the last event for a while")).result() ==
          boost::beast::http::status::created);
  REQUIRE(evented.read_until([](std::string const& got) {
    return got.find("id: 1\ndata: ") != std::string::npos;
  }) == raw_socket::io::ok);
  raw_socket fresh(port);
  REQUIRE(fresh.send_all(events_request()) == raw_socket::io::ok);
  REQUIRE(fresh.read_until([](std::string const& got) {
    return got.find("id: 1\ndata: [") != std::string::npos;
  }) == raw_socket::io::ok);

  // Every arrival of bytes on each stream from now on (the event and the snapshot were the last
  // before), for 34 s: two periods and a bit.
  auto const start = clock::now();
  auto const until = start + 34s;
  auto const heartbeat = facts::make_heartbeat();
  auto watch = [&heartbeat, until](raw_socket& s, std::vector<clock::time_point>& arrivals) {
    auto scanned = s.received().size();
    return s.read_until(
        [&](std::string const& got) {
          // Taken per whole heartbeat, so that one split over two reads is one arrival.
          for (auto at = got.find(heartbeat, scanned); at != std::string::npos;
               at = got.find(heartbeat, scanned)) {
            arrivals.push_back(clock::now());
            scanned = at + heartbeat.size();
          }
          return clock::now() >= until;
        },
        40s);
  };
  auto const evented_before = evented.received().size();
  auto const fresh_before = fresh.received().size();
  std::vector<clock::time_point> evented_arrivals{start};
  std::vector<clock::time_point> fresh_arrivals{start};
  raw_socket::io evented_io = raw_socket::io::timeout;
  std::thread other([&] { evented_io = watch(evented, evented_arrivals); });
  auto const fresh_io = watch(fresh, fresh_arrivals);
  other.join();
  REQUIRE(evented_io == raw_socket::io::ok);
  REQUIRE(fresh_io == raw_socket::io::ok);

  auto const check = [&](char const* which, std::vector<clock::time_point> arrivals,
                         std::size_t bytes) {
    arrivals.push_back(until);  // the silence after the last arrival counts too
    std::vector<double> gaps;
    for (std::size_t i = 1; i < arrivals.size(); ++i)
      gaps.push_back(std::chrono::duration<double>(arrivals[i] - arrivals[i - 1]).count());
    INFO(which << " stream, seconds between arrivals: " << ::Catch::Detail::stringify(gaps));
    CHECK(std::all_of(gaps.begin(), gaps.end(), [&](double g) {
      return g <= std::chrono::duration<double>(most_silence).count();
    }));
    // Heartbeats only (nothing else was published), two at least in 34 s, none too soon.
    auto const heartbeats = arrivals.size() - 2;  // less the start and the end
    CHECK(heartbeats >= 2);
    CHECK(bytes == heartbeats * heartbeat.size());
    for (std::size_t i = 1; i + 1 < gaps.size(); ++i)
      CHECK(gaps[i] >= std::chrono::duration<double>(least_gap).count());
  };
  check("evented", evented_arrivals, evented.received().size() - evented_before);
  check("fresh", fresh_arrivals, fresh.received().size() - fresh_before);
}

TEST_CASE(
    "liveness: a peer that vanishes without FIN or RST is dropped after --write-timeout, not "
    "before",
    "[liveness][dead]") {
  // Loopback answers a write to a closed socket with a reset at once; a peer gone for real
  // answers nothing. In a namespace of our own, iptables drops every packet the client sends:
  // it stops acknowledging, as a laptop asleep behind NAT does.
  net_namespace ns;
  constexpr auto write_timeout = 2s;
  constexpr auto heartbeat = 1s;
  test_server srv([&](facts::config& cfg) {
    cfg.heartbeat = heartbeat;
    cfg.limits.write_timeout = write_timeout;
  });
  auto const port = srv.port();
  raw_socket peer(port);
  open_stream(peer);
  REQUIRE(eventually([&] { return streams_open(port) == 1; }, 5s));

  auto const client_port = std::to_string(peer.local_port());
  REQUIRE(iptables({"-I", "OUTPUT", "-p", "tcp", "--sport", client_port, "-j", "DROP"}) == "");
  auto const gone = std::chrono::steady_clock::now();

  // Dropped once a heartbeat has gone unacknowledged for --write-timeout: within that plus a
  // heartbeat, and some slack for a loaded machine (ASan).
  auto const bound = write_timeout + heartbeat + 3s;
  bool const dropped = eventually([&] { return streams_open(port) == 0; }, bound);
  auto const after = std::chrono::duration<double>(std::chrono::steady_clock::now() - gone);
  INFO("stream count reached 0 after " << after.count() << " s (or not at all)");
  REQUIRE(dropped);
  // Not before --write-timeout: a peer that is merely slow to ack keeps its stream.
  CHECK(after.count() >= std::chrono::duration<double>(write_timeout).count() - 0.5);
  CHECK(ended(port, "timeout") == 1);
  CHECK(status(port)["clients"] == 0);
}

TEST_CASE("liveness: a stream's client that keeps sending bytes is closed and counted",
          "[liveness][chatty]") {
  test_server srv;
  auto const port = srv.port();

  // A few stray bytes (a client that pipelined a blank line) are dropped; the stream lives on.
  raw_socket quiet(port);
  open_stream(quiet);
  REQUIRE(quiet.send_all("\r\n\r\n") == raw_socket::io::ok);

  raw_socket chatty(port);
  open_stream(chatty);
  REQUIRE(eventually([&] { return streams_open(port) == 2; }, 5s));

  // A steady flow, bounded: 1 KiB at a time, at most 4 MiB or 10 s in all.
  std::string const kib(1024, 'x');
  auto const started = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 4096 && !closed && std::chrono::steady_clock::now() - started < 10s; ++i) {
    closed =
        chatty.send_all(kib, 200ms) == raw_socket::io::closed ||
        chatty.read_until([](std::string const&) { return false; }, 5ms) == raw_socket::io::closed;
  }
  auto const took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  INFO("the flow ran " << took.count() << " s");
  CHECK(closed);
  CHECK(took.count() < 5.0);
  CHECK(eventually([&] { return ended(port, "client_sent") == 1; }, 5s));
  CHECK(eventually([&] { return streams_open(port) == 1; }, 5s));

  // The quiet one still gets what is published.
  REQUIRE(post_fact(port, one_fact("after the flow")).result() == http::status::created);
  REQUIRE(quiet.read_until([](std::string const& got) {
    return got.find("after the flow") != std::string::npos;
  }) == raw_socket::io::ok);
}

TEST_CASE("liveness: at --max-clients only new streams are refused; publishing goes on",
          "[liveness][limits]") {
  constexpr std::size_t max_clients = 4;
  test_server srv([](facts::config& cfg) { cfg.limits.max_clients = max_clients; });
  auto const port = srv.port();
  std::vector<std::unique_ptr<sse_client>> streams;
  for (std::size_t i = 0; i < max_clients; ++i) {
    streams.push_back(std::make_unique<sse_client>(port));
    REQUIRE(streams.back()->next_event());  // the snapshot
  }
  REQUIRE(eventually([&] { return streams_open(port) == max_clients; }, 5s));

  // Publishing and reading go on at the bound.
  auto const posted = post_fact(port, one_fact("at the bound"));
  CHECK(posted.result() == http::status::created);
  auto const page = get(port, "/facts");
  CHECK(page.result() == http::status::ok);
  CHECK(nlohmann::json::parse(page.body())["facts"].size() == 1);
  CHECK(get(port, "/facts/1").result() == http::status::ok);
  CHECK(get(port, "/").result() == http::status::ok);
  CHECK(get(port, "/status").result() == http::status::ok);
  for (auto& stream : streams) {
    auto const live = stream->next_event();
    REQUIRE(live);
    CHECK(live->id == "1");
  }

  // One more stream: 200, a retry:, no snapshot, and the end.
  auto const answer = raw_exchange(port, events_request());
  INFO("answer: " << answer.bytes);
  CHECK(answer.closed);
  CHECK(answer.bytes.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(answer.bytes.find("retry: ") != std::string::npos);
  CHECK(answer.bytes.find("data:") == std::string::npos);
  CHECK(streams_open(port) == static_cast<std::int64_t>(max_clients));
}
