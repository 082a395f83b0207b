#include "facts/config.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "facts/store/nats_url.hpp"

namespace facts {

bool parse_listen_address(std::string const& text, std::string& host, std::uint16_t& port) {
  auto const colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return false;  // a bare IPv6 address is ambiguous without brackets
  }
  unsigned value = 0;
  auto const digits = std::string_view(text).substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || value > 65535) return false;
  host = std::move(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

namespace {

bool has_line_break(std::string const& s) {
  return s.find_first_of("\r\n") != std::string::npos || s.find('\0') != std::string::npos;
}

// The daemon promises one line on stderr for a usage error, whatever bytes the bad value held:
// control characters (CLI11 quotes values back as given) are shown as \xNN.
std::string one_line(std::string_view text) {
  std::string out;
  for (char const c : text) {
    auto const byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += c;
  }
  return out;
}

// A cookie name is an HTTP token (RFC 6265, 4.1.1): visible ASCII but separators.
bool is_cookie_name(std::string const& name) {
  constexpr std::string_view separators = "()<>@,;:\\\"/[]?={} \t";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return c > 0x20 && c < 0x7f && separators.find(c) == std::string_view::npos;
  });
}

}  // namespace

// systemd's StateDirectory= hands the service a folder it may write, in $STATE_DIRECTORY (a
// colon-separated list when the unit names several): the store goes into the first, so that a
// unit needs no --store of its own.
std::string default_store_url() {
  char const* state = std::getenv("STATE_DIRECTORY");
  if (state == nullptr) return "sqlite:facts.db";
  std::string_view const dirs(state);
  auto const first = dirs.substr(0, dirs.find(':'));
  if (first.empty()) return "sqlite:facts.db";
  return "sqlite:" + std::string(first) + (first.ends_with('/') ? "" : "/") + "facts.db";
}

std::string read_publish_token_file(std::string const& path, std::string& token) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  if (!in && !in.eof()) return "cannot read '" + path + "'";
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  if (line.empty()) return "'" + path + "' is empty";
  if (has_line_break(line)) return "must be one line of text";
  token = std::move(line);
  return {};
}

