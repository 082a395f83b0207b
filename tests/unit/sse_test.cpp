#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "facts/sse.hpp"

namespace {

bool ends_with_blank_line(std::string const& s) {
  return s.size() >= 2 && s.compare(s.size() - 2, 2, "\n\n") == 0;
}

}  // namespace

TEST_CASE("make_event frames one fact with its id") {
  CHECK(facts::make_event({7, R"({"info":"a"})"}) == "id: 7\ndata: {\"info\":\"a\"}\n\n");
}

TEST_CASE("make_event writes large seqs in full") {
  CHECK(facts::make_event({18446744073709551615u, "{}"}) ==
        "id: 18446744073709551615\ndata: {}\n\n");
}

TEST_CASE("make_snapshot of no facts is an empty array") {
  CHECK(facts::make_snapshot({}, 0, false) == "id: 0\ndata: []\n\n");
}

TEST_CASE("make_snapshot of one fact is a one-element array") {
  std::vector<facts::fact> const one{{3, R"({"a":1})"}};
  CHECK(facts::make_snapshot(one, 3, false) == "id: 3\ndata: [{\"a\":1}]\n\n");
}

TEST_CASE("make_snapshot joins facts with commas, in order, under the given last id") {
  std::vector<facts::fact> const many{{4, R"({"a":1})"}, {5, R"({"b":2})"}, {6, R"({"c":3})"}};
  // The id line is the caller's last_seq, not derived from the facts.
  CHECK(facts::make_snapshot(many, 9, false) == "id: 9\ndata: [{\"a\":1},{\"b\":2},{\"c\":3}]\n\n");
}

TEST_CASE("make_snapshot with reset starts with the reset event type") {
  std::vector<facts::fact> const one{{1, R"({"a":1})"}};
  CHECK(facts::make_snapshot(one, 1, true) == "event: reset\nid: 1\ndata: [{\"a\":1}]\n\n");
  CHECK(facts::make_snapshot({}, 0, true) == "event: reset\nid: 0\ndata: []\n\n");
  CHECK(std::string(facts::reset_event_type) == "reset");
}

TEST_CASE("make_retry gives the delay in milliseconds") {
  // A field line only: it is written in front of the snapshot, whose blank line ends the event.
  CHECK(facts::make_retry(std::chrono::milliseconds(2000)) == "retry: 2000\n");
  CHECK(facts::make_retry(std::chrono::milliseconds(0)) == "retry: 0\n");
}

TEST_CASE("make_heartbeat is a comment that ends with a blank line") {
  auto const hb = facts::make_heartbeat();
  REQUIRE_FALSE(hb.empty());
  CHECK(hb.front() == ':');
  CHECK(ends_with_blank_line(hb));
  // Only the final blank line: a comment is one line.
  CHECK(hb.find('\n') == hb.size() - 2);
}

TEST_CASE("every frame ends with a blank line and carries no CR") {
  std::vector<facts::fact> const two{{1, R"({"a":"x\ny"})"}, {2, R"({"b":2})"}};
  auto const frame = GENERATE_COPY(
      facts::make_event(two[0]), facts::make_snapshot(two, 2, false),
      facts::make_snapshot(two, 2, true), facts::make_snapshot({}, 0, false),
      facts::make_heartbeat(),
      facts::make_retry(std::chrono::milliseconds(5)) + facts::make_snapshot({}, 0, false));
  CAPTURE(frame);
  CHECK(ends_with_blank_line(frame));
  CHECK(frame.find('\r') == std::string::npos);
  // Exactly one blank line: a frame is one event, never two.
  CHECK(frame.find("\n\n") == frame.size() - 2);
}
