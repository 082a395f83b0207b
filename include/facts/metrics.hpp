#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace facts {

/** Represents why an event stream ended, as /metrics counts it. */
enum class stream_end { client_closed, slow, timeout, shutdown, error, client_sent, expired };

/**
 * Represents the daemon's counters, exported by GET /metrics in the Prometheus text format.
 * Safe from any thread: every counter is an atomic, so no I/O thread waits for another.
 */
class metrics {
 public:
  /// Upper bounds of the publish-to-write latency histogram, in seconds.
  static constexpr std::array<double, 12> latency_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  /**
   * Represents what one thread wrote during one pass over its streams, counted without atomics
   * and added to the shared counters once (see add()), not once per stream.
   */
  class write_tally {
   public:
    /// One live frame of `events` facts, fanned out at `published`, written at `now`.
    void frame_written(std::uint32_t events, std::chrono::steady_clock::time_point published,
                       std::chrono::steady_clock::time_point now);
    void bytes_written(std::uint64_t bytes) { bytes_ += bytes; }

   private:
    friend class metrics;
    std::uint64_t events_ = 0;
    std::uint64_t bytes_ = 0;
    std::array<std::uint64_t, latency_buckets.size() + 1> latency_counts_{};
    std::uint64_t latency_sum_ns_ = 0;
  };

  /// Adds a tally to the counters, and leaves it empty.
  void add(write_tally& tally);

  void stream_ended(stream_end why);
  void facts_published(std::uint64_t n) { facts_published_ += n; }
  void lagging_changed(int delta) { lagging_ += delta; }
  /// A stream below the catch-up floor let go of its chunk (sse_session::give_back_chunk).
  void catch_up_given_back() { catch_up_given_back_ += 1; }
  /// Counts one answer. `route` is one of route_names (any other counts as "other"); a status
  /// outside 100-599 counts as 599.
  void request_answered(std::string_view route, unsigned status);

  /// The routes /metrics counts requests by, in the order it lists them.
  static constexpr std::array<std::string_view, 8> route_names{
      "events", "fact", "facts", "healthz", "metrics", "other", "static", "status"};

  std::int64_t lagging() const { return lagging_.load(); }

  /// What the broadcaster knows, for prometheus_text().
  struct hub_figures {
    std::size_t open_streams = 0;
    std::uint64_t snapshots_built = 0;
  };

  /// What the store knows of the log, for prometheus_text().
  struct log_figures {
    std::uint64_t last_seq = 0;  ///< the log's newest seq as this instance knows it
    std::uint64_t lag = 0;       ///< how far this instance's streams are behind it
    std::uint64_t acked = 0, duplicate = 0, timeout = 0, no_quorum = 0;  ///< publish outcomes
    std::uint64_t invalid = 0;          ///< seqs whose payload in the log was not a valid fact
    std::uint64_t first_seq = 0;        ///< the oldest fact kept (retention moves it up)
    std::uint64_t removed = 0;          ///< facts removed by retention since start
    std::uint64_t stored_bytes = 0;     ///< the store's size: its files, memory or stream
    std::uint64_t longest_step_ns = 0;  ///< the longest a retention step held appends off
  };

  /// What the catch-up reader holds and has queued, for prometheus_text().
  struct catch_up_figures {
    std::size_t bytes_held = 0;     ///< bytes of the chunks alive, against the budget
    std::size_t reads_waiting = 0;  ///< reads queued and not started
  };

  /// The Prometheus exposition of every counter.
  std::string prometheus_text(hub_figures const& hub, log_figures const& log,
                              catch_up_figures const& catch_up) const;

 private:
  std::atomic<std::uint64_t> facts_published_{0};
  std::atomic<std::uint64_t> events_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::int64_t> lagging_{0};
  std::atomic<std::uint64_t> catch_up_given_back_{0};
  std::array<std::atomic<std::uint64_t>, 7> streams_ended_{};
  std::array<std::atomic<std::uint64_t>, latency_buckets.size() + 1> latency_counts_{};
  std::atomic<std::uint64_t> latency_sum_ns_{0};
  static constexpr unsigned first_status = 100, last_status = 599;
  /// Answers by route (as route_names) and status (less first_status): a table, not a map, so
  /// that counting one needs neither a lock nor an allocation.
  std::array<std::array<std::atomic<std::uint64_t>, last_status - first_status + 1>,
             route_names.size()>
      requests_{};
};

}  // namespace facts
