#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "facts/frame_log.hpp"

using facts::frame_log;

namespace {

facts::frame bytes_of(std::size_t size, char fill = 'x') {
  return std::make_shared<std::string const>(size, fill);
}

facts::frame_meta meta_of(std::uint32_t events, std::uint64_t last_seq) {
  return {events, std::chrono::steady_clock::now(), last_seq};
}

// The log the tests below share: three frames on one axis.
//   [0, 10)  seq 1..2  (2 events)
//   [10, 15) seq 3     (1 event)
//   [15, 35) seq 4..7  (4 events)
frame_log three_frames() {
  frame_log log;
  log.append(bytes_of(10, 'a'), meta_of(2, 2));
  log.append(bytes_of(5, 'b'), meta_of(1, 3));
  log.append(bytes_of(20, 'c'), meta_of(4, 7));
  return log;
}

}  // namespace

TEST_CASE("an empty frame_log is at position 0 with nothing in it") {
  frame_log const log;
  CHECK(log.end_offset() == 0);
  CHECK(log.entries().empty());
  CHECK(log.position_after(0) == 0);
  CHECK(log.position_after(42) == 0);
  CHECK(log.index_at(0) == 0);
  CHECK(log.index_at(7) == 0);
}

TEST_CASE("append lays frames end to end and end_offset sums their sizes") {
  frame_log log;
  auto const first = bytes_of(10);
  log.append(first, meta_of(2, 2));
  CHECK(log.end_offset() == 10);
  log.append(bytes_of(5), meta_of(1, 3));
  CHECK(log.end_offset() == 15);
  log.append(bytes_of(20), meta_of(4, 7));
  CHECK(log.end_offset() == 35);

  auto const& e = log.entries();
  REQUIRE(e.size() == 3);
  CHECK(e[0].offset == 0);
  CHECK(e[0].end() == 10);
  CHECK(e[1].offset == 10);
  CHECK(e[1].end() == 15);
  CHECK(e[2].offset == 15);
  CHECK(e[2].end() == 35);
  // The frame is kept, not copied, and its meta with it.
  CHECK(e[0].bytes.get() == first.get());
  CHECK(e[0].meta.events == 2);
  CHECK(e[0].meta.last_seq == 2);
  CHECK(e[2].meta.events == 4);
  CHECK(e[2].meta.last_seq == 7);
}

TEST_CASE("position_after finds the first frame whose last_seq is above the seq") {
  auto const log = three_frames();
  SECTION("before every frame") {
    CHECK(log.position_after(0) == 0);
  }
  SECTION("between frames") {
    CHECK(log.position_after(2) == 10);
    CHECK(log.position_after(3) == 15);
  }
  SECTION("at or past the newest seq: the end") {
    CHECK(log.position_after(7) == 35);
    CHECK(log.position_after(8) == 35);
    CHECK(log.position_after(1'000'000) == 35);
  }
  SECTION("a seq inside a multi-fact frame's range gives that frame") {
    // Frames never split: a stream whose snapshot ended mid-frame cannot exist (a batch is
    // published whole), and last_seq >= the seq keeps the frame rather than skip facts.
    CHECK(log.position_after(1) == 0);
    CHECK(log.position_after(4) == 15);
    CHECK(log.position_after(5) == 15);
    CHECK(log.position_after(6) == 15);
  }
}

TEST_CASE("index_at finds the frame holding a byte position") {
  auto const log = three_frames();
  SECTION("a frame's first byte") {
    CHECK(log.index_at(0) == 0);
    CHECK(log.index_at(10) == 1);
    CHECK(log.index_at(15) == 2);
  }
  SECTION("inside a frame") {
    CHECK(log.index_at(1) == 0);
    CHECK(log.index_at(9) == 0);
    CHECK(log.index_at(12) == 1);
    CHECK(log.index_at(14) == 1);
    CHECK(log.index_at(16) == 2);
    CHECK(log.index_at(34) == 2);
  }
  SECTION("at or past the end: size()") {
    CHECK(log.index_at(35) == 3);
    CHECK(log.index_at(36) == 3);
    CHECK(log.index_at(log.end_offset()) == log.entries().size());
  }
  SECTION("position_after lands on a frame start that index_at maps back") {
    for (std::uint64_t seq = 0; seq < 7; ++seq) {
      CAPTURE(seq);
      auto const pos = log.position_after(seq);
      auto const i = log.index_at(pos);
      REQUIRE(i < log.entries().size());
      CHECK(log.entries()[i].offset == pos);
      CHECK(log.entries()[i].meta.last_seq > seq);
      if (i > 0) CHECK(log.entries()[i - 1].meta.last_seq <= seq);
    }
  }
}

