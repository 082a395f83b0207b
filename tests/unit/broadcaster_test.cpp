#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
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

// A join that must be let in; its snapshot's id line names the seq join returned.
facts::joined_stream must_join(broadcaster& hub, std::optional<std::string_view> last_event_id) {
  auto joined = hub.join(last_event_id);
  REQUIRE(joined);
  // A stream that catches up gets no snapshot from join(): its first chunk read is its array.
  REQUIRE((joined->snapshot != nullptr) != joined->catch_up_after.has_value());
  if (joined->snapshot) CHECK(parse_snapshot(*joined->snapshot).id == joined->seq);
  return std::move(*joined);
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

TEST_CASE("join on an empty broadcaster gets an empty snapshot with id 0") {
  broadcaster hub({}, 0);
  auto const sub = make_fake();
  hub.attach(sub);
  auto const joined = must_join(hub, std::nullopt);
  CHECK(*joined.snapshot == "id: 0\ndata: []\n\n");
  CHECK(joined.seq == 0);
  CHECK(hub.client_count() == 1);
  CHECK(hub.last_seq() == 0);
  CHECK(sub->frames().empty());
}

TEST_CASE("a new stream's snapshot holds the facts published before it") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  hub.publish(facts_range(3, 3));
  CHECK(hub.last_seq() == 3);
  auto const joined = must_join(hub, std::nullopt);
  CHECK(*joined.snapshot == "id: 3\ndata: [{\"n\":1},{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("join returns the seq its snapshot ends at") {
  SECTION("a new client") {
    broadcaster hub({}, 0);
    hub.publish(facts_range(1, 4));
    auto const joined = must_join(hub, std::nullopt);
    CHECK(joined.seq == 4);
    CHECK(parse_snapshot(*joined.snapshot).seqs == seq_range(1, 4));
  }
  SECTION("seeded through the constructor") {
    broadcaster hub(facts_range(1, 7), 3);
    CHECK(must_join(hub, std::nullopt).seq == 7);
  }
  SECTION("a resume, whatever it lacks") {
    broadcaster hub({}, 0);
    hub.publish(facts_range(1, 4));
    auto const id = GENERATE(as<std::string>{}, "0", "1", "3", "4");
    CAPTURE(id);
    CHECK(must_join(hub, id).seq == 4);
  }
  SECTION("a reset") {
    broadcaster hub({}, 0);
    hub.publish(facts_range(1, 4));
    auto const joined = must_join(hub, "abc");
    CHECK(parse_snapshot(*joined.snapshot).reset);
    CHECK(joined.seq == 4);
  }
  SECTION("a catch-up from the store") {
    facts::memory_store store;
    for (std::uint64_t n = 1; n <= 10; ++n)
      store.append(std::vector<std::string>{fact_json(n)});
    broadcaster hub(store.read_latest(3), 3, &store);
    auto const joined = must_join(hub, "2");
    CHECK(joined.seq == 10);
    CHECK(joined.catch_up_after == 2);
    CHECK_FALSE(joined.reset);
  }
  SECTION("follows each publish") {
    broadcaster hub({}, 0);
    CHECK(must_join(hub, std::nullopt).seq == 0);
    hub.publish(facts_range(1, 2));
    CHECK(must_join(hub, std::nullopt).seq == 2);
    hub.publish(facts_range(3, 5));
    CHECK(must_join(hub, std::nullopt).seq == 5);
    CHECK(must_join(hub, "2").seq == 5);
  }
}

TEST_CASE("the reset snapshot is built once per seq and shared") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const before = hub.snapshots_built();
  auto const a = must_join(hub, "abc").snapshot;
  auto const b = must_join(hub, "99").snapshot;  // ahead of us: a reset too
  CHECK(a.get() == b.get());
  CHECK(parse_snapshot(*a).reset);
  CHECK(parse_snapshot(*a).seqs == seq_range(1, 2));
  CHECK(hub.snapshots_built() == before + 1);

  // A publish makes the cached one stale.
  hub.publish(facts_range(3, 3));
  auto const c = must_join(hub, "abc").snapshot;
  CHECK(c.get() != a.get());
  CHECK(parse_snapshot(*c).seqs == seq_range(1, 3));
  CHECK(hub.snapshots_built() == before + 2);
}

