#include "support/sse_fleet.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace facts::test {

sse_fleet::sse_fleet(std::uint16_t port, std::size_t count, std::string final_id)
    : stream_fleet(port, count, events_request(), 4 * 1024,
                   [final_id = std::move(final_id)](stream& s, std::string_view bytes) {
                     s.parser.feed(bytes);
                     while (s.parser.has_event()) {
                       s.events.push_back(s.parser.pop());
                       if (s.events.size() > 1 && s.events.back().id == final_id) s.finished = true;
                     }
                   }) {}

template <class Predicate>
std::size_t sse_fleet::count(Predicate holds) const {
  return static_cast<std::size_t>(
      std::count_if(streams().begin(), streams().end(), [&](auto const& s) { return holds(*s); }));
}

std::size_t sse_fleet::finished() const {
  return count([](stream const& s) { return s.finished.load(); });
}

std::size_t sse_fleet::failed() const {
  return count([](stream const& s) { return s.refused.load() || s.ended.load(); });
}

}  // namespace facts::test
