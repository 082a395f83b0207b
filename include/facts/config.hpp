#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "facts/http/token_key.hpp"
#include "facts/limits.hpp"
#include "facts/store/retention_bounds.hpp"
#include "facts/store/sync_mode.hpp"

namespace facts {

/** Represents the daemon's whole configuration: one immutable value, parsed once at startup. */
struct config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 3001;
  unsigned threads = 0;  ///< 0 until parsed; then at least 1
  std::string web_root;  ///< empty: serve the page compiled into the binary
  std::chrono::seconds heartbeat{15};
  std::chrono::milliseconds retry{2000};
  std::vector<std::string> cors_origins{"*"};
  std::string store_url = "sqlite:facts.db";
  sync_mode sync = sync_mode::full;
  std::size_t replay_limit = 10'000;  ///< most facts in a new client's snapshot; 0 = all
  retention_bounds retention{};       ///< how much history the store keeps; none: all of it
  std::string log_level = "info";
  std::string publish_token;       ///< empty: anyone may publish (unless a --jwt-key is set)
  std::string publish_token_file;  ///< where publish_token came from; SIGHUP reads it again
  /// --read-auth token: the routes that read need a token with facts:read.
  bool reads_need_token = false;
  std::string jwt_key_file;                        ///< empty: no tokens; SIGHUP reads it again
  std::shared_ptr<http::token_key const> jwt_key;  ///< what jwt_key_file held at start
  std::string jwt_audience;                        ///< a token's `aud` must hold it, when set
  std::string jwt_issuer;                          ///< a token's `iss` must be it, when set
  std::string jwt_cookie = "factsd_token";         ///< the cookie a browser's token comes in
  std::chrono::seconds shutdown_timeout{10};
  /// nats:// stores: how long startup waits for NATS and the stream before giving up.
  std::chrono::seconds connect_timeout{10};
  /// How long a POST waits for the log's acknowledgement (and for the fact to come back through
  /// the follower), and a Last-Event-ID the log has but this instance not yet, for it.
  std::chrono::seconds publish_timeout{5};
  /// /healthz answers 503 while this instance is more facts than this behind the log.
  std::uint64_t max_lag = 1000;
  facts::limits limits;
};

/** Represents the outcome of parsing the command line: run with a config, or exit now. */
struct config_result {
  facts::config config;
  bool exit_now = false;  ///< --help, --version or a bad flag
  int exit_code = 0;      ///< 0 for --help/--version, 2 for a bad flag or value
  std::string message;    ///< what to print: help text to stdout, an error line to stderr
};

/**
 * Parses argv, with every flag also settable as FACTSD_<FLAG> in the environment.
 * Never throws and never prints: the caller decides where the message goes.
 */
config_result parse_config(int argc, char const* const* argv);

/// The --store used when none is given: sqlite:facts.db, or under systemd's StateDirectory=,
/// sqlite:$STATE_DIRECTORY/facts.db (the first folder when it names several).
std::string default_store_url();

/** Reads a publish token file: its first line, trailing spaces dropped. Returns the error, or
 * empty with `token` set. */
std::string read_publish_token_file(std::string const& path, std::string& token);

/** Splits "HOST:PORT" (or "[V6]:PORT"); returns false when it is not one. */
bool parse_listen_address(std::string const& text, std::string& host, std::uint16_t& port);

}  // namespace facts