TEST_CASE("the snapshot for new clients is built once per seq and shared") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const before = hub.snapshots_built();
  auto const a = must_join(hub, std::nullopt).snapshot;
  auto const b = must_join(hub, std::nullopt).snapshot;
  auto const c = must_join(hub, "0").snapshot;  // "0" holds nothing: a new client too
  CHECK(a.get() == b.get());
  CHECK(a.get() == c.get());
  CHECK(hub.snapshots_built() == before + 1);

  // A publish makes the cached one stale.
  hub.publish(facts_range(3, 3));
  auto const d = must_join(hub, std::nullopt).snapshot;
  CHECK(d.get() != a.get());
  CHECK(parse_snapshot(*d).seqs == seq_range(1, 3));
  CHECK(hub.snapshots_built() == before + 2);
}

TEST_CASE("Last-Event-ID resumes after the given seq") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  CHECK(*must_join(hub, "1").snapshot == "id: 3\ndata: [{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("Last-Event-ID equal to the newest seq gets an empty snapshot") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  auto const joined = must_join(hub, "3");
  CHECK(*joined.snapshot == "id: 3\ndata: []\n\n");
  CHECK(joined.seq == 3);
}

TEST_CASE("an unusable Last-Event-ID gets a reset with every fact") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 3));
  auto const id = GENERATE(as<std::string>{}, "abc", "", "-1", "99", "4");
  CAPTURE(id);
  CHECK(*must_join(hub, id).snapshot ==
        "event: reset\nid: 3\ndata: [{\"n\":1},{\"n\":2},{\"n\":3}]\n\n");
}

TEST_CASE("publish hands one frame per batch to every attached subscriber, in seq order") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.attach(a);
  hub.attach(b);

  hub.publish(facts_range(1, 3));
  hub.publish(facts_range(4, 4));
  auto const frames = a->frames();
  REQUIRE(frames.size() == 2);
  CHECK(*frames[0] ==
        "id: 1\ndata: {\"n\":1}\n\nid: 2\ndata: {\"n\":2}\n\nid: 3\ndata: {\"n\":3}\n\n");
  CHECK(*frames[1] == "id: 4\ndata: {\"n\":4}\n\n");
  // Serialized once: every subscriber gets the same bytes.
  auto const b_frames = b->frames();
  REQUIRE(b_frames.size() == 2);
  CHECK(b_frames[0].get() == frames[0].get());
  CHECK(b_frames[1].get() == frames[1].get());
}

TEST_CASE("each frame carries its batch's size and newest seq in its meta") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.attach(a);
  hub.attach(b);

  auto const t0 = std::chrono::steady_clock::now();
  hub.publish(facts_range(1, 3));
  hub.publish(facts_range(4, 4));
  hub.publish(facts_range(5, 9));
  auto const t1 = std::chrono::steady_clock::now();

  auto const metas = a->metas();
  REQUIRE(metas.size() == 3);
  CHECK(metas[0].events == 3);
  CHECK(metas[0].last_seq == 3);
  CHECK(metas[1].events == 1);
  CHECK(metas[1].last_seq == 4);
  CHECK(metas[2].events == 5);
  CHECK(metas[2].last_seq == 9);
  for (std::size_t i = 0; i < metas.size(); ++i) {
    CAPTURE(i);
    CHECK(metas[i].published >= t0);
    CHECK(metas[i].published <= t1);
    if (i > 0) CHECK(metas[i].published >= metas[i - 1].published);
    // Each meta describes its own frame: its events end at last_seq.
    auto const ids = event_ids(*a->frames()[i]);
    CHECK(ids.size() == metas[i].events);
    CHECK(ids.back() == metas[i].last_seq);
  }
  // Every subscriber gets the same meta with the same frame.
  auto const b_metas = b->metas();
  REQUIRE(b_metas.size() == metas.size());
  for (std::size_t i = 0; i < metas.size(); ++i) {
    CHECK(b_metas[i].events == metas[i].events);
    CHECK(b_metas[i].last_seq == metas[i].last_seq);
    CHECK(b_metas[i].published == metas[i].published);
  }
}

