#include "facts/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
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

// Threads for the store reads of requests (pages, single facts): two, so one read stuck
// behind a stopped NATS node does not hold up the others.
constexpr unsigned store_read_threads = 2;

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
      store_(make_store(cfg_.store_url, {cfg_.sync, cfg_.connect_timeout, cfg_.publish_timeout,
                                         cfg_.limits.max_fact_bytes, cfg_.retention})),
      hub_(std::make_unique<broadcaster>(store_->read_latest(cfg_.replay_limit), cfg_.replay_limit,
                                         store_.get())),
      commits_(make_committer(*store_, *hub_, cfg_.publish_timeout)),
      // A listed origin's page may send the cookie a token comes in.
      cors_(cfg_.cors_origins, cfg_.jwt_key != nullptr),
      access_({cfg_.reads_need_token,
               cfg_.jwt_cookie,
               {cfg_.jwt_audience, cfg_.jwt_issuer, std::chrono::seconds(5)}},
              cfg_.publish_token, cfg_.jwt_key),
      files_(cfg_.web_root),
      reads_(std::make_unique<read_pool>(store_read_threads)),
      session_ctx_(std::make_unique<http::session_context>(
          http::session_context{{cors_, files_, *hub_, *store_, std::chrono::steady_clock::now(),
                                 access_, cfg_.limits, stats_, cfg_.max_lag},
                                *hub_,
                                cfg_.limits,
                                cfg_.retry,
                                stats_,
                                requests_in_flight_,
                                cfg_.publish_timeout,
                                *reads_})),
      reader_(std::make_unique<catch_up_reader>(*store_, catch_up_reader::default_chunk_bytes,
                                                catch_up_reader::default_budget_bytes, 2)) {
  session_ctx_->routes.catch_up = reader_.get();
  hub_->limit_clients(cfg_.limits.max_clients);
  // The one road from the log to the streams, for every store: what this instance stores and
  // what another stores on a shared log reach the broadcaster here, in seq order; a committer
  // acknowledges a POST once the hub has fanned its fact out.
  store_->follow(hub_->last_seq(),
                 [this](std::vector<fact> const& batch) { hub_->publish(batch); });
  std::vector<http::io_lane> lanes;
  for (unsigned i = 0; i < std::max(1u, cfg_.threads); ++i) {
    auto& worker = *workers_.emplace_back(std::make_unique<io_worker>());
    worker.streams = std::make_shared<http::stream_group>(worker.ioc, *hub_, *reader_, cfg_.limits,
                                                          stats_, cfg_.heartbeat);
    hub_->attach(worker.streams);
    worker.posts = std::make_unique<http::post_batch>(worker.ioc, *commits_);
    lanes.push_back({worker.ioc, *worker.streams, *worker.posts});
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
  // A thread stuck past --shutdown-timeout (the writer in an fsync) still uses what this object
  // owns: nothing here may be destroyed, so the process ends instead (main does so first).
  if (!stop()) std::_Exit(1);
}

std::uint16_t server::port() const {
  return listener_->local_endpoint().port();
}

void server::start() {
  raise_open_file_limit();
  if (!access_.publish_guarded() && !is_loopback(cfg_.listen_host))
    spdlog::warn("no --publish-token: anyone who can reach {} may publish facts", cfg_.listen_host);
  listener_->run();
  schedule_heartbeat();
  for (auto& worker : workers_) {
    worker->streams->start();
    worker->thread = std::thread([this, &w = *worker] { run_io_thread(w); });
  }
  spdlog::info("factsd {} listening on {}:{} with {} threads, store {}, history {}{}",
               FACTS_VERSION, cfg_.listen_host, port(), cfg_.threads, store_->describe(),
               cfg_.retention.describe(), cors_note());
}

void server::run_io_thread(io_worker& worker) {
  // A handler that throws must not take the daemon down with every stream on it; the
  // sessions catch what they expect, this is the last line.
  for (;;) {
    try {
      worker.ioc.run();
      break;
    } catch (std::exception const& e) {
      spdlog::error("[server] a handler failed: {}", e.what());
    }
  }
  worker.done = true;
}

std::string server::cors_note() const {
  bool const any_origin =
      cfg_.cors_origins.empty() ||
      std::find(cfg_.cors_origins.begin(), cfg_.cors_origins.end(), "*") != cfg_.cors_origins.end();
  if (!any_origin) return {};
  // Even on loopback: the browser on this machine runs pages from anywhere, and CORS '*' lets
  // each of them post here (a developer's factsd, opened by any tab).
  if (!access_.publish_guarded())
    return "; CORS '*': any web page a browser here opens may read and publish facts (set "
           "--cors-origin or --publish-token)";
  if (access_.reads_need_token())
    return "; CORS '*': a web page from anywhere may read facts with a token of its own, never "
           "with the cookie";
  return "; CORS '*': any web page a browser here opens may read facts";
}

void server::reload() {
  spdlog::info("SIGHUP: reading the secrets again");
  if (!cfg_.jwt_key_file.empty()) {
    auto loaded = http::load_token_key(cfg_.jwt_key_file);
    if (!loaded.key) {
      spdlog::error("--jwt-key not reloaded, the key in use stays: {}", loaded.error);
    } else {
      spdlog::info("--jwt-key reloaded: {}", http::algorithm_name(loaded.key->alg));
      access_.replace_key(std::move(loaded.key));
    }
  }
  if (!cfg_.publish_token_file.empty()) {
    std::string token;
    if (auto const error = read_publish_token_file(cfg_.publish_token_file, token);
        !error.empty()) {
      spdlog::error("--publish-token-file not reloaded, the token in use stays: {}", error);
    } else {
      spdlog::info("--publish-token-file reloaded");
      access_.replace_publish_token(std::move(token));
    }
  }
}

void server::schedule_heartbeat() {
  // One timer for every stream: each stream decides for itself how long it has been silent.
  heartbeat_timer_->expires_after(heartbeat_tick(cfg_.heartbeat));
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
  sigaddset(&set_, SIGHUP);
  if (int const err = pthread_sigmask(SIG_BLOCK, &set_, nullptr); err != 0)
    throw std::system_error(err, std::generic_category(),
                            "cannot block SIGINT, SIGTERM and SIGHUP");
}

int shutdown_signals::wait() {
  int received = 0;
  while (sigwait(&set_, &received) != 0) {
  }
  return received;
}

void shutdown_signals::exit_on_next() {
  // A thread of its own: the thread that took the first signal is busy stopping the server.
  // The set by value: the thread may outlive this object, blocked in sigwait until the end.
  std::thread([set = set_] {
    int signo = 0;
    // A reload asked for while stopping is moot: only a second stop ends the stop.
    while (sigwait(&set, &signo) != 0 || signo == SIGHUP) {
    }
    spdlog::warn("signal {} received again: exiting at once (committed facts are kept)", signo);
    spdlog::default_logger()->flush();
    // No destructors, no waiting: what the store committed is on disk, the rest was never
    // acknowledged.
    std::_Exit(128 + signo);
  }).detach();
}

bool server::stop() {
  if (stopped_) return stopped_cleanly_;
  stopped_ = true;
  auto const deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
  listener_->stop();
  // Every POST already submitted is stored, fanned out and answered before the streams end;
  // one that arrives from now on is refused with 503 and not stored. A commit that does not end
  // by the deadline (a stuck fsync) is left to itself: the rest of the stop keeps the deadline.
  bool const writer_done = commits_->stop(deadline);
  if (!writer_done)
    spdlog::error(
        "--shutdown-timeout reached with the writer still in a commit; ending without it");
  store_->stop_following();
  hub_->shutdown();
  while ((hub_->client_count() > 0 || requests_in_flight_ > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (hub_->client_count() > 0 || requests_in_flight_ > 0)
    spdlog::warn("--shutdown-timeout reached with {} streams and {} requests still open",
                 hub_->client_count(), requests_in_flight_.load());
  for (auto& worker : workers_)
    worker->ioc.stop();  // idle keep-alive connections end here
  // A handler may be blocked in a store read behind the stuck commit: wait for the threads until
  // the deadline (and a moment more, for the handlers that were running), join only those done.
  auto const threads_deadline =
      std::max(deadline, std::chrono::steady_clock::now()) + std::chrono::milliseconds(500);
  auto const finished = [](auto const& w) { return w->done || !w->thread.joinable(); };
  while (!std::all_of(workers_.begin(), workers_.end(), finished) &&
         std::chrono::steady_clock::now() < threads_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool threads_done = true;
  for (auto& worker : workers_) {
    if (!finished(worker)) {
      threads_done = false;
      continue;
    }
    if (worker->thread.joinable()) worker->thread.join();
    hub_->detach(worker->streams.get());
  }
  // The reads still queued never run: their requests ended with the io_contexts' handlers.
  bool const reads_done = reads_->stop(threads_deadline);
  stopped_cleanly_ = writer_done && threads_done && reads_done;
  if (!stopped_cleanly_) return false;
  spdlog::info("factsd stopped; {} facts stored, newest id {}", store_->count(),
               store_->last_seq());
  return true;
}

}  // namespace facts
