#include "fact_payload.hpp"

#include <charconv>

namespace loadgen {

namespace {

// Finds `"key":` and reads the unsigned number after it. The facts are ours and compact, so a
// key search is exact enough and far cheaper than a JSON parse per event.
std::optional<std::uint64_t> read_number(std::string_view data, std::string_view key) {
  auto const at = data.rfind(key);
  if (at == std::string_view::npos) return std::nullopt;
  auto const* begin = data.data() + at + key.size();
  auto const* end = data.data() + data.size();
  while (begin < end && *begin == ' ')
    ++begin;
  std::uint64_t value = 0;
  auto const [stop, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || stop == begin) return std::nullopt;
  return value;
}

// The fast path for a fact forwarded as sent: it ends in `"seq":S,"t":T}`. Reads backwards
// from the end, with no search: this runs once per event received, millions of times a second.
std::optional<fact_stamp> read_tail(std::string_view data) {
  auto const* begin = data.data();
  auto const* p = begin + data.size();
  auto digits_back = [&](std::uint64_t& value) {
    auto const* end = p;
    while (p > begin && p[-1] >= '0' && p[-1] <= '9')
      --p;
    return p != end && std::from_chars(p, end, value).ec == std::errc{};
  };
  auto expect_back = [&](std::string_view text) {
    if (static_cast<std::size_t>(p - begin) < text.size()) return false;
    if (std::string_view(p - text.size(), text.size()) != text) return false;
    p -= text.size();
    return true;
  };
  fact_stamp stamp;
  if (expect_back("}") && digits_back(stamp.sent_us) && expect_back(",\"t\":") &&
      digits_back(stamp.seq) && expect_back("\"seq\":"))
    return stamp;
  return std::nullopt;
}

}  // namespace

std::string make_fact_json(fact_stamp stamp) {
  auto const tail = "\",\"source\":\"loadgen\",\"seq\":" + std::to_string(stamp.seq) +
                    ",\"t\":" + std::to_string(stamp.sent_us) + "}";
  std::string json = "{\"info\":\"";
  auto const fixed = json.size() + tail.size();
  json.append(fixed < fact_bytes ? fact_bytes - fixed : 1, 'x');
  json += tail;
  return json;
}

std::optional<fact_stamp> read_fact_stamp(std::string_view data) {
  if (data.empty() || data.front() != '{') return std::nullopt;
  if (auto stamp = read_tail(data)) return stamp;
  // Any other layout (a server that reorders or spaces the fields): search for the keys.
  auto const seq = read_number(data, "\"seq\":");
  auto const sent = read_number(data, "\"t\":");
  if (!seq || !sent) return std::nullopt;
  return fact_stamp{*seq, *sent};
}

}  // namespace loadgen
