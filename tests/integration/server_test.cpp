// The whole daemon in-process on 127.0.0.1:0, driven over real sockets by the test clients in
// tests/support. Each test case checks one promise the daemon makes to the tutorial's users.

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "facts/server.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/resources.hpp"
#include "support/sse_client.hpp"
#include "support/sse_fleet.hpp"
#include "support/test_facts.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;
using ordered_json = nlohmann::ordered_json;

namespace {

// The fact the tutorial's curl session posts, byte for byte.
constexpr char const* shark_fact =
    R"({"info": "Shark teeth are embedded in the gums rather than directly affixed to the jaw, and are constantly replaced throughout life.", "source": "https://en.wikipedia.org/wiki/Shark"})";

}  // namespace

TEST_CASE("the tutorial's curl session works unchanged", "[server][tutorial]") {
  test_server srv;
  auto const port = srv.port();

  // Step 1: a stream on an empty store starts with `data: []`, after a retry: line.
  sse_client first(port);
  CHECK(first.head().result() == http::status::ok);
  CHECK(first.head()[http::field::content_type] == "text/event-stream");
  CHECK(first.head()[http::field::cache_control] == "no-cache, no-transform");
  CHECK(first.head()["X-Accel-Buffering"] == "no");
  auto const empty = first.next_event();
  REQUIRE(empty);
  CHECK(empty->type == "message");
  CHECK(empty->data == "[]");
  CHECK(empty->id == "0");
  // The retry: line came before the first event.
  CHECK(empty->retry == std::to_string(test_config().retry.count()));

  // Step 2: the POST answers with the fact itself, and the open stream gets it as one object.
  auto const posted = post_fact(port, shark_fact);
  CHECK(posted.result() == http::status::created);
  CHECK(header(posted, "Content-Type").rfind("application/json", 0) == 0);
  CHECK(ordered_json::parse(posted.body()) == ordered_json::parse(shark_fact));
  CHECK(header(posted, "Location") == "/facts/1");
  auto const live = first.next_event();
  REQUIRE(live);
  CHECK(live->type == "message");
  CHECK(live->id == "1");
  CHECK(ordered_json::parse(live->data) == ordered_json::parse(shark_fact));

  // Step 3: after a reconnect (without Last-Event-ID, as curl does) the array holds that fact.
  first.close();
  sse_client second(port);
  auto const replay = second.next_event();
  REQUIRE(replay);
  CHECK(replay->type == "message");
  CHECK(replay->id == "1");
  CHECK(ordered_json::parse(replay->data) ==
        ordered_json::array({ordered_json::parse(shark_fact)}));

  // Step 4: /status counts the open streams: `second` only, then `second` and `third`.
  CHECK(wait_for_status(port, "clients", 1) == 1);
  sse_client third(port);
  CHECK(wait_for_status(port, "clients", 2) == 2);
  auto const res = get(port, "/status");
  CHECK(res.result() == http::status::ok);
  CHECK(header(res, "Content-Type").rfind("application/json", 0) == 0);
  auto const body = nlohmann::json::parse(res.body());
  REQUIRE(body.is_object());
  CHECK(body["clients"] == 2);
  CHECK(body["facts"] == 1);
}

TEST_CASE("Last-Event-ID resumes after the given fact, or resets when it is unusable",
          "[server][resume]") {
  test_server srv;
  auto const port = srv.port();
  for (int n = 1; n <= 5; ++n)
    REQUIRE(seq_from_location(post_fact(port, numbered_fact(n))) == static_cast<unsigned>(n));

  auto const facts_from = [](int first, int last) {
    auto out = ordered_json::array();
    for (int n = first; n <= last; ++n)
      out.push_back(ordered_json::parse(numbered_fact(n)));
    return out;
  };
  auto const first_event = [&](std::string const& last_event_id) {
    sse_client stream(port, {{"Last-Event-ID", last_event_id}});
    REQUIRE(stream.head().result() == http::status::ok);
    auto e = stream.next_event();
    REQUIRE(e);
    return *e;
  };

  SECTION("a known id replays only the facts after it") {
    auto const e = first_event("3");
    CHECK(e.type == "message");
    CHECK(e.id == "5");
    CHECK(ordered_json::parse(e.data) == facts_from(4, 5));
  }
  SECTION("the newest id replays nothing") {
    auto const e = first_event("5");
    CHECK(e.type == "message");
    CHECK(e.id == "5");
    CHECK(e.data == "[]");
  }
  SECTION("an id that is not a number is a reset with everything") {
    auto const e = first_event("abc");
    CHECK(e.type == "reset");
    CHECK(e.id == "5");
    CHECK(ordered_json::parse(e.data) == facts_from(1, 5));
  }
  SECTION("an id ahead of the server is a reset with everything") {
    auto const e = first_event("999");
    CHECK(e.type == "reset");
    CHECK(e.id == "5");
    CHECK(ordered_json::parse(e.data) == facts_from(1, 5));
  }
}

