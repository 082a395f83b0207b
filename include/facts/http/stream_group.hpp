#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/frame_log.hpp"
#include "facts/http/net.hpp"
#include "facts/limits.hpp"
#include "facts/metrics.hpp"
#include "facts/subscriber.hpp"

namespace facts::http {

class sse_session;

/**
 * Represents the event streams of one I/O thread, as one subscriber of the broadcaster: a new
 * batch costs one post to this thread, not one per stream. The thread appends it to the group's
 * frame_log and then, in one pass, lets every stream write all it owes in one gather write, so
 * the frames that arrived while a pass ran go out together in the next. Everything but the
 * subscriber methods runs on the group's thread, which is its io_context's only thread.
 */
class stream_group : public subscriber, public std::enable_shared_from_this<stream_group> {
 public:
  /// `heartbeat`: no stream is silent longer than this (--heartbeat); the server ticks every
  /// heartbeat_tick() of it.
  stream_group(net::io_context& ioc, broadcaster& hub, catch_up_reader& reader, limits const& lim,
               metrics& stats, std::chrono::milliseconds heartbeat = std::chrono::seconds(15));
  ~stream_group() override;

  stream_group(stream_group const&) = delete;
  stream_group& operator=(stream_group const&) = delete;

  /// Starts the stall check (see sse_session::check_stall) on the group's thread.
  void start();

  // From any thread (the broadcaster's subscriber): each only posts to the group's thread.
  void deliver(frame f, frame_meta meta) override;
  void heartbeat(frame f) override;
  void close() override;

  /// On the group's thread: asks the hub to let a stream in and starts it with `head` (the
  /// response head and retry:) and its snapshot, or refuses it with a later retry:. A stream
  /// opened with a token ends when it `expires`, with an `auth` event.
  void open(tcp::socket socket, std::string head, std::chrono::milliseconds retry,
            std::optional<std::string> const& last_event_id,
            std::optional<std::chrono::system_clock::time_point> expires = std::nullopt);

  // For the group's streams, on its thread.
  frame_log const& log() const { return log_; }
  broadcaster& hub() { return hub_; }
  limits const& lim() const { return limits_; }
  metrics& stats() { return stats_; }
  /// Has the catch-up reader read the facts after `after` (up to `until` for a snapshot array)
  /// for `stream`, in `form`, events at most `bytes` (0: the reader's chunk size); the chunk
  /// comes back to it on this thread (sse_session::on_chunk).
  void read_catch_up(std::shared_ptr<sse_session> stream, std::uint64_t after, std::uint64_t until,
                     chunk_form form, std::size_t bytes);
  /// Writes what one stream owes now (its socket has room again).
  void flush_one(sse_session& stream);
  /// Has the stall check look at a stream whose socket is full (see sse_session::check_stall).
  void watch_stall(std::shared_ptr<sse_session> stream);
  /// Drops a closed stream from the group; it is destroyed once its handlers are done.
  void forget(sse_session& stream);

 private:
  /// Moves the inbox into the log, as one frame, or two split after seq `split_after`.
  void take_inbox(std::uint64_t split_after = std::numeric_limits<std::uint64_t>::max());
  void run_pass();
  void compact();
  void on_tick(frame f);
  void on_close();
  void schedule_stall_check();
  /// Ends the streams whose token expired by `now` (see expiries_).
  void end_expired(std::chrono::steady_clock::time_point now);

  net::io_context& ioc_;
  broadcaster& hub_;
  catch_up_reader& reader_;
  limits const& limits_;
  metrics& stats_;
  std::chrono::milliseconds heartbeat_;

  // Streams listed in streams_ plus those between hub_.join() and their listing. Written on the
  // group's thread, read by deliver(): see there why a frame may be dropped when it is zero.
  std::atomic<std::size_t> members_{0};
  std::mutex inbox_mutex_;                           // guards the two members below
  std::vector<std::pair<frame, frame_meta>> inbox_;  // delivered, not yet in log_
  bool pass_active_ = false;                         // a pass is queued or under way

  // The group's thread only.
  std::vector<std::pair<frame, frame_meta>>
      arrived_;  // the inbox being taken; kept for its capacity
  frame_log log_;
  std::vector<std::shared_ptr<sse_session>> streams_;  // the streams that read log_; null: gone
  std::size_t holes_ = 0;                              // null entries in streams_
  std::vector<std::shared_ptr<sse_session>> retired_;  // closed, released after the pass
  std::vector<std::shared_ptr<sse_session>> blocked_;  // for the stall check: sockets were full
  std::size_t pass_next_ = 0;                          // the next stream the pass serves
  std::uint64_t pass_lowest_ = 0;                      // lowest position the pass has seen
  std::uint64_t pass_end_ = 0;                         // log_'s end when the pass began
  bool release_posted_ = false;
  bool closing_ = false;
  net::steady_timer stall_timer_;
  /** Represents when one stream's token expires. */
  struct expiry {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<sse_session> stream;
  };
  // A heap, soonest first, looked at by the stall check: a check costs nothing until a token
  // is due, however many streams are open. A stream gone before its expiry is dropped then.
  std::vector<expiry> expiries_;
  frame const token_expired_;  // the `auth` event every expired stream ends with
  metrics::write_tally tally_;
};

}  // namespace facts::http
