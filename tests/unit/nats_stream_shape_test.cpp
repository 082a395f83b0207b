#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
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
  SECTION("a limit per subject") {
    cfg.MaxMsgsPerSubject = 10;
    CHECK(facts::stream_shape_difference(cfg, url) == "it has a limit per subject");
  }
  SECTION("no direct get") {
    cfg.AllowDirect = false;
    CHECK(facts::stream_shape_difference(cfg, url) == "direct get is off");
  }
}

TEST_CASE("a stream's limits are the --retain-* flags, not its shape") {
  auto const url = url_for(1);
  auto const subject = url.subject();
  char const* subjects[] = {subject.c_str()};
  jsStreamConfig cfg;
  facts::fill_stream_config(cfg, url, subjects);
  CHECK(cfg.MaxMsgs == -1);
  CHECK(cfg.MaxBytes == -1);
  CHECK(cfg.MaxAge == 0);
  CHECK(facts::nats_limits_of(cfg) == facts::nats_limits_for({}));

  facts::retention_bounds const bounds{
      .facts = 1000, .age = std::chrono::hours(12), .bytes = std::uint64_t{2} << 30};
  jsStreamConfig bounded;
  facts::fill_stream_config(bounded, url, subjects, bounds);
  CHECK(bounded.MaxMsgs == 1000);
  CHECK(bounded.MaxBytes == (std::int64_t{2} << 30));
  CHECK(bounded.MaxAge == 12LL * 3600 * 1'000'000'000);
  CHECK(bounded.Discard == js_DiscardOld);
  // JetStream wants the duplicate window no longer than the age bound.
  CHECK(bounded.Duplicates == 12LL * 3600 * 1'000'000'000);
  CHECK(facts::stream_shape_difference(bounded, url).empty());
  CHECK(facts::nats_limits_of(bounded) == facts::nats_limits_for(bounds));
  CHECK(facts::nats_limits_of(bounded) != facts::nats_limits_of(cfg));
  CHECK(facts::nats_limits_for(bounds).describe() ==
        "max_msgs 1000, max_bytes 2GiB, max_age 12h, duplicate window 12h");
  CHECK(facts::nats_limits_of(cfg).describe() ==
        "max_msgs none, max_bytes none, max_age none, duplicate window 1d");
  // A longer age keeps the 24-hour window.
  CHECK(facts::nats_limits_for({.age = std::chrono::hours(24 * 90)}).duplicates ==
        std::chrono::hours(24));
}
