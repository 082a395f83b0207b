#include "facts/store/nats_read_ahead.hpp"

#include <algorithm>

namespace facts {

std::vector<fact> nats_read_ahead::read_after(std::uint64_t after, std::size_t max) const {
  range found;
  {
    std::lock_guard lock(mutex_);
    auto const it = std::find_if(ranges_.begin(), ranges_.end(), [after](range const& r) {
      return r->front().seq <= after + 1 && after < r->back().seq;
    });
    if (it == ranges_.end()) return {};
    ranges_.splice(ranges_.begin(), ranges_, it);
    found = *it;
  }
  // Copied outside the lock: the range itself never changes.
  auto const first = found->begin() + static_cast<std::ptrdiff_t>(after + 1 - found->front().seq);
  auto const count = std::min<std::size_t>(max, static_cast<std::size_t>(found->end() - first));
  return {first, first + static_cast<std::ptrdiff_t>(count)};
}

void nats_read_ahead::keep(std::vector<fact> facts) {
  if (facts.empty() || max_ranges_ == 0) return;
  auto kept = std::make_shared<std::vector<fact> const>(std::move(facts));
  range dropped;  // freed outside the lock
  std::lock_guard lock(mutex_);
  ranges_.push_front(std::move(kept));
  if (ranges_.size() > max_ranges_) {
    dropped = std::move(ranges_.back());
    ranges_.pop_back();
  }
}

}  // namespace facts
