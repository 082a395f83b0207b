// The nats:// store when NATS stops answering or answers slowly (issue 21): a message is never
// handed to nats.c while it reconnects (it would publish it after our 503); a stop with every
// node stopped (SIGSTOP: connections open, nothing answered) keeps --shutdown-timeout; a
// repeated Idempotency-Key's read of the log holds up no other publish; a page of facts older
// than the window is one range read; log_newest_seq() asks the log. Real nats-server processes
// on free loopback ports, stopped by their pids; every wait has a deadline.
#include <nats/nats.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/store/memory_store.hpp"
#include "facts/store/nats_connection.hpp"
#include "facts/store/nats_store.hpp"
#include "facts/store/nats_url.hpp"
#include "support/factsd_instance.hpp"
#include "support/http_client.hpp"
#include "support/nats_cluster.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

using stall_clock = std::chrono::steady_clock;

double stall_seconds(stall_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string stall_fact(int n) {
  return R"({"n":)" + std::to_string(n) + "}";
}

/** Represents a thread that is joined however the test ends. */
struct stall_thread {
  std::thread thread;
  ~stall_thread() {
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

// ---- A message is never handed to nats.c while it reconnects.

namespace {

facts::nats_url stall_url(nats_cluster& nats, std::string const& stream,
                          std::string const& credentials = {}) {
  auto parsed = facts::parse_nats_url("nats://" + credentials + "127.0.0.1:" +
                                      std::to_string(nats.node(0).client_port()) + "/" + stream);
  REQUIRE(parsed.url);
  return *parsed.url;
}

facts::append_result stall_append(facts::fact_store& store, std::string json,
                                  std::string key = {}) {
  std::vector<facts::append_request> one{{std::move(json), std::move(key)}};
  return store.append(one).front();
}

void stall_drop_ack(jsCtx*, natsMsg* msg, jsPubAck*, jsPubAckErr*, void*) {
  natsMsg_Destroy(msg);
}

/// The stream's last seq, as the server says it now.
std::uint64_t stall_stream_last(facts::nats_connection const& c, std::string const& stream) {
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = 5000;
  jsStreamInfo* info = nullptr;
  REQUIRE(js_GetStreamInfo(&info, c.js(), stream.c_str(), &call, nullptr) == NATS_OK);
  auto const last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

}  // namespace

TEST_CASE(
    "nats stall: a message handed to nats.c while it reconnects is refused, never sent "
    "later",
    "[nats]") {
  nats_cluster nats(1);
  auto const timings = facts::nats_timings::from(10s, 2s);
  facts::nats_connection connection(stall_url(nats, "later"), timings, &stall_drop_ack, nullptr);
  REQUIRE(stall_stream_last(connection, "later") == 0);

  nats.node(0).kill_hard();
  REQUIRE(eventually(
      [&] { return natsConnection_Status(connection.conn()) == NATS_CONN_STATUS_RECONNECTING; },
      10s));
  // What the publisher does when the connection drops between its check and its publish.
  natsMsg* msg = nullptr;
  std::string const body = stall_fact(1);
  REQUIRE(natsMsg_Create(&msg, "facts.later", nullptr, body.data(),
                         static_cast<int>(body.size())) == NATS_OK);
  REQUIRE(natsMsgHeader_Set(msg, "Nats-Msg-Id", "reconnecting-1") == NATS_OK);
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MaxWait = 1000;
  auto const handed = js_PublishMsgAsync(connection.js(), &msg, &pub);
  natsMsg_Destroy(msg);  // still ours when refused
  CHECK(handed != NATS_OK);

  nats.start_all();
  REQUIRE(eventually(
      [&] { return natsConnection_Status(connection.conn()) == NATS_CONN_STATUS_CONNECTED; }, 20s));
  // Whatever nats.c kept went out as it reconnected, before the status said so.
  REQUIRE(natsConnection_FlushTimeout(connection.conn(), 5000) == NATS_OK);
  CHECK(stall_stream_last(connection, "later") == 0);
}

TEST_CASE("nats stall: a POST answered unavailable while NATS is down is not stored later",
          "[nats]") {
  nats_cluster nats(1);
  facts::nats_store store(
      {.url = stall_url(nats, "refused"), .timings = facts::nats_timings::from(10s, 2s)});
  nats.node(0).kill_hard();
  REQUIRE(eventually([&] { return !store.health().reachable; }, 10s));
  auto const refused = stall_append(store, stall_fact(1), "refused-1");
  CHECK(refused.what == facts::append_result::outcome::unavailable);

  nats.start_all();
  REQUIRE(eventually([&] { return store.health().reachable; }, 20s));
  // The same key again: created now, so the first one never reached the log.
  auto const retried = stall_append(store, stall_fact(1), "refused-1");
  CHECK(retried.what == facts::append_result::outcome::created);
  CHECK(retried.stored.seq == 1);
}

// ---- The stop keeps --shutdown-timeout with every node stopped.

namespace {

// --connect-timeout 3 makes nats.c's one connection attempt 600 ms (min(C/5, 2P/5)): what a
// reconnecting nats.c may hold its lock for, and so what closing the connection may wait.
constexpr auto stall_connect_attempt = 600ms;
// What a stop may take beyond --shutdown-timeout: one connection attempt of nats.c's, the
// server's half second for handlers still running, and the process's own end under ASan.
constexpr auto stall_slack = stall_connect_attempt + 900ms;

std::vector<std::string> stall_daemon_args(std::string const& store, std::string const& publish,
                                           std::string const& shutdown) {
  // One I/O thread: a request answered on it after another one's bytes arrived means that one
  // was read and handed on first.
  return {FACTSD_BINARY, "--listen",          "127.0.0.1:0", "--store",
          store,         "--threads",         "1",           "--heartbeat",
          "1",           "--connect-timeout", "3",           "--publish-timeout",
          publish,       "--replay-limit",    "5",           "--shutdown-timeout",
          shutdown};
}

/// Posts facts 1..`count` through a factsd of its own, which then stops: they are in the log
/// and in no window of the daemon started next.
void stall_seed(std::string const& store, int count) {
  factsd_instance seeder(store, nats_test_flags());
  for (int i = 1; i <= count; ++i)
    REQUIRE(post_fact(seeder.port(), stall_fact(i)).result() == http::status::created);
  seeder.process().send_signal(SIGTERM);
  REQUIRE(seeder.process().wait_exit(30s));
}

/**
 * Represents a factsd on a 3-node cluster whose nodes are all stopped and given up by nats.c (it
 * is reconnecting, its attempts hang in the stopped servers' accept queues), with three streams
 * open and a catch-up read of facts older than its window in flight.
 */
struct stalled_daemon {
  nats_cluster nats{3};
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<sse_client>> streams;
  stall_thread catch_up;

  stalled_daemon(std::string const& publish, std::string const& shutdown) {
    auto const store = nats.store_url("stall", 3);
    stall_seed(store, 40);
    proc = std::make_unique<child_process>(stall_daemon_args(store, publish, shutdown));
    auto const p = proc->wait_for_port(40s);
    INFO("factsd stderr: " << proc->err());
    REQUIRE(p);
    port = *p;
    for (int i = 0; i < 3; ++i) {
      streams.push_back(std::make_unique<sse_client>(port));
      REQUIRE(streams.back()->next_event());  // the snapshot
    }
    nats.pause_all();
    // nats.c notices after two unanswered pings (2P/5 apart) and starts reconnecting.
    REQUIRE(proc->wait_for_line("[nats] disconnected", 20s));
    // Facts 2..35 are older than the window (36..40): the catch-up reads them from the log.
    catch_up.thread = std::thread([p = port] {
      try {
        sse_client resumed(p, {{"Last-Event-ID", "1"}}, 30s);
        resumed.next_event(30s);
      } catch (std::exception const&) {
        // Expected: the daemon ends first.
      }
    });
    INFO("factsd stderr: " << proc->err());
    REQUIRE(eventually([&] { return status(port).at("clients") == 4; }, 10s));
  }

  /// SIGTERM; returns how long factsd took to exit (nullopt: not within `limit`).
  std::optional<stall_clock::duration> stop(std::chrono::milliseconds limit) {
    auto const signalled = stall_clock::now();
    proc->send_signal(SIGTERM);
    if (!proc->wait_exit(limit)) return std::nullopt;
    return stall_clock::now() - signalled;
  }

  ~stalled_daemon() { nats.resume_all(); }
};

}  // namespace

TEST_CASE(
    "nats stall: every node stopped, streams open, a catch-up read in flight: the stop "
    "keeps --shutdown-timeout",
    "[nats][shutdown][process]") {
  constexpr auto shutdown_timeout = 2s;
  stalled_daemon d("5", "2");
  auto const took = d.stop(shutdown_timeout + 20s);
  INFO("factsd stderr: " << d.proc->err());
  REQUIRE(took);
  INFO("exit after " << stall_seconds(*took) << " s; bound "
                     << stall_seconds(shutdown_timeout + stall_slack) << " s");
  CHECK(*took <= shutdown_timeout + stall_slack);
  CHECK(d.proc->exit_code() == 0);  // nothing was left unanswered: a clean stop
}

TEST_CASE(
    "nats stall: a POST in flight with every node stopped: answered 503 when its "
    "--publish-timeout is below --shutdown-timeout, exit 1 when just above; in time either way",
    "[nats][shutdown][process]") {
  constexpr auto shutdown_timeout = 2s;
  auto const [publish, exit_code] =
      GENERATE(std::pair<char const*, int>{"1", 0}, std::pair<char const*, int>{"3", 1});
  CAPTURE(publish);
  stalled_daemon d(publish, "2");
  http_connection poster(d.port);
  poster.send_raw(
      "POST /fact HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
      "\r\n{\"n\":99}");
  // Answered by the one I/O thread after it read the POST: the POST is with the writer now.
  REQUIRE(status(d.port).at("clients") == 4);
  auto const took = d.stop(shutdown_timeout + 20s);
  INFO("factsd stderr: " << d.proc->err());
  REQUIRE(took);
  INFO("exit after " << stall_seconds(*took) << " s; bound "
                     << stall_seconds(shutdown_timeout + stall_slack) << " s");
  CHECK(*took <= shutdown_timeout + stall_slack);
  CHECK(d.proc->exit_code() == exit_code);
  if (exit_code == 0) {
    // Answered before the streams ended: the log did not take it in time.
    auto const answer = poster.read_response(5s);
    CHECK(answer.result() == http::status::service_unavailable);
  } else {
    CHECK(d.proc->err().find("writer still in a commit") != std::string::npos);
  }
}

TEST_CASE("nats stall: once the server stops following, nothing of the store waits on NATS",
          "[nats][shutdown]") {
  nats_cluster nats(1);
  auto const timings = facts::nats_timings::from(10s, 5s);  // an attempt waits 2 s for its ack
  facts::nats_store store({.url = stall_url(nats, "ending"), .timings = timings});
  REQUIRE(stall_append(store, stall_fact(1)).stored.seq == 1);
  nats.node(0).pause();  // connected as far as nats.c knows: the next publish is sent, unanswered

  std::promise<facts::append_result> pending;
  store.append_async({stall_fact(2), {}},
                     [&](facts::append_result r) { pending.set_value(std::move(r)); });
  auto answered = pending.get_future();
  // Handed over and waiting for its ack (or, should the stop come first, never handed over).
  if (answered.wait_for(200ms) == std::future_status::ready)
    FAIL("answered before the stop, as " << static_cast<int>(answered.get().what));
  auto const stopped = stall_clock::now();
  store.stop_following();
  auto const stop_took = stall_clock::now() - stopped;
  REQUIRE(answered.wait_for(1s) == std::future_status::ready);
  auto const answer_took = stall_clock::now() - stopped;
  CHECK(answered.get().what == facts::append_result::outcome::unavailable);

  auto const asked = stall_clock::now();
  CHECK_THROWS_AS(store.read_after(0, 1), facts::store_error);  // fact 1: not in a window
  CHECK_THROWS_AS(store.log_newest_seq(), facts::store_error);
  CHECK(stall_append(store, stall_fact(3)).what == facts::append_result::outcome::unavailable);
  auto const after_took = stall_clock::now() - asked;
  INFO("stop_following " << stall_seconds(stop_took) << " s, the pending publish answered after "
                         << stall_seconds(answer_took) << " s, a read, log_newest_seq and a "
                         << "publish after it " << stall_seconds(after_took) << " s");
  // At once: before the attempt's own 2 s ack wait, let alone --publish-timeout.
  CHECK(answer_took < 500ms);
  CHECK(after_took < 500ms);
  nats.node(0).resume();
}

// ---- A repeated Idempotency-Key's read of the log holds up no other publish.

namespace {

// The store's user may do everything but a direct get: the server refuses each one (and logs
// it), so it waits its whole request for an answer that never comes before the store asks the
// stream's leader instead. A read that stalls for a known time, every time.
std::string const stall_no_direct_get = R"(
authorization {
  users = [
    { user: factsd, password: "pw",
      permissions: { publish: { allow: [">"], deny: ["$JS.API.DIRECT.GET.>"] },
                     subscribe: { allow: [">"] } } }
  ]
}
)";

}  // namespace

TEST_CASE("nats stall: a repeated Idempotency-Key's read of the log holds up no other publish",
          "[nats][concurrency]") {
  nats_cluster nats(1, stall_no_direct_get);
  auto const timings = facts::nats_timings::from(10s, 5s);  // a request waits 2 s
  // Not following: its window stays empty, so the fact a repeated key names is read from the log.
  facts::nats_store store({.url = stall_url(nats, "repeats", "factsd:pw@"), .timings = timings});
  auto const first = stall_append(store, stall_fact(1), "order-1");
  REQUIRE(first.what == facts::append_result::outcome::created);
  REQUIRE(first.stored.seq == 1);

  std::promise<facts::append_result> repeat;
  stall_clock::time_point repeat_answered;
  auto const repeat_sent = stall_clock::now();
  store.append_async({stall_fact(1), "order-1"}, [&](facts::append_result r) {
    repeat_answered = stall_clock::now();
    repeat.set_value(std::move(r));
  });
  // The server refused the repeat's direct get: its read has begun, and waits.
  INFO("nats-server log: " << nats.logs_tail());
  REQUIRE(eventually(
      [&] { return nats.node(0).log().find("$JS.API.DIRECT.GET") != std::string::npos; }, 5s));
  auto const fresh_sent = stall_clock::now();
  auto const fresh = stall_append(store, stall_fact(2));
  auto const fresh_took = stall_clock::now() - fresh_sent;

  auto answered = repeat.get_future();
  REQUIRE(answered.wait_for(20s) == std::future_status::ready);
  auto const replay = answered.get();
  auto const repeat_took = repeat_answered - repeat_sent;
  INFO("the repeat was answered after " << stall_seconds(repeat_took)
                                        << " s, the fresh publish sent during its read after "
                                        << stall_seconds(fresh_took) << " s");
  // The semantics stay: the same body is a replay of fact 1.
  CHECK(replay.what == facts::append_result::outcome::replayed);
  CHECK(replay.stored.seq == 1);
  CHECK(replay.stored.json == stall_fact(1));
  // Its read waited out the refused direct get (a request, 2 s)...
  CHECK(repeat_took >= timings.request - 100ms);
  // ...while the fresh publish went through at once (before: it waited for the rest of it).
  CHECK(fresh.what == facts::append_result::outcome::created);
  CHECK(fresh.stored.seq == 2);
  CHECK(fresh_took < (under_tsan ? 1000ms : 500ms));

  // The same key with another body is still a conflict, and nothing was stored for it.
  CHECK(stall_append(store, stall_fact(3), "order-1").what ==
        facts::append_result::outcome::conflict);
  CHECK(stall_append(store, stall_fact(4)).stored.seq == 3);
}

// ---- A page of facts older than the window is one range read.

namespace {

/// Facts 1..`count` of `bytes` each (about), stored through a store of their own that then goes.
void stall_fill(facts::nats_url const& url, int count, std::size_t bytes = 0) {
  facts::nats_store writer({.url = url, .timings = facts::nats_timings::from(10s, 2s)});
  std::vector<std::string> jsons;
  for (int i = 1; i <= count; ++i)
    jsons.push_back(bytes == 0 ? stall_fact(i)
                               : R"({"n":)" + std::to_string(i) + R"(,"pad":")" +
                                     std::string(bytes, 'x') + "\"}");
  REQUIRE(writer.append(jsons).back().seq == static_cast<std::uint64_t>(count));
}

}  // namespace

TEST_CASE("nats stall: a page of 1,000 facts older than the window is one range read", "[nats]") {
  constexpr std::size_t page_bytes = 1024 * 1024;  // GET /facts's bound
  nats_cluster nats(1);
  auto const url = stall_url(nats, "pages");
  stall_fill(url, 1100);
  facts::nats_store reader({.url = url, .timings = facts::nats_timings::from(10s, 2s)});
  // As the server starts: the newest facts seed the window, the older ones are in the log only.
  REQUIRE(reader.read_latest(10).size() == 10);

  auto const before = reader.range_reads();
  auto const page = reader.read_bounded(0, 1000, page_bytes);
  REQUIRE(page.size() == 1000);
  for (std::size_t i = 0; i < page.size(); ++i) {
    INFO("fact " << i + 1);
    REQUIRE(page[i].seq == i + 1);
    REQUIRE(page[i].json == stall_fact(static_cast<int>(i + 1)));
  }
  CHECK(reader.range_reads() - before == 1);  // before: 63, one per 16 facts

  // The next page: 1001..1090 from the log (one more), then the window's 1091..1100.
  auto const next = reader.read_bounded(1000, 1000, page_bytes);
  REQUIRE(next.size() == 100);
  CHECK(next.front().seq == 1001);
  CHECK(next.back().seq == 1100);
  CHECK(reader.range_reads() - before == 2);
}

TEST_CASE(
    "nats stall: a page of large facts older than the window stops at its byte bound, "
    "still one range read",
    "[nats]") {
  constexpr std::size_t page_bytes = 1024 * 1024;
  nats_cluster nats(1);
  auto const url = stall_url(nats, "large");
  stall_fill(url, 300, 8 * 1024);  // 300 facts of 8 KiB: 2.4 MiB
  facts::nats_store reader({.url = url, .timings = facts::nats_timings::from(10s, 2s)});
  REQUIRE(reader.read_latest(10).size() == 10);

  auto const before = reader.range_reads();
  auto const page = reader.read_bounded(0, 1000, page_bytes);
  std::size_t bytes = 0;
  for (auto const& f : page)
    bytes += f.json.size();
  INFO(page.size() << " facts, " << bytes << " bytes");
  CHECK(page.size() == page_bytes / page.front().json.size());  // 127 of 8,210 bytes
  CHECK(bytes <= page_bytes);
  CHECK(page.back().seq == page.size());
  CHECK(reader.range_reads() - before == 1);  // before: 8
}

// ---- log_newest_seq() asks the log.

TEST_CASE("nats stall: log_newest_seq() is the log's newest seq, not what this instance has seen",
          "[nats]") {
  nats_cluster nats(1);
  auto const url = stall_url(nats, "newest");
  auto const timings = facts::nats_timings::from(10s, 2s);
  facts::nats_store writer({.url = url, .timings = timings});
  // Another instance that follows nothing: it sees the log only by its monitor's polls.
  facts::nats_store behind({.url = url, .timings = timings});
  CHECK(behind.log_newest_seq() == 0);
  for (std::uint64_t i = 1; i <= 5; ++i) {
    REQUIRE(stall_append(writer, stall_fact(static_cast<int>(i))).stored.seq == i);
    INFO("fact " << i << "; the instance has seen " << behind.last_seq());
    CHECK(behind.log_newest_seq() == i);  // at once, not at the next poll (every 500 ms)
  }

  // A log that does not answer: an error within the request timeout (2P/5: 800 ms), no guess.
  nats.node(0).kill_hard();
  auto const asked = stall_clock::now();
  CHECK_THROWS_AS(behind.log_newest_seq(), facts::store_error);
  auto const took = stall_clock::now() - asked;
  INFO("failed after " << stall_seconds(took) << " s");
  CHECK(took <= timings.request + 200ms);
}

TEST_CASE("log_newest_seq() of a store that is its own log is its last_seq()", "[nats]") {
  facts::memory_store store;
  store.append(std::vector<std::string>{stall_fact(1), stall_fact(2)});
  CHECK(store.log_newest_seq() == 2);
  CHECK(store.log_newest_seq() == store.last_seq());
}
