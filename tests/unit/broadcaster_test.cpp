#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/store/memory_store.hpp"
#include "support/fake_subscriber.hpp"

using facts::broadcaster;
using facts::test::fake_subscriber;

namespace {

std::string fact_json(std::uint64_t n) {
  return "{\"n\":" + std::to_string(n) + "}";
}

// Facts first..last, each carrying its own seq in the body so frames can be cross-checked.
std::vector<facts::fact> facts_range(std::uint64_t first, std::uint64_t last) {
  std::vector<facts::fact> out;
  for (auto n = first; n <= last; ++n)
    out.push_back({n, fact_json(n)});
  return out;
}

std::shared_ptr<fake_subscriber> make_fake() {
  return std::make_shared<fake_subscriber>();
}

/** Represents a snapshot frame taken apart: its type, its id line and the seqs in its array. */
struct parsed_snapshot {
  bool reset = false;
  std::uint64_t id = 0;
  std::vector<std::uint64_t> seqs;
};

parsed_snapshot parse_snapshot(std::string const& frame) {
  parsed_snapshot out;
  std::string_view rest = frame;
  if (rest.starts_with("event: reset\n")) {
    out.reset = true;
    rest.remove_prefix(std::string_view("event: reset\n").size());
  }
  REQUIRE(rest.starts_with("id: "));
  auto const id_end = rest.find('\n');
  out.id = std::stoull(std::string(rest.substr(4, id_end - 4)));
  rest.remove_prefix(id_end + 1);
  REQUIRE(rest.starts_with("data: "));
  REQUIRE(rest.ends_with("\n\n"));
  auto const array = nlohmann::json::parse(rest.substr(6, rest.size() - 8));
  REQUIRE(array.is_array());
  for (auto const& f : array)
    out.seqs.push_back(f.at("n").get<std::uint64_t>());
  return out;
}

// The ids of the live events in `bytes`, in order, each checked against its data line. Plain
// code rather than an assertion per event: the concurrency test parses hundreds of thousands.
std::vector<std::uint64_t> event_ids(std::string_view bytes) {
  std::vector<std::uint64_t> ids;
  while (!bytes.empty()) {
    auto const end = bytes.find("\n\n");
    auto const event = bytes.substr(0, end);
    auto const newline = event.find('\n');
    if (end == std::string_view::npos || !event.starts_with("id: ") ||
        newline == std::string_view::npos)
      FAIL("not an event: " << event);
    auto const id = std::stoull(std::string(event.substr(4, newline - 4)));
    if (event.substr(newline + 1) != "data: " + fact_json(id)) FAIL("bad event: " << event);
    ids.push_back(id);
    bytes.remove_prefix(end + 2);
  }
  return ids;
}

std::vector<std::uint64_t> seq_range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (auto n = first; n <= last; ++n)
    out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("parse_last_event_id") {
  using facts::parse_last_event_id;
  CHECK(parse_last_event_id(std::nullopt, 5).after == 0);
  CHECK_FALSE(parse_last_event_id(std::nullopt, 5).reset);
  CHECK(parse_last_event_id("0", 5).after == 0);
  CHECK_FALSE(parse_last_event_id("0", 5).reset);
  CHECK(parse_last_event_id("3", 5).after == 3);
  CHECK_FALSE(parse_last_event_id("5", 5).reset);
  auto const bad = GENERATE(as<std::string>{}, "", "abc", "-1", "6", "99", " 3", "3 ", "3a", "+3",
                            "0x3", "3.0", "99999999999999999999999");
  CAPTURE(bad);
  CHECK(parse_last_event_id(bad, 5).reset);
}

TEST_CASE("subscribe on an empty broadcaster gets an empty snapshot with id 0") {
  broadcaster hub({}, 0);
  auto const sub = make_fake();
  auto const snap = hub.subscribe(sub, std::nullopt);
  REQUIRE(snap);
  CHECK(*snap == "id: 0\ndata: []\n\n");
  CHECK(hub.client_count() == 1);
  CHECK(hub.last_seq() == 0);
  CHECK(sub->frames().empty());
}

TEST_CASE("a new subscriber's snapshot holds the facts published before it") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  hub.publish(facts_range(3, 3));
  CHECK(hub.last_seq() == 3);
  auto const snap = hub.subscribe(make_fake(), std::nullopt);
  REQUIRE(snap);
  CHECK(*snap == "id: 3\ndata: [{\"n\":1},{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("the reset snapshot is built once per seq and shared") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const before = hub.snapshots_built();
  auto const a = hub.subscribe(make_fake(), "abc");
  auto const b = hub.subscribe(make_fake(), "99");  // ahead of us: a reset too
  CHECK(a.get() == b.get());
  CHECK(parse_snapshot(*a).reset);
  CHECK(parse_snapshot(*a).seqs == seq_range(1, 2));
  CHECK(hub.snapshots_built() == before + 1);

  // A publish makes the cached one stale.
  hub.publish(facts_range(3, 3));
  auto const c = hub.subscribe(make_fake(), "abc");
  CHECK(c.get() != a.get());
  CHECK(parse_snapshot(*c).seqs == seq_range(1, 3));
  CHECK(hub.snapshots_built() == before + 2);
}

TEST_CASE("the snapshot for new clients is built once per seq and shared") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const before = hub.snapshots_built();
  auto const a = hub.subscribe(make_fake(), std::nullopt);
  auto const b = hub.subscribe(make_fake(), std::nullopt);
  auto const c = hub.subscribe(make_fake(), "0");  // "0" holds nothing: a new client too
  CHECK(a.get() == b.get());
  CHECK(a.get() == c.get());
  CHECK(hub.snapshots_built() == before + 1);