TEST_CASE("a client behind the replay window catches up from the store", "[server][resume]") {
  // A new client's snapshot holds only the newest 3 facts; a resuming one must still get all
  // it missed (README: up to 100,000 facts), as a normal event, not as a reset.
  test_server srv([](facts::config& cfg) { cfg.replay_limit = 3; });
  auto const port = srv.port();
  for (int n = 1; n <= 10; ++n)
    REQUIRE(post_fact(port, numbered_fact(n)).result() == http::status::created);

  sse_client fresh(port);
  auto const window = fresh.next_event();
  REQUIRE(window);
  CHECK(window->id == "10");
  CHECK(nlohmann::json::parse(window->data).size() == 3);

  sse_client resumed(port, {{"Last-Event-ID", "2"}});
  auto const e = resumed.next_event();
  REQUIRE(e);
  CHECK(e->type == "message");
  CHECK(e->id == "10");
  auto expected = ordered_json::array();
  for (int n = 3; n <= 10; ++n)
    expected.push_back(ordered_json::parse(numbered_fact(n)));
  CHECK(ordered_json::parse(e->data) == expected);
}

namespace {

/**
 * Checks one stream of the exactly-once test: its snapshot must be facts 1..S in seq order and
 * its live events S+1..last, each once and in order. Returns the first problem, or "".
 */
std::string check_stream(sse_client& stream, std::map<std::string, std::uint64_t> const& seq_of,
                         std::uint64_t last, std::uint64_t& start) {
  auto const seq_of_data = [&](nlohmann::json const& fact) -> std::uint64_t {
    auto const it = seq_of.find(fact.value("info", ""));
    return it == seq_of.end() ? 0 : it->second;
  };
  auto const snapshot = stream.next_event();
  if (!snapshot) return "no snapshot";
  if (!snapshot->id) return "snapshot without id";
  start = std::stoull(*snapshot->id);
  auto const facts = nlohmann::json::parse(snapshot->data);
  if (!facts.is_array() || facts.size() != start)
    return "snapshot id " + *snapshot->id + " but " + std::to_string(facts.size()) + " facts";
  for (std::size_t i = 0; i < facts.size(); ++i)
    if (seq_of_data(facts[i]) != i + 1)
      return "snapshot position " + std::to_string(i) + " holds " + facts[i].dump();
  for (auto expected = start + 1; expected <= last; ++expected) {
    auto const e = stream.next_event();
    if (!e) return "no event for seq " + std::to_string(expected);
    if (e->id != std::to_string(expected))
      return "expected seq " + std::to_string(expected) + ", got id " + e->id.value_or("(none)");
    if (seq_of_data(nlohmann::json::parse(e->data)) != expected)
      return "event " + *e->id + " carries " + e->data;
  }
  return {};
}

}  // namespace

