#include "facts/commit/fan_out_answers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/broadcaster.hpp"

namespace facts {

fan_out_answers::fan_out_answers(broadcaster& hub, std::chrono::milliseconds timeout)
    : hub_(hub), timeout_(timeout) {}

void fan_out_answers::owe(std::size_t n) {
  owed_.fetch_add(n, std::memory_order_relaxed);
}

void fan_out_answers::settle(append_result result, committer::completion done,
                             clock::time_point asked) {
  using outcome = append_result::outcome;
  auto const seq = result.stored.seq;
  // Nothing to wait for (a conflict, the log's own unavailable), or already here: a local
  // store's follower runs inside its append, so its facts always are.
  if ((result.what != outcome::created && result.what != outcome::replayed) ||
      seq <= hub_.fanned_out_seq()) {
    done(std::move(result));
    return answered();
  }
  // The answer is due within the timeout of when the store was asked, but a fact the log took
  // at the last moment still gets a moment to come back.
  auto const deadline = std::max(asked + timeout_, clock::now() + std::chrono::milliseconds(500));
  hub_.when_fanned_out(
      seq, deadline,
      [this, result = std::move(result), done = std::move(done)](bool reached) mutable {
        if (!reached) {
          spdlog::warn("[commit] the log stored {} but it did not come back within {} ms",
                       result.stored.seq, timeout_.count());
          result = {outcome::unavailable, {}};
        }
        done(std::move(result));
        answered();
      });
}

void fan_out_answers::refuse(committer::completion& done) {
  done(std::nullopt);
  answered();
}

void fan_out_answers::append_and_settle(fact_store& store,
                                        std::vector<committer::submission>& batch) {
  auto const asked = clock::now();
  std::vector<append_request> requests;
  requests.reserve(batch.size());
  for (auto& s : batch)
    requests.push_back(std::move(s.request));
  std::vector<append_result> results;
  try {
    results = store.append(requests);
  } catch (std::exception const& e) {
    // A failure the store reported itself (a full disk) is logged once for its whole length,
    // not once per batch it refuses.
    if (dynamic_cast<store_reported_error const*>(&e) == nullptr)
      spdlog::error("[commit] storing {} facts failed: {}", batch.size(), e.what());
    for (auto& s : batch)
      refuse(s.done);
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i)
    settle(std::move(results[i]), std::move(batch[i].done), asked);
}

void fan_out_answers::answered() {
  if (owed_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Under the lock: a wait_settled() that saw a count above 0 is asleep by now, not about to be.
  std::lock_guard lock(mutex_);
  settled_.notify_all();
}

bool fan_out_answers::wait_settled(clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return settled_.wait_until(lock, deadline,
                             [this] { return owed_.load(std::memory_order_acquire) == 0; });
}

}  // namespace facts
