#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "facts/limits.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/log_payloads.hpp"
#include "facts/store/nats_calls.hpp"
#include "facts/store/nats_connection.hpp"
#include "facts/store/nats_duplicate_answers.hpp"
#include "facts/store/nats_log_reader.hpp"
#include "facts/store/nats_read_ahead.hpp"
#include "facts/store/nats_timings.hpp"
#include "facts/store/nats_url.hpp"
#include "facts/store/recent_facts.hpp"
#include "facts/store/retention_bounds.hpp"

namespace facts {

/**
 * Represents the shared log on a NATS JetStream stream: every factsd instance on the same stream
 * appends to it and follows it, and a fact's id is its stream sequence number.
 *
 * nats.c runs its own threads; its callbacks here only record what came back and wake the
 * thread waiting for it (our publisher thread) or hand facts to the follower. The one
 * blocking thing a callback does is the follower itself (the broadcaster's publish, which only
 * posts). Reads beyond the in-memory window of the newest facts ask JetStream, on the caller's
 * thread, a page at a time (nats_read_ahead); the publisher thread never reads (a duplicate's
 * answer, which needs the stored fact, comes from nats_duplicate_answers' thread). The connection
 * (nats_connection), those reads (nats_log_reader) and the window (recent_facts) have rooms of
 * their own; the store's own files are this one (reads, health), nats_publish.cpp and
 * nats_follow.cpp.
 */
class nats_store final : public fact_store {
 public:
  struct options {
    nats_url url;
    nats_timings timings;  ///< every wait on NATS, from --connect-timeout and --publish-timeout
    std::size_t window = 100'000;  ///< newest facts followed, kept for reads without a round trip
    std::size_t window_bytes = 64 * 1024 * 1024;  ///< and at most this much of their JSON
    /// A payload in the log larger than this is not a fact (--max-fact-bytes, as for a POST).
    std::size_t max_fact_bytes = limits{}.max_fact_bytes;
    /// The stream's limits, set when it is created or when it has others (--retain-*).
    retention_bounds retention{};
  };

  /// Connects (waiting up to timings.connect for NATS and JetStream), creates the stream when
  /// missing. Throws store_error, with one line, when it cannot or the stream has another shape.
  explicit nats_store(options opts);
  ~nats_store() override;

  nats_store(nats_store const&) = delete;
  nats_store& operator=(nats_store const&) = delete;

  using fact_store::append;
  /// Publishes the batch (through append_async) and waits for every answer.
  std::vector<append_result> append(std::vector<append_request> const& requests) override;
  bool appends_async() const override { return true; }
  /// Queues `request` for the publisher thread, which publishes it at once with a Nats-Msg-Id
  /// (the Idempotency-Key, or a random one), sends it again with the same id when it times out,
  /// and answers it as soon as its own ack is in, or at timings.publish. Never blocks on NATS.
  void append_async(append_request request, append_callback answered) override;
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const override;
  std::vector<fact> read_latest(std::size_t max) const override;
  /// The log's newest seq as far as this instance knows (acks, stream info, what it followed).
  std::uint64_t last_seq() const override { return log_last_seq_.load(); }
  /// Dense seqs from first_seq() on.
  std::uint64_t count() const override;
  /// The stream's first seq by its stream info (polled), or past it by the stream's max_msgs
  /// from the newest seq known: JetStream removes the oldest as it stores.
  std::uint64_t first_seq() const override;
  /// Removed: every seq before the first (the stream's, not only since this start); bytes: the
  /// stream's, by its stream info.
  retention_figures retention() const override;
  /// The stream's last seq by its stream info, waiting up to timings.request (2P/5) in all,
  /// for the connection and the answer.
  std::uint64_t log_newest_seq() const override;
  std::string describe() const override { return opts_.url.describe(); }

  void follow(std::uint64_t after, follower on_stored) override;
  /// The server calls it once, as it stops: it also ends the store's use of NATS. The connection
  /// is closed, so nothing in flight (a read on a catch-up thread or an I/O thread, a publish
  /// waiting for its ack) outlasts the stop: from then on reads throw store_error, and appends,
  /// those waiting for an ack included, are answered `unavailable` at once.
  void stop_following() override;
  log_health health() const override;

  /// The newest seq handed to the follower.
  std::uint64_t followed_seq() const;

  /// How many range reads of the log (each a consumer of its own) this store started.
  std::uint64_t range_reads() const { return log_.ranges_read(); }

 private:
  /** Represents one request on its way to an acknowledgement, on the publisher thread. */
  struct publish_job;
  /** Represents what nats.c's ack handler brought back for one message. */
  struct ack_report {
    natsMsg* msg = nullptr;  ///< ours again
    bool ok = false;
    std::uint64_t seq = 0;
    bool duplicate = false;
    natsStatus status = NATS_OK;
    jsErrCode code = no_js_error;
    std::string text;
  };

