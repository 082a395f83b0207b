#pragma once

#include <memory>
#include <vector>

#include "facts/http/http_session.hpp"
#include "facts/http/net.hpp"
#include "facts/http/post_batch.hpp"
#include "facts/http/stream_group.hpp"

namespace facts::http {

/** Represents one I/O thread as the listener sees it: where a connection runs, and its streams. */
struct io_lane {
  net::io_context& ioc;   ///< run by exactly one thread
  stream_group& streams;  ///< that thread's event streams
  post_batch& posts;      ///< that thread's POSTs on their way to the writer
};

/**
 * Represents the accept loop: it hands connections to the I/O threads in turn, each to run
 * there for its whole life, so that no connection's handlers need a strand.
 */
class listener : public std::enable_shared_from_this<listener> {
 public:
  /// Binds and listens on the first lane's thread; throws boost::system::system_error when it
  /// cannot. `lanes` must not be empty.
  listener(std::vector<io_lane> lanes, tcp::endpoint endpoint, session_context const& ctx);

  void run();
  void stop();
  tcp::endpoint local_endpoint() const;

 private:
  void do_accept();
  void on_accept(std::size_t lane, beast::error_code ec, tcp::socket socket);

  std::vector<io_lane> lanes_;
  std::size_t next_lane_ = 0;  // the lane the next connection goes to
  tcp::acceptor acceptor_;     // only on the first lane's thread
  net::steady_timer backoff_;  // same thread: the pause after running out of descriptors
  bool starved_ = false;       // in such a pause episode; logged once per episode
  session_context const& ctx_;
};

}  // namespace facts::http
