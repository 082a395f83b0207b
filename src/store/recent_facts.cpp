#include "facts/store/recent_facts.hpp"

#include <algorithm>

namespace facts {

recent_facts::read_result recent_facts::read_after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  read_result out;
  if (facts_.empty()) return out;
  out.first_seq = facts_.front().seq;
  if (after + 1 < out.first_seq) return out;
  out.covered = true;
  auto const skip = after + 1 - out.first_seq;
  if (skip >= facts_.size()) return out;
  auto const first = facts_.begin() + static_cast<std::ptrdiff_t>(skip);
  auto const n = std::min<std::size_t>(max, static_cast<std::size_t>(facts_.end() - first));
  out.facts.assign(first, first + static_cast<std::ptrdiff_t>(n));
  return out;
}

std::size_t recent_facts::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

void recent_facts::seed(std::vector<fact> const& latest) {
  std::lock_guard lock(mutex_);
  if (!facts_.empty() || latest.empty()) return;
  // Newest first, so that the bounds keep the newest.
  for (auto it = latest.rbegin(); it != latest.rend(); ++it) {
    if (!facts_.empty() && (facts_.size() >= capacity_ || bytes_ + it->json.size() > max_bytes_))
      break;
    facts_.push_front(*it);
    bytes_ += it->json.size();
  }
}

void recent_facts::push(fact const& f) {
  std::lock_guard lock(mutex_);
  if (!facts_.empty() && facts_.back().seq + 1 != f.seq) {
    facts_.clear();
    bytes_ = 0;
  }
  facts_.push_back(f);
  bytes_ += f.json.size();
  trim_locked();
}

void recent_facts::trim_locked() {
  while (facts_.size() > 1 && (facts_.size() > capacity_ || bytes_ > max_bytes_)) {
    bytes_ -= facts_.front().json.size();
    facts_.pop_front();
  }
}

}  // namespace facts
