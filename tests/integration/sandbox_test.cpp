// factsd under the packaged unit's system call filter, without systemd: the deny list of
// packaging/factsd.service.in, its groups expanded by systemd-analyze, applied with seccomp
// (facts_deny_syscalls) to the factsd binary. What the unit takes away must not take away what
// factsd relies on, and where a sandbox does, factsd says so once and serves.

#include <dirent.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_facts.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

constexpr int sched_batch = 3;  // SCHED_BATCH, as /proc/PID/task/TID/stat field 41 shows it

std::string trimmed(std::string const& line) {
  auto const first = line.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t") - first + 1);
}

// The system calls of a systemd group, nested groups included, as systemd-analyze lists them.
std::set<std::string> syscalls_of(std::string const& group) {
  child_process analyze({"/usr/bin/systemd-analyze", "syscall-filter", group});
  REQUIRE(analyze.wait_exit(start_timeout));
  REQUIRE(analyze.exit_code() == 0);
  std::set<std::string> out;
  std::istringstream lines(analyze.out());
  std::string line;
  std::getline(lines, line);  // the group's own name
  while (std::getline(lines, line)) {
    auto const item = trimmed(line);
    if (item.empty() || item[0] == '#') continue;
    if (item[0] == '@') {
      out.merge(syscalls_of(item));
    } else {
      out.insert(item);
    }
  }
  return out;
}

// What the unit's SystemCallFilter= lines deny. The first line is its allow list
// (@system-service); each later `~` line takes calls out of it, each later plain line puts
// calls back. The allow list itself is not applied here: the sanitizers' runtime in the test
// build makes calls outside it that the packaged (unsanitized) factsd does not.
std::set<std::string> unit_denies() {
  std::ifstream unit(std::string(FACTS_SOURCE_DIR) + "/packaging/factsd.service.in");
  REQUIRE(unit);
  std::set<std::string> denied;
  bool first = true;
  std::string line;
  std::string const key = "SystemCallFilter=";
  while (std::getline(unit, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto value = line.substr(key.size());
    if (first) {
      REQUIRE(value[0] != '~');
      first = false;
      continue;
    }
    bool const deny = !value.empty() && value[0] == '~';
    if (deny) value.erase(0, 1);
    std::istringstream items(value);
    std::string item;
    while (items >> item) {
      auto const calls = item[0] == '@' ? syscalls_of(item) : std::set<std::string>{item};
      for (auto const& call : calls) {
        if (deny) {
          denied.insert(call);
        } else {
          denied.erase(call);
        }
      }
    }
  }
  return denied;
}

// factsd on a SQLite store (the writer thread), with `denied` failing with EPERM.
child_process start_filtered(std::set<std::string> const& denied, temp_dir const& dir) {
  std::string names;
  for (auto const& call : denied)
    names += (names.empty() ? "" : ",") + call;
  // ASan lowers RLIMIT_CORE at start and dies when it cannot: setrlimit is denied here.
  char const* const asan = std::getenv("ASAN_OPTIONS");
  std::string const options = std::string(asan ? asan : "") + ":disable_coredump=0";
  return child_process({FACTS_DENY_SYSCALLS, names, "--", FACTSD_BINARY, "--listen", "127.0.0.1:0",
                        "--store", "sqlite:" + (dir / "facts.db")},
                       with_env({{"ASAN_OPTIONS", options}}));
}

// The scheduling policy of each of the process's threads.
std::vector<int> thread_policies(pid_t pid) {
  std::vector<int> out;
  auto const tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return out;
  while (auto const* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream stat(tasks + "/" + entry->d_name + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name, which ends at the last ')': field 3 is the first of them.
    auto const close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    for (int n = 3; fields >> field; ++n) {
      if (n == 41) {
        out.push_back(std::stoi(field));
        break;
      }
    }
  }
  ::closedir(dir);
  return out;
}

bool has_batch_thread(pid_t pid) {
  for (int const policy : thread_policies(pid))
    if (policy == sched_batch) return true;
  return false;
}

}  // namespace

TEST_CASE("under the packaged unit's system call filter the writer runs under SCHED_BATCH",
          "[service][sandbox]") {
  auto const denied = unit_denies();
  // The filter is the unit's: @privileged and @resources are out, with one call put back.
  REQUIRE(denied.count("setuid") == 1);
  REQUIRE(denied.count("setrlimit") == 1);
  REQUIRE(denied.count("sched_setaffinity") == 1);
  CHECK(denied.count("sched_setscheduler") == 0);

  temp_dir dir;
  auto factsd = start_filtered(denied, dir);
  auto const port = factsd.wait_for_port(start_timeout);
  INFO("stderr: " << factsd.err());
  REQUIRE(port);
  CHECK(post_fact(*port, R"({"n":1})").result() == http::status::created);
  CHECK(eventually([&] { return has_batch_thread(factsd.pid()); }, 5s));
  CHECK(factsd.err().find("SCHED_BATCH") == std::string::npos);
  factsd.send_signal(SIGTERM);
  REQUIRE(factsd.wait_exit(start_timeout));
  CHECK(factsd.exit_code() == 0);
}

TEST_CASE("where a sandbox refuses the scheduling call, factsd warns once and serves",
          "[service][sandbox]") {
  temp_dir dir;
  auto factsd = start_filtered({"sched_setscheduler"}, dir);
  auto const port = factsd.wait_for_port(start_timeout);
  INFO("stderr: " << factsd.err());
  REQUIRE(port);
  for (int n = 1; n <= 3; ++n)
    CHECK(post_fact(*port, R"({"n":)" + std::to_string(n) + "}").result() == http::status::created);
  CHECK(!has_batch_thread(factsd.pid()));
  auto const err = factsd.err();
  CHECK(count_of(err, "SCHED_BATCH") == 1);
  CHECK(err.find("[warning]") != std::string::npos);
  factsd.send_signal(SIGTERM);
  REQUIRE(factsd.wait_exit(start_timeout));
  CHECK(factsd.exit_code() == 0);
}
