#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "facts/fact.hpp"
#include "facts/store/fact_store.hpp"

namespace facts {

/**
 * Represents the thread that answers the publishes JetStream acknowledged as duplicates on the
 * nats:// store. JetStream says only "seen this id": telling a replay from a conflict takes the
 * stored fact, a read of the log (up to two requests) when it is older than the window. That
 * read runs here, one duplicate after the other, so the publisher thread goes on sending and
 * answering every other publish meanwhile.
 */
class nats_duplicate_answers {
 public:
  /// Reads the fact `seq`: nothing when the log has none; throws store_error when it cannot.
  using fact_reader = std::function<std::optional<fact>(std::uint64_t seq)>;

  explicit nats_duplicate_answers(fact_reader read);
  /// stop(), if not done yet.
  ~nats_duplicate_answers();

  nats_duplicate_answers(nats_duplicate_answers const&) = delete;
  nats_duplicate_answers& operator=(nats_duplicate_answers const&) = delete;

  /// Queues the answer to a publish of `json` that JetStream acknowledged as a duplicate of fact
  /// `seq`: `replayed` with the stored fact when the bodies match, `created` instead when the
  /// first copy was our own attempt whose ack was lost (`own_retry`), `conflict` when they
  /// differ, `unavailable` when the fact cannot be read. `answered` runs once, on this thread.
  void answer(std::uint64_t seq, std::string json, bool own_retry, append_callback answered);

  /// Answers everything queued (each read fails at once once the store's connection is closed,
  /// unless the window holds the fact), then ends the thread.
  void stop();

 private:
  /** Represents one duplicate waiting for its answer. */
  struct duplicate {
    std::uint64_t seq = 0;
    std::string json;
    bool own_retry = false;
    append_callback answered;
  };

  void run();
  append_result answer_of(duplicate const& d) const;

  fact_reader read_;
  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable wake_;
  std::deque<duplicate> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything it uses exists
};

}  // namespace facts
