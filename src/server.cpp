#include "facts/server.hpp"

#include <spdlog/spdlog.h>

#include "facts/store/make_store.hpp"

namespace facts {

namespace {

http::tcp::endpoint endpoint_of(config const& cfg) {
  boost::system::error_code ec;
  auto const address = http::net::ip::make_address(cfg.listen_host, ec);
  if (ec) throw std::invalid_argument("--listen: '" + cfg.listen_host + "' is not an IP address");
  return {address, cfg.listen_port};
}

}  // namespace

server::server(config cfg)
    : cfg_(std::move(cfg)),
      store_(make_store(cfg_.store_url, cfg_.sync)),
      hub_(std::make_unique<broadcaster>(store_->read_latest(cfg_.replay_limit), cfg_.replay_limit,
                                         store_.get())),
      writer_(std::make_unique<fact_writer>(*store_, *hub_)),
      cors_(cfg_.cors_origins),
      files_(cfg_.web_root),
      session_ctx_(std::make_unique<http::session_context>(
          http::session_context{{cors_, files_, *hub_, *store_, std::chrono::steady_clock::now()},
                                *hub_,
                                *writer_,
                                cfg_.limits,
                                cfg_.retry})),
      ioc_(static_cast<int>(cfg_.threads)),
      heartbeat_timer_(ioc_) {
  try {
    listener_ = std::make_shared<http::listener>(ioc_, endpoint_of(cfg_), *session_ctx_);
  } catch (boost::system::system_error const& e) {
    throw std::runtime_error("cannot listen on " + cfg_.listen_host + ":" +
                             std::to_string(cfg_.listen_port) + ": " + e.code().message());
  }
}

server::~server() {
  stop();
}

std::uint16_t server::port() const {
  return listener_->local_endpoint().port();
}

void server::start() {
  listener_->run();
  schedule_heartbeat();
  threads_.reserve(cfg_.threads);
  for (unsigned i = 0; i < cfg_.threads; ++i)
    threads_.emplace_back([this] { ioc_.run(); });
  spdlog::info("factsd {} listening on {}:{} with {} threads, store {}", FACTS_VERSION,
               cfg_.listen_host, port(), cfg_.threads, store_->describe());
}

void server::schedule_heartbeat() {
  // One timer for every stream: each stream decides for itself whether it was idle.
  heartbeat_timer_.expires_after(cfg_.heartbeat);
  heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    hub_->heartbeat();
    schedule_heartbeat();
  });
}

void server::run_until_signal() {
  http::net::io_context signals_ioc(1);
  http::net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([](boost::system::error_code ec, int signo) {
    if (!ec) spdlog::info("signal {} received, shutting down", signo);
  });
  signals_ioc.run();
  stop();
}

void server::stop() {
  if (stopped_) return;
  stopped_ = true;
  listener_->stop();
  http::net::post(heartbeat_timer_.get_executor(), [this] { heartbeat_timer_.cancel(); });
  // Everything already submitted is stored and answered before the streams are ended.
  writer_->stop();
  hub_->shutdown();
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (hub_->client_count() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Give the last answers a moment to leave, then stop the idle keep-alive connections too.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ioc_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  spdlog::info("factsd stopped; {} facts stored, newest id {}", store_->count(),
               store_->last_seq());
}

}  // namespace facts
