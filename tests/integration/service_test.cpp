// factsd as a service: the notification protocol a Type=notify unit relies on, the store under
// systemd's StateDirectory=, GET /events?lastEventId=N (what a page taking over a stream sends),
// and the process metrics an operator watches.

#include <signal.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/notify_socket.hpp"
#include "support/process.hpp"
#include "support/raw_socket.hpp"
#include "support/sse_client.hpp"
#include "support/test_facts.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

// Generous: the binary runs under ASan, which slows its start and its exit.

/// The first event of GET `target` with `extra_headers` (raw header lines), parsed.
sse_event first_event(std::uint16_t port, std::string const& target,
                      std::string const& extra_headers = {}) {
  raw_socket conn(port);
  REQUIRE(conn.send_all("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Accept: text/event-stream\r\n" + extra_headers + "\r\n") ==
          raw_socket::io::ok);
  sse_parser parser;
  std::size_t fed = 0;
  auto const has_event = [&](std::string const& got) {
    auto const end = head_end(got);
    if (end == std::string::npos) return false;
    if (fed < end) fed = end;
    parser.feed(std::string_view(got).substr(fed));
    fed = got.size();
    return parser.has_event();
  };
  REQUIRE(conn.read_until(has_event, 5s) == raw_socket::io::ok);
  REQUIRE(conn.received().rfind("HTTP/1.1 200", 0) == 0);
  return parser.pop();
}

std::vector<std::string> infos(std::string const& data) {
  std::vector<std::string> out;
  for (auto const& fact : nlohmann::json::parse(data))
    out.push_back(fact.at("info").get<std::string>());
  return out;
}

/// factsd with a memory store on 127.0.0.1:0, and NOTIFY_SOCKET / other variables in `env`.
std::unique_ptr<child_process> start_factsd(env_list env, std::vector<std::string> flags = {
                                                              "--store", "memory:"}) {
  std::vector<std::string> args{FACTSD_BINARY, "--listen", "127.0.0.1:0", "--log-level", "info"};
  args.insert(args.end(), flags.begin(), flags.end());
  return std::make_unique<child_process>(args, with_env(std::move(env)));
}

/// The open-descriptor count of GET /metrics, as a whole number.
double open_fds(std::uint16_t port) {
  auto const value = metric_value(metrics_text(port), "process_open_fds");
  REQUIRE(value);
  return *value;
}

double wall_clock_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE(
    "READY=1 reaches NOTIFY_SOCKET from factsd's own pid once the port answers, "
    "STOPPING=1 on SIGTERM",
    "[service][notify]") {
  temp_dir dir;
  // A path, and an abstract name (systemd hands out either; '@' stands for the leading NUL).
  auto const address = GENERATE(as<std::string>{}, "path", "abstract");
  auto const socket_address =
      address == "path" ? dir / "notify.sock" : notify_socket::unique_abstract_name();
  notify_socket manager(socket_address);
  auto const child = start_factsd({{"NOTIFY_SOCKET", manager.address()}});

  auto const ready = manager.receive(start_timeout);
  INFO("stderr: " << child->err());
  REQUIRE(ready);
  CHECK(ready->text == "READY=1");
  CHECK(ready->sender == child->pid());  // NotifyAccess=main accepts only the main pid
  // By READY the start line is written (our reader thread may take a moment to see it) and
  // the port answers a request at once.
  auto const port = child->wait_for_port(5s);
  REQUIRE(port);
  auto const health = get(*port, "/healthz");
  CHECK(health.result() == http::status::ok);
  // Nothing more while it serves.
  CHECK_FALSE(manager.receive(200ms));

  child->send_signal(SIGTERM);
  auto const stopping = manager.receive(start_timeout);
  REQUIRE(stopping);
  CHECK(stopping->text == "STOPPING=1");
  CHECK(stopping->sender == child->pid());
  REQUIRE(child->wait_exit(start_timeout));
  CHECK(child->exit_code() == 0);
  CHECK_FALSE(manager.receive(0ms));
}

TEST_CASE("without NOTIFY_SOCKET factsd starts and stops as before, and a bad one only warns",
          "[service][notify]") {
  auto const notify =
      GENERATE(as<std::string>{}, "", "relative/notify.sock", "/nonexistent-folder/notify.sock");
  env_list env;
  if (!notify.empty()) env.emplace_back("NOTIFY_SOCKET", notify);
  auto const child = start_factsd(env);
  auto const port = child->wait_for_port(start_timeout);
  INFO("stderr: " << child->err());
  REQUIRE(port);
  CHECK(get(*port, "/healthz").result() == http::status::ok);
  child->send_signal(SIGTERM);
  REQUIRE(child->wait_exit(start_timeout));
  CHECK(child->exit_code() == 0);
  CHECK((child->err().find("[notify]") != std::string::npos) == !notify.empty());
}

TEST_CASE("under StateDirectory= the default store is $STATE_DIRECTORY/facts.db",
          "[service][state]") {
  temp_dir dir;
  auto const child = start_factsd({{"STATE_DIRECTORY", dir.path().string()}}, {});
  auto const port = child->wait_for_port(start_timeout);
  INFO("stderr: " << child->err());
  REQUIRE(port);
  CHECK(post_fact(*port, numbered_fact(1)).result() == http::status::created);
  CHECK(child->err().find("sqlite:" + (dir / "facts.db")) != std::string::npos);
  CHECK(std::filesystem::exists(dir / "facts.db"));
  child->send_signal(SIGTERM);
  REQUIRE(child->wait_exit(start_timeout));
  CHECK(child->exit_code() == 0);
}

