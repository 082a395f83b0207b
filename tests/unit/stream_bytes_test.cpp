#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "facts/frame_log.hpp"
#include "facts/http/stream_bytes.hpp"

// What one stream owes, in order: its own frames, the log from its position, a last frame.

using facts::http::stream_bytes;

namespace {

facts::frame text(std::string s) {
  return std::make_shared<std::string const>(std::move(s));
}

// The bytes owed, in the order a gather write would send them.
std::string owed(stream_bytes const& out, facts::frame_log const& log) {
  std::string all;
  out.for_each(log, true, [&](stream_bytes::part, char const* data, std::size_t size) {
    all.append(data, size);
    return true;
  });
  return all;
}

}  // namespace

TEST_CASE("a stream lets go of a shared frame it is writing, keeping what it chose") {
  facts::frame_log log;
  stream_bytes out;
  auto const chunk = text("id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n");
  out.push_own(chunk, chunk->size());
  out.take(20, log, true);  // all of event 1, four bytes of event 2
  REQUIRE(out.front_own() == chunk.get());
  CHECK(out.front_own_sent() == 20);

  SECTION("replaced by a copy of the rest of the event in progress") {
    out.replace_front_own(text(chunk->substr(20)));
    CHECK(out.front_own() != chunk.get());
    CHECK(out.front_own_sent() == 0);
    CHECK(owed(out, log) == "2\ndata: {}\n\n");
  }
  SECTION("dropped") {
    out.push_own(text(": after\n\n"), 9);
    out.replace_front_own(nullptr);
    CHECK(owed(out, log) == ": after\n\n");
    CHECK(out.front_own_sent() == 0);
  }
  // Either way the stream no longer holds the shared frame.
  CHECK(chunk.use_count() == 1);
}

TEST_CASE("once the last frame has begun, frames the log gains later are not the stream's") {
  // A stream whose token expired while facts keep coming: its `auth` event is never cut.
  facts::frame_log log;
  stream_bytes out;
  log.append(text("id: 1\ndata: {}\n\n"), {1, {}, 1});
  out.set_last(text("event: auth\ndata: {}\n\n"));
  CHECK(owed(out, log) == "id: 1\ndata: {}\n\nevent: auth\ndata: {}\n\n");
  out.take(16 + 5, log, true);  // the log's frame and five bytes of the last one
  CHECK(out.last_started());
  log.append(text("id: 2\ndata: {}\n\n"), {1, {}, 2});
  CHECK(owed(out, log) == ": auth\ndata: {}\n\n");
  out.take(17, log, true);
  CHECK_FALSE(out.last_owed());
  CHECK(owed(out, log).empty());
}
