#include "facts/http/stream_bytes.hpp"

namespace facts::http {

std::size_t stream_bytes::take(std::size_t bytes, frame_log const& log, bool reads_log) {
  std::size_t own = 0;
  std::size_t logged = 0;
  std::size_t last = 0;
  auto left = bytes;
  auto count = [&](part which, char const*, std::size_t size) {
    auto const n = std::min(left, size);
    (which == part::own ? own : which == part::log ? logged : last) += n;
    left -= n;
    return left > 0;
  };
  walk<true>(log, reads_log, count);
  while (own > 0) {
    auto const rest = own_.front().size - own_sent_;
    if (own < rest) {
      own_sent_ += own;
      break;
    }
    own -= rest;
    own_sent_ = 0;
    own_.erase(own_.begin());
  }
  position_ += logged;
  last_sent_ += last;
  return logged;
}

}  // namespace facts::http
