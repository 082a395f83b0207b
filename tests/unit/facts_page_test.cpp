#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/http/routes.hpp"
#include "facts/store/memory_store.hpp"

// GET /facts pages are bounded in bytes as well as in count: what a slow reader holds is at
// most about max_page_bytes, whatever the size of the facts.

namespace bhttp = boost::beast::http;

namespace {

/** Represents the parts a route needs, around a memory store. */
struct page_fixture {
  facts::http::cors_policy cors{{"*"}};
  facts::http::static_files files{""};
  facts::broadcaster hub{{}, 0};
  facts::memory_store store;
  facts::http::access_gate access;
  facts::limits lim;
  facts::metrics stats;
  facts::http::route_context ctx{cors,   files, hub,  store, std::chrono::steady_clock::now(),
                                 access, lim,   stats};

  nlohmann::json page(std::string const& query) const {
    facts::http::request req{bhttp::verb::get, "/facts?" + query, 11};
    auto const d = facts::http::route_request(req, ctx);
    REQUIRE(d.what == facts::http::route_decision::action::read);
    auto const res = d.read();
    REQUIRE(res.result() == bhttp::status::ok);
    return nlohmann::json::parse(res.body());
  }
};

// A fact whose compact JSON is exactly `bytes` long: {"p":"xxx..."}.
std::string fact_of_size(std::size_t bytes) {
  return R"({"p":")" + std::string(bytes - 8, 'x') + R"("})";
}

void store_facts(facts::memory_store& store, std::size_t count, std::size_t bytes) {
  std::vector<std::string> jsons(count, fact_of_size(bytes));
  store.append(jsons);
}

}  // namespace

TEST_CASE("a GET /facts page holds facts up to max_page_bytes, not beyond") {
  page_fixture f;
  constexpr auto bound = facts::http::max_page_bytes;
  REQUIRE(fact_of_size(100).size() == 100);

  SECTION("facts that fill the bound exactly all fit") {
    store_facts(f.store, 20, bound / 16);  // 16 of them are exactly max_page_bytes
    auto const page = f.page("after=0&limit=1000");
    CHECK(page["facts"].size() == 16);
    CHECK(page["next"] == 16);
  }
  SECTION("one byte more per fact and the 16th no longer fits") {
    store_facts(f.store, 20, bound / 16 + 1);
    auto const page = f.page("after=0&limit=1000");
    CHECK(page["facts"].size() == 15);
    CHECK(page["next"] == 15);
    // `next` says where the next page starts: the walk goes on from there, missing nothing.
    auto const rest = f.page("after=15&limit=1000");
    CHECK(rest["facts"].size() == 5);
    CHECK(rest["facts"][0]["id"] == 16);
    CHECK(rest["next"] == 20);
  }
  SECTION("a fact larger than the bound still comes, alone") {
    store_facts(f.store, 3, bound + 1);
    auto const page = f.page("after=0&limit=1000");
    CHECK(page["facts"].size() == 1);
    CHECK(page["next"] == 1);
    CHECK(f.page("after=1")["facts"][0]["id"] == 2);
  }
  SECTION("small facts are still bounded by limit") {
    store_facts(f.store, 50, 100);
    CHECK(f.page("after=0&limit=30")["facts"].size() == 30);
    CHECK(f.page("after=40&limit=30")["facts"].size() == 10);
  }
}