TEST_CASE("every stream gets each fact exactly once and in order while facts keep coming",
          "[server][ordering][concurrency]") {
  test_server srv;
  auto const port = srv.port();
  constexpr int posters = 2;
  constexpr int min_posts_each = 50;
  constexpr int clients = 50;

  // Posters run until every client has connected, so the connections really land among posts.
  std::atomic<bool> clients_connected{false};
  std::mutex mutex;
  std::map<std::string, std::uint64_t> seq_of;  // info text -> seq; guarded by mutex
  std::vector<std::string> poster_errors;       // guarded by mutex
  std::vector<std::thread> threads;
  for (int p = 0; p < posters; ++p) {
    threads.emplace_back([&, p] {
      try {
        for (int i = 0; i < min_posts_each || !clients_connected; ++i) {
          auto const info = "poster " + std::to_string(p) + " fact " + std::to_string(i);
          auto const res = post_fact(port, nlohmann::json{{"info", info}}.dump());
          std::lock_guard lock(mutex);
          if (res.result() != http::status::created)
            return poster_errors.push_back("POST answered " + std::to_string(res.result_int()));
          seq_of[info] = seq_from_location(res);
        }
      } catch (std::exception const& e) {
        std::lock_guard lock(mutex);
        poster_errors.push_back(e.what());
      }
    });
  }

  auto const seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pause_us(0, 5000);
  std::vector<std::unique_ptr<sse_client>> streams;
  try {
    for (int c = 0; c < clients; ++c) {
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
      streams.push_back(std::make_unique<sse_client>(port));
    }
  } catch (...) {
    clients_connected = true;
    for (auto& t : threads)
      t.join();
    throw;
  }
  clients_connected = true;
  for (auto& t : threads)
    t.join();
  REQUIRE(poster_errors.empty());

  // Seqs are consecutive from 1, so the last one is the number of facts posted.
  auto const last = static_cast<std::uint64_t>(seq_of.size());
  CHECK(srv.get().hub().last_seq() == last);
  std::set<std::uint64_t> snapshot_ids;
  for (std::size_t c = 0; c < streams.size(); ++c) {
    INFO("client " << c << " of " << streams.size() << ", last seq " << last);
    std::uint64_t start = 0;
    CHECK(check_stream(*streams[c], seq_of, last, start) == "");
    snapshot_ids.insert(start);
  }
  // The test only means something if clients really joined at different moments of the
  // publishing, some of them with facts still to come live.
  CHECK(snapshot_ids.size() > 1);
  CHECK(*snapshot_ids.begin() < last);
}