  // A publish makes the cached one stale.
  hub.publish(facts_range(3, 3));
  auto const d = hub.subscribe(make_fake(), std::nullopt);
  CHECK(d.get() != a.get());
  CHECK(parse_snapshot(*d).seqs == seq_range(1, 3));
  CHECK(hub.snapshots_built() == before + 2);
}

TEST_CASE("Last-Event-ID resumes after the given seq") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  auto const snap = hub.subscribe(make_fake(), "1");
  REQUIRE(snap);
  CHECK(*snap == "id: 3\ndata: [{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("Last-Event-ID equal to the newest seq gets an empty snapshot") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  auto const snap = hub.subscribe(make_fake(), "3");
  REQUIRE(snap);
  CHECK(*snap == "id: 3\ndata: []\n\n");
}

TEST_CASE("an unusable Last-Event-ID gets a reset with every fact") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  auto const id = GENERATE(as<std::string>{}, "abc", "", "-1", "99", "4");
  CAPTURE(id);
  auto const snap = hub.subscribe(make_fake(), id);
  REQUIRE(snap);
  CHECK(*snap == "event: reset\nid: 3\ndata: [{\"n\":1},{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("publish delivers one frame per batch, events in seq order") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.subscribe(a, std::nullopt);
  hub.subscribe(b, std::nullopt);

  hub.publish(facts_range(1, 3));
  hub.publish(facts_range(4, 4));
  auto const frames = a->frames();
  REQUIRE(frames.size() == 2);
  CHECK(*frames[0] ==
        "id: 1\ndata: {\"n\":1}\n\nid: 2\ndata: {\"n\":2}\n\nid: 3\ndata: {\"n\":3}\n\n");
  CHECK(*frames[1] == "id: 4\ndata: {\"n\":4}\n\n");
  // Serialized once: every stream gets the same bytes.
  auto const b_frames = b->frames();
  REQUIRE(b_frames.size() == 2);
  CHECK(b_frames[0].get() == frames[0].get());
  CHECK(b_frames[1].get() == frames[1].get());
}

TEST_CASE("publishing an empty batch delivers nothing") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  hub.subscribe(a, std::nullopt);
  hub.publish({});
  CHECK(a->frames().empty());
  CHECK(hub.last_seq() == 0);
}

