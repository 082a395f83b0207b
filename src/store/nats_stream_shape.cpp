#include "facts/store/nats_stream_shape.hpp"

#include <fmt/format.h>

#include <chrono>
#include <vector>

namespace facts {

void fill_stream_config(jsStreamConfig& cfg, nats_url const& url, char const** subject) {
  jsStreamConfig_Init(&cfg);
  cfg.Name = url.stream.c_str();
  cfg.Subjects = subject;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = url.replicas;
  cfg.Retention = js_LimitsPolicy;
  cfg.DenyDelete = true;
  cfg.DenyPurge = true;
  cfg.Duplicates = std::chrono::nanoseconds(nats_duplicate_window).count();
  cfg.AllowDirect = true;
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
  if (auto const window = std::chrono::nanoseconds(have.Duplicates);
      window != nats_duplicate_window)
    differences.push_back(
        fmt::format("the duplicate window is {} s, not {} s",
                    std::chrono::duration_cast<std::chrono::seconds>(window).count(),
                    nats_duplicate_window.count()));
  if (have.MaxMsgs > 0 || have.MaxBytes > 0 || have.MaxAge > 0 || have.MaxMsgsPerSubject > 0)
    differences.push_back("it has limits (max msgs, bytes, age or per subject)");
  if (!have.AllowDirect) differences.push_back("direct get is off");
  std::string out;
  for (auto const& d : differences)
    out += (out.empty() ? "" : ", ") + d;
  return out;
}

}  // namespace facts