config_result parse_config(int argc, char const* const* argv) {
  config_result result;
  config& cfg = result.config;
  std::string listen = "127.0.0.1:3001";
  long long heartbeat_s = cfg.heartbeat.count();
  long long retry_ms = cfg.retry.count();
  std::vector<std::string> origins;

  CLI::App app{"factsd: a Server-Sent Events facts server", "factsd"};
  app.footer("factsd backup --help: a consistent copy of a sqlite: store while factsd runs");
  app.set_version_flag("--version", std::string("factsd ") + FACTS_VERSION);
  app.option_defaults()->always_capture_default();
  app.add_option("--listen", listen, "HOST:PORT to listen on")->envname("FACTSD_LISTEN");
  app.add_option("--threads", cfg.threads, "I/O threads (default: hardware threads)")
      ->envname("FACTSD_THREADS")
      ->check(CLI::Range(1u, 256u));
  app.add_option("--web-root", cfg.web_root,
                 "serve the page from this directory instead of the copy built in")
      ->envname("FACTSD_WEB_ROOT")
      ->check(CLI::ExistingDirectory);
  app.add_option("--heartbeat", heartbeat_s, "seconds between heartbeat comments on idle streams")
      ->envname("FACTSD_HEARTBEAT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--retry", retry_ms, "reconnection delay sent to clients as retry:, in ms")
      ->envname("FACTSD_RETRY")
      ->check(CLI::Range(0LL, 3600000LL));
  app.add_option("--cors-origin", origins,
                 "origin allowed to read and post (repeatable; default *)")
      ->envname("FACTSD_CORS_ORIGIN")
      ->delimiter(',');
  auto* const store =
      app.add_option("--store", cfg.store_url,
                     "where facts live: sqlite:PATH, memory: or "
                     "nats://[USER:PASS@|TOKEN@]HOST:PORT[,HOST:PORT...]/STREAM[?replicas=N] "
                     "(under systemd's StateDirectory=, sqlite:$STATE_DIRECTORY/facts.db)")
          ->envname("FACTSD_STORE");
  long long connect_timeout_s = cfg.connect_timeout.count();
  long long publish_timeout_s = cfg.publish_timeout.count();
  app.add_option("--connect-timeout", connect_timeout_s,
                 "seconds startup waits for NATS and its stream (nats:// stores)")
      ->envname("FACTSD_CONNECT_TIMEOUT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--publish-timeout", publish_timeout_s,
                 "seconds a POST waits for the log to acknowledge a fact before answering 503, "
                 "and a Last-Event-ID this instance has not received yet waits for it")
      ->envname("FACTSD_PUBLISH_TIMEOUT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--max-lag", cfg.max_lag,
                 "facts this instance may lag the log before /healthz answers 503")
      ->envname("FACTSD_MAX_LAG")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000'000}));
  std::string sync = "full";
  app.add_option("--sync", sync, "full: fsync before acknowledging; normal: survive crashes only")
      ->envname("FACTSD_SYNC")
      ->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--replay-limit", cfg.replay_limit,
                 "most facts in a new client's first event, the newest (0 = all)")
      ->envname("FACTSD_REPLAY_LIMIT")
      ->check(CLI::Range(std::size_t{0}, std::size_t{10'000'000}));
  std::string retain_age;
  std::string retain_bytes;
  app.add_option("--retain-facts", cfg.retention.facts,
                 "keep only the newest N facts; older ones are deleted (0 = keep all)")
      ->envname("FACTSD_RETAIN_FACTS")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000'000'000'000}));
  app.add_option("--retain-age", retain_age,
                 "delete facts older than this: 90d, 12h, 30m or seconds (0 = keep all)")
      ->envname("FACTSD_RETAIN_AGE");
  app.add_option("--retain-bytes", retain_bytes,
                 "keep only the newest facts whose JSON adds up to this: 2GiB, 500MiB or bytes "
                 "(0 = keep all)")
      ->envname("FACTSD_RETAIN_BYTES");
  app.add_option("--max-fact-bytes", cfg.limits.max_fact_bytes, "largest POST /fact body")
      ->envname("FACTSD_MAX_FACT_BYTES")
      ->check(CLI::Range(std::size_t{2}, std::size_t{64} << 20));
  app.add_option("--max-header-bytes", cfg.limits.max_header_bytes,
                 "largest request head (request line and headers)")
      ->envname("FACTSD_MAX_HEADER_BYTES")
      ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 20));
  app.add_option("--max-url-bytes", cfg.limits.max_url_bytes, "longest request target")
      ->envname("FACTSD_MAX_URL_BYTES")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20));
  app.add_option("--max-queue-bytes", cfg.limits.max_queue_bytes,
                 "bytes queued for one stream before it is cut off as too slow")
      ->envname("FACTSD_MAX_QUEUE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  app.add_option("--max-clients", cfg.limits.max_clients, "most open event streams")
      ->envname("FACTSD_MAX_CLIENTS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  long long request_timeout_s = cfg.limits.request_timeout.count();
  long long idle_timeout_s = cfg.limits.idle_timeout.count();
  long long write_timeout_s = cfg.limits.write_timeout.count();
  long long shutdown_timeout_s = cfg.shutdown_timeout.count();
  app.add_option("--request-timeout", request_timeout_s,
                 "seconds to receive a whole request once it started")
      ->envname("FACTSD_REQUEST_TIMEOUT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--idle-timeout", idle_timeout_s,
                 "seconds a keep-alive connection may wait for its next request")
      ->envname("FACTSD_IDLE_TIMEOUT")
      ->check(CLI::Range(1LL, 86400LL));
  app.add_option("--write-timeout", write_timeout_s,
                 "seconds an answer may take to write, or a stream's socket may take nothing, "
                 "before the connection is cut off")
      ->envname("FACTSD_WRITE_TIMEOUT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--shutdown-timeout", shutdown_timeout_s,
                 "seconds a graceful stop may take before the rest is dropped")
      ->envname("FACTSD_SHUTDOWN_TIMEOUT")
      ->check(CLI::Range(1LL, 3600LL));
  app.add_option("--publish-token", cfg.publish_token,
                 "require Authorization: Bearer TOKEN on POST /fact")
      ->envname("FACTSD_PUBLISH_TOKEN");
  std::string token_file;
  app.add_option("--publish-token-file", token_file, "read the publish token from this file")
      ->envname("FACTSD_PUBLISH_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  std::string read_auth = "none";
  app.add_option("--read-auth", read_auth,
                 "none: anyone may read; token: GET /events, /facts and /status need a token "
                 "with scope facts:read")
      ->envname("FACTSD_READ_AUTH")
      ->check(CLI::IsMember({"none", "token"}));
  app.add_option("--jwt-key", cfg.jwt_key_file,
                 "verify tokens with this key: an HS256 secret (32 bytes or more) or a PEM public "
                 "key (RS256, ES256); also lets a facts:write token publish")
      ->envname("FACTSD_JWT_KEY");
  auto* const audience =
      app.add_option("--jwt-audience", cfg.jwt_audience, "a token's aud must hold this")
          ->envname("FACTSD_JWT_AUDIENCE");
  auto* const issuer = app.add_option("--jwt-issuer", cfg.jwt_issuer, "a token's iss must be this")
                           ->envname("FACTSD_JWT_ISSUER");
  app.add_option("--jwt-cookie", cfg.jwt_cookie,
                 "the cookie a browser's token comes in (after Authorization: Bearer)")
      ->envname("FACTSD_JWT_COOKIE");
  app.add_option("--log-level", cfg.log_level, "trace, debug, info, warn, error, critical, off")
      ->envname("FACTSD_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  try {
    app.parse(argc, argv);
  } catch (CLI::CallForHelp const&) {
    result.exit_now = true;
    result.message = app.help();
    return result;
  } catch (CLI::CallForVersion const&) {
    result.exit_now = true;
    result.message = app.version() + "\n";
    return result;
  } catch (CLI::ParseError const& e) {
    result.exit_now = true;
    result.exit_code = 2;
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n')
      what.pop_back();
    result.message = "factsd: " + one_line(what);
    return result;
  }

  auto fail = [&](std::string message) {
    result.exit_now = true;
    result.exit_code = 2;
    result.message = "factsd: " + one_line(message);
    return result;
  };
  if (!parse_listen_address(listen, cfg.listen_host, cfg.listen_port))
    return fail("--listen: '" + listen + "' is not HOST:PORT");
  for (auto const& origin : origins) {
    if (origin.empty() || has_line_break(origin) || origin.find(' ') != std::string::npos)
      return fail("--cors-origin: '" + origin + "' is not an origin");
  }
  if (!origins.empty()) {
    bool const any = std::find(origins.begin(), origins.end(), "*") != origins.end();
    if (origins.size() > 1 && any)
      return fail("--cors-origin: '*' cannot be combined with other origins");
    if (any && read_auth == "token")
      return fail(
          "--cors-origin '*' with --read-auth token: a browser sends no cookie to '*'; name the "
          "origins of the pages that read (a page served by factsd itself needs none)");
    cfg.cors_origins = origins;
  }
  if (store->count() == 0) cfg.store_url = default_store_url();
  if (cfg.store_url.starts_with("nats:")) {
    if (auto const parsed = parse_nats_url(cfg.store_url); !parsed.url)
      return fail("--store: " + parsed.error);
  } else if (!cfg.store_url.starts_with("sqlite:") && cfg.store_url != "memory:") {
    return fail("--store: '" + cfg.store_url +
                "' is not sqlite:PATH, memory: or nats://HOST:PORT/STREAM");
  }
  if (cfg.store_url == "sqlite:")
    return fail("--store: sqlite: needs a path, e.g. sqlite:facts.db");
  cfg.sync = sync == "full" ? sync_mode::full : sync_mode::normal;
  if (!retain_age.empty()) {
    auto const age = parse_retention_age(retain_age);
    if (!age)
      return fail("--retain-age: '" + retain_age +
                  "' is not a duration (a number of d, h, m or s, e.g. 90d; 0 keeps all)");
    cfg.retention.age = *age;
  }
  if (!retain_bytes.empty()) {
    auto const bytes = parse_retention_bytes(retain_bytes);
    if (!bytes)
      return fail("--retain-bytes: '" + retain_bytes +
                  "' is not a size (a number of bytes, KiB, MiB, GiB or TiB, e.g. 2GiB; 0 keeps "
                  "all)");
    cfg.retention.bytes = *bytes;
  }
  if (cfg.threads == 0) cfg.threads = std::max(1u, std::thread::hardware_concurrency());
  if (!token_file.empty()) {
    if (!cfg.publish_token.empty())
      return fail("--publish-token and --publish-token-file cannot both be given");
    if (auto error = read_publish_token_file(token_file, cfg.publish_token); !error.empty())
      return fail("--publish-token-file: " + error);
    cfg.publish_token_file = token_file;
  }
  while (!cfg.publish_token.empty() &&
         (cfg.publish_token.back() == '\r' || cfg.publish_token.back() == ' '))
    cfg.publish_token.pop_back();
  if (has_line_break(cfg.publish_token)) return fail("--publish-token: must be one line of text");
  cfg.reads_need_token = read_auth == "token";
  if (cfg.jwt_key_file.empty()) {
    if (cfg.reads_need_token)
      return fail("--read-auth token needs --jwt-key FILE, the key tokens are verified with");
    if (audience->count() > 0 || issuer->count() > 0)
      return fail("--jwt-audience and --jwt-issuer need --jwt-key FILE");
  } else {
    auto loaded = http::load_token_key(cfg.jwt_key_file);
    if (!loaded.key) return fail("--jwt-key: " + loaded.error);
    cfg.jwt_key = std::move(loaded.key);
  }
  if (!is_cookie_name(cfg.jwt_cookie))
    return fail("--jwt-cookie: '" + cfg.jwt_cookie + "' is not a cookie name");
  cfg.limits.request_timeout = std::chrono::seconds(request_timeout_s);
  cfg.limits.idle_timeout = std::chrono::seconds(idle_timeout_s);
  cfg.limits.write_timeout = std::chrono::seconds(write_timeout_s);
  cfg.shutdown_timeout = std::chrono::seconds(shutdown_timeout_s);
  cfg.connect_timeout = std::chrono::seconds(connect_timeout_s);
  cfg.publish_timeout = std::chrono::seconds(publish_timeout_s);
  cfg.heartbeat = std::chrono::seconds(heartbeat_s);
  cfg.retry = std::chrono::milliseconds(retry_ms);
  return result;
}

}  // namespace facts
