#include "support/tally_fleet.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

#include "support/http_client.hpp"
#include "support/sse_client.hpp"

namespace facts::test {

tally_fleet::tally_fleet(std::uint16_t port, std::size_t count, std::string const& extra_headers)
    : stream_fleet(port, count, events_request(extra_headers), 64 * 1024, &tally_fleet::scan) {}

std::uint64_t tally_fleet::min_last_id() const {
  auto least = std::numeric_limits<std::uint64_t>::max();
  for (auto const& s : streams())
    least = std::min(least, s->last_id.load());
  return streams().empty() ? 0 : least;
}

void tally_fleet::scan(stream& s, std::string_view bytes) {
  while (!bytes.empty()) {
    auto const nl = bytes.find('\n');
    auto const piece = bytes.substr(0, nl);
    // Enough of the line for its field name and prefix_bytes of its value.
    if (s.line.size() < line_bytes) s.line.append(piece.substr(0, line_bytes - s.line.size()));
    s.line_size += piece.size();
    if (nl == std::string_view::npos) return;
    bytes.remove_prefix(nl + 1);
    on_line(s);
    s.line.clear();
    s.line_size = 0;
  }
}

void tally_fleet::on_line(stream& s) {
  std::string_view line = s.line;
  auto size = s.line_size;
  if (!line.empty() && line.back() == '\r' && size == line.size()) {
    line.remove_suffix(1);
    --size;
  }
  if (size == 0) return dispatch(s);
  s.last_line = std::string(line);
  if (line.front() == ':') return;
  auto const colon = line.find(':');
  auto const field = line.substr(0, colon);
  std::size_t skip = colon == std::string_view::npos ? line.size() : colon + 1;
  if (skip < line.size() && line[skip] == ' ') ++skip;
  auto const value = line.substr(std::min(skip, line.size()));
  if (field == "data") {
    if (s.has_data) ++s.current.data_size;  // the '\n' joining two data lines
    if (s.current.data_prefix.size() < prefix_bytes)
      s.current.data_prefix.append(value.substr(0, prefix_bytes - s.current.data_prefix.size()));
    s.current.data_size += size - skip;
    s.has_data = true;
  } else if (field == "id") {
    s.current.id = std::string(value);
    if (!all_digits(value) && s.bad_id.empty()) s.bad_id = "'" + std::string(value) + "'";
  } else if (field == "event") {
    s.current.type = std::string(value);
  } else if (field == "retry") {
    s.retries.emplace_back(value);
  }
}

void tally_fleet::dispatch(stream& s) {
  if (s.has_data) {
    std::uint64_t id = 0;
    auto const& text = s.current.id;
    auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec == std::errc{} && end == text.data() + text.size()) s.last_id = id;
    s.events.push_back(std::move(s.current));
  }
  s.current = {};
  s.has_data = false;
}

}  // namespace facts::test
