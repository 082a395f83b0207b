#include "facts/http/stream_bytes.hpp"

namespace facts::http {

std::size_t stream_bytes::take(std::size_t bytes, frame_log const& log, bool reads_log) {
  std::size_t own = 0;
  std::size_t logged = 0;
  std::size_t last = 0;
  auto left = bytes;
  for_each(log, reads_log, [&](part which, std::string const&, std::size_t from, std::size_t to) {
    auto const n = std::min(left, to - from);
    (which == part::own ? own : which == part::log ? logged : last) += n;
    left -= n;
    return left > 0;
  });
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
