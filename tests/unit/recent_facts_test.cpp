#include "facts/store/recent_facts.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

using facts::fact;
using facts::recent_facts;

// Fact `seq` whose JSON is exactly `bytes` long.
fact sized(std::uint64_t seq, std::size_t bytes) {
  std::string json = R"({"p":")";
  json += std::string(bytes - json.size() - 2, 'x');
  json += R"("})";
  return {seq, json};
}

// The oldest seq the window keeps, as a read sees it.
std::uint64_t first_seq_of(recent_facts const& window) {
  return window.read_after(0, 0).first_seq;
}

}  // namespace

TEST_CASE("the window keeps facts up to its byte bound and drops the oldest one byte past it") {
  recent_facts window(1000, 1000);
  for (std::uint64_t seq = 1; seq <= 10; ++seq)
    window.push(sized(seq, 100));
  // At the bound: all ten kept.
  CHECK(window.bytes() == 1000);
  CHECK(first_seq_of(window) == 1);
  // One byte past it: the oldest goes.
  window.push(sized(11, 10));
  CHECK(first_seq_of(window) == 2);
  CHECK(window.bytes() == 910);
  // A fact larger than the whole bound is kept alone: the newest always is.
  window.push(sized(12, 5000));
  CHECK(first_seq_of(window) == 12);
  CHECK(window.bytes() == 5000);
  auto const read = window.read_after(11, 10);
  CHECK(read.covered);
  REQUIRE(read.facts.size() == 1);
  CHECK(read.facts.front().seq == 12);
}

TEST_CASE("the window keeps at most its count of facts, however small") {
  recent_facts window(5, 1'000'000);
  for (std::uint64_t seq = 1; seq <= 8; ++seq)
    window.push(sized(seq, 10));
  CHECK(first_seq_of(window) == 4);
  CHECK(window.bytes() == 50);
}

TEST_CASE("a seeded window keeps the newest facts within both bounds") {
  std::vector<fact> latest;
  for (std::uint64_t seq = 1; seq <= 20; ++seq)
    latest.push_back(sized(seq, 100));
  recent_facts by_bytes(1000, 1000);
  by_bytes.seed(latest);
  CHECK(first_seq_of(by_bytes) == 11);
  CHECK(by_bytes.bytes() == 1000);
  recent_facts by_count(4, 1'000'000);
  by_count.seed(latest);
  CHECK(first_seq_of(by_count) == 17);
  // Following goes on from the seed's end.
  by_count.push(sized(21, 100));
  CHECK(by_count.read_after(20, 5).facts.front().seq == 21);
}

TEST_CASE("one read of the window says whether it covers the seq and answers from it") {
  recent_facts window(100, 1'000'000);
  auto const empty = window.read_after(0, 10);
  CHECK_FALSE(empty.covered);
  CHECK(empty.first_seq == 0);
  for (std::uint64_t seq = 5; seq <= 9; ++seq)
    window.push(sized(seq, 10));
  auto const older = window.read_after(2, 10);  // fact 3 is older than the window: the log's
  CHECK_FALSE(older.covered);
  CHECK(older.first_seq == 5);
  CHECK(older.facts.empty());
  auto const inside = window.read_after(4, 3);
  CHECK(inside.covered);
  REQUIRE(inside.facts.size() == 3);
  CHECK(inside.facts.front().seq == 5);
  CHECK(inside.facts.back().seq == 7);
  auto const newest = window.read_after(9, 3);  // nothing newer followed yet
  CHECK(newest.covered);
  CHECK(newest.facts.empty());
}