TEST_CASE("clients that keep reconnecting with Last-Event-ID see every fact exactly once",
          "[server][resume][ordering][concurrency]") {
  // A replay window of 1 fact: nearly every reconnect resumes from before it and must catch up
  // from the store while facts keep being published. That is EventSource's life behind a flaky
  // network, and the row-twice bug of the tutorial's server if it goes wrong. Four posters keep
  // the window moving during each subscribe.
  test_server srv([](facts::config& cfg) { cfg.replay_limit = 1; });
  auto const port = srv.port();
  constexpr int posters = 4;
  constexpr int posts_each = 250;
  constexpr int clients = 10;

  std::mutex mutex;
  std::map<std::string, std::uint64_t> seq_of;  // info text -> seq; guarded by mutex
  std::vector<std::string> poster_errors;       // guarded by mutex
  std::atomic<std::uint64_t> posted{0};
  std::atomic<bool> posting_done{false};

  struct received {
    std::uint64_t seq;
    std::string info;
  };
  struct client_log {
    std::vector<received> facts;  // since the last reset, in arrival order
    int resets = 0;
    int connections = 0;
    std::string error;
  };
  std::vector<client_log> logs(clients);
  auto const seed = std::random_device{}();
  CAPTURE(seed);

  auto const run_client = [&](client_log& log, unsigned client_seed) {
    std::mt19937 rng(client_seed);
    std::uniform_int_distribution<int> live_events(0, 3);
    std::optional<std::string> last_id;
    auto const caught_up = [&] {
      return posting_done && !log.facts.empty() && log.facts.back().seq == posted;
    };
    auto const deadline = steady_clock::now() + 60s;
    while (!caught_up()) {
      if (steady_clock::now() > deadline) return void(log.error = "not caught up after 60 s");
      header_list headers;
      if (last_id) headers.emplace_back("Last-Event-ID", *last_id);
      sse_client stream(port, headers);
      ++log.connections;
      auto const snapshot = stream.next_event();
      if (!snapshot || !snapshot->id) return void(log.error = "no snapshot with an id");
      if (snapshot->type == "reset") {
        ++log.resets;
        log.facts.clear();
      }
      auto const facts = nlohmann::json::parse(snapshot->data);
      auto const newest = std::stoull(*snapshot->id);
      for (std::size_t k = 0; k < facts.size(); ++k)
        log.facts.push_back({newest - facts.size() + 1 + k, facts[k].value("info", "")});
      last_id = snapshot->id;
      for (int n = live_events(rng); n > 0 && !caught_up(); --n) {
        auto const e = stream.next_event(1s);
        if (!e) break;  // nothing came yet; reconnecting is what this test is about anyway
        if (!e->id) return void(log.error = "a live event without id");
        log.facts.push_back(
            {std::stoull(*e->id), nlohmann::json::parse(e->data).value("info", "")});
        last_id = e->id;
      }
    }
  };

  std::vector<std::thread> threads;
  for (int p = 0; p < posters; ++p) {
    threads.emplace_back([&, p] {
      try {
        for (int i = 0; i < posts_each; ++i) {
          auto const info = "poster " + std::to_string(p) + " fact " + std::to_string(i);
          auto const res = post_fact(port, nlohmann::json{{"info", info}}.dump());
          std::lock_guard lock(mutex);
          if (res.result() != http::status::created)
            return poster_errors.push_back("POST answered " + std::to_string(res.result_int()));
          seq_of[info] = seq_from_location(res);
          ++posted;
        }
      } catch (std::exception const& e) {
        std::lock_guard lock(mutex);
        poster_errors.push_back(e.what());
      }
    });
  }
  std::vector<std::thread> readers;
  for (int c = 0; c < clients; ++c) {
    readers.emplace_back([&, c] {
      try {
        run_client(logs[c], seed + static_cast<unsigned>(c));
      } catch (std::exception const& e) {
        logs[c].error = e.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  posting_done = true;
  for (auto& t : readers)
    t.join();
  REQUIRE(poster_errors.empty());

  auto const last = posted.load();
  for (int c = 0; c < clients; ++c) {
    auto const& log = logs[c];
    INFO("client " << c << " after " << log.connections << " connections, last seq " << last);
    CHECK(log.error == "");
    // Every Last-Event-ID sent was an id we had been given, at most 1,000 facts behind: README
    // promises a catch-up from the store (up to 100,000 facts), never a reset.
    CHECK(log.resets == 0);
    std::string problem;
    for (std::size_t i = 1; i < log.facts.size() && problem.empty(); ++i)
      if (log.facts[i].seq != log.facts[i - 1].seq + 1)
        problem = "seq " + std::to_string(log.facts[i].seq) + " came after " +
                  std::to_string(log.facts[i - 1].seq);
    for (auto const& f : log.facts) {
      auto const it = seq_of.find(f.info);
      if (problem.empty() && (it == seq_of.end() || it->second != f.seq))
        problem = "seq " + std::to_string(f.seq) + " carried '" + f.info + "'";
    }
    CHECK(problem == "");
    CHECK((!log.facts.empty() && log.facts.back().seq == last));
  }
}

TEST_CASE("/status counts open streams, up and down, and none after stop()",
          "[server][status][concurrency]") {
  test_server srv;
  auto const port = srv.port();
  CHECK(status(port)["clients"] == 0);

  sse_client a(port);
  sse_client b(port);
  sse_client c(port);
  CHECK(wait_for_status(port, "clients", 3) == 3);

  // A keep-alive connection that is not a stream does not count.
  http_connection plain(port);
  CHECK(plain.send(make_request(http::verb::get, "/status")).result() == http::status::ok);
  CHECK(status(port)["clients"] == 3);

  b.close();
  CHECK(wait_for_status(port, "clients", 2) == 2);

  srv.stop();
  CHECK(srv.get().hub().client_count() == 0);
  // stop() ends the streams it counted: the clients see the end of the stream.
  CHECK(a.wait_closed());
  CHECK(c.wait_closed());
}

TEST_CASE("CORS with the default policy lets any origin read and post", "[server][cors]") {
  test_server srv;
  auto const port = srv.port();
  header_list const origin{{"Origin", "http://page.example"}};

  SECTION("the preflight of a JSON POST is answered") {
    auto const res = request(port, http::verb::options, "/fact", {},
                             {{"Origin", "http://page.example"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "content-type"}});
    CHECK(res.result() == http::status::no_content);
    CHECK(header(res, "Access-Control-Allow-Origin") == "*");
    CHECK(lists_token(header(res, "Access-Control-Allow-Methods"), "POST"));
    CHECK(lists_token(header(res, "Access-Control-Allow-Headers"), "Content-Type"));
    CHECK(lists_token(header(res, "Access-Control-Allow-Headers"), "Last-Event-ID"));
  }
  SECTION("the stream, the POST and an error all carry Access-Control-Allow-Origin: *") {
    sse_client stream(port, origin);
    CHECK(stream.head()[http::field::access_control_allow_origin] == "*");
    auto const created = post_fact(port, shark_fact, "application/json", origin);
    CHECK(created.result() == http::status::created);
    CHECK(header(created, "Access-Control-Allow-Origin") == "*");
    auto const refused = post_fact(port, "hello", "text/plain", origin);
    CHECK(refused.result() == http::status::unsupported_media_type);
    CHECK(header(refused, "Access-Control-Allow-Origin") == "*");
    auto const missing = get(port, "/no-such-page", origin);
    CHECK(missing.result() == http::status::not_found);
    CHECK(header(missing, "Access-Control-Allow-Origin") == "*");
  }
}

TEST_CASE("CORS with a list of origins echoes a listed origin and refuses others",
          "[server][cors]") {
  test_server srv([](facts::config& cfg) { cfg.cors_origins = {"http://a.example"}; });
  auto const port = srv.port();
  header_list const listed{{"Origin", "http://a.example"}};
  header_list const other{{"Origin", "http://b.example"}};

  SECTION("a listed origin is echoed, with Vary: Origin") {
    sse_client stream(port, listed);
    CHECK(stream.head()[http::field::access_control_allow_origin] == "http://a.example");
    CHECK(lists_token(stream.head()[http::field::vary], "Origin"));

    auto const created = post_fact(port, shark_fact, "application/json", listed);
    CHECK(created.result() == http::status::created);
    CHECK(header(created, "Access-Control-Allow-Origin") == "http://a.example");
    CHECK(lists_token(header(created, "Vary"), "Origin"));

    auto const preflight =
        request(port, http::verb::options, "/fact", {},
                {{"Origin", "http://a.example"}, {"Access-Control-Request-Method", "POST"}});
    CHECK(preflight.result() == http::status::no_content);
    CHECK(header(preflight, "Access-Control-Allow-Origin") == "http://a.example");

    auto const refused = post_fact(port, "[1]", "application/json", listed);
    CHECK(refused.result() == http::status::bad_request);
    CHECK(header(refused, "Access-Control-Allow-Origin") == "http://a.example");
  }
  SECTION("another origin gets no Access-Control-Allow-Origin") {
    sse_client stream(port, other);
    CHECK_FALSE(stream.head().count(http::field::access_control_allow_origin));
    auto const created = post_fact(port, shark_fact, "application/json", other);
    CHECK_FALSE(has_header(created, "Access-Control-Allow-Origin"));
    auto const preflight =
        request(port, http::verb::options, "/fact", {},
                {{"Origin", "http://b.example"}, {"Access-Control-Request-Method", "POST"}});
    CHECK_FALSE(has_header(preflight, "Access-Control-Allow-Origin"));
  }
}

TEST_CASE("bad requests are refused with a JSON error, and store and broadcast nothing",
          "[server][errors]") {
  test_server srv;
  auto const port = srv.port();
  auto const max_fact_bytes = test_config().limits.max_fact_bytes;
  sse_client watcher(port);
  REQUIRE(watcher.next_event());  // the empty snapshot

  SECTION("a body that is not JSON: 400") {
    auto const res = post_fact(port, R"({"info": "unfinished)");
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  SECTION("a JSON array: 400") {
    auto const res = post_fact(port, R"([{"info": "x"}])");
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  SECTION("an empty body: 400") {
    auto const res = post_fact(port, "");
    CHECK(res.result() == http::status::bad_request);
    CHECK(is_json_error(res));
  }
  SECTION("Content-Type text/plain: 415") {
    auto const res = post_fact(port, shark_fact, "text/plain");
    CHECK(res.result() == http::status::unsupported_media_type);
    CHECK(is_json_error(res));
  }
  SECTION("no Content-Type: 415") {
    auto const res = post_fact(port, shark_fact, "");
    CHECK(res.result() == http::status::unsupported_media_type);
    CHECK(is_json_error(res));
  }
  SECTION("a body one byte over the limit: 413") {
    std::string big = R"({"info": ")";
    big += std::string(max_fact_bytes - big.size() - 2 + 1, 'x');
    big += R"("})";
    REQUIRE(big.size() == max_fact_bytes + 1);
    auto const res = post_fact(port, big);
    CHECK(res.result() == http::status::payload_too_large);
    CHECK(is_json_error(res));
  }
  SECTION("Content-Length of 1 GiB: 413 from the headers alone, without the body") {
    http_connection conn(port);
    conn.send_raw(
        "POST /fact HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1073741824\r\n\r\n");
    // We never send the body: an answer before our deadline proves it was not waited for.
    auto const res = conn.read_response();
    CHECK(res.result() == http::status::payload_too_large);
    CHECK(is_json_error(res));
    CHECK(header(res, "Access-Control-Allow-Origin") == "*");  // a page can read why
    // The unread body makes the connection unusable, so the server must end it.
    bool closed = false;
    conn.read_until_close(closed);
    CHECK(closed);
  }
  SECTION("an unknown path: 404") {
    auto const res = get(port, "/no/such/thing");
    CHECK(res.result() == http::status::not_found);
    CHECK(is_json_error(res));
  }
  SECTION("DELETE /fact: 405 with Allow: POST, OPTIONS") {
    auto const res = request(port, http::verb::delete_, "/fact");
    CHECK(res.result() == http::status::method_not_allowed);
    CHECK(header(res, "Allow") == "POST, OPTIONS");
    CHECK(is_json_error(res));
  }
  SECTION("PUT /events: 405") {
    auto const res = request(port, http::verb::put, "/events", "{}");
    CHECK(res.result() == http::status::method_not_allowed);
    CHECK(lists_token(header(res, "Allow"), "GET"));
    CHECK(is_json_error(res));
  }
  for (std::string const junk : {"GARBAGE\r\n\r\n", "GET / HTTP/9.9x\r\n\r\n"}) {
    DYNAMIC_SECTION("a malformed request line: 400 or a clean close, for " << junk.substr(0, 9)) {
      auto const answer = raw_exchange(port, junk);
      CHECK(answer.closed);
      if (!answer.bytes.empty()) {
        auto const res = parse_response(answer.bytes);
        CHECK(res.result() == http::status::bad_request);
        CHECK(is_json_error(res));
        CHECK(header(res, "Access-Control-Allow-Origin") == "*");
      }
    }
  }

  // Whatever was refused above, nothing was stored...
  auto const after = status(port);
  CHECK(after["facts"] == 0);
  CHECK(after["last_id"] == 0);
  // ...and nothing was broadcast: the next event the watcher gets is the next valid fact, as
  // id 1. (Streams are in seq order, so a stray event would have come first.)
  auto const ok = post_fact(port, shark_fact);
  CHECK(ok.result() == http::status::created);
  auto const e = watcher.next_event();
  REQUIRE(e);
  CHECK(e->id == "1");
  CHECK(ordered_json::parse(e->data) == ordered_json::parse(shark_fact));
}

TEST_CASE("HTTP/1.1 keep-alive: several requests on one connection are all answered",
          "[server][http]") {
  test_server srv;
  http_connection conn(srv.port());
  auto const first = conn.send(make_request(http::verb::get, "/status"));
  CHECK(first.result() == http::status::ok);
  CHECK(first.keep_alive());
  auto const created = conn.send(
      make_request(http::verb::post, "/fact", shark_fact, {{"Content-Type", "application/json"}}));
  CHECK(created.result() == http::status::created);
  CHECK(created.keep_alive());
  auto const second = conn.send(make_request(http::verb::get, "/status"));
  CHECK(second.result() == http::status::ok);
  CHECK(nlohmann::json::parse(second.body())["facts"] == 1);
}

TEST_CASE("a thousand concurrent streams all receive every fact in order",
          "[server][load][serial]") {
  constexpr std::size_t streams = 1000;
  constexpr int facts_count = 20;
  // Each stream is two descriptors in this process (client and server side), plus slack.
  REQUIRE(ensure_fd_limit(2 * streams + 256));

  test_server srv;
  auto const port = srv.port();
  sse_fleet fleet(port, streams, std::to_string(facts_count));
  auto const clients = wait_for_status(port, "clients", streams, 30s);
  INFO("streams opened " << fleet.opened() << ", failed " << fleet.failed());
  REQUIRE(clients == static_cast<std::int64_t>(streams));

  for (int n = 1; n <= facts_count; ++n)
    REQUIRE(post_fact(port, numbered_fact(n)).result() == http::status::created);
  bool const all_done = eventually([&] { return fleet.finished() == streams; }, 30s);
  fleet.stop();
  CHECK(all_done);
  CHECK(fleet.failed() == 0);

  std::size_t bad = 0;
  std::string first_problem;
  for (std::size_t i = 0; i < fleet.streams().size(); ++i) {
    auto const& events = fleet.streams()[i]->events;
    std::string problem;
    if (events.empty() || events[0].data != "[]" || events[0].id != "0") {
      problem = "no empty snapshot first";
    } else if (events.size() != facts_count + 1) {
      problem = std::to_string(events.size() - 1) + " live events";
    } else {
      for (int n = 1; n <= facts_count && problem.empty(); ++n)
        if (events[n].id != std::to_string(n) || events[n].data != numbered_fact(n))
          problem = "event " + std::to_string(n) + " is id " + events[n].id.value_or("-") +
                    " data " + events[n].data;
    }
    if (!problem.empty() && bad++ == 0)
      first_problem =
          "stream " + std::to_string(i) + ": " + problem + " " + fleet.streams()[i]->error;
  }
  INFO(first_problem);
  CHECK(bad == 0);
}

TEST_CASE("an idle stream receives heartbeat comments", "[server][heartbeat]") {
  test_server srv([](facts::config& cfg) { cfg.heartbeat = 1s; });
  sse_client stream(srv.port());
  REQUIRE(stream.next_event());  // the snapshot
  CHECK(stream.wait_for_comments(1, 5s));
  // A comment is not an event: nothing else arrived.
  CHECK_FALSE(stream.next_event(100ms));
}

TEST_CASE("the page is served with the right content types", "[server][page]") {
  test_server srv;
  auto const port = srv.port();
  auto const page = get(port, "/");
  CHECK(page.result() == http::status::ok);
  CHECK(header(page, "Content-Type").rfind("text/html", 0) == 0);
  CHECK(page.body().find("<html") != std::string::npos);
  auto const script = get(port, "/app.js");
  CHECK(script.result() == http::status::ok);
  CHECK(header(script, "Content-Type").rfind("text/javascript", 0) == 0);
  auto const style = get(port, "/style.css");
  CHECK(style.result() == http::status::ok);
  CHECK(header(style, "Content-Type").rfind("text/css", 0) == 0);
}

TEST_CASE("paths that climb out of --web-root are not served", "[server][page]") {
  // root/ is the web root; secret.txt sits next to it, where a traversal would find it.
  temp_dir dir;
  std::filesystem::create_directory(dir.path() / "root");
  dir.write("root/index.html", "<html>inside</html>");
  dir.write("secret.txt", "outside the web root");
  test_server srv([&](facts::config& cfg) { cfg.web_root = (dir.path() / "root").string(); });
  auto const port = srv.port();

  auto const inside = get(port, "/");
  CHECK(inside.result() == http::status::ok);
  CHECK(inside.body() == "<html>inside</html>");
  for (auto const target : {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                            "/./../secret.txt", "//../secret.txt", "/root/../../secret.txt"}) {
    INFO(target);
    auto const res = get(port, target);
    CHECK(res.result() == http::status::not_found);
    CHECK(res.body().find("outside the web root") == std::string::npos);
  }
}