TEST_CASE("trim_before drops only whole frames that end at or before the position") {
  auto log = three_frames();
  SECTION("a position inside the first frame drops nothing") {
    log.trim_before(0);
    CHECK(log.entries().size() == 3);
    log.trim_before(9);
    CHECK(log.entries().size() == 3);
    CHECK(log.entries().front().offset == 0);
  }
  SECTION("a frame's end drops it") {
    log.trim_before(10);
    REQUIRE(log.entries().size() == 2);
    CHECK(log.entries().front().offset == 10);
    CHECK(log.entries().front().meta.last_seq == 3);
  }
  SECTION("a position inside a later frame keeps that frame") {
    log.trim_before(20);
    REQUIRE(log.entries().size() == 1);
    CHECK(log.entries().front().offset == 15);
    CHECK(log.entries().front().meta.last_seq == 7);
  }
  SECTION("the end drops everything; the axis stays where it was") {
    log.trim_before(35);
    CHECK(log.entries().empty());
    CHECK(log.end_offset() == 35);
    CHECK(log.position_after(0) == 35);
    CHECK(log.position_after(7) == 35);
    CHECK(log.index_at(35) == 0);
    // New frames continue the axis rather than restart it.
    log.append(bytes_of(4), meta_of(1, 8));
    REQUIRE(log.entries().size() == 1);
    CHECK(log.entries().front().offset == 35);
    CHECK(log.end_offset() == 39);
    CHECK(log.position_after(7) == 35);
    CHECK(log.index_at(37) == 0);
  }
  SECTION("trimming twice, or behind what is already trimmed, changes nothing more") {
    log.trim_before(15);
    log.trim_before(15);
    log.trim_before(3);
    REQUIRE(log.entries().size() == 1);
    CHECK(log.entries().front().offset == 15);
  }
}

TEST_CASE("after trimming, positions stay absolute and lookups stay right") {
  auto log = three_frames();
  log.append(bytes_of(7, 'd'), meta_of(1, 8));  // [35, 42)
  log.trim_before(15);                          // drops [0, 10) and [10, 15)

  auto const& e = log.entries();
  REQUIRE(e.size() == 2);
  CHECK(e[0].offset == 15);
  CHECK(e[0].end() == 35);
  CHECK(e[1].offset == 35);
  CHECK(e[1].end() == 42);
  CHECK(log.end_offset() == 42);

  // Seqs of frames still held, or newer.
  CHECK(log.position_after(3) == 15);
  CHECK(log.position_after(5) == 15);
  CHECK(log.position_after(7) == 35);
  CHECK(log.position_after(8) == 42);
  CHECK(log.position_after(9) == 42);

  // Indexes count from the first frame still held.
  CHECK(log.index_at(15) == 0);
  CHECK(log.index_at(34) == 0);
  CHECK(log.index_at(35) == 1);
  CHECK(log.index_at(41) == 1);
  CHECK(log.index_at(42) == 2);

  log.append(bytes_of(3, 'e'), meta_of(2, 10));  // [42, 45)
  CHECK(log.end_offset() == 45);
  CHECK(log.entries().back().offset == 42);
  CHECK(log.position_after(8) == 42);
  CHECK(log.position_after(9) == 42);
  CHECK(log.index_at(43) == 2);
}

TEST_CASE("a stream's backlog is the distance from its position to the end") {
  // What the log is for: each stream keeps one number, and a new frame is one append for all.
  frame_log log;
  log.append(bytes_of(10), meta_of(1, 1));
  auto const joined_at_1 = log.position_after(1);  // a stream whose snapshot ends at 1
  auto const joined_at_0 = log.position_after(0);  // one whose snapshot ends at 0
  log.append(bytes_of(6), meta_of(2, 3));
  CHECK(log.end_offset() - joined_at_1 == 6);
  CHECK(log.end_offset() - joined_at_0 == 16);

  // The slower stream sends the first frame; only then may the log let it go.
  auto const slow = joined_at_0 + log.entries()[log.index_at(joined_at_0)].bytes->size();
  log.trim_before(std::min(slow, joined_at_1));
  REQUIRE(log.entries().size() == 1);
  CHECK(log.entries().front().meta.last_seq == 3);
  CHECK(log.index_at(slow) == 0);
  CHECK(log.index_at(joined_at_1) == 0);
}

