#include "support/paced_stream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <utility>

namespace facts::test {

paced_stream::paced_stream(std::uint16_t port, std::optional<std::uint64_t> last_event_id,
                           int rcvbuf)
    : socket_(port, rcvbuf) {
  std::string request = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  if (last_event_id) request += "Last-Event-ID: " + std::to_string(*last_event_id) + "\r\n";
  socket_.send_all(request + "\r\n");
  if (last_event_id) next_ = *last_event_id + 1;
}

bool paced_stream::pump(std::size_t max_bytes) {
  char buffer[64 * 1024];
  while (max_bytes > 0 && !closed_) {
    auto const n = ::recv(socket_.fd(), buffer, std::min(max_bytes, sizeof buffer), 0);
    if (n > 0) {
      take({buffer, static_cast<std::size_t>(n)});
      max_bytes -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    closed_ = true;
  }
  return !closed_;
}

void paced_stream::take(std::string_view bytes) {
  bytes_ += bytes.size();
  if (!head_done_) {
    head_ += bytes;
    auto const end = head_end(head_);
    if (end == std::string::npos) return;
    head_done_ = true;
    bytes = std::string_view(head_).substr(end);
    parser_.feed(bytes);
    head_.clear();
  } else {
    parser_.feed(bytes);
  }
  while (parser_.has_event())
    check(parser_.pop());
}

void paced_stream::check(sse_event const& e) {
  auto const data = nlohmann::json::parse(e.data, nullptr, false);
  if (events_++ == 0 && !data.is_array()) fail("the first event is not an array");
  auto const one = [&](nlohmann::json const& f) {
    auto const n = f.is_object() && f.contains("n") ? f["n"].get<std::uint64_t>() : 0;
    if (next_ == 0) next_ = n;  // a new client starts wherever the window starts
    if (n != next_) fail("expected fact " + std::to_string(next_) + ", got " + std::to_string(n));
    ++next_;
  };
  // An empty array first (a stream that catches up) names the id the facts follow.
  if (data.is_array() && data.empty() && next_ == 0 && e.id) next_ = std::stoull(*e.id) + 1;
  if (data.is_array()) {
    for (auto const& f : data)
      one(f);
  } else {
    one(data);
  }
  if (e.id && next_ != 0 && std::to_string(next_ - 1) != *e.id)
    fail("event id " + *e.id + " is not the newest fact " + std::to_string(next_ - 1));
}

void paced_stream::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
}

}  // namespace facts::test
