#include "facts/service_notify.hpp"

#include <catch2/catch.hpp>
#include <chrono>

#include "support/files.hpp"
#include "support/notify_socket.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

TEST_CASE("service_notifier sends one datagram per state to a path or an abstract socket",
          "[notify]") {
  temp_dir dir;
  auto const address = GENERATE(as<std::string>{}, "path", "abstract");
  notify_socket manager(address == "path" ? dir / "n.sock" : notify_socket::unique_abstract_name());
  facts::service_notifier const notifier(manager.address());
  CHECK(notifier.enabled());
  CHECK(notifier.notify("READY=1"));
  CHECK(notifier.notify("STOPPING=1"));
  auto const first = manager.receive(1s);
  auto const second = manager.receive(1s);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->text == "READY=1");
  CHECK(second->text == "STOPPING=1");
  CHECK(first->sender == ::getpid());
}

TEST_CASE("service_notifier without a usable socket does nothing and does not throw", "[notify]") {
  temp_dir dir;
  CHECK_FALSE(facts::service_notifier("").enabled());
  CHECK_FALSE(facts::service_notifier("").notify("READY=1"));
  CHECK_FALSE(facts::service_notifier("relative.sock").notify("READY=1"));
  CHECK_FALSE(facts::service_notifier(dir / "nobody-listens.sock").notify("READY=1"));
  CHECK_FALSE(facts::service_notifier("/" + std::string(200, 'x')).notify("READY=1"));
}
