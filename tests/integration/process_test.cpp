// The real factsd binary as a child process: its command line, its exit codes, what it prints,
// and how it ends on a signal. Every child is killed and reaped by its guard.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <nlohmann/json.hpp>

#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

// Generous: the binary runs under ASan, which slows its start and its exit.
constexpr auto exit_timeout = 20s;

std::vector<std::string> factsd_args(std::vector<std::string> const& flags) {
  // Always the memory store: the default is a file in the working directory.
  std::vector<std::string> args{FACTSD_BINARY, "--store", "memory:"};
  args.insert(args.end(), flags.begin(), flags.end());
  return args;
}

/// Runs factsd with `flags` until it exits; the result is the finished child.
std::unique_ptr<child_process> run_to_exit(std::vector<std::string> const& flags,
                                           env_list const& env = {}) {
  auto child = std::make_unique<child_process>(factsd_args(flags), with_env(env));
  INFO("factsd did not exit; stderr so far: " << child->err());
  REQUIRE(child->wait_exit(exit_timeout));
  return child;
}

std::size_t count_lines(std::string const& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/** Represents a running daemon and the port it reported in its start line. */
struct running_daemon {
  std::unique_ptr<child_process> child;
  std::string start_line;
  std::string host;
  std::uint16_t port = 0;
};

/**
 * Starts factsd and waits for `factsd <ver> listening on HOST:PORT with N threads, ...` on
 * stderr; the port is read from that line, since with port 0 nothing else tells it.
 */
running_daemon start_daemon(std::vector<std::string> const& flags, env_list const& env = {}) {
  running_daemon d;
  d.child = std::make_unique<child_process>(factsd_args(flags), with_env(env));
  auto line = d.child->wait_for_line("listening on ", start_timeout);
  INFO("stderr: " << d.child->err());
  REQUIRE(line);
  d.start_line = *line;
  auto const from = line->find("listening on ") + std::string_view("listening on ").size();
  auto const to = line->find(' ', from);
  auto const address = line->substr(from, to == std::string::npos ? to : to - from);
  auto const colon = address.rfind(':');
  REQUIRE(colon != std::string::npos);
  d.host = address.substr(0, colon);
  d.port = static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1)));
  REQUIRE(d.port != 0);
  return d;
}

}  // namespace

TEST_CASE("factsd --help prints the usage on stdout and exits 0", "[process][cli]") {
  auto const child = run_to_exit({"--help"});
  CHECK(child->exit_code() == 0);
  CHECK(child->out().find("Usage") != std::string::npos);
  CHECK(child->out().find("--listen") != std::string::npos);
}

TEST_CASE("factsd --version prints its name and version and exits 0", "[process][cli]") {
  auto const child = run_to_exit({"--version"});
  CHECK(child->exit_code() == 0);
  CHECK(child->out().rfind(std::string("factsd ") + FACTS_VERSION, 0) == 0);
}

TEST_CASE("a bad flag or value exits 2 with exactly one line on stderr", "[process][cli]") {
  std::vector<std::vector<std::string>> const bad = {
      {"--no-such-flag"}, {"--listen", "nocolon"}, {"--threads", "0"}};
  for (auto const& flags : bad) {
    DYNAMIC_SECTION("factsd " << flags[0] << (flags.size() > 1 ? " " + flags[1] : "")) {
      auto const child = run_to_exit(flags);
      INFO("stderr: " << child->err());
      CHECK(child->exit_code() == 2);
      CHECK(count_lines(child->err()) == 1);
      CHECK((!child->err().empty() && child->err().back() == '\n'));
    }
  }
}

TEST_CASE("the daemon started on port 0 reports its port and answers GET /status",
          "[process][daemon]") {
  auto d = start_daemon({"--listen", "127.0.0.1:0", "--threads", "2"});
  CHECK(d.host == "127.0.0.1");
  auto const body = status(d.port);
  CHECK(body["clients"] == 0);
  CHECK(body["facts"] == 0);
}

