#include "http_get.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sstream>

namespace loadgen {

namespace beast = boost::beast;
namespace http = beast::http;

std::optional<std::string> http_get(boost::asio::ip::tcp::endpoint const& server,
                                    std::string const& host, std::string const& target) {
  // Asynchronous only for the deadline: tcp_stream's timeout covers each step.
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.keep_alive(false);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  std::optional<std::string> body;
  stream.expires_after(std::chrono::seconds(10));
  stream.async_connect(server, [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) return;
      http::async_read(stream, buffer, res, [&](beast::error_code rec, std::size_t) {
        if (!rec && res.result_int() == 200) body = res.body();
      });
    });
  });
  ioc.run();
  return body;
}

std::optional<double> prometheus_value(std::string const& metrics, std::string const& name) {
  std::istringstream lines(metrics);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

}  // namespace loadgen