namespace {

// Batches as the broadcaster hands them over: seq ranges 1..2, 3, 4..6, 7, each with its bytes.
std::vector<std::pair<facts::frame, facts::frame_meta>> four_batches(
    std::chrono::steady_clock::time_point oldest) {
  std::vector<std::pair<facts::frame, facts::frame_meta>> batches;
  batches.emplace_back(std::make_shared<std::string const>("a1a2"),
                       facts::frame_meta{2, oldest, 2});
  batches.emplace_back(std::make_shared<std::string const>("b3"),
                       facts::frame_meta{1, oldest + std::chrono::milliseconds(1), 3});
  batches.emplace_back(std::make_shared<std::string const>("c4c5c6"),
                       facts::frame_meta{3, oldest + std::chrono::milliseconds(2), 6});
  batches.emplace_back(std::make_shared<std::string const>("d7"),
                       facts::frame_meta{1, oldest + std::chrono::milliseconds(3), 7});
  return batches;
}

}  // namespace

TEST_CASE("append_merged makes the batches of one pass one frame") {
  auto const oldest = std::chrono::steady_clock::now();
  auto batches = four_batches(oldest);
  frame_log log;
  log.append(bytes_of(3, 'z'), meta_of(1, 0));  // an earlier pass's frame stays as it is
  log.append_merged(batches);
  REQUIRE(log.entries().size() == 2);
  auto const& merged = log.entries().back();
  CHECK(*merged.bytes == "a1a2b3c4c5c6d7");
  CHECK(merged.offset == 3);
  CHECK(merged.meta.events == 7);
  CHECK(merged.meta.last_seq == 7);
  CHECK(merged.meta.published == oldest);
  CHECK(log.end_offset() == 3 + 14);
}

TEST_CASE("append_merged splits where a stream that just joined starts") {
  auto const oldest = std::chrono::steady_clock::now();
  frame_log log;
  SECTION("a split inside the batches: two frames, the join between them") {
    auto batches = four_batches(oldest);
    log.append_merged(batches, 3);
    REQUIRE(log.entries().size() == 2);
    CHECK(*log.entries()[0].bytes == "a1a2b3");
    CHECK(log.entries()[0].meta.last_seq == 3);
    CHECK(log.entries()[0].meta.events == 3);
    CHECK(*log.entries()[1].bytes == "c4c5c6d7");
    CHECK(log.entries()[1].meta.events == 4);
    CHECK(log.entries()[1].meta.published == oldest + std::chrono::milliseconds(2));
    // The stream that joined at seq 3 starts exactly at the facts after it, none twice.
    auto const start = log.position_after(3);
    CHECK(start == 6);
    CHECK(*log.entries()[log.index_at(start)].bytes == "c4c5c6d7");
  }
  SECTION("a split before every batch or after all of them: one frame") {
    auto const split = GENERATE(std::uint64_t{0}, std::uint64_t{7}, std::uint64_t{100});
    auto batches = four_batches(oldest);
    log.append_merged(batches, split);
    REQUIRE(log.entries().size() == 1);
    CHECK(*log.entries()[0].bytes == "a1a2b3c4c5c6d7");
    CHECK(log.position_after(split) == (split < 7 ? 0 : log.end_offset()));
  }
  SECTION("a single batch is appended as it is, not copied") {
    auto batches = four_batches(oldest);
    auto const original = batches[1].first;
    log.append_merged(std::span(batches).subspan(1, 1));
    REQUIRE(log.entries().size() == 1);
    CHECK(log.entries()[0].bytes == original);
  }
  SECTION("nothing arrived: nothing is appended") {
    std::vector<std::pair<facts::frame, facts::frame_meta>> none;
    log.append_merged(none, 3);
    CHECK(log.entries().empty());
    CHECK(log.end_offset() == 0);
  }
}
