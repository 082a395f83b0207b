#include "facts/store/memory_store.hpp"

#include <algorithm>

namespace facts {

std::vector<append_result> memory_store::append(std::vector<append_request> const& requests) {
  std::unique_lock lock(mutex_);
  auto const now = unix_now();
  auto plan = plan_append(requests, keys_, facts_.size(), now,
                          [this](std::uint64_t seq) -> std::optional<std::string> {
                            if (seq == 0 || seq > facts_.size()) return std::nullopt;
                            return facts_[seq - 1].json;
                          });
  for (auto const i : plan.created)
    facts_.push_back(plan.results[i].stored);
  commit_plan(plan, requests, keys_, now);
  hand_to_follower(lock, plan.results);
  return std::move(plan.results);
}

std::vector<fact> memory_store::read_after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  if (after >= facts_.size()) return {};
  auto const first = facts_.begin() + static_cast<std::ptrdiff_t>(after);
  auto const n = std::min<std::size_t>(max, static_cast<std::size_t>(facts_.end() - first));
  return {first, first + static_cast<std::ptrdiff_t>(n)};
}

std::vector<fact> memory_store::read_latest(std::size_t max) const {
  std::lock_guard lock(mutex_);
  auto const n = max == 0 ? facts_.size() : std::min(max, facts_.size());
  return {facts_.end() - static_cast<std::ptrdiff_t>(n), facts_.end()};
}

std::uint64_t memory_store::last_seq() const {
  std::lock_guard lock(mutex_);
  return facts_.size();
}

std::uint64_t memory_store::count() const {
  return last_seq();
}

}  // namespace facts
