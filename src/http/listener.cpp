#include "facts/http/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace facts::http {

namespace {

int seconds_of(std::chrono::seconds s) {
  return static_cast<int>(std::clamp<std::chrono::seconds::rep>(s.count(), 1, 24 * 3600));
}

/**
 * Set on the listening socket: Linux copies these options to every connection it accepts, so
 * a connection costs no system call for them (they were five per stream, about a tenth of the
 * CPU of opening one). A stream's peer that vanished without FIN or RST (a laptop asleep behind
 * NAT) takes no data and acks nothing; heartbeats are too small to ever fill its socket, so without
 * help the kernel's own retransmissions would hold the slot for about 15 minutes. TCP_USER_TIMEOUT
 * ends the connection once data (a heartbeat, a fact) has gone unacknowledged for --write-timeout,
 * so a dead peer is found within a heartbeat plus --write-timeout; keepalive probes do the same for
 * a stream that writes nothing at all: the first after half of --write-timeout idle, then every
 * quarter, and TCP_USER_TIMEOUT (which overrides the probe count) ends it once --write-timeout
 * has passed without an ack. (Linux also applies it to a live peer that keeps its window shut
 * that long: the same stream the stall check cuts off, see check_stall.)
 */
void detect_dead_peers(int fd, std::chrono::seconds write_timeout) {
  int const on = 1;
  int const idle = seconds_of(write_timeout / 2);
  int const interval = seconds_of(write_timeout / 4);
  int const probes = 4;
  auto const user_timeout = static_cast<unsigned>(
      std::chrono::duration_cast<std::chrono::milliseconds>(write_timeout).count());
  bool const ok =
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == 0 &&
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == 0 &&
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) == 0 &&
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes) == 0 &&
      ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout) == 0 &&
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
  if (!ok)
    spdlog::warn("[listener] cannot set TCP_NODELAY, keepalive or TCP_USER_TIMEOUT: {}",
                 std::strerror(errno));
}

}  // namespace

listener::listener(std::vector<io_lane> lanes, tcp::endpoint endpoint, session_context const& ctx)
    : lanes_(std::move(lanes)),
      acceptor_(lanes_.front().ioc),
      backoff_(acceptor_.get_executor()),
      ctx_(ctx) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  // Answers and events go out as they are written (TCP_NODELAY), and dead peers are found.
  detect_dead_peers(acceptor_.native_handle(), ctx_.lim.write_timeout);
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
    std::make_shared<http_session>(std::move(socket), ctx_, lanes_[lane].streams,
                                   lanes_[lane].posts)
        ->run();
  }
  do_accept();
}

}  // namespace facts::http
