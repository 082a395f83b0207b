// Hardening (issue 4): slow and dead clients, --max-clients, request limits and hostile input,
// the publish token, CORS, header and SSE injection, graceful shutdown, and /metrics. Servers
// run in-process on 127.0.0.1:0 or as the factsd binary (a child, killed and reaped by its
// guard). Every wait has a deadline; deadlines are generous because the suite runs under ASan.

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "facts/server.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/process.hpp"
#include "support/raw_socket.hpp"
#include "support/resources.hpp"
#include "support/sse_client.hpp"
#include "support/tally_fleet.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;
using ordered_json = nlohmann::ordered_json;

namespace {

std::string small_fact(std::string const& info) {
  return ordered_json{{"info", info}, {"source", "https://hardening.example"}}.dump();
}

/// A metric that must be present; -1 (which no counter can be) when it is not.
double metric_or(std::string const& text, std::string_view series) {
  return metric_value(text, series).value_or(-1);
}

/**
 * The check after every hostile input: the server still answers GET /status, and a new
 * stream still receives a newly posted fact. Returns "" or what went wrong.
 */
std::string still_serving(std::uint16_t port, std::string const& token = {}) {
  try {
    auto const st = get(port, "/status");
    if (st.result() != http::status::ok)
      return "GET /status answered " + std::to_string(st.result_int());
    sse_client stream(port);
    auto const snapshot = stream.next_event(10s);
    if (!snapshot) return "no snapshot on a new stream";
    static std::atomic<int> counter{0};
    auto const body = small_fact("still serving " + std::to_string(++counter));
    header_list headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto const posted = post_fact(port, body, "application/json", headers);
    if (posted.result() != http::status::created)
      return "POST /fact answered " + std::to_string(posted.result_int());
    auto const live = stream.next_event(10s);
    if (!live) return "the stream did not get the new fact";
    if (live->data != body || live->id != std::to_string(seq_from_location(posted)))
      return "the stream got id " + live->id.value_or("-") + " data " + live->data;
    return {};
  } catch (std::exception const& e) {
    return std::string("exception: ") + e.what();
  }
}

/// The response at the start of `raw` (a close-delimited body ends with the bytes).
std::optional<response> response_in(std::string const& raw) {
  try {
    return parse_response(raw);
  } catch (std::exception const&) {
    return std::nullopt;
  }
}

/// Starts factsd with `flags` (and `env` set) and waits for its port; the test fails when it
/// does not start.
std::unique_ptr<child_process> start_daemon(std::vector<std::string> const& flags,
                                            std::uint16_t& port, env_list const& env = {}) {
  std::vector<std::string> args{FACTSD_BINARY};
  args.insert(args.end(), flags.begin(), flags.end());
  auto proc = std::make_unique<child_process>(args, with_env(env));
  auto const found = proc->wait_for_port(30s);
  INFO("factsd stderr: " << proc->err());
  REQUIRE(found);
  port = *found;
  return proc;
}

/// ASAN_OPTIONS for a child whose memory we measure: ASan keeps freed memory in a quarantine
/// (256 MiB by default) to catch use-after-free, which would count in the daemon's RSS.
env_list small_quarantine() {
  std::string options = "quarantine_size_mb=8";
  if (char const* ours = std::getenv("ASAN_OPTIONS"); ours != nullptr && *ours != '\0')
    options = std::string(ours) + ":" + options;
  return {{"ASAN_OPTIONS", options}};
}

/// Ends a daemon with SIGTERM; "" when it exits 0 within `timeout`, else what happened.
std::string stop_daemon(child_process& proc, std::chrono::milliseconds timeout = 30s) {
  proc.send_signal(SIGTERM);
  if (!proc.wait_exit(timeout)) return "still running after SIGTERM; stderr: " + proc.err();
  if (proc.exit_code() == 0) return {};
  return "exit code " + std::to_string(proc.exit_code()) + ", signal " +
         std::to_string(proc.term_signal()) + "; stderr: " + proc.err();
}

/// The lines of `text` that hold `needle`.
std::string lines_with(std::string_view text, std::string_view needle) {
  std::string out;
  while (!text.empty()) {
    auto const nl = text.find('\n');
    auto const line = text.substr(0, nl);
    if (line.find(needle) != std::string_view::npos) out.append(line).append("\n");
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

/// How many times `needle` occurs in `text`.
std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Slow clients

TEST_CASE(
    "hardening: a stream that never reads is cut off, 100 others get every fact, memory stays "
    "bounded",
    "[hardening][slow][concurrency][serial]") {
  // Under ThreadSanitizer the same scenario runs smaller: it is the races that matter there.
  std::size_t const normal_streams = under_tsan ? 20 : 100;
  // 2,000 x 10 KiB: 20 MiB of facts. Even the smaller run must outgrow the kernel's buffers
  // for the stalled connection (up to 4 MiB of send buffer on Linux by default).
  int const fact_count = under_tsan ? 700 : 2000;
  std::size_t const pad_bytes = 10 * 1024;
  std::size_t const max_queue = 256 * 1024;
  int const posters = 4;
  REQUIRE(ensure_fd_limit(4 * normal_streams + 512));

  temp_dir dir;
  std::uint16_t port = 0;
  // SQLite (--sync normal) and a small replay window keep the stored facts out of the
  // daemon's memory, so what its peak RSS shows is the streams' bookkeeping.
  auto daemon = start_daemon(
      {"--listen", "127.0.0.1:0", "--threads", "2", "--store", "sqlite:" + (dir / "facts.db"),
       "--sync", "normal", "--replay-limit", "100", "--max-queue-bytes", std::to_string(max_queue),
       "--write-timeout", "3", "--heartbeat", "30"},
      port, small_quarantine());

  // The stalled client: a 4 KiB receive window, a request, and then it never reads a byte.
  raw_socket stalled(port, 4096);
  REQUIRE(stalled.send_all(events_request()) == raw_socket::io::ok);
  std::string const stalled_address = "127.0.0.1:" + std::to_string(stalled.local_port());
  REQUIRE(wait_for_status(port, "clients", 1, 20s) == 1);

  tally_fleet fleet(port, normal_streams);
  REQUIRE(wait_for_status(port, "clients", static_cast<std::int64_t>(normal_streams) + 1, 60s) ==
          static_cast<std::int64_t>(normal_streams) + 1);
  REQUIRE(eventually([&] { return fleet.opened() == normal_streams; }, 20s));

  auto const body_of = [&](int k) {
    auto number = std::to_string(k);
    number.insert(0, 6 - number.size(), '0');  // every fact the same size
    return ordered_json{{"info", "slow test " + number},
                        {"pad", std::string(pad_bytes, static_cast<char>('a' + k % 26))}}
        .dump();
  };
  std::size_t const fact_bytes = body_of(0).size();
  // The publishers stay at most `window` acknowledged facts ahead of the slowest normal stream,
  // so a normal stream's backlog in the server (at most window + posters facts) stays below
  // --max-queue-bytes whatever the kernel buffers do: none of them may be cut off. The stalled
  // stream is not waited for: if it held anyone up, the publishers would stall and the
  // deadline below would fail the test.
  auto const window = static_cast<std::uint64_t>(max_queue / fact_bytes / 2);
  REQUIRE(window > 2);

  std::vector<std::uint64_t> id_of(static_cast<std::size_t>(fact_count), 0);
  std::atomic<int> next{0};
  std::atomic<std::uint64_t> highest{0};
  std::mutex problem_mutex;
  std::string problem;
  auto const publish_deadline = steady_clock::now() + (under_tsan ? 300s : 120s);
  auto const note = [&](std::string what) {
    std::lock_guard lock(problem_mutex);
    if (problem.empty()) problem = std::move(what);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < posters; ++t)
    threads.emplace_back([&] {
      try {
        http_connection conn(port);
        for (int k = next++; k < fact_count; k = next++) {
          while (highest.load() >= fleet.min_last_id() + window) {
            if (steady_clock::now() >= publish_deadline) return note("normal streams fell behind");
            std::this_thread::sleep_for(1ms);
          }
          auto const res = conn.send(make_request(http::verb::post, "/fact", body_of(k),
                                                  {{"Content-Type", "application/json"}}),
                                     30s);
          auto const id = seq_from_location(res);
          if (res.result() != http::status::created || id == 0)
            return note("POST answered " + std::to_string(res.result_int()));
          id_of[static_cast<std::size_t>(k)] = id;
          auto seen = highest.load();
          while (seen < id && !highest.compare_exchange_weak(seen, id)) {
          }
        }
      } catch (std::exception const& e) {
        note(std::string("poster: ") + e.what());
      }
    });
  // The peak RSS once a quarter of the facts is out: by then the stalled stream's socket
  // buffers are full and its queue has reached its bound, and the allocator is warm.
  eventually([&] { return highest.load() >= static_cast<std::uint64_t>(fact_count / 4); },
             under_tsan ? 300s : 120s);
  auto const quarter_peak = proc_status_kib(daemon->pid(), "VmHWM");
  for (auto& t : threads)
    t.join();
  INFO("publishing: " << problem);
  REQUIRE(problem.empty());
  auto const last_id = static_cast<std::uint64_t>(fact_count);
  REQUIRE(highest.load() == last_id);

  // Every normal stream gets every fact, within a deadline.
  bool const all_delivered =
      eventually([&] { return fleet.min_last_id() == last_id; }, under_tsan ? 120s : 60s);
  INFO("slowest normal stream is at id " << fleet.min_last_id() << " of " << last_id);
  CHECK(all_delivered);
  CHECK(fleet.ended() == 0);  // no normal stream was cut off

  // The stalled stream was cut off, once, as too slow or by the write timeout; no other was.
  auto const cut_off = [&] {
    auto const text = metrics_text(port);
    return metric_or(text, R"(factsd_streams_ended_total{reason="slow"})") +
           metric_or(text, R"(factsd_streams_ended_total{reason="timeout"})");
  };
  CHECK(eventually([&] { return cut_off() >= 1; }, 20s));
  CHECK(cut_off() == 1);
  // It is gone from /status; the normal streams are all still there and none is lagging.
  CHECK(wait_for_status(port, "clients", static_cast<std::int64_t>(normal_streams), 10s) ==
        static_cast<std::int64_t>(normal_streams));
  CHECK(wait_for_status(port, "lagging", 0, 10s) == 0);
  CHECK(metric_value(metrics_text(port), "factsd_streams_lagging") == 0);

  // Memory. Facts live in SQLite and a 100-fact replay window; frames are shared by the
  // streams and every queue is bounded, so once the first quarter of the facts is out the
  // daemon's peak RSS stays put. A stalled queue that kept growing would hold every frame
  // published after that, 15 MiB; frames copied per stream would cost far more. Half of that
  // 15 MiB is the bound on the growth, and 200 MiB (about 3x what the daemon holds under ASan,
  // with ASan's quarantine of freed memory cut to 8 MiB) on the whole.
  // (ThreadSanitizer's shadow memory makes RSS say nothing there.)
  auto const peak = proc_status_kib(daemon->pid(), "VmHWM");
  REQUIRE(peak);
  REQUIRE(quarter_peak);
  INFO("VmHWM after a quarter of the facts " << *quarter_peak << " kB, at the end " << *peak
                                             << " kB");
  if (!under_tsan) {
    CHECK(*peak < 200 * 1024);
    CHECK(*peak - *quarter_peak < (fact_count * 3 / 4) * fact_bytes / 2 / 1024);
  }

  // Logged once at info, with the client's address; when cut off as too slow, the backlog it
  // names is at most --max-queue-bytes plus the one batch that tipped it over.
  auto const line = daemon->wait_for_line("cut off", 10s);
  REQUIRE(line);
  INFO("log line: " << *line);
  CHECK(line->find(stalled_address) != std::string::npos);
  auto const too_slow = line->find("too slow: ");
  if (too_slow != std::string::npos) {
    auto const backlog = std::stoull(line->substr(too_slow + 10));
    CHECK(backlog > max_queue);
    CHECK(backlog <= max_queue + static_cast<std::size_t>(posters) * (fact_bytes + 64));
  } else {
    CHECK(line->find("--write-timeout") != std::string::npos);
  }

  daemon->send_signal(SIGTERM);
  CHECK(daemon->wait_exit(30s));
  CHECK(daemon->exit_code() == 0);
  CHECK(occurrences(daemon->err(), "cut off") == 1);
  fleet.stop();

  // In order, exactly once, each the fact its POST stored under that id. On the wire a fact
  // is the compact JSON it was posted as: all have its size, and each its own first bytes.
  std::vector<std::string> prefix_of;
  for (int k = 0; k < fact_count; ++k)
    prefix_of.push_back(body_of(k).substr(0, tally_fleet::prefix_bytes));
  std::vector<int> k_of(static_cast<std::size_t>(fact_count) + 1, -1);
  for (int k = 0; k < fact_count; ++k) {
    auto const id = id_of[static_cast<std::size_t>(k)];
    REQUIRE((id >= 1 && id <= last_id && k_of[id] == -1));
    k_of[id] = k;
  }
  std::size_t bad = 0;
  std::string first_bad;
  for (std::size_t i = 0; i < fleet.streams().size(); ++i) {
    auto const& events = fleet.streams()[i]->events;
    std::string what;
    if (events.empty() || events[0].id != "0" || events[0].data_prefix != "[]")
      what = "no empty snapshot first";
    else if (events.size() < last_id + 1)
      what = std::to_string(events.size() - 1) + " live events";
    for (std::uint64_t n = 1; what.empty() && n <= last_id; ++n) {
      auto const& e = events[n];
      if (e.id != std::to_string(n) || e.type != "message" || e.data_size != fact_bytes ||
          e.data_prefix != prefix_of[static_cast<std::size_t>(k_of[n])])
        what = "event " + std::to_string(n) + " has id " + e.id + ", " +
               std::to_string(e.data_size) + " bytes";
    }
    if (!what.empty() && bad++ == 0) first_bad = "stream " + std::to_string(i) + ": " + what;
  }
  INFO(first_bad);
  CHECK(bad == 0);
}

TEST_CASE("hardening: a write stalled past --write-timeout ends that stream, and only that one",
          "[hardening][slow][concurrency][serial]") {
  // A queue bound too large to matter here: only the write timeout can end the stalled stream.
  test_server srv([](facts::config& cfg) {
    cfg.limits.max_queue_bytes = std::size_t{256} << 20;
    cfg.limits.write_timeout = 2s;
  });
  auto const port = srv.port();
  raw_socket stalled(port, 4096);
  REQUIRE(stalled.send_all(events_request()) == raw_socket::io::ok);
  REQUIRE(wait_for_status(port, "clients", 1) == 1);
  sse_client normal(port);
  REQUIRE(normal.next_event());

  // 8 MiB: more than the kernel buffers between the server and the stalled client hold, so
  // one write to it cannot finish. The normal stream reads each fact as it comes.
  http_connection publisher(port);
  int const fact_count = 800;
  for (int n = 1; n <= fact_count; ++n) {
    auto const body =
        ordered_json{{"info", "stall " + std::to_string(n)}, {"pad", std::string(10 * 1024, 'p')}}
            .dump();
    auto const res = publisher.send(
        make_request(http::verb::post, "/fact", body, {{"Content-Type", "application/json"}}));
    REQUIRE(res.result() == http::status::created);
    auto const live = normal.next_event();
    REQUIRE(live);
    REQUIRE(live->id == std::to_string(n));
  }
  CHECK(wait_for_status(port, "clients", 1, 20s) == 1);
  auto const text = metrics_text(port);
  INFO(lines_with(text, "factsd_streams_ended_total{"));
  CHECK(metric_value(text, R"(factsd_streams_ended_total{reason="timeout"})") == 1);
  CHECK(metric_value(text, R"(factsd_streams_ended_total{reason="slow"})") == 0);
  CHECK(wait_for_status(port, "lagging", 0) == 0);
  // The one left is unharmed.
  REQUIRE(post_fact(port, small_fact("after the stall")).result() == http::status::created);
  auto const live = normal.next_event();
  REQUIRE(live);
  CHECK(live->id == std::to_string(fact_count + 1));
}

// ---------------------------------------------------------------------------------------------
// 2. Dead clients

TEST_CASE("hardening: a client that is gone without closing is counted out of /status",
          "[hardening][dead]") {
  test_server srv([](facts::config& cfg) { cfg.heartbeat = 1s; });
  auto const port = srv.port();
  sse_client keeper(port);
  REQUIRE(keeper.next_event());

  raw_socket peer(port);
  REQUIRE(peer.send_all(events_request()) == raw_socket::io::ok);
  REQUIRE(peer.read_until([](std::string const& got) {
    return got.find("data: []\n\n") != std::string::npos;
  }) == raw_socket::io::ok);
  REQUIRE(wait_for_status(port, "clients", 2) == 2);

  SECTION("it resets the connection (SO_LINGER 0)") {
    peer.reset_close();
  }
  SECTION("it vanishes: no FIN, no RST, found out by the next heartbeat") {
    if (!peer.vanish()) {
      WARN("TCP_REPAIR needs CAP_NET_ADMIN; testing a reset instead");
      peer.reset_close();
    }
  }
  // Within a few heartbeats (1 s each).
  CHECK(wait_for_status(port, "clients", 1, 10s) == 1);
  auto const text = metrics_text(port);
  CHECK(metric_or(text, R"(factsd_streams_ended_total{reason="client_closed"})") +
            metric_or(text, R"(factsd_streams_ended_total{reason="error"})") ==
        1);
  CHECK(metric_value(text, "factsd_streams_open") == 1);
  // The one left still gets facts.
  auto const posted = post_fact(port, small_fact("after the dead client"));
  CHECK(posted.result() == http::status::created);
  auto const live = keeper.next_event();
  REQUIRE(live);
  CHECK(live->id == "1");
}

// ---------------------------------------------------------------------------------------------
// 3. --max-clients

TEST_CASE("hardening: at --max-clients a stream is told to retry later, other routes answer",
          "[hardening][limits]") {
  test_server srv([](facts::config& cfg) { cfg.limits.max_clients = 5; });
  auto const port = srv.port();
  // Counted through /metrics, which the README promises answers when the server is full (it
  // does not say so of /status).
  auto const streams_open = [&](std::int64_t n) {
    return eventually([&] { return metric_value(metrics_text(port), "factsd_streams_open") == n; },
                      5s);
  };
  std::vector<std::unique_ptr<sse_client>> streams;
  for (int i = 0; i < 5; ++i) {
    streams.push_back(std::make_unique<sse_client>(port));
    REQUIRE(streams.back()->next_event());
  }
  REQUIRE(streams_open(5));

  // The sixth: 200 (anything else stops EventSource for good), a retry: of 2-7 s, and the end.
  std::set<long> retries;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto const answer = raw_exchange(port, events_request());
    INFO("answer: " << answer.bytes);
    CHECK(answer.closed);
    auto const res = response_in(answer.bytes);
    REQUIRE(res);
    CHECK(res->result() == http::status::ok);
    CHECK(header(*res, "Content-Type") == "text/event-stream");
    sse_parser parser;
    parser.feed(res->body());
    CHECK_FALSE(parser.has_event());  // no snapshot: it is not a stream
    auto const at = res->body().find("retry: ");
    REQUIRE(at != std::string::npos);
    auto const value = std::stol(res->body().substr(at + 7));
    CHECK(value >= 2000);
    CHECK(value <= 7000);
    retries.insert(value);
  }
  // With random jitter: eight refusals do not all say the same.
  CHECK(retries.size() > 1);
  CHECK(streams_open(5));

  // The bound is for streams (issue 10): publishing goes on, health and metrics answer.
  auto const while_full = post_fact(port, small_fact("while full"));
  CHECK(while_full.result() == http::status::created);
  auto const health = get(port, "/healthz");
  CHECK(health.result() == http::status::ok);
  CHECK(get(port, "/metrics").result() == http::status::ok);
  CHECK(srv.get().store().count() == 1);

  // One leaves; a new stream is accepted and gets what is posted.
  streams.front()->close();
  CHECK(wait_for_status(port, "clients", 4) == 4);
  sse_client newcomer(port);
  auto const snapshot = newcomer.next_event();
  REQUIRE(snapshot);
  CHECK(snapshot->data.find("while full") != std::string::npos);
  CHECK(streams_open(5));
  auto const full_again = post_fact(port, small_fact("full again"));
  CHECK(full_again.result() == http::status::created);
  auto const live = newcomer.next_event();
  REQUIRE(live);
  CHECK(live->id == "2");
}

TEST_CASE("hardening: --max-clients holds when many streams open at once",
          "[hardening][limits][concurrency]") {
  constexpr std::size_t max_clients = 5;
  std::size_t const burst = under_tsan ? 40 : 100;
  int const rounds = under_tsan ? 5 : 30;
  REQUIRE(ensure_fd_limit(2 * burst + 512));
  test_server srv([](facts::config& cfg) { cfg.limits.max_clients = max_clients; });
  auto const port = srv.port();
  // One fact, so that a snapshot has id 1 and a stream's last_id tells that it arrived.
  REQUIRE(post_fact(port, small_fact("one")).result() == http::status::created);
  // Bursts of connections at once: the server's two threads race to admit them, and the race
  // that matters is at the last free place, once per burst. Each connection is either a stream
  // (its snapshot arrives, it stays open) or refused (a retry: and the end of the connection).
  int over = 0;
  std::string first;
  for (int round = 0; round < rounds; ++round) {
    tally_fleet fleet(port, burst);
    // Settled: every connection has its snapshot or has ended.
    eventually(
        [&] {
          return std::all_of(fleet.streams().begin(), fleet.streams().end(),
                             [](auto const& st) { return st->ended || st->last_id.load() > 0; });
        },
        20s);
    auto const open = status(port)["clients"].get<std::size_t>();
    fleet.stop();
    std::size_t streams = 0;
    for (auto const& stream : fleet.streams())
      if (!stream->events.empty()) ++streams;
    if (open > max_clients || streams > max_clients || streams == 0) {
      if (over++ == 0)
        first = "round " + std::to_string(round) + ": " + std::to_string(open) + " streams open, " +
                std::to_string(streams) + " got a snapshot";
    }
    REQUIRE(wait_for_status(port, "clients", 0, 10s) == 0);
  }
  INFO(over << " of " << rounds << " bursts admitted more than " << max_clients
            << " streams (or none); the first: " << first);
  CHECK(over == 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Request limits and hostile input; after each, the server still serves.

TEST_CASE("hardening: a request line of 100 KiB is refused with 431 or 414",
          "[hardening][limits]") {
  test_server srv;
  auto const port = srv.port();
  std::string const request =
      "GET /" + std::string(100 * 1024, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  auto const answer = raw_exchange(port, request, 10s);
  auto const res = response_in(answer.bytes);
  REQUIRE(res);
  CHECK((res->result() == http::status::request_header_fields_too_large ||
         res->result() == http::status::uri_too_long));
  CHECK(is_json_error(*res));
  CHECK(answer.closed);
  CHECK(still_serving(port) == "");

  // A target over --max-url-bytes (8 KiB) in a head under --max-header-bytes (16 KiB): 414.
  auto const long_target = get(port, "/facts?after=0&x=" + std::string(9 * 1024, 'b'));
  CHECK(long_target.result() == http::status::uri_too_long);
  CHECK(is_json_error(long_target));
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: 10,000 headers are refused with 431", "[hardening][limits]") {
  test_server srv;
  auto const port = srv.port();
  std::string request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 10'000; ++i)
    request += "X-Header-" + std::to_string(i) + ": v\r\n";
  request += "\r\n";
  auto const answer = raw_exchange(port, request, 10s);
  auto const res = response_in(answer.bytes);
  REQUIRE(res);
  CHECK(res->result() == http::status::request_header_fields_too_large);
  CHECK(is_json_error(*res));
  CHECK(answer.closed);
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: a POST claiming 1 GiB is refused with 413 before its body",
          "[hardening][limits]") {
  test_server srv;
  auto const port = srv.port();
  raw_socket conn(port);
  REQUIRE(conn.send_all("POST /fact HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        "application/json\r\nContent-Length: 1073741824\r\n\r\n") ==
          raw_socket::io::ok);
  // No body is ever sent: an answer at all proves the server did not wait for one.
  CHECK(conn.read_until_closed(10s));
  auto const res = response_in(conn.received());
  REQUIRE(res);
  CHECK(res->result() == http::status::payload_too_large);
  CHECK(is_json_error(*res));
  CHECK(status(port)["facts"] == 0);
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: a chunked POST body that never ends does not hang the server",
          "[hardening][limits]") {
  test_server srv([](facts::config& cfg) { cfg.limits.request_timeout = 2s; });
  auto const port = srv.port();
  raw_socket conn(port);
  REQUIRE(conn.send_all("POST /fact HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n") ==
          raw_socket::io::ok);

  SECTION("fast chunks: 413 once they pass --max-fact-bytes") {
    std::string const chunk = "400\r\n" + std::string(1024, ' ') + "\r\n";
    auto const deadline = steady_clock::now() + 20s;
    // Keep sending until the server answers or ends the connection (or the deadline).
    while (!conn.peer_closed() && steady_clock::now() < deadline) {
      if (conn.send_all(chunk, 1s) != raw_socket::io::ok) break;
      if (conn.read_until([](std::string const& got) { return !got.empty(); }, 1ms) ==
          raw_socket::io::ok)
        break;
    }
    CHECK(conn.read_until_closed(10s));
    auto const res = response_in(conn.received());
    REQUIRE(res);
    CHECK(res->result() == http::status::payload_too_large);
    CHECK(is_json_error(*res));
  }
  SECTION("slow chunks under the limit: closed at --request-timeout") {
    std::string const chunk = "1\r\n \r\n";
    auto const deadline = steady_clock::now() + 15s;
    while (!conn.peer_closed() && steady_clock::now() < deadline) {
      if (conn.send_all(chunk, 1s) != raw_socket::io::ok) break;
      conn.read_until([](std::string const&) { return false; }, 200ms);
    }
    CHECK(conn.read_until_closed(5s));
    // Never answered as if it were a whole request.
    CHECK(conn.received().find("HTTP/1.1 201") == std::string::npos);
  }
  CHECK(status(port)["facts"] == 0);
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: a request sent one byte per 500 ms is cut off at --request-timeout",
          "[hardening][limits]") {
  test_server srv([](facts::config& cfg) { cfg.limits.request_timeout = 2s; });
  auto const port = srv.port();
  std::string const request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
  raw_socket conn(port);
  // The whole request would take 25 s at this pace; the server must end it at about 2 s.
  auto const deadline = steady_clock::now() + 12s;
  std::size_t sent = 0;
  while (sent < request.size() && !conn.peer_closed() && steady_clock::now() < deadline) {
    if (conn.send_all(request.substr(sent, 1), 1s) != raw_socket::io::ok) break;
    ++sent;
    conn.read_until([](std::string const&) { return false; }, 500ms);
  }
  INFO("bytes sent before the end: " << sent);
  CHECK((conn.peer_closed() || conn.read_until_closed(1s)));
  CHECK(sent < request.size());
  CHECK(conn.received().find("HTTP/1.1 200") == std::string::npos);
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: --idle-timeout counts from a keep-alive connection's last answer",
          "[hardening][limits]") {
  // The connection's deadline moves with each request without re-arming its timer; the timer,
  // armed for the first deadline, must look again when it fires and not end a busy connection.
  test_server srv([](facts::config& cfg) { cfg.limits.idle_timeout = 2s; });
  auto const port = srv.port();
  raw_socket conn(port);
  std::string const request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  auto answers = [&] {
    std::size_t n = 0;
    for (auto at = conn.received().find("HTTP/1.1 200"); at != std::string::npos;
         at = conn.received().find("HTTP/1.1 200", at + 1))
      ++n;
    return n;
  };
  // Twelve requests 500 ms apart: 5.5 s in all, nearly three times the idle timeout, and each
  // gap a quarter of it, so a stalled test thread does not look like an idle client.
  constexpr std::size_t requests = 12;
  auto last_sent = steady_clock::now();
  for (std::size_t i = 1; i <= requests; ++i) {
    if (i > 1) conn.read_until([](std::string const&) { return false; }, 500ms);
    INFO("request " << i);
    REQUIRE_FALSE(conn.peer_closed());
    last_sent = steady_clock::now();
    REQUIRE(conn.send_all(request) == raw_socket::io::ok);
    REQUIRE(conn.read_until([&](std::string const&) { return answers() == i; }, 5s) ==
            raw_socket::io::ok);
  }
  // Then quiet: ended 2 s after the last answer, not before. The server answered after
  // last_sent, so from last_sent at least the whole timeout passes, however late we read.
  REQUIRE(conn.read_until_closed(10s));
  auto const idle = steady_clock::now() - last_sent;
  INFO("closed " << std::chrono::duration_cast<std::chrono::milliseconds>(idle).count()
                 << " ms after the last request was sent");
  CHECK(idle >= 2s);
  CHECK(idle < 6s);
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: invalid UTF-8 inside a JSON string is refused with 400",
          "[hardening][limits]") {
  test_server srv;
  auto const port = srv.port();
  sse_client watcher(port);
  REQUIRE(watcher.next_event());
  for (std::string const& bad :
       {std::string("\x80"), std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
        std::string("\xE2\x82"), std::string("\xFF\xFE"), std::string("ok\xF8\x88\x80\x80\x80")}) {
    auto const res = post_fact(port, R"({"info": "bad )" + bad + R"(", "source": "x"})");
    INFO("bytes: " << nlohmann::json(bad).dump(-1, ' ', true,
                                               nlohmann::json::error_handler_t::replace));
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  CHECK(status(port)["facts"] == 0);
  // Nothing was broadcast: the next event is the next good fact, as id 1.
  REQUIRE(post_fact(port, small_fact("good")).result() == http::status::created);
  auto const live = watcher.next_event();
  REQUIRE(live);
  CHECK(live->id == "1");
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: JSON nested 100,000 deep is refused with 400, without a crash",
          "[hardening][limits]") {
  test_server srv([](facts::config& cfg) { cfg.limits.max_fact_bytes = 256 * 1024; });
  auto const port = srv.port();
  std::size_t const depth = 100'000;
  SECTION("arrays inside an object") {
    auto const body = R"({"info": )" + std::string(depth, '[') + std::string(depth, ']') + "}";
    REQUIRE(body.size() < 256 * 1024);
    auto const res = post_fact(port, body);
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  SECTION("objects and arrays, unclosed") {
    std::string body = "{";
    for (std::size_t i = 0; i < depth / 2; ++i)
      body += R"("a":[{)";
    body.resize(std::min<std::size_t>(body.size(), 250 * 1024));
    auto const res = post_fact(port, body);
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  SECTION("64 levels are fine, 65 are not") {
    std::string const at_limit = R"({"info": )" + std::string(63, '[') + std::string(63, ']') + "}";
    CHECK(post_fact(port, at_limit).result() == http::status::created);
    std::string const over = R"({"info": )" + std::string(64, '[') + std::string(64, ']') + "}";
    auto const res = post_fact(port, over);
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: a flood of 5,000 silent connections does not stop the server",
          "[hardening][limits][flood][serial]") {
  constexpr std::size_t flood = 5'000;
  // Each connection is two descriptors in this process: ours and the server's.
  REQUIRE(ensure_fd_limit(2 * flood + 1024));
  // A connection that never sends a byte is ended by --request-timeout (it gets no keep-alive
  // grace); one that had a request and then goes quiet, by --idle-timeout.
  test_server srv([](facts::config& cfg) {
    cfg.limits.request_timeout = 5s;
    cfg.limits.idle_timeout = 5s;
  });
  auto const port = srv.port();

  std::vector<std::unique_ptr<raw_socket>> sockets;
  sockets.reserve(flood + 1);
  for (std::size_t i = 0; i < flood; ++i)
    sockets.push_back(std::make_unique<raw_socket>(port, 0, 10s));
  // And one keep-alive connection that asks once and then says nothing.
  sockets.push_back(std::make_unique<raw_socket>(port));
  REQUIRE(sockets.back()->send_all("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
          raw_socket::io::ok);
  REQUIRE(sockets.back()->read_until([](std::string const& got) {
    return got.find("\"uptime_seconds\"") != std::string::npos;
  }) == raw_socket::io::ok);

  // Meanwhile the server answers and streams.
  CHECK(still_serving(port) == "");
  CHECK(status(port)["clients"] == 0);  // a connection that sent nothing is not a stream

  // The timeouts end every one of them (we see the FIN).
  std::vector<pollfd> fds;
  for (auto const& s : sockets)
    fds.push_back({s->fd(), POLLIN, 0});
  std::size_t ended = 0;
  auto const deadline = steady_clock::now() + 60s;
  while (ended < sockets.size() && steady_clock::now() < deadline) {
    if (::poll(fds.data(), fds.size(), poll_ms(deadline)) <= 0) continue;
    for (auto& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      char byte;
      auto const n = ::recv(p.fd, &byte, 1, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        ++ended;
        p.fd = -1;  // poll ignores it from now on
      }
    }
  }
  INFO(ended << " of " << sockets.size() << " silent connections were ended by the server");
  CHECK(ended == sockets.size());
  sockets.clear();
  CHECK(still_serving(port) == "");
}

// ---------------------------------------------------------------------------------------------
// 5. Access

TEST_CASE("hardening: with a publish token, POST /fact needs it and reading stays open",
          "[hardening][access]") {
  test_server srv([](facts::config& cfg) { cfg.publish_token = "s3cret"; });
  auto const port = srv.port();
  // Reading needs no token.
  sse_client stream(port);
  REQUIRE(stream.next_event());
  CHECK(get(port, "/status").result() == http::status::ok);

  auto const none = post_fact(port, small_fact("no token"));
  CHECK(none.result() == http::status::unauthorized);
  CHECK(is_json_error(none));
  CHECK(header(none, "WWW-Authenticate") == "Bearer");
  for (std::string const wrong : {"Bearer s3cre", "Bearer s3cretX", "Bearer S3CRET",
                                  "Bearer s3cret s3cret", "Basic czNjcmV0", "s3cret", "Bearer "}) {
    auto const res =
        post_fact(port, small_fact("wrong token"), "application/json", {{"Authorization", wrong}});
    INFO("Authorization: " << wrong);
    CHECK(res.result() == http::status::unauthorized);
    CHECK(is_json_error(res));
  }
  CHECK(status(port)["facts"] == 0);

  auto const body = small_fact("with the token");
  auto const ok = post_fact(port, body, "application/json", {{"Authorization", "Bearer s3cret"}});
  CHECK(ok.result() == http::status::created);
  auto const live = stream.next_event();
  REQUIRE(live);
  CHECK(live->data == body);
  CHECK(still_serving(port, "s3cret") == "");
}

TEST_CASE("hardening: factsd --publish-token-file reads the token from a file",
          "[hardening][access][process]") {
  temp_dir dir;
  { std::ofstream(dir / "token") << "s3cret\n"; }
  std::uint16_t port = 0;
  auto daemon = start_daemon(
      {"--listen", "127.0.0.1:0", "--store", "memory:", "--publish-token-file", dir / "token"},
      port);
  CHECK(post_fact(port, small_fact("no token")).result() == http::status::unauthorized);
  CHECK(post_fact(port, small_fact("wrong"), "application/json",
                  {{"Authorization", "Bearer s3cret2"}})
            .result() == http::status::unauthorized);
  CHECK(
      post_fact(port, small_fact("right"), "application/json", {{"Authorization", "Bearer s3cret"}})
          .result() == http::status::created);
  CHECK(get(port, "/status").result() == http::status::ok);
  CHECK(stop_daemon(*daemon) == "");
}

TEST_CASE("hardening: listening beyond loopback without a token warns that anyone may publish",
          "[hardening][access][process]") {
  std::uint16_t port = 0;
  SECTION("0.0.0.0 without a token: a warning") {
    auto daemon = start_daemon({"--listen", "0.0.0.0:0", "--store", "memory:"}, port);
    auto const warning = daemon->wait_for_line("anyone", 5s);
    INFO("stderr: " << daemon->err());
    REQUIRE(warning);
    CHECK(warning->find("warn") != std::string::npos);
    // (Served once before SIGTERM: see the test on SIGTERM right after the start line.)
    CHECK(get(port, "/healthz").result() == http::status::ok);
    CHECK(stop_daemon(*daemon) == "");
  }
  SECTION("loopback without a token, or 0.0.0.0 with one: no warning") {
    auto loopback = start_daemon({"--listen", "127.0.0.1:0", "--store", "memory:"}, port);
    CHECK(get(port, "/healthz").result() == http::status::ok);
    auto with_token = start_daemon(
        {"--listen", "0.0.0.0:0", "--store", "memory:", "--publish-token", "s3cret"}, port);
    CHECK(get(port, "/healthz").result() == http::status::ok);
    // The warning comes before the start line, which start_daemon() has already seen.
    CHECK(loopback->err().find("anyone") == std::string::npos);
    CHECK(with_token->err().find("anyone") == std::string::npos);
    CHECK(stop_daemon(*loopback) == "");
    CHECK(stop_daemon(*with_token) == "");
  }
}

// ---------------------------------------------------------------------------------------------
// 6. CORS

TEST_CASE("hardening: CORS with an exact list never reflects an unlisted origin or credentials",
          "[hardening][cors]") {
  test_server srv([](facts::config& cfg) { cfg.cors_origins = {"https://a.example"}; });
  auto const port = srv.port();

  auto const check_all = [&](std::string const& origin, bool listed) {
    INFO("Origin: " << origin);
    header_list const headers{{"Origin", origin}};
    std::vector<response> answers;
    answers.push_back(get(port, "/status", headers));
    answers.push_back(get(port, "/no-such-page", headers));
    answers.push_back(post_fact(port, small_fact("from " + origin), "application/json", headers));
    answers.push_back(post_fact(port, "[1]", "application/json", headers));
    answers.push_back(request(port, http::verb::options, "/fact", {},
                              {{"Origin", origin},
                               {"Access-Control-Request-Method", "POST"},
                               {"Access-Control-Request-Headers", "content-type"}}));
    for (auto const& res : answers) {
      INFO("status " << res.result_int());
      CHECK_FALSE(has_header(res, "Access-Control-Allow-Credentials"));
      if (listed)
        CHECK(header(res, "Access-Control-Allow-Origin") == origin);
      else
        CHECK_FALSE(has_header(res, "Access-Control-Allow-Origin"));
      CHECK(lists_token(header(res, "Vary"), "Origin"));
    }
    sse_client stream(port, headers);
    CHECK_FALSE(stream.head().count("Access-Control-Allow-Credentials"));
    if (listed)
      CHECK(stream.head()[http::field::access_control_allow_origin] == origin);
    else
      CHECK_FALSE(stream.head().count(http::field::access_control_allow_origin));
  };
  check_all("https://a.example", true);
  for (std::string const other :
       {"https://b.example", "http://a.example", "https://a.example.evil.example",
        "https://evil.example/https://a.example", "https://xa.example", "https://a.exampl", "null",
        "*", "https://a.example, https://b.example"})
    check_all(other, false);
}

TEST_CASE("hardening: CORS '*' never sends Access-Control-Allow-Credentials", "[hardening][cors]") {
  test_server srv;  // the default policy: *
  auto const port = srv.port();
  header_list const headers{{"Origin", "https://any.example"}};
  std::vector<response> answers;
  answers.push_back(get(port, "/status", headers));
  answers.push_back(get(port, "/status"));
  answers.push_back(post_fact(port, small_fact("star"), "application/json", headers));
  answers.push_back(post_fact(port, "nope", "text/plain", headers));
  answers.push_back(request(port, http::verb::options, "/fact", {},
                            {{"Origin", "https://any.example"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "authorization"}}));
  for (auto const& res : answers) {
    INFO("status " << res.result_int());
    CHECK(header(res, "Access-Control-Allow-Origin") == "*");
    CHECK_FALSE(has_header(res, "Access-Control-Allow-Credentials"));
  }
  sse_client stream(port, headers);
  CHECK(stream.head()[http::field::access_control_allow_origin] == "*");
  CHECK_FALSE(stream.head().count("Access-Control-Allow-Credentials"));
}

// ---------------------------------------------------------------------------------------------
// 7. Injection

namespace {

/// The header block of the response at the start of `raw` ("" when there is none).
std::string head_of(std::string const& raw) {
  auto const end = head_end(raw);
  return end == std::string::npos ? std::string{} : raw.substr(0, end);
}

/// Every line of a response head, without its CRLF; a bare CR or LF inside a line is reported.
std::string head_problem(std::string const& head) {
  std::size_t start = 0;
  while (start < head.size()) {
    auto const end = head.find("\r\n", start);
    if (end == std::string::npos) return "a line without CRLF";
    auto const line = std::string_view(head).substr(start, end - start);
    if (line.find_first_of("\r\n") != std::string_view::npos) return "a bare CR or LF in a line";
    std::string lower(line);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.rfind("x-injected", 0) == 0 || lower.rfind("set-cookie", 0) == 0)
      return "an injected header: " + std::string(line);
    start = end + 2;
  }
  return {};
}

}  // namespace

TEST_CASE("hardening: CR and LF in request headers never split a response header",
          "[hardening][injection]") {
  auto const policy = GENERATE(as<std::string>{}, "https://a.example", "*");
  test_server srv([&](facts::config& cfg) { cfg.cors_origins = {policy}; });
  auto const port = srv.port();
  std::vector<std::string> const attempts{
      // A bare CR, a bare LF and an obs-fold inside the Origin value.
      "GET /status HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\rX-Injected: 1\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\nX-Injected: 1\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n X-Injected: 1\r\n\r\n",
      "GET /events HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\tSet-Cookie: a=b\r\n\r\n",
      // Percent-encoded CRLF: only text, never decoded into a header.
      "GET /status HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example%0d%0aX-Injected:%201\r\n\r\n",
      "GET /nope%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /events?x=%0D%0AX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n",
      // Raw CR or LF in the request target.
      "GET /nope\rX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /nope\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (auto const& attempt : attempts) {
    INFO("policy " << policy << ", request: "
                   << nlohmann::json(attempt).dump(-1, ' ', true,
                                                   nlohmann::json::error_handler_t::replace));
    raw_socket conn(port);
    // Connection: close, so that a plain answer ends with the connection.
    auto const first_line = attempt.find("\r\n") + 2;
    REQUIRE(conn.send_all(attempt.substr(0, first_line) + "Connection: close\r\n" +
                          attempt.substr(first_line)) == raw_socket::io::ok);
    // A stream never ends by itself: read until its head and first event, or the end.
    conn.read_until(
        [](std::string const& got) {
          auto const end = head_end(got);
          return end != std::string::npos && got.find("\n\n", end) != std::string::npos;
        },
        5s);
    auto const head = head_of(conn.received());
    if (head.empty()) {
      // Refused without an answer: allowed, as long as the connection ended.
      CHECK(conn.peer_closed());
      continue;
    }
    CHECK(head_problem(head) == "");
    auto const parsed = parse_head(head);
    for (auto const& field : parsed)
      CHECK(std::string(field.value()).find_first_of("\r\n") == std::string::npos);
    auto const acao = parsed.find(http::field::access_control_allow_origin);
    if (acao != parsed.end()) CHECK(std::string(acao->value()) == policy);
  }
  CHECK(still_serving(port) == "");
}

TEST_CASE("hardening: an unusable Last-Event-ID gets a reset, and id: lines stay digits",
          "[hardening][injection]") {
  test_server srv;
  auto const port = srv.port();
  for (int n = 1; n <= 3; ++n)
    REQUIRE(post_fact(port, small_fact("before " + std::to_string(n))).result() ==
            http::status::created);
  int posted = 3;

  struct attempt {
    std::string raw_header;  // the header line(s), as sent
    bool may_refuse;         // Beast may refuse the request itself (400 or a close)
  };
  std::vector<attempt> const attempts{
      {"Last-Event-ID: abc\r\n", false},
      {"Last-Event-ID: 2abc\r\n", false},
      {"Last-Event-ID: -1\r\n", false},
      {"Last-Event-ID: 1.5\r\n", false},
      {"Last-Event-ID: 99999999999999999999999\r\n", false},
      {"Last-Event-ID: 1000\r\n", false},  // ahead of the newest fact
      {"Last-Event-ID: 2%0d%0aid: 666\r\n", false},
      {"Last-Event-ID: \x01\x7f\xff\r\n", true},   // control bytes
      {"Last-Event-ID: 2\r\n id: 666\r\n", true},  // obs-fold
      {"Last-Event-ID: 2\rid: 666\r\n", true},     // a bare CR
      {"Last-Event-ID: 2\r\r\n", true},
      {"Last-Event-ID: 2\nid: 666\r\n", true},  // a bare LF
  };
  for (auto const& a : attempts) {
    INFO("header: " << nlohmann::json(a.raw_header)
                           .dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
    raw_socket conn(port);
    REQUIRE(conn.send_all(events_request(a.raw_header)) == raw_socket::io::ok);
    auto const first_event = [](std::string const& got) {
      auto const end = head_end(got);
      return end != std::string::npos && got.find("\n\n", end) != std::string::npos;
    };
    conn.read_until(first_event, 5s);
    auto const head = head_of(conn.received());
    if (head.rfind("HTTP/1.1 200", 0) != 0) {
      CHECK(a.may_refuse);
      if (!head.empty()) {
        auto const res = response_in(conn.received());
        REQUIRE(res);
        CHECK(res->result() == http::status::bad_request);
        CHECK(is_json_error(*res));
      }
      continue;
    }
    // The stream: a reset with the whole window, then the next fact, ids digits only.
    ++posted;
    REQUIRE(post_fact(port, small_fact("after " + std::to_string(posted))).result() ==
            http::status::created);
    std::string const want = "id: " + std::to_string(posted) + "\n";
    CHECK(conn.read_until(
              [&](std::string const& got) { return got.find(want) != std::string::npos; }, 5s) ==
          raw_socket::io::ok);
    auto const body = conn.received().substr(head.size());
    sse_parser parser;
    parser.feed(body);
    REQUIRE(parser.has_event());
    auto const snapshot = parser.pop();
    CHECK(snapshot.type == "reset");
    CHECK(snapshot.id == std::to_string(posted - 1));
    CHECK(nlohmann::json::parse(snapshot.data).size() == static_cast<std::size_t>(posted - 1));
    REQUIRE(parser.has_event());
    auto const live = parser.pop();
    CHECK(live.id == std::to_string(posted));
    std::size_t start = 0;
    while (start < body.size()) {
      auto end = body.find('\n', start);
      if (end == std::string::npos) end = body.size();
      auto const line = std::string_view(body).substr(start, end - start);
      if (line.rfind("id", 0) == 0) {
        INFO("line: " << line);
        CHECK(line.rfind("id: ", 0) == 0);
        CHECK(all_digits(line.substr(std::min<std::size_t>(4, line.size()))));
      }
      CHECK(line.find('\r') == std::string_view::npos);
      start = end + 1;
    }
    CHECK(body.find("666") == std::string::npos);
  }
  CHECK(still_serving(port) == "");
}

// ---------------------------------------------------------------------------------------------
// 8. Graceful shutdown

TEST_CASE("hardening: SIGTERM under load loses no acknowledged fact and ends streams with retry:",
          "[hardening][shutdown][process][concurrency]") {
  temp_dir dir;
  auto const db = "sqlite:" + (dir / "facts.db");
  std::uint16_t port = 0;
  auto const shutdown_timeout = 10s;
  auto daemon = start_daemon(
      {"--listen", "127.0.0.1:0", "--store", db, "--threads", "2", "--shutdown-timeout", "10"},
      port);

  constexpr std::size_t stream_count = 20;
  tally_fleet fleet(port, stream_count);
  REQUIRE(wait_for_status(port, "clients", stream_count, 20s) ==
          static_cast<std::int64_t>(stream_count));

  struct attempt {
    std::string body;
    int status = 0;  // 0: no answer
    std::uint64_t id = 0;
  };
  constexpr int posters = 4;
  std::vector<std::vector<attempt>> attempts(posters);
  std::atomic<int> acknowledged{0};
  std::atomic<bool> give_up{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < posters; ++t)
    threads.emplace_back([&, t] {
      auto& mine = attempts[static_cast<std::size_t>(t)];
      std::unique_ptr<http_connection> conn;
      for (int n = 0; !give_up; ++n) {
        try {
          if (!conn) conn = std::make_unique<http_connection>(port, 2s);
        } catch (std::exception const&) {
          return;  // refused: the daemon has stopped listening
        }
        mine.push_back({ordered_json{
            {"info", "poster " + std::to_string(t) + " fact " + std::to_string(n)},
            {"source",
             "shutdown"}}.dump()});
        auto& a = mine.back();
        try {
          auto const res = conn->send(make_request(http::verb::post, "/fact", a.body,
                                                   {{"Content-Type", "application/json"}}),
                                      15s);
          a.status = res.result_int();
          if (a.status == 201) {
            a.id = seq_from_location(res);
            ++acknowledged;
          } else {
            std::this_thread::sleep_for(5ms);
          }
          if (!res.keep_alive()) conn.reset();
        } catch (std::exception const&) {
          conn.reset();
        }
      }
    });

  // Mid-stream: once facts are flowing.
  bool const flowing = eventually([&] { return acknowledged >= 100; }, 30s);
  daemon->send_signal(SIGTERM);
  auto const exited = daemon->wait_exit(shutdown_timeout + 20s);
  give_up = true;
  for (auto& t : threads)
    t.join();
  CHECK(flowing);
  INFO("factsd stderr: " << daemon->err());
  REQUIRE(exited);
  CHECK(daemon->exit_code() == 0);

  // Each stream got a last retry: (1-11 s of jitter) before its connection closed.
  CHECK(eventually([&] { return fleet.ended() == stream_count; }, 10s));
  fleet.stop();
  std::set<std::string> final_retries;
  for (auto const& s : fleet.streams()) {
    INFO("stream ended with '" << s->error << "', last line '" << s->last_line << "'");
    CHECK(s->ended);
    CHECK(s->error == "");
    REQUIRE(s->last_line.rfind("retry: ", 0) == 0);
    auto const value = std::stol(s->last_line.substr(7));
    CHECK(value >= 1000);
    CHECK(value <= 11000);
    final_retries.insert(s->last_line);
    CHECK(s->bad_id == "");
  }
  CHECK(final_retries.size() > 1);  // jitter: not all the same

  // Restart on the same file: every acknowledged fact is there under its id; a fact that was
  // not acknowledged may be there, complete, but one answered 503 may not.
  daemon = start_daemon({"--listen", "127.0.0.1:0", "--store", db}, port);
  std::map<std::uint64_t, std::string> stored;
  for (std::uint64_t after = 0;;) {
    auto const page = get(port, "/facts?after=" + std::to_string(after) + "&limit=1000");
    REQUIRE(page.result() == http::status::ok);
    auto const json = nlohmann::json::parse(page.body());
    if (json["facts"].empty()) break;
    for (auto const& f : json["facts"])
      stored[f["id"].get<std::uint64_t>()] = ordered_json(f["fact"]).dump();
    after = json["next"].get<std::uint64_t>();
  }
  CHECK(stop_daemon(*daemon) == "");

  std::map<std::string, attempt const*> by_body;
  int acked = 0;
  int refused = 0;
  for (auto const& mine : attempts)
    for (auto const& a : mine) {
      by_body[a.body] = &a;
      if (a.status == 201) ++acked;
      if (a.status == 503) ++refused;
    }
  INFO(acked << " acknowledged, " << refused << " refused with 503, " << stored.size()
             << " stored");
  CHECK(acked >= 100);
  std::size_t lost = 0;
  for (auto const& mine : attempts)
    for (auto const& a : mine)
      if (a.status == 201) {
        auto const it = stored.find(a.id);
        if (it == stored.end() || ordered_json::parse(it->second).dump() != a.body) ++lost;
      }
  CHECK(lost == 0);
  std::size_t foreign = 0;
  std::size_t refused_but_stored = 0;
  std::set<std::string> seen;
  for (auto const& [id, json] : stored) {
    auto const compact = ordered_json::parse(json).dump();
    auto const it = by_body.find(compact);
    if (it == by_body.end() || !seen.insert(compact).second)
      ++foreign;  // not a body we sent whole, or stored twice
    else if (it->second->status == 503)
      ++refused_but_stored;
  }
  CHECK(foreign == 0);
  CHECK(refused_but_stored == 0);

  // What the streams received was stored, under the same id.
  std::size_t unstored = 0;
  for (auto const& s : fleet.streams())
    for (std::size_t i = 1; i < s->events.size(); ++i) {
      auto const& e = s->events[i];
      auto const it = stored.find(std::stoull(e.id));
      if (it == stored.end() || it->second.substr(0, e.data_prefix.size()) != e.data_prefix)
        ++unstored;
    }
  CHECK(unstored == 0);
}

TEST_CASE("hardening: SIGTERM right after the start line still shuts down cleanly",
          "[hardening][shutdown][process]") {
  // A supervisor may stop the daemon as soon as it says it is listening. SIGTERM must then
  // take the graceful path (exit code 0), never the default action (death by the signal). The
  // window is short, so it takes a few tries to hit it; the first failure ends the test.
  std::string outcome;
  int attempt = 0;
  for (; attempt < 60 && outcome.empty(); ++attempt) {
    child_process daemon(
        {FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", "memory:", "--threads", "2"});
    REQUIRE(daemon.wait_for_port());
    outcome = stop_daemon(daemon);
  }
  INFO("attempt " << attempt);
  CHECK(outcome == "");
}

TEST_CASE("hardening: SIGTERM with a stalled stream still exits 0 within --shutdown-timeout",
          "[hardening][shutdown][process]") {
  std::uint16_t port = 0;
  // Neither the queue bound nor the write timeout will end the stalled stream in time: only
  // the shutdown deadline can.
  auto daemon = start_daemon(
      {"--listen", "127.0.0.1:0", "--store", "memory:", "--threads", "2", "--max-queue-bytes",
       "268435456", "--write-timeout", "600", "--shutdown-timeout", "3"},
      port);
  raw_socket stalled(port, 4096);
  REQUIRE(stalled.send_all(events_request()) == raw_socket::io::ok);
  REQUIRE(wait_for_status(port, "clients", 1, 20s) == 1);
  tally_fleet normal(port, 1);
  REQUIRE(wait_for_status(port, "clients", 2, 20s) == 2);

  // 8 MiB: more than the kernel buffers of the stalled connection hold.
  {
    http_connection publisher(port);
    for (int n = 1; n <= 800; ++n) {
      auto const body =
          ordered_json{{"info", "stall " + std::to_string(n)}, {"pad", std::string(10240, 'q')}}
              .dump();
      REQUIRE(publisher
                  .send(make_request(http::verb::post, "/fact", body,
                                     {{"Content-Type", "application/json"}}),
                        30s)
                  .result() == http::status::created);
    }
  }
  REQUIRE(eventually([&] { return normal.min_last_id() == 800; }, 30s));
  // The stalled stream has events waiting behind a write that cannot finish.
  REQUIRE(wait_for_status(port, "lagging", 1, 10s) == 1);

  daemon->send_signal(SIGTERM);
  INFO("factsd stderr: " << daemon->err());
  REQUIRE(daemon->wait_exit(3s + 20s));
  CHECK(daemon->exit_code() == 0);
  CHECK(daemon->err().find("--shutdown-timeout reached") != std::string::npos);
  // The stream that kept up got its last retry: before the end.
  CHECK(eventually([&] { return normal.ended() == 1; }, 10s));
  normal.stop();
  CHECK(normal.streams()[0]->last_line.rfind("retry: ", 0) == 0);
}

TEST_CASE("hardening: factsd raises its open-file limit to the hard limit and logs it",
          "[hardening][limits][process]") {
  rlimit ours{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &ours) == 0);
  rlimit lowered = ours;
  lowered.rlim_cur = std::min<rlim_t>(ours.rlim_max, 512);
  // The child inherits the soft limit it starts with: a low one, put back at once.
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  std::unique_ptr<child_process> daemon;
  try {
    daemon = std::make_unique<child_process>(
        std::vector<std::string>{FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", "memory:"});
  } catch (...) {
    ::setrlimit(RLIMIT_NOFILE, &ours);
    throw;
  }
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &ours) == 0);
  auto const line = daemon->wait_for_line("open file limit: ", 30s);
  INFO("factsd stderr: " << daemon->err());
  REQUIRE(line);
  auto const figure = line->substr(line->find("open file limit: ") + 17);
  CHECK(figure == std::to_string(static_cast<unsigned long long>(ours.rlim_max)));
  auto const port = daemon->wait_for_port();
  REQUIRE(port);
  CHECK(get(*port, "/healthz").result() == http::status::ok);
  CHECK(stop_daemon(*daemon) == "");
}

// ---------------------------------------------------------------------------------------------
// 9. /metrics

TEST_CASE("hardening: /metrics counts streams, facts, events, requests and latency",
          "[hardening][metrics][concurrency]") {
  test_server srv;
  auto const port = srv.port();
  constexpr std::size_t stream_count = 3;
  constexpr int posters = 4;
  constexpr int per_poster = 10;
  constexpr int fact_count = posters * per_poster;
  std::vector<std::unique_ptr<sse_client>> streams;
  for (std::size_t i = 0; i < stream_count; ++i) {
    streams.push_back(std::make_unique<sse_client>(port));
    REQUIRE(streams.back()->next_event());
  }

  std::atomic<int> created{0};
  std::atomic<std::size_t> event_bytes{0};  // of one stream's live events, as framed
  std::vector<std::thread> threads;
  for (int t = 0; t < posters; ++t)
    threads.emplace_back([&, t] {
      for (int n = 0; n < per_poster; ++n)
        try {
          auto const body = small_fact("metrics " + std::to_string(t) + "/" + std::to_string(n));
          auto const res = post_fact(port, body);
          if (res.result() != http::status::created) continue;
          ++created;
          event_bytes +=
              ("id: " + std::to_string(seq_from_location(res)) + "\ndata: " + body + "\n\n").size();
        } catch (std::exception const&) {
        }
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(created == fact_count);
  CHECK(post_fact(port, "[1]").result() == http::status::bad_request);
  CHECK(post_fact(port, "{").result() == http::status::bad_request);
  CHECK(post_fact(port, small_fact("x"), "text/plain").result() ==
        http::status::unsupported_media_type);
  for (auto& s : streams)
    for (int n = 0; n < fact_count; ++n)
      REQUIRE(s->next_event());

  // A write is counted when it completes, which may be a moment after the client read it.
  CHECK(eventually(
      [&] {
        return metric_value(metrics_text(port), "factsd_events_written_total") ==
               fact_count * stream_count;
      },
      5s));

  auto const health = get(port, "/healthz");
  CHECK(health.result() == http::status::ok);
  CHECK(nlohmann::json::parse(health.body()) == nlohmann::json{{"status", "ok"}});

  auto const res = get(port, "/metrics");
  REQUIRE(res.result() == http::status::ok);
  CHECK(header(res, "Content-Type").rfind("text/plain", 0) == 0);
  auto const text = res.body();
  INFO(text);
  for (char const* type :
       {"# TYPE factsd_streams_open gauge", "# TYPE factsd_facts_published_total counter",
        "# TYPE factsd_events_written_total counter", "# TYPE factsd_bytes_written_total counter",
        "# TYPE factsd_streams_ended_total counter", "# TYPE factsd_http_requests_total counter",
        "# TYPE factsd_publish_to_write_seconds histogram"})
    CHECK(text.find(type) != std::string::npos);
  CHECK(metric_value(text, "factsd_streams_open") == stream_count);
  CHECK(metric_value(text, "factsd_facts_published_total") == fact_count);
  auto const events = metric_or(text, "factsd_events_written_total");
  CHECK(events >= fact_count * stream_count);
  CHECK(events == fact_count * stream_count);  // "exact": each live event once per stream
  CHECK(metric_or(text, "factsd_bytes_written_total") >=
        static_cast<double>(event_bytes.load() * stream_count));
  CHECK(metric_value(text, R"(factsd_http_requests_total{route="fact",status="201"})") ==
        fact_count);
  CHECK(metric_value(text, R"(factsd_http_requests_total{route="fact",status="400"})") == 2);
  CHECK(metric_value(text, R"(factsd_http_requests_total{route="fact",status="415"})") == 1);
  CHECK(metric_value(text, R"(factsd_http_requests_total{route="events",status="200"})") ==
        stream_count);
  CHECK(metric_value(text, R"(factsd_http_requests_total{route="healthz",status="200"})") == 1);

  // The latency histogram: cumulative buckets, +Inf equal to the count, and a count > 0.
  auto const count = metric_or(text, "factsd_publish_to_write_seconds_count");
  CHECK(count > 0);
  CHECK(count <= events);
  CHECK(metric_value(text, R"(factsd_publish_to_write_seconds_bucket{le="+Inf"})") == count);
  CHECK(metric_or(text, "factsd_publish_to_write_seconds_sum") >= 0);
  double previous = 0;
  std::size_t buckets = 0;
  for (std::size_t at = text.find("factsd_publish_to_write_seconds_bucket{");
       at != std::string::npos; at = text.find("factsd_publish_to_write_seconds_bucket{", at + 1)) {
    auto const value = std::stod(text.substr(text.find(' ', at) + 1));
    CHECK(value >= previous);
    previous = value;
    ++buckets;
  }
  CHECK(buckets > 2);

  // A stream that leaves is counted out and counted as ended by its client.
  streams.front()->close();
  CHECK(eventually(
      [&] {
        return metric_value(metrics_text(port),
                            R"(factsd_streams_ended_total{reason="client_closed"})") == 1;
      },
      10s));
  CHECK(metric_value(metrics_text(port), "factsd_streams_open") == stream_count - 1);

  // A replayed Idempotency-Key answers 201 again but publishes nothing new.
  header_list const key{{"Idempotency-Key", "metrics-key-1"}};
  auto const first = post_fact(port, small_fact("keyed"), "application/json", key);
  auto const again = post_fact(port, small_fact("keyed"), "application/json", key);
  CHECK(first.result() == http::status::created);
  CHECK(again.result() == http::status::created);
  CHECK(header(again, "Idempotent-Replayed") == "true");
  auto const after = metrics_text(port);
  CHECK(metric_value(after, "factsd_facts_published_total") == fact_count + 1);
  CHECK(metric_value(after, R"(factsd_http_requests_total{route="fact",status="201"})") ==
        fact_count + 2);
}