  // nats_store.cpp: reads, health, the end.
  std::optional<fact> find_fact(std::uint64_t seq) const;  ///< the window, else JetStream
  void close_connection();  ///< ends every wait on NATS; the publisher answers what it holds
  /// `wanted` facts after `after`, all older than the window (the log has up to `log_last`).
  std::vector<fact> read_log(std::uint64_t after, std::uint64_t wanted,
                             std::uint64_t log_last) const;
  void take_back_unacked();
  void note_log_seq(std::uint64_t seq);
  /// What stream info said of the stream's first seq, size and max_msgs.
  void note_stream_state(std::uint64_t first_seq, std::uint64_t bytes, std::int64_t max_msgs);
  void monitor();
  void poll_stream_info();

  // nats_publish.cpp: the publisher thread and nats.c's ack handler.
  void publish_loop();
  void send(std::uint64_t id, publish_job& job);
  void take_report(publish_job& job, ack_report report, std::chrono::steady_clock::time_point now);
  void forget_in_flight(std::uint64_t id, publish_job& job);
  /// Answers a job that is done: at once, or through repeats_ for a duplicate.
  void finish(publish_job& job);
  append_result answer(publish_job const& job);
  static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);

  // nats_follow.cpp: the ordered consumer that feeds the follower.
  void subscribe_from(std::uint64_t first);
  void unsubscribe_locked(std::vector<natsSubscription*>& retired);
  void check_follow_stall();
  static void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void on_subscription_done(void* closure);
  void take_message(natsSubscription* sub, fact f);

  options opts_;
  std::string subject_;
  // Closed by stop_following() or the destructor's body, while everything nats.c's threads may
  // still reach through it (the ack handler's and the subscriptions' state below) is there;
  // freed last, after the body has waited out every callback of ours still running.
  nats_connection connection_;
  log_payloads payloads_;          // every payload read from the log passes here to be a fact
  nats_log_reader log_;            // reads of what recent_ does not hold
  mutable recent_facts recent_;    // the newest facts followed; read_latest() seeds it at startup
  mutable nats_read_ahead ahead_;  // what range reads brought beyond their callers' steps
  // Answers the publishes acknowledged as duplicates, reading through recent_ and log_.
  nats_duplicate_answers repeats_{[this](std::uint64_t seq) { return find_fact(seq); }};
  std::atomic<std::uint64_t> log_last_seq_{0};
  // By stream info: the stream's first seq (only moves up), its bytes, its max_msgs (-1: none).
  std::atomic<std::uint64_t> log_first_seq_{1};
  std::atomic<std::uint64_t> stream_bytes_{0};
  std::atomic<std::int64_t> max_msgs_{-1};

  // Publishing: append_async() queues, nats.c's reply thread reports, the publisher thread
  // sends and answers.
  std::mutex publish_mutex_;  // guards the four below
  std::condition_variable publish_wake_;
  std::vector<std::pair<append_request, append_callback>> incoming_;  // not yet taken
  std::unordered_map<natsMsg*, std::uint64_t> in_flight_;             // message -> its job
  std::vector<std::pair<std::uint64_t, ack_report>> reports_;         // job -> what came back
  bool publish_stopping_ = false;
  std::atomic<std::uint64_t> acked_{0}, duplicates_{0}, timeouts_{0}, no_quorum_{0};
  // A message went to js_PublishMsgAsync: written by the publisher thread only, read once it
  // has been joined.
  bool handed_over_ = false;

  // Following: nats.c's delivery thread of the current subscription hands facts on.
  mutable std::mutex follow_mutex_;  // guards everything down to subscriptions_live_
  follower on_stored_;
  natsSubscription* subscription_ = nullptr;  // the current ordered consumer; null: none
  std::uint64_t followed_ = 0;                // newest seq handed on (or the startup point)
  std::vector<fact> batch_;                   // followed, not yet handed on
  bool resubscribe_ = false;                  // a gap was seen: start again after followed_
  std::chrono::steady_clock::time_point last_progress_;
  std::condition_variable subscriptions_done_;
  int subscriptions_live_ = 0;  // subscriptions whose delivery thread may still call us

  // Health: the monitor polls stream info.
  mutable std::mutex health_mutex_;  // guards the two below
  std::chrono::steady_clock::time_point last_info_ok_;
  std::string last_error_;

  std::mutex monitor_mutex_;  // guards stopping_
  std::condition_variable monitor_wake_;
  bool stopping_ = false;
  std::thread publisher_;  // started once connected, like the monitor
  std::thread monitor_;    // last: started once everything it reads exists
};

}  // namespace facts
