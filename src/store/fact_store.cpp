#include "facts/store/fact_store.hpp"

#include <algorithm>

namespace facts {

namespace {

// Most facts follow() hands on at once while it catches up on what it missed.
constexpr std::size_t catch_up_step = 10'000;

}  // namespace

std::vector<fact> fact_store::append(std::vector<std::string> const& jsons) {
  std::vector<append_request> requests;
  requests.reserve(jsons.size());
  for (auto const& json : jsons)
    requests.push_back({json, {}});
  std::vector<fact> stored;
  for (auto& result : append(requests))
    stored.push_back(std::move(result.stored));
  return stored;
}

void fact_store::append_async(append_request request, append_callback answered) {
  std::vector<append_request> one;
  one.push_back(std::move(request));
  answered(std::move(append(one).front()));
}

void fact_store::follow(std::uint64_t after, follower on_stored) {
  // Whatever was stored after `after` before we were told (nothing, at startup) goes first.
  for (auto missed = read_after(after, catch_up_step); !missed.empty();
       missed = read_after(after, catch_up_step)) {
    on_stored(missed);
    after = missed.back().seq;
  }
  std::lock_guard lock(follow_mutex_);
  on_stored_ = std::move(on_stored);
}

void fact_store::stop_following() {
  std::lock_guard lock(follow_mutex_);
  on_stored_ = nullptr;
}

log_health fact_store::health() const {
  return {true, {}, last_seq()};
}

void fact_store::hand_to_follower(std::unique_lock<std::mutex>& store_lock,
                                  std::vector<append_result> const& results) {
  // Taken before the store lock is let go: the next append cannot overtake this one.
  std::lock_guard order(follow_mutex_);
  store_lock.unlock();
  if (!on_stored_) return;
  std::vector<fact> created;
  for (auto const& r : results)
    if (r.what == append_result::outcome::created) created.push_back(r.stored);
  if (!created.empty()) on_stored_(created);
}

std::vector<fact> fact_store::read_bounded(std::uint64_t after, std::size_t max,
                                           std::size_t max_bytes) const {
  // Facts are read a few at a time: at 64 KiB each a step is 1 MiB, about one page's bound.
  constexpr std::size_t step = 16;
  std::vector<fact> out;
  std::size_t bytes = 0;
  while (out.size() < max) {
    auto const asked = std::min(step, max - out.size());
    auto more = read_after(after, asked);
    for (auto& f : more) {
      if (!out.empty() && bytes + f.json.size() > max_bytes) return out;
      bytes += f.json.size();
      after = f.seq;
      out.push_back(std::move(f));
      if (out.size() == max) return out;
    }
    if (more.size() < asked) return out;  // the store has no more
  }
  return out;
}

}  // namespace facts
