#include "facts/frame_log.hpp"

#include <algorithm>

namespace facts {

void frame_log::append(frame bytes, frame_meta meta) {
  auto const size = bytes->size();
  entries_.push_back({std::move(bytes), meta, end_offset_});
  end_offset_ += size;
}

void frame_log::append_merged(std::span<std::pair<frame, frame_meta>> frames,
                              std::uint64_t split_after) {
  for (std::size_t first = 0; first < frames.size();) {
    bool const early = frames[first].second.last_seq <= split_after;
    auto end = first + 1;
    while (end < frames.size() && (frames[end].second.last_seq <= split_after) == early)
      ++end;
    if (end - first == 1) {
      append(std::move(frames[first].first), frames[first].second);
    } else {
      std::string bytes;
      frame_meta meta = frames[first].second;
      meta.events = 0;
      for (auto i = first; i < end; ++i) {
        bytes += *frames[i].first;
        meta.events += frames[i].second.events;
      }
      meta.last_seq = frames[end - 1].second.last_seq;
      append(std::make_shared<std::string const>(std::move(bytes)), meta);
    }
    first = end;
  }
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