TEST_CASE("publishing an empty batch delivers nothing") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  hub.attach(a);
  hub.publish({});
  CHECK(a->frames().empty());
  CHECK(hub.last_seq() == 0);
}

TEST_CASE("a subscriber gets every frame published after its attach, none before") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  auto const a = make_fake();
  hub.attach(a);
  hub.publish(facts_range(3, 4));
  hub.publish(facts_range(5, 5));
  CHECK(event_ids(a->delivered_bytes()) == seq_range(3, 5));
}

TEST_CASE("the frames above a stream's joined seq are exactly the facts after its snapshot") {
  // The subscriber was attached long before the stream joined, as the server's I/O threads
  // are: it holds frames the stream must not send (already in its snapshot) and frames it must.
  broadcaster hub({}, 0);
  auto const sink = make_fake();
  hub.attach(sink);
  hub.publish(facts_range(1, 2));
  hub.publish(facts_range(3, 3));

  auto const joined = must_join(hub, std::nullopt);
  hub.publish(facts_range(4, 6));
  hub.publish(facts_range(7, 7));

  auto const snap = parse_snapshot(*joined.snapshot);
  CHECK(joined.seq == 3);
  CHECK(snap.seqs == seq_range(1, 3));
  CHECK(event_ids(sink->bytes_after(joined.seq)) == seq_range(4, 7));
  // Snapshot then the frames above its seq: every fact once, in order.
  auto seen = snap.seqs;
  auto const live = event_ids(sink->bytes_after(joined.seq));
  seen.insert(seen.end(), live.begin(), live.end());
  CHECK(seen == seq_range(1, 7));
  // And the frames at or below it are the ones the snapshot already holds.
  std::vector<std::uint64_t> below;
  auto const frames = sink->frames();
  auto const metas = sink->metas();
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (metas[i].last_seq <= joined.seq) {
      auto const ids = event_ids(*frames[i]);
      below.insert(below.end(), ids.begin(), ids.end());
    }
  CHECK(below == snap.seqs);

  SECTION("a resuming stream too") {
    auto const resumed = must_join(hub, "5");
    hub.publish(facts_range(8, 9));
    CHECK(resumed.seq == 7);
    CHECK(parse_snapshot(*resumed.snapshot).seqs == seq_range(6, 7));
    CHECK(event_ids(sink->bytes_after(resumed.seq)) == seq_range(8, 9));
  }
  SECTION("a stream that joins after the last publish sends nothing live yet") {
    auto const late = must_join(hub, std::nullopt);
    CHECK(late.seq == 7);
    CHECK(sink->bytes_after(late.seq).empty());
  }
}

TEST_CASE("detach stops delivery, heartbeats and close, and leaves the count alone") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.attach(a);
  hub.attach(b);
  must_join(hub, std::nullopt);
  REQUIRE(hub.client_count() == 1);

  hub.detach(a.get());
  CHECK(hub.client_count() == 1);
  hub.publish(facts_range(1, 1));
  hub.heartbeat();
  hub.shutdown();
  CHECK(a->frames().empty());
  CHECK(a->heartbeats() == 0);
  CHECK(a->closes() == 0);
  CHECK(b->frames().size() == 1);
  CHECK(b->heartbeats() == 1);
  CHECK(b->closes() == 1);

  // Idempotent, and harmless for a subscriber never seen.
  hub.detach(a.get());
  fake_subscriber stranger;
  hub.detach(&stranger);
  CHECK(hub.client_count() == 1);
}

