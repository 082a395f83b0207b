#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "latency_histogram.hpp"
#include "sse_parser.hpp"

namespace loadgen {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// When a stream counts as connected and holding its snapshot.
enum class ready_rule {
  first_event,  ///< its first event arrived (factsd, the tutorial, the floor: a JSON array)
  first_bytes,  ///< a 200 head and any body byte arrived (nchan: a ": hi" comment, no snapshot)
};

/// Figures of one phase, summed over every stream.
struct phase_tally {
  std::uint64_t delivered = 0;   ///< distinct facts of the phase received, over all streams
  std::uint64_t duplicated = 0;  ///< facts received again by a stream that had them
  /// facts received after one that came later elsewhere (the streams disagree on the order)
  /// or whose `id:` does not increase (where the server sends ids)
  std::uint64_t out_of_order = 0;
  std::uint64_t unexpected = 0;  ///< events that are neither a snapshot nor one of our facts
  std::uint64_t dropped = 0;     ///< streams that ended during the phase
  std::uint64_t last_receive_us = 0;
  latency_histogram latency;
};

/// What connecting all streams took.
struct connect_tally {
  std::size_t ready = 0;
  std::size_t failed = 0;
  double seconds = 0;  ///< from the first connect to the last stream's snapshot
  std::string first_error;
};

/**
 * Represents N event streams to one server, all on one io_context (one thread). Each stream
 * checks exactly-once, in-order delivery with a bitmap of the facts it received, and every
 * received fact adds its publish-to-receive latency to the histogram of the current phase.
 * Public members other than the atomics are touched only on the io_context's thread.
 */
class stream_pool {
 public:
  /// `request`: the GET bytes each stream sends. `facts_capacity`: the most facts a session
  /// publishes (the size of each stream's bitmap).
  stream_pool(net::io_context& ioc, tcp::endpoint server, std::string request, ready_rule rule,
              std::size_t facts_capacity);
  ~stream_pool();

  /// Opens `n` streams, at most `window` connecting at once, and calls `done` when every one is
  /// ready or has failed.
  void connect(std::size_t n, std::size_t window, std::function<void(connect_tally)> done);

  /// Starts counting a new phase (duplicates, order, latency).
  void begin_phase();

  /// The figures of the phase whose facts are [first_seq, first_seq + count).
  phase_tally end_phase(std::uint64_t first_seq, std::uint64_t count);

  /// Streams open and ready now.
  std::size_t open_streams() const;

  /// Resets every stream (RST: no TIME_WAIT left behind). Call on the io_context thread, then
  /// stop the io_context before destroying the pool.
  void close_all();

  /// Distinct facts received over all streams so far; read by the main thread while it waits
  /// for a phase to drain.
  std::atomic<std::uint64_t> delivered_total{0};

 private:
  class stream;
  friend class stream;

  void start_next();
  void on_ready(stream& s);
  void on_failed(stream& s, std::string why);
  void on_closed(stream& s);

  net::io_context& ioc_;
  tcp::endpoint server_;
  std::string request_;
  ready_rule rule_;
  std::size_t facts_capacity_;

  std::vector<std::unique_ptr<stream>> streams_;
  std::size_t wanted_ = 0;
  std::size_t started_ = 0;
  connect_tally connect_;
  std::uint64_t connect_start_us_ = 0;
  std::function<void(connect_tally)> connect_done_;

  // Shared by every stream: the read buffer (reads go one at a time on this thread) and the
  // time of the read being parsed, which stamps every event in it.
  std::vector<char> read_buffer_;
  std::uint64_t receive_us_ = 0;

  phase_tally phase_;
  std::uint64_t delivered_ = 0;

  // The order the server chose: with several POSTs in flight it may store them in another order
  // than they were sent, but it must deliver them in one order to every stream. A fact's rank
  // is its place among first arrivals over all streams; a correct server's streams each see
  // increasing ranks.
  std::vector<std::uint32_t> rank_of_;  // 0: not seen yet
  std::uint32_t next_rank_ = 1;
};

}  // namespace loadgen
