#include <catch2/catch.hpp>
#include <string>

#include "facts/store/nats_stream_shape.hpp"

namespace {

facts::nats_url url_for(int replicas) {
  auto parsed =
      facts::parse_nats_url("nats://127.0.0.1:4222/facts?replicas=" + std::to_string(replicas));
  REQUIRE(parsed.url);
  return *parsed.url;
}

}  // namespace

TEST_CASE("the stream factsd creates has the shape it accepts") {
  auto const url = url_for(3);
  auto const subject = url.subject();
  char const* subjects[] = {subject.c_str()};
  jsStreamConfig cfg;
  facts::fill_stream_config(cfg, url, subjects);
  CHECK(std::string(cfg.Name) == "facts");
  CHECK(cfg.Replicas == 3);
  CHECK(cfg.Storage == js_FileStorage);
  CHECK(cfg.DenyDelete);
  CHECK(cfg.DenyPurge);
  CHECK(cfg.AllowDirect);
  CHECK(cfg.Duplicates == 86400LL * 1'000'000'000);
  CHECK(facts::stream_shape_difference(cfg, url).empty());
}

TEST_CASE("a stream of another shape is refused, naming each difference") {
  auto const url = url_for(1);
  auto const subject = url.subject();
  std::string const other = "other.subject";
  char const* subjects[] = {subject.c_str()};
  char const* other_subjects[] = {other.c_str()};
  jsStreamConfig cfg;
  facts::fill_stream_config(cfg, url, subjects);

  SECTION("another subject") {
    cfg.Subjects = other_subjects;
    CHECK(facts::stream_shape_difference(cfg, url) == "subjects are not exactly facts.facts");
  }
  SECTION("two subjects") {
    char const* two[] = {subject.c_str(), other.c_str()};
    cfg.Subjects = two;
    cfg.SubjectsLen = 2;
    CHECK(facts::stream_shape_difference(cfg, url) == "subjects are not exactly facts.facts");
  }
  SECTION("memory storage and another replica count") {
    cfg.Storage = js_MemoryStorage;
    cfg.Replicas = 3;
    CHECK(facts::stream_shape_difference(cfg, url) == "storage is not file, replicas are 3, not 1");
  }
  SECTION("deletes and purges allowed") {
    cfg.DenyDelete = false;
    cfg.DenyPurge = false;
    CHECK(facts::stream_shape_difference(cfg, url) == "deletes are allowed, purges are allowed");
  }
  SECTION("the default two-minute duplicate window") {
    cfg.Duplicates = 120LL * 1'000'000'000;
    CHECK(facts::stream_shape_difference(cfg, url) == "the duplicate window is 120 s, not 86400 s");
  }
  SECTION("a limit that would make seqs skip") {
    cfg.MaxMsgs = 1000;
    CHECK(facts::stream_shape_difference(cfg, url) ==
          "it has limits (max msgs, bytes, age or per subject)");
  }
  SECTION("no direct get") {
    cfg.AllowDirect = false;
    CHECK(facts::stream_shape_difference(cfg, url) == "direct get is off");
  }
}
