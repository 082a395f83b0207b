#include <catch2/catch.hpp>

#include "facts/sse.hpp"

TEST_CASE("make_event frames one fact with its id") {
  CHECK(facts::make_event({7, R"({"info":"a"})"}) == "id: 7\ndata: {\"info\":\"a\"}\n\n");
}
