#include "support/stream_fleet.hpp"

#include <boost/asio.hpp>
#include <deque>
#include <thread>

#include "support/socket.hpp"
#include "support/sse_client.hpp"

namespace facts::test {

struct fleet_io::impl {
  impl(std::uint16_t port, std::string request_bytes, body_handler body)
      : endpoint(net::ip::make_address_v4("127.0.0.1"), port),
        request(std::move(request_bytes)),
        on_body(std::move(body)),
        work(net::make_work_guard(ioc)) {}

  void do_connect(fleet_stream& s, tcp::socket& socket) {
    socket.async_connect(endpoint, [this, &s, &socket](beast::error_code ec) {
      if (ec) return end(s, "connect: " + ec.message());
      net::async_write(socket, net::buffer(request),
                       [this, &s, &socket](beast::error_code e, std::size_t) {
                         if (e) return end(s, "write: " + e.message());
                         do_read(s, socket);
                       });
    });
  }

  void do_read(fleet_stream& s, tcp::socket& socket) {
    socket.async_read_some(
        net::buffer(s.chunk), [this, &s, &socket](beast::error_code ec, std::size_t n) {
          if (n > 0) on_bytes(s, std::string_view(s.chunk.data(), n));
          if (ec) return end(s, ec == net::error::eof ? std::string{} : "read: " + ec.message());
          do_read(s, socket);
        });
  }

  void on_bytes(fleet_stream& s, std::string_view bytes) {
    if (s.head_done) return on_body(s, bytes);
    s.head.append(bytes);
    auto const at = head_end(s.head);
    if (at == std::string::npos) return;
    s.head_done = true;
    if (s.head.rfind("HTTP/1.1 200 ", 0) == 0)
      ++opened;
    else
      s.refused = true;
    std::string const rest = s.head.substr(at);
    s.head.resize(at);
    on_body(s, rest);
  }

  void end(fleet_stream& s, std::string why) {
    if (s.ended) return;
    // The reason first: whoever sees `ended` may then read it.
    s.error = std::move(why);
    s.ended = true;
    ++ended;
  }

  tcp::endpoint endpoint;
  std::string const request;
  body_handler const on_body;
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work;
  std::deque<tcp::socket> sockets;  // one per stream, only on thread until stop()
  std::atomic<std::size_t> opened{0};
  std::atomic<std::size_t> ended{0};
  std::thread thread;
};

fleet_io::fleet_io(std::uint16_t port, std::string request, body_handler on_body)
    : impl_(std::make_unique<impl>(port, std::move(request), std::move(on_body))) {}

fleet_io::~fleet_io() {
  stop();
}

void fleet_io::open(fleet_stream& s) {
  auto& socket = impl_->sockets.emplace_back(impl_->ioc);
  impl_->do_connect(s, socket);
}

void fleet_io::run() {
  impl_->thread = std::thread([io = impl_.get()] { io->ioc.run(); });
}

std::size_t fleet_io::opened() const {
  return impl_->opened.load();
}
std::size_t fleet_io::ended() const {
  return impl_->ended.load();
}

void fleet_io::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->work.reset();
  impl_->ioc.stop();
  impl_->thread.join();
  for (auto& socket : impl_->sockets) {
    beast::error_code ec;
    socket.close(ec);
  }
}

}  // namespace facts::test
