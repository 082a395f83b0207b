#include "support/fact_fleet.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "support/http_client.hpp"

namespace facts::test {

namespace {

void scan(fact_fleet::stream& s, std::string_view bytes) {
  s.parser.feed(bytes);
  s.heartbeats = s.parser.comments();
  while (s.parser.has_event()) {
    s.events.push_back(s.parser.pop());
    ++s.received;
    if (auto const id = event_id(s.events.back()); id > s.last_id) s.last_id = id;
  }
}

}  // namespace

std::uint64_t event_id(sse_event const& e) {
  if (!e.id || !all_digits(*e.id)) return 0;
  return std::stoull(*e.id);
}

std::string info_of(std::string const& data) {
  constexpr std::string_view field = "\"info\":\"";
  auto const at = data.find(field);
  if (data.empty() || data.front() != '{' || at == std::string::npos) return data;
  auto const from = at + field.size();
  auto const to = data.find('"', from);
  return to == std::string::npos ? data : data.substr(from, to - from);
}

fact_fleet::fact_fleet(std::uint16_t port, std::size_t count, std::uint64_t last_event_id)
    : stream_fleet(port, count,
                   events_request(last_event_id == 0
                                      ? std::string{}
                                      : "Last-Event-ID: " + std::to_string(last_event_id) + "\r\n"),
                   16 * 1024, &scan) {}

std::uint64_t fact_fleet::min_last_id() const {
  auto least = std::numeric_limits<std::uint64_t>::max();
  for (auto const& s : streams())
    least = std::min(least, s->last_id.load());
  return streams().empty() ? 0 : least;
}

bool fact_fleet::all_have_snapshot() const {
  return opened() == streams().size() &&
         std::all_of(streams().begin(), streams().end(),
                     [](auto const& s) { return s->received.load() > 0; });
}

std::size_t fact_fleet::failed() const {
  return static_cast<std::size_t>(std::count_if(streams().begin(), streams().end(), [](auto& s) {
    return s->refused.load() || s->ended.load();
  }));
}

std::vector<received_fact> fact_fleet::facts_of(stream const& s, std::string* first_type) {
  std::vector<received_fact> out;
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    auto const& e = s.events[i];
    auto const id = event_id(e);
    if (i == 0) {
      auto const data = nlohmann::json::parse(e.data, nullptr, false);
      if (first_type) *first_type = e.type;
      if (!data.is_array()) return out;  // no snapshot: the caller's checks will tell
      auto next = id + 1 - data.size();
      for (auto const& fact : data)
        out.push_back({next++, fact.is_object() ? fact.value("info", std::string{}) : ""});
      continue;
    }
    out.push_back({id, info_of(e.data)});
  }
  return out;
}

}  // namespace facts::test
