#include <unistd.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facts/config.hpp"
#include "support/files.hpp"

extern char** environ;

namespace {

/** Represents one environment variable set (or unset) for the life of a test scope. */
class scoped_env {
 public:
  scoped_env(std::string name, char const* value) : name_(std::move(name)) {
    if (char const* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value, 1);
    else
      ::unsetenv(name_.c_str());
  }
  scoped_env(scoped_env const&) = delete;
  scoped_env& operator=(scoped_env const&) = delete;
  ~scoped_env() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/** Represents an environment without any FACTSD_* variable, restored afterwards. */
class clean_env {
 public:
  clean_env() {
    std::vector<std::string> names;
    for (char** e = environ; *e; ++e) {
      std::string_view const entry(*e);
      if (entry.starts_with("FACTSD_")) names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (auto& name : names)
      vars_.emplace_back(std::make_unique<scoped_env>(std::move(name), nullptr));
  }

 private:
  std::vector<std::unique_ptr<scoped_env>> vars_;
};

facts::config_result parse(std::initializer_list<char const*> args) {
  std::vector<char const*> argv{"factsd"};
  argv.insert(argv.end(), args.begin(), args.end());
  return facts::parse_config(static_cast<int>(argv.size()), argv.data());
}

facts::config parse_ok(std::initializer_list<char const*> args) {
  auto r = parse(args);
  INFO(r.message);
  REQUIRE_FALSE(r.exit_now);
  REQUIRE(r.exit_code == 0);
  return r.config;
}

void check_usage_error(facts::config_result const& r) {
  INFO(r.message);
  CHECK(r.exit_now);
  CHECK(r.exit_code == 2);
  CHECK(r.message.rfind("factsd: ", 0) == 0);
  CHECK(r.message.size() > std::string("factsd: ").size());
  // One line for stderr: the caller adds the newline.
  CHECK(r.message.find('\n') == std::string::npos);
  CHECK(r.message.find('\r') == std::string::npos);
}

}  // namespace

TEST_CASE("parse_config defaults") {
  clean_env env;
  auto const cfg = parse_ok({});
  CHECK(cfg.listen_host == "127.0.0.1");
  CHECK(cfg.listen_port == 3001);
  CHECK(cfg.threads >= 1);
  CHECK(cfg.web_root.empty());
  CHECK(cfg.heartbeat == std::chrono::seconds(15));
  CHECK(cfg.retry == std::chrono::milliseconds(2000));
  CHECK(cfg.cors_origins == std::vector<std::string>{"*"});
  // The store defaults are the struct's own (a durable file); parsing must not change them.
  CHECK(cfg.store_url == facts::config{}.store_url);
  CHECK(cfg.sync == facts::sync_mode::full);
  CHECK(cfg.replay_limit == facts::config{}.replay_limit);
  CHECK(cfg.publish_token.empty());
  CHECK(cfg.log_level == "info");
  CHECK(cfg.limits.max_fact_bytes == 65536);
  CHECK(cfg.connect_timeout == std::chrono::seconds(10));
  CHECK(cfg.publish_timeout == std::chrono::seconds(5));
  CHECK(cfg.max_lag == 1000);
}

TEST_CASE("parse_config reads each flag") {
  clean_env env;
  SECTION("--listen") {
    auto const cfg = parse_ok({"--listen", "0.0.0.0:8080"});
    CHECK(cfg.listen_host == "0.0.0.0");
    CHECK(cfg.listen_port == 8080);
  }
  SECTION("--listen with an IPv6 address") {
    auto const cfg = parse_ok({"--listen", "[::1]:0"});
    CHECK(cfg.listen_host == "::1");
    CHECK(cfg.listen_port == 0);
  }
  SECTION("--threads") {
    CHECK(parse_ok({"--threads", "3"}).threads == 3);
  }
  SECTION("--web-root") {
    CHECK(parse_ok({"--web-root", FACTS_SOURCE_DIR "/web"}).web_root == FACTS_SOURCE_DIR "/web");
  }
  SECTION("--heartbeat") {
    CHECK(parse_ok({"--heartbeat", "5"}).heartbeat == std::chrono::seconds(5));
  }
  SECTION("--retry") {
    CHECK(parse_ok({"--retry", "500"}).retry == std::chrono::milliseconds(500));
    CHECK(parse_ok({"--retry", "0"}).retry == std::chrono::milliseconds(0));
  }
  SECTION("--cors-origin, repeated") {
    CHECK(parse_ok({"--cors-origin", "http://a", "--cors-origin", "https://b:8443"}).cors_origins ==
          std::vector<std::string>{"http://a", "https://b:8443"});
  }
  SECTION("--cors-origin, comma separated") {
    CHECK(parse_ok({"--cors-origin", "http://a,http://b"}).cors_origins ==
          std::vector<std::string>{"http://a", "http://b"});
  }
  SECTION("--cors-origin '*' alone") {
    CHECK(parse_ok({"--cors-origin", "*"}).cors_origins == std::vector<std::string>{"*"});
  }
  SECTION("--store") {
    CHECK(parse_ok({"--store", "memory:"}).store_url == "memory:");
    CHECK(parse_ok({"--store", "sqlite:/var/lib/factsd/facts.db"}).store_url ==
          "sqlite:/var/lib/factsd/facts.db");
  }
  SECTION("--store nats://") {
    CHECK(
        parse_ok({"--store", "nats://127.0.0.1:4222,127.0.0.1:4223/facts?replicas=3"}).store_url ==
        "nats://127.0.0.1:4222,127.0.0.1:4223/facts?replicas=3");
  }
  SECTION("--connect-timeout, --publish-timeout, --max-lag") {
    CHECK(parse_ok({"--connect-timeout", "3"}).connect_timeout == std::chrono::seconds(3));
    CHECK(parse_ok({"--publish-timeout", "1"}).publish_timeout == std::chrono::seconds(1));
    CHECK(parse_ok({"--max-lag", "0"}).max_lag == 0);
    CHECK(parse_ok({"--max-lag", "250"}).max_lag == 250);
  }
  SECTION("--sync") {
    CHECK(parse_ok({"--sync", "normal"}).sync == facts::sync_mode::normal);
    CHECK(parse_ok({"--sync", "full"}).sync == facts::sync_mode::full);
  }
  SECTION("--replay-limit") {
    CHECK(parse_ok({"--replay-limit", "50"}).replay_limit == 50);
    CHECK(parse_ok({"--replay-limit", "0"}).replay_limit == 0);
  }
  SECTION("--publish-token") {
    CHECK(parse_ok({"--publish-token", "s3cret"}).publish_token == "s3cret");
  }
  SECTION("--max-fact-bytes") {
    CHECK(parse_ok({"--max-fact-bytes", "1024"}).limits.max_fact_bytes == 1024);
  }
  SECTION("--log-level") {
    CHECK(parse_ok({"--log-level", "debug"}).log_level == "debug");
  }
  SECTION("--flag=value form") {
    CHECK(parse_ok({"--listen=127.0.0.1:9"}).listen_port == 9);
  }
}

TEST_CASE("parse_config reads FACTSD_<FLAG> from the environment") {
  clean_env env;
  SECTION("FACTSD_LISTEN") {
    scoped_env var("FACTSD_LISTEN", "10.0.0.1:4000");
    auto const cfg = parse_ok({});
    CHECK(cfg.listen_host == "10.0.0.1");
    CHECK(cfg.listen_port == 4000);
  }
  SECTION("FACTSD_THREADS") {
    scoped_env var("FACTSD_THREADS", "2");
    CHECK(parse_ok({}).threads == 2);
  }
  SECTION("FACTSD_WEB_ROOT") {
    scoped_env var("FACTSD_WEB_ROOT", FACTS_SOURCE_DIR "/web");
    CHECK(parse_ok({}).web_root == FACTS_SOURCE_DIR "/web");
  }
  SECTION("FACTSD_HEARTBEAT") {
    scoped_env var("FACTSD_HEARTBEAT", "7");
    CHECK(parse_ok({}).heartbeat == std::chrono::seconds(7));
  }
  SECTION("FACTSD_RETRY") {
    scoped_env var("FACTSD_RETRY", "250");
    CHECK(parse_ok({}).retry == std::chrono::milliseconds(250));
  }
  SECTION("FACTSD_CORS_ORIGIN, comma separated") {
    scoped_env var("FACTSD_CORS_ORIGIN", "http://a,http://b");
    CHECK(parse_ok({}).cors_origins == std::vector<std::string>{"http://a", "http://b"});
  }
  SECTION("FACTSD_STORE") {
    scoped_env var("FACTSD_STORE", "memory:");
    CHECK(parse_ok({}).store_url == "memory:");
  }
  SECTION("FACTSD_PUBLISH_TIMEOUT, FACTSD_CONNECT_TIMEOUT, FACTSD_MAX_LAG") {
    scoped_env publish("FACTSD_PUBLISH_TIMEOUT", "2");
    scoped_env connect("FACTSD_CONNECT_TIMEOUT", "7");
    scoped_env lag("FACTSD_MAX_LAG", "42");
    auto const cfg = parse_ok({});
    CHECK(cfg.publish_timeout == std::chrono::seconds(2));
    CHECK(cfg.connect_timeout == std::chrono::seconds(7));
    CHECK(cfg.max_lag == 42);
  }
  SECTION("FACTSD_MAX_FACT_BYTES") {
    scoped_env var("FACTSD_MAX_FACT_BYTES", "2048");
    CHECK(parse_ok({}).limits.max_fact_bytes == 2048);
  }
  SECTION("FACTSD_SYNC") {
    scoped_env var("FACTSD_SYNC", "normal");
    CHECK(parse_ok({}).sync == facts::sync_mode::normal);
  }
  SECTION("FACTSD_REPLAY_LIMIT") {
    scoped_env var("FACTSD_REPLAY_LIMIT", "7");
    CHECK(parse_ok({}).replay_limit == 7);
  }
  SECTION("FACTSD_PUBLISH_TOKEN") {
    scoped_env var("FACTSD_PUBLISH_TOKEN", "s3cret");
    CHECK(parse_ok({}).publish_token == "s3cret");
  }
  SECTION("FACTSD_LOG_LEVEL") {
    scoped_env var("FACTSD_LOG_LEVEL", "warn");
    CHECK(parse_ok({}).log_level == "warn");
  }
  SECTION("the command line wins over the environment") {
    scoped_env var("FACTSD_HEARTBEAT", "7");
    CHECK(parse_ok({"--heartbeat", "9"}).heartbeat == std::chrono::seconds(9));
  }
  SECTION("a bad value in the environment is a usage error too") {
    scoped_env var("FACTSD_HEARTBEAT", "0");
    check_usage_error(parse({}));
  }
  SECTION("a bad listen address in the environment is a usage error too") {
    scoped_env var("FACTSD_LISTEN", "nocolon");
    check_usage_error(parse({}));
  }
}

TEST_CASE("parse_config turns a bad flag or value into exit code 2 and one line") {
  clean_env env;
  auto const args = GENERATE(
      std::vector<char const*>{"--no-such-flag"}, std::vector<char const*>{"stray-argument"},
      std::vector<char const*>{"--listen"},  // value missing
      std::vector<char const*>{"--listen", "127.0.0.1:70000"},
      std::vector<char const*>{"--listen", "nocolon"},
      std::vector<char const*>{"--listen", "127.0.0.1:"},
      std::vector<char const*>{"--listen", ":80"},
      std::vector<char const*>{"--listen", "127.0.0.1:http"},
      std::vector<char const*>{"--listen", "::1:80"}, std::vector<char const*>{"--threads", "0"},
      std::vector<char const*>{"--threads", "x"}, std::vector<char const*>{"--heartbeat", "0"},
      std::vector<char const*>{"--heartbeat", "-5"}, std::vector<char const*>{"--retry", "-1"},
      std::vector<char const*>{"--max-fact-bytes", "0"},
      std::vector<char const*>{"--log-level", "loud"},
      std::vector<char const*>{"--web-root", "/no/such/directory/for/factsd"},
      std::vector<char const*>{"--cors-origin", "*", "--cors-origin", "http://a"},
      std::vector<char const*>{"--cors-origin", "http://a,*"},
      std::vector<char const*>{"--cors-origin", "http://a b"},
      std::vector<char const*>{"--store", "redis://localhost"},
      std::vector<char const*>{"--store", "sqlite:"}, std::vector<char const*>{"--store", ""},
      std::vector<char const*>{"--sync", "sometimes"},
      std::vector<char const*>{"--store", "nats://127.0.0.1:4222"},
      std::vector<char const*>{"--store", "nats://127.0.0.1:4222/a.b"},
      std::vector<char const*>{"--store", "nats://127.0.0.1:4222/facts?replicas=0"},
      std::vector<char const*>{"--publish-timeout", "0"},
      std::vector<char const*>{"--publish-timeout", "1.5"},
      std::vector<char const*>{"--connect-timeout", "0"},
      std::vector<char const*>{"--max-lag", "-1"},
      std::vector<char const*>{"--publish-token", "a\nb"},
      std::vector<char const*>{"--publish-token-file", "/no/such/file/for/factsd"});
  std::vector<char const*> argv{"factsd"};
  argv.insert(argv.end(), args.begin(), args.end());
  CAPTURE(args);
  check_usage_error(facts::parse_config(static_cast<int>(argv.size()), argv.data()));
}

TEST_CASE("parse_config usage errors stay one line when the bad value holds a line break", ) {
  // config.cpp quotes the offending value as given, so a CR or LF in it splits the message
  // that is promised to be one line on stderr.
  clean_env env;
  auto const args = GENERATE(std::vector<char const*>{"--cors-origin", "http://a\r\nX-Evil: 1"},
                             std::vector<char const*>{"--listen", "no\ncolon"},
                             std::vector<char const*>{"--store", "redis://x\ny"},
                             std::vector<char const*>{"--log-level", "loud\r"});
  std::vector<char const*> argv{"factsd"};
  argv.insert(argv.end(), args.begin(), args.end());
  CAPTURE(args);
  check_usage_error(facts::parse_config(static_cast<int>(argv.size()), argv.data()));
}

TEST_CASE("parse_config refuses a negative --replay-limit") {
  // --replay-limit has no check(): CLI11 wraps "-1" into 18446744073709551615 for a size_t
  // and the daemon starts with a limit nobody asked for. Other size flags are saved by Range.
  clean_env env;
  check_usage_error(parse({"--replay-limit", "-1"}));
}

TEST_CASE("parse_config reads the publish token from a file") {
  clean_env env;
  auto const path =
      std::filesystem::temp_directory_path() / ("factsd-token-test-" + std::to_string(::getpid()));
  struct remove_at_end {
    std::filesystem::path p;
    ~remove_at_end() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } cleanup{path};
  auto const write = [&](std::string const& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  };

  SECTION("the first line, without its line ending") {
    write("s3cret\r\nignored\n");
    CHECK(parse_ok({"--publish-token-file", path.c_str()}).publish_token == "s3cret");
  }
  SECTION("an empty file is an error") {
    write("");
    check_usage_error(parse({"--publish-token-file", path.c_str()}));
  }
  SECTION("not together with --publish-token") {
    write("s3cret\n");
    check_usage_error(parse({"--publish-token", "other", "--publish-token-file", path.c_str()}));
  }
}

TEST_CASE("parse_config --help exits 0 with the usage text") {
  clean_env env;
  auto const r = parse({"--help"});
  CHECK(r.exit_now);
  CHECK(r.exit_code == 0);
  CHECK(r.message.find("--listen") != std::string::npos);
  CHECK(r.message.find("--cors-origin") != std::string::npos);
}

TEST_CASE("parse_config --version exits 0 with the version") {
  clean_env env;
  auto const r = parse({"--version"});
  CHECK(r.exit_now);
  CHECK(r.exit_code == 0);
  CHECK(r.message.find(FACTS_VERSION) != std::string::npos);
}

TEST_CASE("parse_listen_address splits host and port") {
  std::string host = "unchanged";
  std::uint16_t port = 1;
  SECTION("IPv4") {
    REQUIRE(facts::parse_listen_address("127.0.0.1:3001", host, port));
    CHECK(host == "127.0.0.1");
    CHECK(port == 3001);
  }
  SECTION("a name") {
    REQUIRE(facts::parse_listen_address("localhost:80", host, port));
    CHECK(host == "localhost");
    CHECK(port == 80);
  }
  SECTION("IPv6 in brackets") {
    REQUIRE(facts::parse_listen_address("[::1]:80", host, port));
    CHECK(host == "::1");
    CHECK(port == 80);
  }
  SECTION("port bounds") {
    REQUIRE(facts::parse_listen_address("h:0", host, port));
    CHECK(port == 0);
    REQUIRE(facts::parse_listen_address("h:65535", host, port));
    CHECK(port == 65535);
  }
}

TEST_CASE("parse_listen_address rejects what is not HOST:PORT and leaves the outputs alone") {
  auto const text = GENERATE(as<std::string>{}, "", "nocolon", ":80", "host:", "host:65536",
                             "host:70000", "host:-1", "host:+80", "host:80x", "host: 80", "::1:80",
                             "[::1]", "[]:80", "[::1:80", "::1]:80", "host:99999999999999999999");
  CAPTURE(text);
  std::string host = "unchanged";
  std::uint16_t port = 1;
  CHECK_FALSE(facts::parse_listen_address(text, host, port));
  CHECK(host == "unchanged");
  CHECK(port == 1);
}

TEST_CASE("under systemd's StateDirectory= the default store goes into $STATE_DIRECTORY") {
  clean_env env;
  SECTION("no STATE_DIRECTORY: facts.db in the working folder") {
    scoped_env state("STATE_DIRECTORY", nullptr);
    CHECK(parse_ok({}).store_url == "sqlite:facts.db");
  }
  SECTION("STATE_DIRECTORY set: sqlite:$STATE_DIRECTORY/facts.db") {
    scoped_env state("STATE_DIRECTORY", "/var/lib/factsd");
    CHECK(parse_ok({}).store_url == "sqlite:/var/lib/factsd/facts.db");
  }
  SECTION("several state directories: the first") {
    scoped_env state("STATE_DIRECTORY", "/var/lib/factsd/:/var/lib/other");
    CHECK(parse_ok({}).store_url == "sqlite:/var/lib/factsd/facts.db");
  }
  SECTION("--store wins") {
    scoped_env state("STATE_DIRECTORY", "/var/lib/factsd");
    CHECK(parse_ok({"--store", "memory:"}).store_url == "memory:");
    CHECK(parse_ok({"--store", "sqlite:/srv/f.db"}).store_url == "sqlite:/srv/f.db");
  }
  SECTION("FACTSD_STORE wins") {
    scoped_env state("STATE_DIRECTORY", "/var/lib/factsd");
    scoped_env store("FACTSD_STORE", "sqlite:/srv/env.db");
    CHECK(parse_ok({}).store_url == "sqlite:/srv/env.db");
  }
}

TEST_CASE("config: --retain-facts, --retain-age and --retain-bytes, alone or together") {
  clean_env env;
  CHECK_FALSE(parse_ok({}).retention.any());
  auto const all =
      parse_ok({"--retain-facts", "1000", "--retain-age", "90d", "--retain-bytes", "2GiB"});
  CHECK(all.retention.facts == 1000);
  CHECK(all.retention.age == std::chrono::hours(24 * 90));
  CHECK(all.retention.bytes == (std::uint64_t{2} << 30));
  CHECK(all.retention.describe() ==
        "the newest 1000 facts, facts younger than 90d, the newest 2GiB of facts");
  CHECK(parse_ok({"--retain-age", "12h"}).retention.age == std::chrono::hours(12));
  CHECK(parse_ok({"--retain-age", "30m"}).retention.age == std::chrono::minutes(30));
  CHECK(parse_ok({"--retain-age", "45"}).retention.age == std::chrono::seconds(45));
  CHECK(parse_ok({"--retain-bytes", "500MiB"}).retention.bytes == (std::uint64_t{500} << 20));
  CHECK(parse_ok({"--retain-bytes", "1GB"}).retention.bytes == 1'000'000'000);
  CHECK_FALSE(parse_ok({"--retain-facts", "0", "--retain-age", "0", "--retain-bytes", "0"})
                  .retention.any());
  CHECK(parse_ok({}).retention.describe() == "unbounded (every fact is kept)");
  {
    scoped_env facts_var("FACTSD_RETAIN_FACTS", "10000");
    scoped_env age_var("FACTSD_RETAIN_AGE", "7d");
    scoped_env bytes_var("FACTSD_RETAIN_BYTES", "64KiB");
    auto const from_env = parse_ok({});
    CHECK(from_env.retention.facts == 10000);
    CHECK(from_env.retention.age == std::chrono::hours(24 * 7));
    CHECK(from_env.retention.bytes == 65536);
  }
  for (auto const* bad : {"3 weeks", "90x", "d", "12h30m", "99999999999999999999d"}) {
    INFO("--retain-age '" << bad << "'");
    auto const r = parse({"--retain-age", bad});
    check_usage_error(r);
    CHECK(r.message.find("--retain-age") != std::string::npos);
  }
  check_usage_error(parse({"--retain-age", "-1"}));
  for (auto const* bad : {"2 GiB", "2gb", "GiB", "1.5GiB", "99999999999TiB"}) {
    INFO("--retain-bytes '" << bad << "'");
    auto const r = parse({"--retain-bytes", bad});
    check_usage_error(r);
    CHECK(r.message.find("--retain-bytes") != std::string::npos);
  }
  check_usage_error(parse({"--retain-bytes", "-5"}));
  check_usage_error(parse({"--retain-facts", "-5"}));
  check_usage_error(parse({"--retain-facts", "many"}));
}

TEST_CASE("parse_config: the token flags, their FACTSD_* forms, and what is refused at start") {
  clean_env env;
  facts::test::temp_dir dir;
  dir.write("jwt.key", "a-secret-of-more-than-32-bytes-for-config\n");
  dir.write("short.key", "short\n");
  auto const key = dir / "jwt.key";
  auto const short_key = dir / "short.key";

  SECTION("defaults: reads open, no key, the cookie factsd_token") {
    auto const cfg = parse_ok({});
    CHECK_FALSE(cfg.reads_need_token);
    CHECK_FALSE(cfg.jwt_key);
    CHECK(cfg.jwt_cookie == "factsd_token");
  }
  SECTION("flags") {
    auto const cfg = parse_ok({"--read-auth", "token", "--jwt-key", key.c_str(), "--jwt-audience",
                               "facts", "--jwt-issuer", "https://app", "--jwt-cookie", "sid"});
    CHECK(cfg.reads_need_token);
    REQUIRE(cfg.jwt_key);
    CHECK(cfg.jwt_key->alg == facts::http::token_key::algorithm::hs256);
    CHECK(cfg.jwt_key_file == key);
    CHECK(cfg.jwt_audience == "facts");
    CHECK(cfg.jwt_issuer == "https://app");
    CHECK(cfg.jwt_cookie == "sid");
  }
  SECTION("environment") {
    scoped_env a("FACTSD_READ_AUTH", "token");
    scoped_env b("FACTSD_JWT_KEY", key.c_str());
    scoped_env c("FACTSD_JWT_AUDIENCE", "facts");
    scoped_env d("FACTSD_JWT_ISSUER", "https://app");
    scoped_env e("FACTSD_JWT_COOKIE", "sid");
    auto const cfg = parse_ok({});
    CHECK(cfg.reads_need_token);
    CHECK(cfg.jwt_key);
    CHECK(cfg.jwt_audience == "facts");
    CHECK(cfg.jwt_issuer == "https://app");
    CHECK(cfg.jwt_cookie == "sid");
  }
  SECTION("--read-auth token without --jwt-key") {
    auto const r = parse({"--read-auth", "token"});
    check_usage_error(r);
    CHECK(r.message.find("--jwt-key") != std::string::npos);
  }
  SECTION("a key that does not load, named with why") {
    auto const r = parse({"--jwt-key", short_key.c_str()});
    check_usage_error(r);
    CHECK(r.message.find("32 bytes") != std::string::npos);
    check_usage_error(parse({"--jwt-key", (dir / "missing").c_str()}));
  }
  SECTION("credentials never go with CORS '*'") {
    auto const r = parse({"--read-auth", "token", "--jwt-key", key.c_str(), "--cors-origin", "*"});
    check_usage_error(r);
    CHECK(r.message.find("'*'") != std::string::npos);
    CHECK(parse_ok({"--read-auth", "token", "--jwt-key", key.c_str(), "--cors-origin",
                    "https://app.example"})
              .cors_origins == std::vector<std::string>{"https://app.example"});
  }
  SECTION("other misconfigurations") {
    check_usage_error(parse({"--read-auth", "maybe"}));
    check_usage_error(parse({"--jwt-audience", "facts"}));
    check_usage_error(parse({"--jwt-key", key.c_str(), "--jwt-cookie", "a b"}));
    check_usage_error(parse({"--jwt-key", key.c_str(), "--jwt-cookie", "a;b"}));
  }
}