TEST_CASE("a detached subscriber can be attached again") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  hub.attach(a);
  hub.publish(facts_range(1, 1));
  hub.detach(a.get());
  hub.publish(facts_range(2, 2));
  hub.attach(a);
  hub.publish(facts_range(3, 3));
  CHECK(event_ids(a->delivered_bytes()) == std::vector<std::uint64_t>{1, 3});
}

TEST_CASE("attaching the same subscriber twice registers it once") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  hub.attach(a);
  hub.attach(a);
  CHECK(hub.client_count() == 0);  // a subscriber is not a stream
  hub.publish(facts_range(1, 1));
  hub.heartbeat();
  hub.shutdown();
  CHECK(a->frames().size() == 1);
  CHECK(a->heartbeats() == 1);
  CHECK(a->closes() == 1);
}

TEST_CASE("a subscriber that died without detaching is skipped") {
  // A subscriber can end on its own thread at any time; the broadcaster holds only weak_ptrs.
  broadcaster hub({}, 0);
  auto gone = make_fake();
  auto const alive = make_fake();
  hub.attach(gone);
  hub.attach(alive);
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
    hub.attach(subs.back());
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

TEST_CASE("shutdown closes every subscriber and refuses new streams") {
  broadcaster hub({}, 0);
  auto const a = make_fake();
  auto const b = make_fake();
  hub.attach(a);
  hub.attach(b);
  must_join(hub, std::nullopt);
  must_join(hub, "0");
  CHECK_FALSE(hub.shutting_down());
  hub.shutdown();
  CHECK(hub.shutting_down());
  CHECK(a->closes() == 1);
  CHECK(b->closes() == 1);

  auto const before = hub.snapshots_built();
  auto const id = GENERATE(as<std::optional<std::string>>{}, std::nullopt, "0", "abc");
  CAPTURE(id.value_or("(none)"));
  CHECK_FALSE(hub.join(id));
  CHECK(hub.client_count() == 2);
  CHECK(hub.snapshots_built() == before);
  // The streams let in before still leave normally.
  hub.leave();
  hub.leave();
  CHECK(hub.client_count() == 0);
  CHECK_FALSE(hub.join(std::nullopt));
}

TEST_CASE("client_count follows join and leave") {
  broadcaster hub({}, 0);
  CHECK(hub.client_count() == 0);
  must_join(hub, std::nullopt);
  CHECK(hub.client_count() == 1);
  must_join(hub, "0");
  must_join(hub, "abc");
  CHECK(hub.client_count() == 3);
  hub.leave();
  CHECK(hub.client_count() == 2);
  hub.publish(facts_range(1, 2));  // publishing neither lets in nor counts out
  CHECK(hub.client_count() == 2);
  must_join(hub, "1");
  CHECK(hub.client_count() == 3);
  hub.leave();
  hub.leave();
  hub.leave();
  CHECK(hub.client_count() == 0);

  // Subscribers are not streams.
  auto const a = make_fake();
  hub.attach(a);
  CHECK(hub.client_count() == 0);
  hub.detach(a.get());
  CHECK(hub.client_count() == 0);
}

TEST_CASE("limit_clients refuses the join beyond it and leave makes room again") {
  broadcaster hub({}, 0);
  hub.publish(facts_range(1, 2));
  hub.limit_clients(2);
  must_join(hub, std::nullopt);
  must_join(hub, "1");
  REQUIRE(hub.client_count() == 2);

  auto const before = hub.snapshots_built();
  auto const id = GENERATE(as<std::optional<std::string>>{}, std::nullopt, "1", "abc");
  CAPTURE(id.value_or("(none)"));
  CHECK_FALSE(hub.join(id));
  CHECK(hub.client_count() == 2);
  CHECK_FALSE(hub.shutting_down());        // full, not closing
  CHECK(hub.snapshots_built() == before);  // a refused stream costs no snapshot

  hub.leave();
  CHECK(hub.client_count() == 1);
  auto const again = must_join(hub, id);
  CHECK(again.seq == 2);
  CHECK(hub.client_count() == 2);
  CHECK_FALSE(hub.join(id));

  SECTION("lowering the limit below the count refuses until enough leave") {
    hub.limit_clients(1);
    CHECK_FALSE(hub.join(std::nullopt));
    hub.leave();
    CHECK_FALSE(hub.join(std::nullopt));
    hub.leave();
    must_join(hub, std::nullopt);
    CHECK(hub.client_count() == 1);
  }
  SECTION("0 lifts the bound") {
    hub.limit_clients(0);
    for (int i = 0; i < 10; ++i)
      must_join(hub, std::nullopt);
    CHECK(hub.client_count() == 12);
  }
}

TEST_CASE("limit_clients also bounds a stream that catches up from the store") {
  facts::memory_store store;
  for (std::uint64_t n = 1; n <= 10; ++n)
    store.append(std::vector<std::string>{fact_json(n)});
  broadcaster hub(store.read_latest(3), 3, &store);
  hub.limit_clients(1);
  must_join(hub, std::nullopt);
  CHECK_FALSE(hub.join("2"));
  CHECK(hub.client_count() == 1);
  hub.leave();
  CHECK(must_join(hub, "2").catch_up_after == 2);
}

TEST_CASE("replay_limit keeps only the newest facts in new snapshots") {
  SECTION("as facts are published") {
    broadcaster hub({}, 2);
    hub.publish(facts_range(1, 3));
    hub.publish(facts_range(4, 5));
    auto const snap = parse_snapshot(*must_join(hub, std::nullopt).snapshot);
    CHECK_FALSE(snap.reset);
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(4, 5));
  }
  SECTION("when seeded through the constructor") {
    broadcaster hub(facts_range(1, 5), 3);
    CHECK(hub.last_seq() == 5);
    auto const snap = parse_snapshot(*must_join(hub, std::nullopt).snapshot);
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(3, 5));
  }
  SECTION("0 keeps everything") {
    broadcaster hub(facts_range(1, 5), 0);
    hub.publish(facts_range(6, 7));
    CHECK(parse_snapshot(*must_join(hub, std::nullopt).snapshot).seqs == seq_range(1, 7));
  }
  SECTION("a reset also gets only the window") {
    broadcaster hub(facts_range(1, 5), 2);
    auto const snap = parse_snapshot(*must_join(hub, "abc").snapshot);
    CHECK(snap.reset);
    CHECK(snap.id == 5);
    CHECK(snap.seqs == seq_range(4, 5));
  }
}

