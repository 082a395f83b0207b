#include "facts/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <system_error>

#include "facts/store/make_store.hpp"

namespace facts {

namespace {

http::tcp::endpoint endpoint_of(config const& cfg) {
  boost::system::error_code ec;
  auto const address = http::net::ip::make_address(cfg.listen_host, ec);
  if (ec) throw std::invalid_argument("--listen: '" + cfg.listen_host + "' is not an IP address");
  return {address, cfg.listen_port};
}

bool is_loopback(std::string const& host) {
  boost::system::error_code ec;
  auto const address = http::net::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

// Every stream is a descriptor: take all the kernel allows this process, and say how many.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  spdlog::info("open file limit: {}", static_cast<unsigned long long>(limit.rlim_cur));
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
          http::session_context{{cors_, files_, *hub_, *store_, std::chrono::steady_clock::now(),
                                 cfg_.publish_token, cfg_.limits, stats_},
                                *hub_,
                                *writer_,
                                cfg_.limits,
                                cfg_.retry,
                                stats_,
                                requests_in_flight_})),
      reader_(std::make_unique<catch_up_reader>(*store_, catch_up_reader::default_chunk_bytes,
                                                catch_up_reader::default_budget_bytes, 2)) {
  hub_->limit_clients(cfg_.limits.max_clients);
  std::vector<http::io_lane> lanes;
  for (unsigned i = 0; i < std::max(1u, cfg_.threads); ++i) {
    auto& worker = *workers_.emplace_back(std::make_unique<io_worker>());
    worker.streams =
        std::make_shared<http::stream_group>(worker.ioc, *hub_, *reader_, cfg_.limits, stats_);
    hub_->attach(worker.streams);
    lanes.push_back({worker.ioc, *worker.streams});
  }
  heartbeat_timer_.emplace(workers_.front()->ioc);
  try {
    listener_ =
        std::make_shared<http::listener>(std::move(lanes), endpoint_of(cfg_), *session_ctx_);
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
  raise_open_file_limit();
  if (cfg_.publish_token.empty() && !is_loopback(cfg_.listen_host))
    spdlog::warn("no --publish-token: anyone who can reach {} may publish facts", cfg_.listen_host);
  listener_->run();
  schedule_heartbeat();
  for (auto& worker : workers_) {
    worker->streams->start();
    worker->thread = std::thread([this, &ioc = worker->ioc] { run_io_thread(ioc); });
  }
  spdlog::info("factsd {} listening on {}:{} with {} threads, store {}", FACTS_VERSION,
               cfg_.listen_host, port(), cfg_.threads, store_->describe());
}

void server::run_io_thread(http::net::io_context& ioc) {
  // A handler that throws must not take the daemon down with every stream on it; the
  // sessions catch what they expect, this is the last line.
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (std::exception const& e) {
      spdlog::error("[server] a handler failed: {}", e.what());
    }
  }
}

void server::schedule_heartbeat() {
  // One timer for every stream: each stream decides for itself whether it was idle.
  heartbeat_timer_->expires_after(cfg_.heartbeat);
  heartbeat_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    hub_->heartbeat();
    schedule_heartbeat();
  });
}

shutdown_signals::shutdown_signals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  if (int const err = pthread_sigmask(SIG_BLOCK, &set_, nullptr); err != 0)
    throw std::system_error(err, std::generic_category(), "cannot block SIGINT and SIGTERM");
}

int shutdown_signals::wait() {
  int received = 0;
  while (sigwait(&set_, &received) != 0) {
  }
  return received;
}

void server::stop() {
  if (stopped_) return;
  stopped_ = true;
  auto const deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
  listener_->stop();
  // Every POST already submitted is stored, fanned out and answered before the streams end;
  // one that arrives from now on is refused with 503 and not stored.
  writer_->stop();
  hub_->shutdown();
  while ((hub_->client_count() > 0 || requests_in_flight_ > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (hub_->client_count() > 0 || requests_in_flight_ > 0)
    spdlog::warn("--shutdown-timeout reached with {} streams and {} requests still open",
                 hub_->client_count(), requests_in_flight_.load());
  for (auto& worker : workers_)
    worker->ioc.stop();  // idle keep-alive connections end here
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
    hub_->detach(worker->streams.get());
  }
  spdlog::info("factsd stopped; {} facts stored, newest id {}", store_->count(),
               store_->last_seq());
}

}  // namespace facts