TEST_CASE("FACTSD_LISTEN in the environment sets the listen address", "[process][daemon]") {
  auto d = start_daemon({"--threads", "2"}, {{"FACTSD_LISTEN", "127.0.0.1:0"}});
  INFO(d.start_line);
  CHECK(d.host == "127.0.0.1");
  CHECK(d.port != 3001);  // the default port would mean the variable was ignored
  CHECK(status(d.port)["clients"] == 0);
}

TEST_CASE("SIGTERM and SIGINT end the daemon cleanly with exit code 0", "[process][signals]") {
  for (int const signo : {SIGTERM, SIGINT}) {
    DYNAMIC_SECTION("signal " << signo) {
      auto d = start_daemon({"--listen", "127.0.0.1:0", "--threads", "2"});
      // An open stream must not keep the daemon from ending, and must see the end.
      sse_client stream(d.port);
      REQUIRE(stream.next_event());
      REQUIRE(post_fact(d.port, R"({"info": "x"})").result() == http::status::created);

      d.child->send_signal(signo);
      bool const exited = d.child->wait_exit(exit_timeout);
      INFO("stderr: " << d.child->err());
      REQUIRE(exited);
      CHECK(d.child->term_signal() == 0);
      CHECK(d.child->exit_code() == 0);
      CHECK(stream.wait_closed());
    }
  }
}

TEST_CASE("factsd --web-root DIR serves the page from that directory", "[process][page]") {
  temp_dir dir;
  std::string const page = "<!doctype html><title>from the web root</title>";
  dir.write("index.html", page);
  auto d = start_daemon(
      {"--listen", "127.0.0.1:0", "--threads", "2", "--web-root", dir.path().string()});
  auto const res = get(d.port, "/");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body() == page);
  CHECK(header(res, "Content-Type").rfind("text/html", 0) == 0);
}

TEST_CASE("a listen address already in use ends factsd with a clear message", "[process][daemon]") {
  // Hold a listening socket on a port the kernel picks; factsd must fail to bind it.
  net::io_context ioc;
  tcp::acceptor taken(ioc, {net::ip::make_address_v4("127.0.0.1"), 0});
  auto const port = std::to_string(taken.local_endpoint().port());

  auto const child = run_to_exit({"--listen", "127.0.0.1:" + port, "--threads", "2"});
  INFO("stderr: " << child->err());
  // README: an address that cannot be opened logs one line and exits with code 1.
  CHECK(child->term_signal() == 0);
  CHECK(child->exit_code() == 1);
  CHECK(count_lines(child->err()) == 1);
  CHECK(child->err().find("127.0.0.1:" + port) != std::string::npos);
  CHECK(child->err().find("in use") != std::string::npos);
}

TEST_CASE("the start line says what CORS '*' allows, even on loopback", "[process][cors]") {
  SECTION("the defaults: any page a browser opens may publish") {
    auto d = start_daemon({"--listen", "127.0.0.1:0", "--threads", "2"});
    INFO(d.start_line);
    CHECK(d.start_line.find("CORS '*'") != std::string::npos);
    CHECK(d.start_line.find("any web page") != std::string::npos);
    CHECK(d.start_line.find("publish") != std::string::npos);
    CHECK(d.start_line.find("--publish-token") != std::string::npos);
  }
  SECTION("with a publish token, pages may only read") {
    auto d = start_daemon({"--listen", "127.0.0.1:0", "--threads", "2", "--publish-token", "t0k"});
    INFO(d.start_line);
    CHECK(d.start_line.find("CORS '*'") != std::string::npos);
    CHECK(d.start_line.find("may read facts") != std::string::npos);
    CHECK(d.start_line.find("publish") == std::string::npos);
  }
  SECTION("with a list of origins, nothing is said") {
    auto d = start_daemon(
        {"--listen", "127.0.0.1:0", "--threads", "2", "--cors-origin", "http://app.example"});
    INFO(d.start_line);
    CHECK(d.start_line.find("CORS") == std::string::npos);
  }
}
