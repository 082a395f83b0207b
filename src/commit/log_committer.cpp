#include "facts/commit/log_committer.hpp"

#include <spdlog/spdlog.h>

namespace facts {

log_committer::log_committer(fact_store& store, broadcaster& hub,
                             std::chrono::milliseconds fan_out_timeout)
    : store_(store), answers_(hub, fan_out_timeout) {}

log_committer::~log_committer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void log_committer::submit_all(std::vector<submission> batch) {
  {
    std::unique_lock lock(mutex_);
    if (!stopping_) {
      // Counted before the lock is left: stop() from now on waits for these.
      answers_.owe(batch.size());
    } else {
      lock.unlock();
      for (auto& s : batch)
        s.done(std::nullopt);
      return;
    }
  }
  auto const asked = std::chrono::steady_clock::now();
  for (auto& s : batch) {
    auto done = std::move(s.done);
    try {
      store_.append_async(std::move(s.request), [this, done, asked](append_result result) mutable {
        answers_.settle(std::move(result), std::move(done), asked);
      });
    } catch (std::exception const& e) {
      spdlog::error("[commit] handing a fact to the log failed: {}", e.what());
      answers_.refuse(done);
    }
  }
}

bool log_committer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  // Each fact in flight is answered by its own timeouts: the log's publish, then the fan-out.
  return answers_.wait_settled(deadline);
}

}  // namespace facts
