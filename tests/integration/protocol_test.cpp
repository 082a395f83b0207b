// Protocol details (issue 10): `Expect: 100-continue` gets its go-ahead only once the checks
// that can refuse the POST have passed, and never over HTTP/1.0; a preflight's 204 has no
// Content-Length. Raw sockets on 127.0.0.1, every read under a deadline.

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "support/http_client.hpp"
#include "support/raw_socket.hpp"
#include "support/test_server.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view expect_body =
    R"({"info": "expect", "source": "https://expect.example"})";

/// A POST head with `Expect: 100-continue` and no body yet.
std::string expecting_head(std::string_view target, std::string_view version,
                           std::string_view extra_headers = "Content-Type: application/json\r\n") {
  return std::string("POST ") + std::string(target) + " " + std::string(version) +
         "\r\nHost: 127.0.0.1\r\n" + std::string(extra_headers) +
         "Content-Length: " + std::to_string(expect_body.size()) +
         "\r\nExpect: 100-continue\r\n\r\n";
}

bool has_continue(std::string const& bytes) {
  return bytes.find(" 100 Continue") != std::string::npos;
}

}  // namespace

TEST_CASE("protocol: a POST the head alone refuses gets its error and no 100 Continue",
          "[protocol][expect]") {
  test_server srv([](facts::config& cfg) { cfg.publish_token = "s3cret"; });
  struct example {
    char const* what;
    std::string head;
    unsigned status;
  };
  auto const e = GENERATE(
      example{"no token", expecting_head("/fact", "HTTP/1.1"), 401},
      example{"wrong type",
              expecting_head("/fact", "HTTP/1.1",
                             "Authorization: Bearer s3cret\r\nContent-Type: text/plain\r\n"),
              415},
      example{"unknown path", expecting_head("/nope", "HTTP/1.1"), 404},
      example{"wrong method's path", expecting_head("/status", "HTTP/1.1"), 405});
  CAPTURE(e.what);
  raw_socket client(srv.port());
  REQUIRE(client.send_all(e.head) == raw_socket::io::ok);
  // The answer comes without the body, and the connection ends (the body is never read).
  CHECK(client.read_until_closed(10s));
  INFO("received: " << client.received());
  CHECK_FALSE(has_continue(client.received()));
  auto const res = parse_response(client.received());
  CHECK(res.result_int() == e.status);
  CHECK(is_json_error(res));
}

TEST_CASE("protocol: an accepted POST with Expect gets 100 Continue, then its 201",
          "[protocol][expect]") {
  test_server srv([](facts::config& cfg) { cfg.publish_token = "s3cret"; });
  raw_socket client(srv.port());
  REQUIRE(client.send_all(expecting_head(
              "/fact", "HTTP/1.1",
              "Authorization: Bearer s3cret\r\nContent-Type: application/json\r\n")) ==
          raw_socket::io::ok);
  REQUIRE(client.read_until([](std::string const& got) {
    return got.find("\r\n\r\n") != std::string::npos;
  }) == raw_socket::io::ok);
  CHECK(client.received().rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
  REQUIRE(client.send_all(expect_body) == raw_socket::io::ok);
  REQUIRE(client.read_until([](std::string const& got) {
    return got.find(" 201 ") != std::string::npos &&
           got.find("expect.example") != std::string::npos;
  }) == raw_socket::io::ok);
}

TEST_CASE("protocol: an HTTP/1.0 POST with Expect never gets 100 Continue", "[protocol][expect]") {
  test_server srv;
  raw_socket client(srv.port());
  REQUIRE(client.send_all(expecting_head("/fact", "HTTP/1.0")) == raw_socket::io::ok);
  // Nothing may come while the server waits for the body: a 1.0 client knows no 1xx. A second
  // is long enough for a go-ahead, which follows the head at once when it is sent.
  CHECK(client.read_until([](std::string const& got) { return !got.empty(); }, 1500ms) ==
        raw_socket::io::timeout);
  CHECK(client.received().empty());
  REQUIRE(client.send_all(expect_body) == raw_socket::io::ok);
  CHECK(client.read_until_closed(10s));  // HTTP/1.0 without keep-alive: the answer, then the end
  INFO("received: " << client.received());
  CHECK_FALSE(has_continue(client.received()));
  auto const res = parse_response(client.received());
  CHECK(res.result() == http::status::created);
  CHECK(res.version() == 10);
}

TEST_CASE("protocol: a preflight's 204 carries no Content-Length", "[protocol][cors]") {
  test_server srv;
  raw_socket client(srv.port());
  REQUIRE(client.send_all("OPTIONS /fact HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: "
                          "http://page.example\r\nAccess-Control-Request-Method: POST\r\n\r\n") ==
          raw_socket::io::ok);
  REQUIRE(client.read_until([](std::string const& got) {
    return got.find("\r\n\r\n") != std::string::npos;
  }) == raw_socket::io::ok);
  auto const head = client.received();
  INFO(head);
  CHECK(head.rfind("HTTP/1.1 204", 0) == 0);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.find("content-length") == std::string::npos);
}
