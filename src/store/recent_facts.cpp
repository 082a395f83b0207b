#include "facts/store/recent_facts.hpp"

#include <algorithm>

namespace facts {

std::uint64_t recent_facts::first_seq() const {
  std::lock_guard lock(mutex_);
  return facts_.empty() ? 0 : facts_.front().seq;
}

std::vector<fact> recent_facts::after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  if (facts_.empty() || after + 1 < facts_.front().seq) return {};
  auto const skip = after + 1 - facts_.front().seq;
  if (skip >= facts_.size()) return {};
  auto const first = facts_.begin() + static_cast<std::ptrdiff_t>(skip);
  auto const n = std::min<std::size_t>(max, static_cast<std::size_t>(facts_.end() - first));
  return {first, first + static_cast<std::ptrdiff_t>(n)};
}

void recent_facts::seed(std::vector<fact> const& latest) {
  std::lock_guard lock(mutex_);
  if (!facts_.empty() || latest.empty()) return;
  auto const keep = std::min(latest.size(), capacity_);
  facts_.assign(latest.end() - static_cast<std::ptrdiff_t>(keep), latest.end());
}

void recent_facts::push(fact const& f) {
  std::lock_guard lock(mutex_);
  if (!facts_.empty() && facts_.back().seq + 1 != f.seq) facts_.clear();
  facts_.push_back(f);
  while (facts_.size() > capacity_)
    facts_.pop_front();
}

}  // namespace facts