TEST_CASE("a subscriber gets only what was published after its snapshot") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const a = make_fake();
  auto const snap = hub.subscribe(a, std::nullopt);
  hub.publish(facts_range(3, 4));
  CHECK(parse_snapshot(*snap).seqs == seq_range(1, 2));
  CHECK(event_ids(a->delivered_bytes()) == seq_range(3, 4));
}

TEST_CASE("unsubscribe stops delivery and lowers the count") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.subscribe(a, std::nullopt);
  hub.subscribe(b, std::nullopt);
  REQUIRE(hub.client_count() == 2);

  hub.unsubscribe(a.get());
  CHECK(hub.client_count() == 1);
  hub.publish(facts_range(1, 1));
  hub.heartbeat();
  hub.shutdown();
  CHECK(a->frames().empty());
  CHECK(a->heartbeats() == 0);
  CHECK(a->closes() == 0);
  CHECK(b->frames().size() == 1);

  // Idempotent, and harmless for a subscriber never seen.
  hub.unsubscribe(a.get());
  fake_subscriber stranger;
  hub.unsubscribe(&stranger);
  CHECK(hub.client_count() == 1);
}

TEST_CASE("subscribing the same subscriber twice registers it once") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  hub.subscribe(a, std::nullopt);
  hub.subscribe(a, std::nullopt);
  CHECK(hub.client_count() == 1);
  hub.publish(facts_range(1, 1));
  CHECK(a->frames().size() == 1);
}

TEST_CASE("a subscriber that died without unsubscribing is skipped") {
  // A session can end on its own thread at any time; the broadcaster holds only weak_ptrs.
  broadcaster hub({}, 0);
  auto gone = make_fake();
  auto const alive = make_fake();
  hub.subscribe(gone, std::nullopt);
  hub.subscribe(alive, std::nullopt);
  gone.reset();

  hub.publish(facts_range(1, 2));
  hub.heartbeat();
  CHECK(alive->frames().size() == 1);
  CHECK(alive->heartbeats() == 1);
  hub.shutdown();
  CHECK(alive->closes() == 1);
}

TEST_CASE("heartbeat reaches every subscriber with the shared heartbeat frame") {
  broadcaster hub({}, 0);
  std::vector<std::shared_ptr<fake_subscriber>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(make_fake());
    hub.subscribe(subs.back(), std::nullopt);
  }
  hub.heartbeat();
  hub.heartbeat();
  for (auto const& s : subs) {
    CHECK(s->heartbeats() == 2);
    REQUIRE(s->last_heartbeat());
    CHECK(*s->last_heartbeat() == facts::make_heartbeat());
    CHECK(s->last_heartbeat().get() == subs[0]->last_heartbeat().get());
    // A heartbeat is not a delivered frame.
    CHECK(s->frames().empty());
  }
}

TEST_CASE("shutdown closes every stream and refuses new ones") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.subscribe(a, std::nullopt);
  hub.subscribe(b, "0");
  hub.shutdown();
  CHECK(a->closes() == 1);
  CHECK(b->closes() == 1);

  auto const late = make_fake();
  CHECK(hub.subscribe(late, std::nullopt) == nullptr);
  CHECK(hub.client_count() == 2);
  hub.publish(facts_range(1, 1));
  CHECK(late->frames().empty());
}

TEST_CASE("replay_limit keeps only the newest facts in new snapshots") {
  SECTION("as facts are published") {
    broadcaster hub({}, 2);
    hub.publish(facts_range(1, 3));
    hub.publish(facts_range(4, 5));
    auto const snap = parse_snapshot(*hub.subscribe(make_fake(), std::nullopt));
    CHECK_FALSE(snap.reset);
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(4, 5));
  }
  SECTION("when seeded through the constructor") {
    broadcaster hub(facts_range(1, 5), 3);
    CHECK(hub.last_seq() == 5);
    auto const snap = parse_snapshot(*hub.subscribe(make_fake(), std::nullopt));
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(3, 5));
  }
  SECTION("0 keeps everything") {
    broadcaster hub(facts_range(1, 5), 0);
    hub.publish(facts_range(6, 7));
    CHECK(parse_snapshot(*hub.subscribe(make_fake(), std::nullopt)).seqs == seq_range(1, 7));
  }
  SECTION("a reset also gets only the window") {
    broadcaster hub(facts_range(1, 5), 2);
    auto const snap = parse_snapshot(*hub.subscribe(make_fake(), "abc"));
    CHECK(snap.reset);
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(4, 5));
  }
}

