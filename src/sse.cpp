#include "facts/sse.hpp"

#include <charconv>
#include <random>

namespace facts {

// The JSON we frame is always compact nlohmann output: it holds no raw CR or LF, so one
// `data:` line carries it whole and no field can be injected.

std::string make_event(fact const& f) {
  std::string out;
  out.reserve(f.json.size() + 32);
  append_event(out, f);
  return out;
}

void append_event(std::string& out, fact const& f) {
  char seq[24];
  out += "id: ";
  out.append(seq, std::to_chars(seq, seq + sizeof seq, f.seq).ptr);
  out += "\ndata: ";
  out += f.json;
  out += "\n\n";
}

std::string make_snapshot(std::span<fact const> facts, std::uint64_t last_seq, bool reset) {
  std::size_t size = 48;
  for (auto const& f : facts)
    size += f.json.size() + 1;
  std::string out;
  out.reserve(size);
  if (reset) {
    out += "event: ";
    out += reset_event_type;
    out += '\n';
  }
  out += "id: ";
  out += std::to_string(last_seq);
  out += "\ndata: [";
  bool first = true;
  for (auto const& f : facts) {
    if (!first) out += ',';
    first = false;
    out += f.json;
  }
  out += "]\n\n";
  return out;
}

std::string make_retry(std::chrono::milliseconds delay) {
  return "retry: " + std::to_string(delay.count()) + "\n";
}

std::chrono::milliseconds jittered_retry(std::chrono::milliseconds least,
                                         std::chrono::milliseconds spread) {
  thread_local std::minstd_rand random{std::random_device{}()};
  if (spread.count() <= 0) return least;
  std::uniform_int_distribution<std::int64_t> pick(0, spread.count() - 1);
  return least + std::chrono::milliseconds(pick(random));
}

std::chrono::milliseconds heartbeat_tick(std::chrono::milliseconds period) {
  return period / 4;
}

std::string make_heartbeat() {
  return ": heartbeat\n\n";
}

}  // namespace facts
