#include "facts/fact_writer.hpp"

#include <spdlog/spdlog.h>

namespace facts {

fact_writer::fact_writer(fact_store& store, broadcaster& hub)
    : store_(store), hub_(hub), thread_([this] { run(); }) {}

fact_writer::~fact_writer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void fact_writer::submit(append_request request, completion done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back({std::move(request), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(std::nullopt);
}

bool fact_writer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
    // A commit stuck in the store (an fsync that never returns) must not hold the caller past
    // its deadline: the thread is then left to finish, or not, on its own.
    if (!finished_.wait_until(lock, deadline, [this] { return done_; })) return false;
  }
  if (thread_.joinable()) thread_.join();
  return true;
}

void fact_writer::run() {
  std::vector<pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {  // stopping, and everything submitted is done
        done_ = true;
        finished_.notify_all();
        return;
      }
      batch.swap(queue_);
    }
    commit(batch);
    batch.clear();
  }
}

void fact_writer::commit(std::vector<pending>& batch) {
  std::vector<append_request> requests;
  requests.reserve(batch.size());
  for (auto& p : batch)
    requests.push_back(std::move(p.request));
  std::vector<append_result> results;
  try {
    results = store_.append(requests);
  } catch (std::exception const& e) {
    spdlog::error("[writer] storing {} facts failed: {}", batch.size(), e.what());
    for (auto& p : batch)
      p.done(std::nullopt);
    return;
  }
  // Fan out before acknowledging: a client that got its 201 can count on every stream having
  // the fact queued.
  std::vector<fact> created;
  for (auto const& r : results)
    if (r.what == append_result::outcome::created) created.push_back(r.stored);
  hub_.publish(created);
  for (std::size_t i = 0; i < batch.size(); ++i)
    batch[i].done(std::move(results[i]));
}

}  // namespace facts