TEST_CASE("resuming inside the replay window needs no store") {
  broadcaster hub(facts_range(1, 5), 2);
  auto const at_window = parse_snapshot(*hub.subscribe(make_fake(), "3"));
  CHECK_FALSE(at_window.reset);
  CHECK(at_window.seqs == seq_range(4, 5));
  auto const inside = parse_snapshot(*hub.subscribe(make_fake(), "4"));
  CHECK_FALSE(inside.reset);
  CHECK(inside.seqs == seq_range(5, 5));
}

TEST_CASE("resuming from before the replay window without a store is a reset, never a gap") {
  // The client holds 1 and the window is 4..5: handing it 4..5 as a plain snapshot would
  // silently lose 2 and 3.
  broadcaster hub(facts_range(1, 5), 2);
  auto const snap = parse_snapshot(*hub.subscribe(make_fake(), "1"));
  CHECK(snap.reset);
  CHECK(snap.id == 5);
  CHECK(snap.seqs == seq_range(4, 5));
}

TEST_CASE("resuming from before the replay window catches up from the store") {
  facts::memory_store store;
  for (std::uint64_t n = 1; n <= 10; ++n)
    store.append(std::vector<std::string>{fact_json(n)});
  broadcaster hub(store.read_latest(3), 3, &store);

  auto const from_2 = parse_snapshot(*hub.subscribe(make_fake(), "2"));
  CHECK_FALSE(from_2.reset);
  CHECK(from_2.id == 10);
  CHECK(from_2.seqs == seq_range(3, 10));

  // New clients still get only the window.
  CHECK(parse_snapshot(*hub.subscribe(make_fake(), std::nullopt)).seqs == seq_range(8, 10));
}

