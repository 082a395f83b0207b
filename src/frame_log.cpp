#include "facts/frame_log.hpp"

#include <algorithm>

namespace facts {

void frame_log::append(frame bytes, frame_meta meta) {
  auto const size = bytes->size();
  entries_.push_back({std::move(bytes), meta, end_offset_});
  end_offset_ += size;
}

std::uint64_t frame_log::position_after(std::uint64_t seq) const {
  auto const it =
      std::upper_bound(entries_.begin(), entries_.end(), seq,
                       [](std::uint64_t s, entry const& e) { return s < e.meta.last_seq; });
  return it == entries_.end() ? end_offset_ : it->offset;
}

std::size_t frame_log::index_at(std::uint64_t position) const {
  auto const it = std::upper_bound(entries_.begin(), entries_.end(), position,
                                   [](std::uint64_t p, entry const& e) { return p < e.end(); });
  return static_cast<std::size_t>(it - entries_.begin());
}

void frame_log::trim_before(std::uint64_t position) {
  while (!entries_.empty() && entries_.front().end() <= position)
    entries_.pop_front();
}

}  // namespace facts
