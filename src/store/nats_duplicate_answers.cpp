#include "facts/store/nats_duplicate_answers.hpp"

#include <spdlog/spdlog.h>

namespace facts {

nats_duplicate_answers::nats_duplicate_answers(fact_reader read) : read_(std::move(read)) {
  thread_ = std::thread([this] { run(); });
}

nats_duplicate_answers::~nats_duplicate_answers() {
  stop();
}

void nats_duplicate_answers::answer(std::uint64_t seq, std::string json, bool own_retry,
                                    append_callback answered) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({seq, std::move(json), own_retry, std::move(answered)});
  }
  wake_.notify_one();
}

void nats_duplicate_answers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void nats_duplicate_answers::run() {
  for (;;) {
    duplicate next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping still answers what is queued: each caller is owed exactly one answer.
      if (queue_.empty()) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next.answered(answer_of(next));
  }
}

append_result nats_duplicate_answers::answer_of(duplicate const& d) const {
  using outcome = append_result::outcome;
  std::optional<fact> stored;
  try {
    stored = read_(d.seq);
  } catch (store_error const& e) {
    spdlog::warn("[nats] {}", e.what());
  }
  if (!stored) {
    spdlog::warn("[nats] cannot read fact {} to answer a repeated Idempotency-Key", d.seq);
    return {outcome::unavailable, {}};
  }
  if (stored->json != d.json) return {outcome::conflict, {}};
  // Our own retry of a publish whose first ack was lost: as far as we know the client sent it
  // once, and this is its creation.
  if (d.own_retry) return {outcome::created, std::move(*stored)};
  return {outcome::replayed, std::move(*stored)};
}

}  // namespace facts
