#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/commit/committer.hpp"
#include "facts/config.hpp"
#include "facts/http/http_session.hpp"
#include "facts/http/listener.hpp"
#include "facts/http/static_files.hpp"
#include "facts/http/stream_group.hpp"
#include "facts/metrics.hpp"
#include "facts/store/fact_store.hpp"

namespace facts {

/**
 * Represents SIGINT and SIGTERM held for a graceful stop, and SIGHUP for a reload. Create it
 * before any thread starts: it blocks the three signals in the calling thread, every thread
 * started later inherits that, so a signal stays pending, never lost to the default action nor
 * taken by a busy I/O thread, until wait() takes it.
 */
class shutdown_signals {
 public:
  shutdown_signals();
  /// Blocks until one of the signals arrives; returns its number.
  int wait();

  /// From now on, SIGHUP is ignored and the next SIGINT or SIGTERM ends the process at once
  /// (std::_Exit with 128 plus the signal's number), however far a graceful stop has got.
  void exit_on_next();

 private:
  sigset_t set_{};
};

/**
 * Represents the whole daemon: the composition root that owns the store, the broadcaster, the
 * writer and the I/O threads, each with its own io_context and group of streams. Tests run it
 * in-process on port 0.
 */
class server {
 public:
  /// Opens the store and binds the listening socket; throws with a clear message when it cannot.
  explicit server(config cfg);
  ~server();

  server(server const&) = delete;
  server& operator=(server const&) = delete;

  /// Starts the threads and the heartbeat; returns at once.
  void start();

  /// Stops accepting, ends every stream, stores what was submitted, joins the threads, all
  /// within --shutdown-timeout. Returns false when a thread is still busy at the deadline (the
  /// writer stuck in a commit, a handler blocked behind it): the server must then not be
  /// destroyed, and the process is to end at once (the destructor does so, with exit code 1).
  bool stop();

  /// SIGHUP: reads --jwt-key and --publish-token-file again. A file that fails to load keeps
  /// the secret in use and is logged; open streams and requests go on as they were.
  void reload();

  std::uint16_t port() const;
  broadcaster& hub() { return *hub_; }
  metrics& stats() { return stats_; }
  fact_store& store() { return *store_; }

 private:
  /** Represents one I/O thread: its io_context, which only it runs, and its streams. */
  struct io_worker {
    http::net::io_context ioc{1};
    std::shared_ptr<http::stream_group> streams;  // after ioc: its sockets close first
    std::unique_ptr<http::post_batch> posts;      // its POSTs on their way to the writer
    std::thread thread;
    std::atomic<bool> done{false};  // the thread has left ioc.run() for good
  };

  void schedule_heartbeat();
  void run_io_thread(io_worker& worker);
  /// What the start line adds about CORS '*': which pages may read and publish.
  std::string cors_note() const;

  config cfg_;
  std::unique_ptr<fact_store> store_;
  std::unique_ptr<broadcaster> hub_;
  std::unique_ptr<committer> commits_;
  http::cors_policy cors_;
  http::access_gate access_;
  http::static_files files_;
  metrics stats_;
  std::atomic<std::size_t> requests_in_flight_{0};
  // Before the sessions' context, which refers to it; stop() ends its threads and drops the
  // reads still queued (sessions among them) while the io_contexts still exist.
  std::unique_ptr<read_pool> reads_;
  std::unique_ptr<http::session_context> session_ctx_;
  // After everything sessions refer to: destroyed first.
  std::vector<std::unique_ptr<io_worker>> workers_;
  // After the workers: destroyed (its threads joined) before their io_contexts, to which its
  // answers are posted.
  std::unique_ptr<catch_up_reader> reader_;
  std::shared_ptr<http::listener> listener_;
  std::optional<http::net::steady_timer> heartbeat_timer_;  // on the first worker's thread
  std::chrono::steady_clock::time_point heartbeat_due_;     // when the last tick was due
  bool stopped_ = false;
  bool stopped_cleanly_ = false;  // stop() ended every thread within the deadline
};

}  // namespace facts
