#pragma once

#include <memory>

#include "facts/http/http_session.hpp"
#include "facts/http/net.hpp"

namespace facts::http {

/** Represents the accept loop: every connection gets its own strand and an http_session. */
class listener : public std::enable_shared_from_this<listener> {
 public:
  /// Binds and listens; throws boost::system::system_error when it cannot.
  listener(net::io_context& ioc, tcp::endpoint endpoint, session_context const& ctx);

  void run();
  void stop();
  tcp::endpoint local_endpoint() const;

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;     // only on acceptor_'s strand
  net::steady_timer backoff_;  // same strand: the pause after running out of descriptors
  bool starved_ = false;       // in such a pause episode; logged once per episode
  session_context const& ctx_;
};

}  // namespace facts::http
