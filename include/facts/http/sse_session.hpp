#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/http/net.hpp"
#include "facts/limits.hpp"
#include "facts/metrics.hpp"
#include "facts/subscriber.hpp"

namespace facts::http {

/**
 * Represents one open event stream. It queues the frames the broadcaster gives it, keeps one
 * write in flight that sends everything queued as one gather write, cuts itself off when its
 * queue outgrows the limit or a write stalls, and notices a peer that hangs up.
 * All members are touched only on the connection's strand.
 */
class sse_session : public subscriber, public std::enable_shared_from_this<sse_session> {
 public:
  sse_session(beast::tcp_stream&& stream, broadcaster& hub, limits const& lim, metrics& stats);
  ~sse_session() override;

  /// Subscribes and sends `header` (the HTTP response head), `retry:` and the snapshot; at
  /// --max-clients, a later retry: instead, then closes. Must run on the connection's strand.
  void run(std::string header, std::chrono::milliseconds retry,
           std::optional<std::string> last_event_id);

  void deliver(frame f, frame_meta meta) override;
  void heartbeat(frame f) override;
  void close() override;

 private:
  void on_deliver(frame f, frame_meta meta);
  void on_heartbeat(frame f);
  void on_shutdown();
  void enqueue(frame f, frame_meta meta = {});
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void set_lagging(bool lagging);
  void do_wait_hangup();
  void on_readable(beast::error_code ec);
  void do_close(stream_end why);

  beast::tcp_stream stream_;
  broadcaster& hub_;
  limits const& limits_;
  metrics& stats_;
  std::string remote_;  // peer address, for logs
  /** Represents one frame waiting or being written; live events have meta.events > 0. */
  struct queued {
    frame bytes;
    frame_meta meta;
  };
  std::vector<queued> queue_;               // frames waiting for the next write
  std::vector<queued> in_flight_;           // frames the current write is sending
  std::vector<net::const_buffer> buffers_;  // views of in_flight_ for the gather write
  std::size_t queued_bytes_ = 0;            // bytes of live events in queue_
  std::size_t in_flight_bytes_ = 0;         // bytes of live events in in_flight_
  bool idle_since_tick_ = true;             // nothing written since the last heartbeat tick
  bool lagging_ = false;                    // counted in metrics' lagging gauge
  bool closing_ = false;                    // shutting down: close once the queue is written
  bool closed_ = false;
  bool subscribed_ = false;  // registered with the hub (not refused)
};

}  // namespace facts::http