TEST_CASE("GET /events?lastEventId=N resumes like Last-Event-ID: N, and the header wins",
          "[service][resume]") {
  test_server srv;
  auto const port = srv.port();
  for (int n = 1; n <= 3; ++n)
    REQUIRE(post_fact(port, numbered_fact(n)).result() == http::status::created);

  SECTION("the parameter alone: only the facts after it") {
    auto const e = first_event(port, "/events?lastEventId=1");
    CHECK(e.type == "message");
    CHECK(e.id == "3");
    CHECK(infos(e.data) == std::vector<std::string>{"fact 2", "fact 3"});
  }
  SECTION("among other parameters") {
    auto const e = first_event(port, "/events?x=1&lastEventId=3&y=2");
    CHECK(e.type == "message");
    CHECK(e.id == "3");
    CHECK(e.data == "[]");
  }
  SECTION("the header wins over the parameter") {
    auto const e = first_event(port, "/events?lastEventId=1", "Last-Event-ID: 2\r\n");
    CHECK(e.id == "3");
    CHECK(infos(e.data) == std::vector<std::string>{"fact 3"});
  }
  SECTION("an empty parameter is a new client") {
    auto const e = first_event(port, "/events?lastEventId=");
    CHECK(e.type == "message");
    CHECK(infos(e.data) == std::vector<std::string>{"fact 1", "fact 2", "fact 3"});
  }
  SECTION("an unusable value gets a reset with everything, as the header would") {
    for (std::string const bad : {"abc", "99", "-1", "2x"}) {
      INFO("lastEventId=" << bad);
      auto const e = first_event(port, "/events?lastEventId=" + bad);
      CHECK(e.type == "reset");
      CHECK(e.id == "3");
      CHECK(infos(e.data) == std::vector<std::string>{"fact 1", "fact 2", "fact 3"});
    }
  }
  SECTION("the stream goes on live after the resumed snapshot") {
    raw_socket conn(port);
    REQUIRE(conn.send_all("GET /events?lastEventId=3 HTTP/1.1\r\nHost: x\r\n\r\n") ==
            raw_socket::io::ok);
    REQUIRE(conn.read_until([](std::string const& got) {
      return got.find("data: []") != std::string::npos;
    }) == raw_socket::io::ok);
    REQUIRE(post_fact(port, numbered_fact(4)).result() == http::status::created);
    CHECK(conn.read_until([](std::string const& got) {
      return got.find("id: 4\ndata: {\"info\":\"fact 4\"") != std::string::npos;
    }) == raw_socket::io::ok);
  }
}

TEST_CASE(
    "/metrics has the standard process metrics with the daemon's own figures, and its "
    "build",
    "[service][metrics]") {
  double const before_start = wall_clock_now();
  auto const child = start_factsd({});
  auto const port = child->wait_for_port(start_timeout);
  INFO("stderr: " << child->err());
  REQUIRE(port);
  double const after_start = wall_clock_now();
  auto const text = metrics_text(*port);
  INFO(text);

  // Started between our two readings of the clock (the kernel counts in ticks of 10 ms).
  auto const start = metric_value(text, "process_start_time_seconds");
  REQUIRE(start);
  CHECK(*start >= before_start - 0.05);
  CHECK(*start <= after_start + 0.05);

  // factsd raises its soft limit to the hard one, which it inherited from us.
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  auto const max_fds = metric_value(text, "process_max_fds");
  REQUIRE(max_fds);
  CHECK(*max_fds == static_cast<double>(limit.rlim_max));

  // Resident memory as the kernel tells us about that pid.
  std::ifstream statm("/proc/" + std::to_string(child->pid()) + "/statm");
  double pages = 0;
  double resident_pages = 0;
  REQUIRE(statm >> pages >> resident_pages);
  auto const rss = metric_value(text, "process_resident_memory_bytes");
  REQUIRE(rss);
  double const kernel_rss = resident_pages * static_cast<double>(::sysconf(_SC_PAGESIZE));
  CHECK(*rss > 1e6);
  CHECK(*rss >= kernel_rss * 0.8);
  CHECK(*rss <= kernel_rss * 1.25);

  // CPU time: some, and no more than its threads could have used since it started.
  auto const cpu = metric_value(text, "process_cpu_seconds_total");
  REQUIRE(cpu);
  CHECK(*cpu >= 0.0);
  CHECK(*cpu <= (wall_clock_now() - *start) * 8 + 0.05);

  CHECK(metric_value(text, std::string("factsd_build_info{version=\"") + FACTS_VERSION + "\"}") ==
        1.0);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  CHECK(text.find("# TYPE process_open_fds gauge") != std::string::npos);
}

TEST_CASE("process_open_fds counts each open stream's descriptor", "[service][metrics]") {
  auto const child = start_factsd({});
  auto const port = child->wait_for_port(start_timeout);
  INFO("stderr: " << child->err());
  REQUIRE(port);
  // Each scrape is its own connection, closed before the next: the count settles.
  double const idle = open_fds(*port);
  CHECK(idle >= 3);
  constexpr int streams = 40;
  {
    std::vector<std::unique_ptr<sse_client>> open;
    for (int i = 0; i < streams; ++i)
      open.push_back(std::make_unique<sse_client>(*port));
    REQUIRE(wait_for_status(*port, "clients", streams) == streams);
    double const busy = open_fds(*port);
    CHECK(busy >= idle + streams);
    CHECK(busy <= idle + streams + 4);
  }
  REQUIRE(wait_for_status(*port, "clients", 0) == 0);
  CHECK(eventually([&] { return open_fds(*port) <= idle; }, 5s));
}
