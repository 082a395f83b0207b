#include "facts/commit/inline_committer.hpp"

namespace facts {

inline_committer::inline_committer(fact_store& store, broadcaster& hub,
                                   std::chrono::milliseconds fan_out_timeout)
    : store_(store), answers_(hub, fan_out_timeout) {}

inline_committer::~inline_committer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void inline_committer::submit_all(std::vector<submission> batch) {
  std::unique_lock commit_lock(commit_mutex_);
  if (stopping_) {
    commit_lock.unlock();
    for (auto& s : batch)
      s.done(std::nullopt);
    return;
  }
  answers_.owe(batch.size());
  // Under the lock, as the batch's seqs are given: answers leave in commit order.
  answers_.append_and_settle(store_, batch);
}

bool inline_committer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    // A batch being committed on a submitting thread is finished before stop() goes on; later
    // ones see stopping_ and are answered at once.
    std::lock_guard commit_lock(commit_mutex_);
    stopping_ = true;
  }
  return answers_.wait_settled(deadline);
}

}  // namespace facts
