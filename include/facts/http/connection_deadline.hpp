#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "facts/http/net.hpp"

namespace facts::http {

/**
 * Represents a connection's one deadline, moved by every request and answer without touching
 * the timer: it is re-armed only when it fires early (the deadline moved later meanwhile) or
 * when the deadline moves earlier. A timer wait and cancel per read and per write (Beast's
 * tcp_stream) was an eighth of a POST's instructions. Touched only on the connection's thread.
 */
class connection_deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// `on_expired` runs on the connection's thread once a deadline passes, while `owner` lives:
  /// a connection that ended is not kept alive by its pending deadline.
  connection_deadline(net::any_io_executor executor, std::weak_ptr<void> owner,
                      std::function<void()> on_expired);

  /// The deadline is `timeout` from now, unless a later call moves it.
  void expire_after(clock::duration timeout);
  void expire_never();

 private:
  void arm(clock::time_point when);
  void on_timer();

  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point armed_for_ = clock::time_point::max();  // the pending wait's expiry
  net::steady_timer timer_;
  std::weak_ptr<void> owner_;
  std::function<void()> on_expired_;
};

}  // namespace facts::http