TEST_CASE("resuming inside the replay window needs no store") {
  broadcaster hub(facts_range(1, 5), 2);
  auto const at_window = parse_snapshot(*must_join(hub, "3").snapshot);
  CHECK_FALSE(at_window.reset);
  CHECK(at_window.seqs == seq_range(4, 5));
  auto const inside = parse_snapshot(*must_join(hub, "4").snapshot);
  CHECK_FALSE(inside.reset);
  CHECK(inside.seqs == seq_range(5, 5));
}

TEST_CASE("resuming from before the replay window without a store is a reset, never a gap") {
  // The client holds 1 and the window is 4..5: handing it 4..5 as a plain snapshot would
  // silently lose 2 and 3.
  broadcaster hub(facts_range(1, 5), 2);
  auto const joined = must_join(hub, "1");
  auto const snap = parse_snapshot(*joined.snapshot);
  CHECK(snap.reset);
  CHECK(snap.id == 5);
  CHECK(snap.seqs == seq_range(4, 5));
  CHECK(joined.seq == 5);
}

TEST_CASE("resuming from before the replay window catches up from the store") {
  facts::memory_store store;
  for (std::uint64_t n = 1; n <= 10; ++n)
    store.append(std::vector<std::string>{fact_json(n)});
  broadcaster hub(store.read_latest(3), 3, &store);

  // Not read here (join never reads the store): the stream reads 3..10 in chunks afterwards.
  auto const joined = must_join(hub, "2");
  CHECK(joined.seq == 10);
  CHECK(joined.catch_up_after == 2);
  CHECK_FALSE(joined.reset);
  CHECK_FALSE(joined.snapshot);

  // New clients still get only the window.
  CHECK(parse_snapshot(*must_join(hub, std::nullopt).snapshot).seqs == seq_range(8, 10));
}

