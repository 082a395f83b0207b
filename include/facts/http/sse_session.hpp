#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/frame_log.hpp"
#include "facts/http/net.hpp"
#include "facts/http/stream_bytes.hpp"
#include "facts/metrics.hpp"

namespace facts::http {

class stream_group;

/**
 * Represents one open event stream, owned by the stream_group of its I/O thread and touched
 * only on that thread. It owes its client its own frames (the response head and snapshot, a
 * heartbeat), then the group's frame_log from its position on, then, when the server stops, a
 * last `retry:`. It writes all it owes in one non-blocking gather write when the group asks;
 * when the socket is full it waits for room, and the group cuts it off if its backlog passes
 * --max-queue-bytes or the socket takes nothing for --write-timeout.
 */
class sse_session : public std::enable_shared_from_this<sse_session> {
 public:
  sse_session(tcp::socket socket, stream_group& group);
  ~sse_session();

  sse_session(sse_session const&) = delete;
  sse_session& operator=(sse_session const&) = delete;

  /// Starts a stream the hub let in (see joined_stream): `head` (response head and retry:),
  /// its snapshot, or with catch_up_after the facts after it up to its seq, read in chunks by
  /// the catch-up reader as the socket drains (the first one as the snapshot array); then the
  /// group's log from `position` on.
  void start(frame head, joined_stream const& joined, std::uint64_t position);

  /// A chunk the catch-up reader read for this stream; null when the read failed.
  void on_chunk(std::shared_ptr<catch_up_chunk const> chunk);

  /// Sends `last` (a response head and a retry:) and closes: a stream the hub refused.
  void refuse(frame last);

  /// Writes what it owes without blocking. A stream whose socket is full only checks its
  /// backlog against the bound.
  void flush(metrics::write_tally& tally);

  /// The heartbeat tick: a stream that owes nothing and whose last byte left at or before
  /// `silent_since` owes `f`.
  void tick(frame const& f, std::chrono::steady_clock::time_point silent_since);

  /// The server stops: send what is owed, then `last`, then close.
  void finish(frame last);

  /// Its token expired: send what is owed, then `last` (the `auth` event), then close.
  void expire(frame last);

  /// Ends a stream whose socket took nothing for `--write-timeout` by `now`. Returns whether
  /// the stream is still waiting for room, and so still to be watched.
  bool check_stall(std::chrono::steady_clock::time_point now);

  std::uint64_t position() const { return out_.position(); }
  bool closed() const { return closed_; }

  std::size_t slot = 0;  ///< index in the group's list of streams, kept by the group

 private:
  std::string peer() const;  ///< remote_ as `address:port`
  bool owes_nothing() const;
  /// Whether the log follows its own frames now: joined, history all queued, not cut short.
  bool reads_log() const;
  void advance_catch_up();
  /// Lets go of the catch-up chunk held, keeping a copy of the rest of the event in progress:
  /// the stream reads below catch_up_floor_bytes_per_second (see limits.hpp).
  void give_back_chunk();
  void keep_log_bounded();
  void consume(std::size_t bytes, metrics::write_tally& tally);
  void wait_writable();
  void on_writable(beast::error_code ec);
  void end_unacknowledged();
  void set_lagging(bool lagging);
  void wait_hangup();
  void on_readable(beast::error_code ec);
  void end(stream_end why);
  /// Sends what is owed, then `last`, then ends the stream for `why`.
  void close_after(frame last, stream_end why);

  tcp::socket socket_;
  stream_group& group_;
  // The peer, for logs: formatted only when a line is written (per stream, inet_ntop and its
  // strings were a tenth of the instructions of connecting a stream).
  tcp::endpoint remote_;
  stream_bytes out_;              // what it owes, in the order it goes out
  std::size_t client_bytes_ = 0;  // bytes the client sent after its request, dropped
  std::chrono::steady_clock::time_point stalled_since_;  // the socket's last progress
  std::chrono::steady_clock::time_point last_byte_;      // when a write last took bytes
  bool joined_ = false;                            // counted by the hub: reads the log, leaves once
  bool blocked_ = false;                           // the socket is full: waiting for room
  bool lagging_ = false;                           // counted in metrics' lagging gauge
  bool watched_ = false;                           // in the group's list for the stall check
  bool closing_ = false;                           // close once everything owed is written
  stream_end closing_why_ = stream_end::shutdown;  // what the stream ends as, once closing_
  bool closed_ = false;
  // History: the snapshot and the catch-up, sent before any of the log. While it is owed the
  // stream holds the log at its position (the frames above catch_up_until_), at most
  // --max-queue-bytes of it: past that, it moves on to the log's end and reads the facts it
  // skipped from the store, so a slow new client is never cut off before it got an id.
  bool catching_up_ = false;          // history not all queued and written: the log waits
  bool chunk_pending_ = false;        // a catch-up read is under way
  bool skip_log_ = false;             // the server stops during catch-up: end after its own frames
  bool first_pending_ = false;        // the snapshot array is still to be read (a catch-up)
  bool reset_ = false;                // ... and it is a `reset` one
  std::uint64_t sent_through_ = 0;    // newest seq of the history queued in out_
  std::uint64_t catch_up_until_ = 0;  // the history ends there; the log starts after it
  // The catch-up chunk being written, while it is: judged against the floor by check_stall.
  std::shared_ptr<catch_up_chunk const> held_;
  std::chrono::steady_clock::time_point held_since_;
  std::size_t held_taken_ = 0;  // bytes written since it came
  bool slow_catch_up_ = false;  // gave a chunk back: reads small chunks from now on
};

}  // namespace facts::http