TEST_CASE("concurrent publish and subscribe: every stream sees every seq once, in order",
          "[concurrency]") {
  // The guarantee of subscribe(): the snapshot and the live frames meet without a gap or a
  // duplicate, however a subscribe falls between publishes.
  constexpr int publishers = 4;
  constexpr int facts_per_publisher = 500;
  constexpr std::uint64_t total = publishers * facts_per_publisher;
  constexpr int subscriber_threads = 4;
  constexpr int subscribers_per_thread = 50;

  struct setup {
    std::size_t replay_limit;
    bool with_history;
  };
  auto const s = GENERATE(setup{0, false}, setup{64, true});
  CAPTURE(s.replay_limit, s.with_history);

  facts::memory_store store;
  broadcaster hub({}, s.replay_limit, s.with_history ? &store : nullptr);

  // The single writer: one seq at a time, stored, then published, as fact_writer does.
  std::mutex writer_mutex;
  std::uint64_t next_seq = 0;  // guarded by writer_mutex
  std::atomic<std::uint64_t> published{0};
  // Catch's assertions are not thread-safe: worker threads only count what went wrong.
  std::atomic<int> store_mismatches{0};

  struct record {
    std::shared_ptr<fake_subscriber> sub;
    std::optional<std::string> last_event_id;
    facts::frame snapshot;
  };
  std::vector<std::vector<record>> records(subscriber_threads);

  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&] {
      for (int i = 0; i < facts_per_publisher; ++i) {
        std::lock_guard lock(writer_mutex);
        auto const seq = ++next_seq;
        if (s.with_history &&
            store.append(std::vector<std::string>{fact_json(seq)}).at(0).seq != seq)
          ++store_mismatches;
        hub.publish({{seq, fact_json(seq)}});
        published.store(seq);
        published.notify_all();
      }
    });
  }
  for (int t = 0; t < subscriber_threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(1234 + t));
      // Moments to subscribe at, spread over the whole run.
      std::vector<std::uint64_t> moments;
      for (int i = 0; i < subscribers_per_thread; ++i)
        moments.push_back(std::uniform_int_distribution<std::uint64_t>(0, total)(rng));
      std::sort(moments.begin(), moments.end());
      for (auto const moment : moments) {
        // Bounded: the publishers run to `total` unconditionally, notifying each step.
        for (auto now = published.load(); now < moment; now = published.load())
          published.wait(now);
        record r{std::make_shared<fake_subscriber>(), std::nullopt, nullptr};
        switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
          case 0:
          case 1:
            break;  // a new client
          case 2:
          case 3: {  // a client that already has some of the facts
            auto const last = hub.last_seq();
            r.last_event_id =
                std::to_string(std::uniform_int_distribution<std::uint64_t>(0, last)(rng));
            break;
          }
          case 4:  // a client that has everything so far
            r.last_event_id = std::to_string(hub.last_seq());
            break;
          default:  // a client with an id we cannot use
            r.last_event_id = "not-a-number";
            break;
        }
        r.snapshot = hub.subscribe(r.sub, r.last_event_id);
        records[t].push_back(std::move(r));
      }
    });
  }
  for (auto& th : threads)
    th.join();

  REQUIRE(store_mismatches == 0);
  REQUIRE(hub.last_seq() == total);
  CHECK(hub.client_count() == subscriber_threads * subscribers_per_thread);

  // Frames are shared between streams (that is the point), so each distinct one is parsed once.
  std::unordered_map<std::string const*, parsed_snapshot> snapshots;
  std::unordered_map<std::string const*, std::vector<std::uint64_t>> events;
  auto const snapshot_of = [&](facts::frame const& f) -> parsed_snapshot const& {
    auto [it, fresh] = snapshots.try_emplace(f.get());
    if (fresh) it->second = parse_snapshot(*f);
    return it->second;
  };
  auto const live_ids = [&](fake_subscriber const& sub) {
    std::vector<std::uint64_t> ids;
    for (auto const& f : sub.frames()) {
      auto [it, fresh] = events.try_emplace(f.get());
      if (fresh) it->second = event_ids(*f);
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
    return ids;
  };

  for (auto const& thread_records : records) {
    REQUIRE(thread_records.size() == subscribers_per_thread);
    for (auto const& r : thread_records) {
      CAPTURE(r.last_event_id.value_or("(none)"));
      REQUIRE(r.snapshot);
      auto const& snap = snapshot_of(r.snapshot);
      auto const live = live_ids(*r.sub);
      CAPTURE(snap.reset, snap.id, snap.seqs.size(), live.size());

      // Where this stream must start: after the client's id, unless it was told to reset or
      // is new, in which case it starts at the window (all of it without a replay limit).
      std::uint64_t first = snap.seqs.empty() ? snap.id + 1 : snap.seqs.front();
      bool const resumed = r.last_event_id && r.last_event_id != "not-a-number";
      if (resumed && !snap.reset) CHECK(first == std::stoull(*r.last_event_id) + 1);
      // Without a window every valid id is inside it: no reason to reset.
      if (resumed && s.replay_limit == 0) CHECK_FALSE(snap.reset);
      if (!resumed) CHECK(snap.reset == r.last_event_id.has_value());
      if (s.replay_limit == 0 && !resumed) CHECK(first == 1);
      if (s.replay_limit != 0 && !resumed)
        CHECK(snap.seqs.size() == std::min<std::uint64_t>(snap.id, s.replay_limit));

      std::vector<std::uint64_t> seen = snap.seqs;
      if (!snap.seqs.empty()) CHECK(snap.seqs.back() == snap.id);
      seen.insert(seen.end(), live.begin(), live.end());
      // Every seq from the start to the end, exactly once and in order.
      REQUIRE(seen == seq_range(first, total));
    }
  }
}
