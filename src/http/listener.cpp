#include "facts/http/listener.hpp"

#include <spdlog/spdlog.h>

namespace facts::http {

listener::listener(std::vector<io_lane> lanes, tcp::endpoint endpoint, session_context const& ctx)
    : lanes_(std::move(lanes)),
      acceptor_(lanes_.front().ioc),
      backoff_(acceptor_.get_executor()),
      ctx_(ctx) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void listener::run() {
  net::dispatch(acceptor_.get_executor(),
                beast::bind_front_handler(&listener::do_accept, shared_from_this()));
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->backoff_.cancel();
  });
}

tcp::endpoint listener::local_endpoint() const {
  return acceptor_.local_endpoint();
}

void listener::do_accept() {
  // Round robin: the streams spread evenly over the threads, and so does the fan-out work.
  auto const lane = next_lane_;
  next_lane_ = (next_lane_ + 1) % lanes_.size();
  acceptor_.async_accept(lanes_[lane].ioc,
                         beast::bind_front_handler(&listener::on_accept, shared_from_this(), lane));
}

void listener::on_accept(std::size_t lane, beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
      ec == net::error::no_memory || ec == std::errc::too_many_files_open_in_system) {
    // Retrying at once would fail at once, in a loop that burns a core and floods the log.
    // Pause, so closing connections can free descriptors, and say so once per episode.
    if (!starved_) spdlog::warn("[listener] accept paused: {}", ec.message());
    starved_ = true;
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  if (ec) {
    spdlog::warn("[listener] accept failed: {}", ec.message());
  } else {
    if (starved_) spdlog::info("[listener] accepting again");
    starved_ = false;
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<http_session>(std::move(socket), ctx_, lanes_[lane].streams,
                                   lanes_[lane].posts)
        ->run();
  }
  do_accept();
}

}  // namespace facts::http
