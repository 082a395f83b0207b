#include "facts/fact_writer.hpp"

#include <spdlog/spdlog.h>

namespace facts {

fact_writer::fact_writer(fact_store& store, broadcaster& hub)
    : store_(store), hub_(hub), thread_([this] { run(); }) {}

fact_writer::~fact_writer() {
  stop();
}

void fact_writer::submit(std::string json, completion done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back({std::move(json), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(std::nullopt);
}

void fact_writer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void fact_writer::run() {
  std::vector<pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything submitted is done
      batch.swap(queue_);
    }
    commit(batch);
    batch.clear();
  }
}

void fact_writer::commit(std::vector<pending>& batch) {
  std::vector<std::string> jsons;
  jsons.reserve(batch.size());
  for (auto& p : batch)
    jsons.push_back(std::move(p.json));
  std::vector<fact> stored;
  try {
    stored = store_.append(jsons);
  } catch (std::exception const& e) {
    spdlog::error("[writer] storing {} facts failed: {}", batch.size(), e.what());
    for (auto& p : batch)
      p.done(std::nullopt);
    return;
  }
  hub_.publish(stored);
  for (std::size_t i = 0; i < batch.size(); ++i)
    batch[i].done(stored[i]);
}

}  // namespace facts