TEST_CASE("concurrent publish and join: every stream sees every seq once, in order",
          "[concurrency]") {
  // The guarantee of join(): the snapshot and the frames above its seq meet without a gap or a
  // duplicate, however a join falls between publishes.
  constexpr int publishers = 4;
  constexpr int facts_per_publisher = 500;
  constexpr std::uint64_t total = publishers * facts_per_publisher;
  constexpr int joiner_threads = 4;
  constexpr int joins_per_thread = 50;

  struct setup {
    std::size_t replay_limit;
    bool with_history;
  };
  auto const s = GENERATE(setup{0, false}, setup{64, true});
  CAPTURE(s.replay_limit, s.with_history);

  facts::memory_store store;
  broadcaster hub({}, s.replay_limit, s.with_history ? &store : nullptr);

  // One subscriber per joining thread, attached before anything is published, as the server
  // attaches one per I/O thread at startup; each thread's streams read from its own.
  std::vector<std::shared_ptr<fake_subscriber>> sinks;
  for (int t = 0; t < joiner_threads; ++t) {
    sinks.push_back(make_fake());
    hub.attach(sinks.back());
  }

  // The single writer: one seq at a time, stored, then published, as fact_writer does.
  std::mutex writer_mutex;
  std::uint64_t next_seq = 0;  // guarded by writer_mutex
  std::atomic<std::uint64_t> published{0};
  // Catch's assertions are not thread-safe: worker threads only count what went wrong.
  std::atomic<int> store_mismatches{0};
  std::atomic<int> refused{0};

  struct record {
    std::optional<std::string> last_event_id;
    std::optional<facts::joined_stream> joined;
  };
  std::vector<std::vector<record>> records(joiner_threads);

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
  for (int t = 0; t < joiner_threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(1234 + t));
      // Moments to join at, spread over the whole run.
      std::vector<std::uint64_t> moments;
      for (int i = 0; i < joins_per_thread; ++i)
        moments.push_back(std::uniform_int_distribution<std::uint64_t>(0, total)(rng));
      std::sort(moments.begin(), moments.end());
      for (auto const moment : moments) {
        // Bounded: the publishers run to `total` unconditionally, notifying each step.
        for (auto now = published.load(); now < moment; now = published.load())
          published.wait(now);
        record r;
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
        r.joined = hub.join(r.last_event_id);
        if (!r.joined) ++refused;
        records[t].push_back(std::move(r));
      }
    });
  }
  for (auto& th : threads)
    th.join();

  REQUIRE(store_mismatches == 0);
  REQUIRE(refused == 0);
  REQUIRE(hub.last_seq() == total);
  CHECK(hub.client_count() == joiner_threads * joins_per_thread);

  // Frames are shared between subscribers (that is the point), so each distinct one is parsed
  // once.
  std::unordered_map<std::string const*, parsed_snapshot> snapshots;
  std::unordered_map<std::string const*, std::vector<std::uint64_t>> events;
  auto const snapshot_of = [&](facts::frame const& f) -> parsed_snapshot const& {
    auto [it, fresh] = snapshots.try_emplace(f.get());
    if (fresh) it->second = parse_snapshot(*f);
    return it->second;
  };
  // What a stream of `sink` that joined at `seq` sends live: the frames above its seq.
  auto const live_ids = [&](fake_subscriber const& sink, std::uint64_t seq) {
    std::vector<std::uint64_t> ids;
    auto const frames = sink.frames();
    auto const metas = sink.metas();
    for (std::size_t i = 0; i < frames.size(); ++i) {
      if (metas[i].last_seq <= seq) continue;
      auto [it, fresh] = events.try_emplace(frames[i].get());
      if (fresh) it->second = event_ids(*frames[i]);
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
    return ids;
  };

  // Every subscriber got every frame, one per publish, with its meta.
  for (auto const& sink : sinks) {
    auto const metas = sink->metas();
    REQUIRE(metas.size() == total);
    bool metas_ok = true;
    for (std::size_t i = 0; i < metas.size(); ++i)
      metas_ok = metas_ok && metas[i].last_seq == i + 1 && metas[i].events == 1;
    CHECK(metas_ok);
  }

  for (int t = 0; t < joiner_threads; ++t) {
    REQUIRE(records[t].size() == joins_per_thread);
    for (auto const& r : records[t]) {
      CAPTURE(r.last_event_id.value_or("(none)"));
      REQUIRE(r.joined);
      // A stream that catches up has no snapshot from join(): the facts up to the seq join
      // returned come from the store (as the catch-up reader reads them), after its id.
      parsed_snapshot snap;
      std::vector<std::uint64_t> caught_up;
      if (auto const after = r.joined->catch_up_after) {
        REQUIRE_FALSE(r.joined->snapshot);
        snap.id = *after;
        snap.reset = r.joined->reset;
        for (auto const& f : store.read_after(*after, r.joined->seq - *after))
          caught_up.push_back(f.seq);
      } else {
        REQUIRE(r.joined->snapshot);
        snap = snapshot_of(r.joined->snapshot);
        // The seq join returns is the one the snapshot's id line names.
        CHECK(snap.id == r.joined->seq);
      }
      auto const live = live_ids(*sinks[static_cast<std::size_t>(t)], r.joined->seq);
      CAPTURE(snap.reset, snap.id, r.joined->seq, snap.seqs.size(), live.size());

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
      seen.insert(seen.end(), caught_up.begin(), caught_up.end());
      seen.insert(seen.end(), live.begin(), live.end());
      // Every seq from the start to the end, exactly once and in order.
      REQUIRE(seen == seq_range(first, total));
    }
  }
}

