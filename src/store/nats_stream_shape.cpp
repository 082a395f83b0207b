#include "facts/store/nats_stream_shape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace facts {

std::string nats_stream_limits::describe() const {
  auto const none_or = [](std::int64_t n, std::string text) {
    return n <= 0 ? std::string("none") : std::move(text);
  };
  auto const seconds = [](std::chrono::nanoseconds ns) {
    return std::chrono::duration_cast<std::chrono::seconds>(ns);
  };
  return fmt::format(
      "max_msgs {}, max_bytes {}, max_age {}, duplicate window {}{}",
      none_or(max_msgs, std::to_string(max_msgs)),
      none_or(max_bytes, format_retention_bytes(static_cast<std::uint64_t>(max_bytes))),
      none_or(max_age.count(), format_retention_age(seconds(max_age))),
      format_retention_age(seconds(duplicates)), discard_old ? "" : ", discard new");
}

nats_stream_limits nats_limits_for(retention_bounds const& bounds) {
  nats_stream_limits out;
  if (bounds.facts != 0) out.max_msgs = static_cast<std::int64_t>(bounds.facts);
  if (bounds.bytes != 0) out.max_bytes = static_cast<std::int64_t>(bounds.bytes);
  if (bounds.age.count() != 0) {
    out.max_age = bounds.age;
    out.duplicates = std::min<std::chrono::nanoseconds>(out.duplicates, bounds.age);
  }
  return out;
}

nats_stream_limits nats_limits_of(jsStreamConfig const& cfg) {
  nats_stream_limits out;
  out.max_msgs = cfg.MaxMsgs > 0 ? cfg.MaxMsgs : -1;
  out.max_bytes = cfg.MaxBytes > 0 ? cfg.MaxBytes : -1;
  out.max_age = std::chrono::nanoseconds(std::max<std::int64_t>(0, cfg.MaxAge));
  out.duplicates = std::chrono::nanoseconds(cfg.Duplicates);
  out.discard_old = cfg.Discard == js_DiscardOld;
  return out;
}

void set_stream_limits(jsStreamConfig& cfg, nats_stream_limits const& limits) {
  cfg.MaxMsgs = limits.max_msgs;
  cfg.MaxBytes = limits.max_bytes;
  cfg.MaxAge = limits.max_age.count();
  cfg.Duplicates = limits.duplicates.count();
  cfg.Discard = js_DiscardOld;
}

void fill_stream_config(jsStreamConfig& cfg, nats_url const& url, char const** subject,
                        retention_bounds const& bounds) {
  jsStreamConfig_Init(&cfg);
  cfg.Name = url.stream.c_str();
  cfg.Subjects = subject;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = url.replicas;
  cfg.Retention = js_LimitsPolicy;
  cfg.DenyDelete = true;
  cfg.DenyPurge = true;
  cfg.AllowDirect = true;
  set_stream_limits(cfg, nats_limits_for(bounds));
}

std::string stream_shape_difference(jsStreamConfig const& have, nats_url const& want) {
  std::vector<std::string> differences;
  auto const subject = want.subject();
  if (have.SubjectsLen != 1 || have.Subjects == nullptr || have.Subjects[0] == nullptr ||
      subject != have.Subjects[0])
    differences.push_back("subjects are not exactly " + subject);
  if (have.Storage != js_FileStorage) differences.push_back("storage is not file");
  if (have.Replicas != want.replicas)
    differences.push_back(fmt::format("replicas are {}, not {}", have.Replicas, want.replicas));
  if (have.Retention != js_LimitsPolicy) differences.push_back("retention is not limits");
  if (!have.DenyDelete) differences.push_back("deletes are allowed");
  if (!have.DenyPurge) differences.push_back("purges are allowed");
  if (have.MaxMsgsPerSubject > 0) differences.push_back("it has a limit per subject");
  if (!have.AllowDirect) differences.push_back("direct get is off");
  std::string out;
  for (auto const& d : differences)
    out += (out.empty() ? "" : ", ") + d;
  return out;
}

}  // namespace facts
