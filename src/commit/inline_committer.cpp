#include "facts/commit/inline_committer.hpp"

#include <spdlog/spdlog.h>

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
  auto const asked = std::chrono::steady_clock::now();
  std::vector<append_request> requests;
  requests.reserve(batch.size());
  for (auto& s : batch)
    requests.push_back(std::move(s.request));
  std::vector<append_result> results;
  try {
    results = store_.append(requests);
  } catch (std::exception const& e) {
    commit_lock.unlock();
    spdlog::error("[commit] storing {} facts failed: {}", batch.size(), e.what());
    for (auto& s : batch)
      answers_.refuse(s.done);
    return;
  }
  // Answered under the lock, as the batch's seqs were given: answers leave in commit order.
  for (std::size_t i = 0; i < batch.size(); ++i)
    answers_.settle(std::move(results[i]), std::move(batch[i].done), asked);
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