TEST_CASE("concurrent join and leave never let more streams in than limit_clients",
          "[concurrency]") {
  // The bound is checked under the hub lock: concurrent connects cannot overshoot it.
  constexpr std::size_t max = 8;
  constexpr int threads_count = 6;
  constexpr int tries_per_thread = 2000;
  broadcaster hub(facts_range(1, 3), 0);
  hub.limit_clients(max);

  // Raised only after a join succeeds and lowered before its leave, so it never exceeds what
  // the hub counts: if it ever passes `max`, the hub let too many in.
  std::atomic<std::size_t> inside{0};
  std::atomic<std::size_t> most_inside{0};
  std::atomic<int> admitted{0};
  std::atomic<int> bad_snapshots{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(99 + t));
      std::vector<int> held;  // streams this thread holds, to leave later
      for (int i = 0; i < tries_per_thread; ++i) {
        if (!held.empty() && std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
          held.pop_back();
          inside.fetch_sub(1);
          hub.leave();
          continue;
        }
        auto const joined = hub.join(std::nullopt);
        if (!joined) continue;
        if (joined->seq != 3 || !joined->snapshot) ++bad_snapshots;
        auto const now = inside.fetch_add(1) + 1;
        for (auto most = most_inside.load();
             now > most && !most_inside.compare_exchange_weak(most, now);) {
        }
        ++admitted;
        held.push_back(i);
      }
      for (; !held.empty(); held.pop_back()) {
        inside.fetch_sub(1);
        hub.leave();
      }
    });
  }
  for (auto& th : threads)
    th.join();

  CHECK(bad_snapshots == 0);
  CHECK(admitted > 0);
  CHECK(most_inside <= max);
  CHECK(hub.client_count() == 0);
  // Room for exactly `max` again.
  for (std::size_t i = 0; i < max; ++i)
    CHECK(hub.join(std::nullopt));
  CHECK_FALSE(hub.join(std::nullopt));
}
