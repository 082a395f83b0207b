#include "publisher.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "clock.hpp"
#include "fact_payload.hpp"

namespace loadgen {

namespace beast = boost::beast;
namespace http = beast::http;

/** One keep-alive connection with at most one POST in flight; it reconnects when closed. */
class publisher::connection {
 public:
  explicit connection(publisher& owner) : owner_(owner), socket_(owner.ioc_) {}

  bool busy() const { return busy_; }

  void send(std::uint64_t seq) {
    busy_ = true;
    seq_ = seq;
    if (!socket_.is_open()) {
      socket_.async_connect(owner_.server_, [this](boost::system::error_code ec) {
        if (ec) return finish(false, "connect: " + ec.message());
        socket_.set_option(tcp::no_delay(true), ec);
        write();
      });
      return;
    }
    write();
  }

 private:
  void write() {
    sent_us_ = now_us();
    auto const body = make_fact_json({seq_, sent_us_});
    request_ =
        "POST " + owner_.path_ + " HTTP/1.1\r\nHost: " + owner_.host_ +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    if (owner_.tally_.sent == 0) owner_.tally_.first_send_us = sent_us_;
    ++owner_.tally_.sent;
    net::async_write(socket_, net::buffer(request_),
                     [this](boost::system::error_code ec, std::size_t) {
                       if (ec) return finish(false, "send: " + ec.message());
                       read();
                     });
  }

  void read() {
    response_.emplace();
    response_->body_limit(1024 * 1024);
    http::async_read(
        socket_, buffer_, *response_, [this](boost::system::error_code ec, std::size_t) {
          if (ec) return finish(false, "answer: " + ec.message());
          auto const& res = response_->get();
          auto const status = res.result_int();
          if (!res.keep_alive()) close();
          if (status < 200 || status >= 300)
            return finish(false,
                          "status " + std::to_string(status) + ": " + res.body().substr(0, 200));
          finish(true, {});
        });
  }

  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
    buffer_.clear();
  }

  void finish(bool ok, std::string error) {
    auto& tally = owner_.tally_;
    if (ok) {
      ++tally.acked;
      tally.last_ack_us = now_us();
      tally.answer_latency.add(tally.last_ack_us - sent_us_);
    } else {
      // A broken connection leaves the fact's fate unknown: it is not resent (that could
      // duplicate it); it counts as failed and is not expected on the streams.
      ++tally.failed;
      tally.failed_seqs.push_back(seq_);
      if (tally.first_error.empty()) tally.first_error = std::move(error);
      close();
    }
    busy_ = false;
    owner_.on_free(*this);
  }

  publisher& owner_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> response_;
  std::string request_;
  std::uint64_t seq_ = 0;
  std::uint64_t sent_us_ = 0;
  bool busy_ = false;
};

publisher::publisher(tcp::endpoint server, std::string host, std::string path)
    : server_(std::move(server)), host_(std::move(host)), path_(std::move(path)) {}

publisher::~publisher() = default;

publish_tally publisher::run(publish_plan const& plan) {
  plan_ = plan;
  tally_ = {};
  next_ = 0;
  scheduled_ = 0;
  start_us_ = now_us();
  while (connections_.size() < std::max<std::size_t>(plan_.in_flight, 1))
    connections_.push_back(std::make_unique<connection>(*this));
  ioc_.restart();
  if (plan_.rate > 0) {
    pace_timer_ = std::make_unique<net::steady_timer>(ioc_);
    on_tick();
  } else {
    for (auto& c : connections_)
      on_free(*c);
  }
  ioc_.run();
  pace_timer_.reset();
  return tally_;
}

bool publisher::more_to_send() const {
  if (next_ >= plan_.count) return false;
  auto const elapsed = std::chrono::microseconds(now_us() - start_us_);
  return plan_.max_duration.count() == 0 || elapsed < plan_.max_duration;
}

void publisher::on_free(connection& c) {
  // Paced: only facts whose time has come; as fast as possible: the next one, if any is left.
  bool const due = plan_.rate > 0 ? next_ < scheduled_ : more_to_send();
  if (!due) return;
  c.send(plan_.first_seq + next_++);
}

void publisher::on_tick() {
  // Fact i is due at start + i / rate. Each tick releases every fact now due (a late tick
  // catches up), hands them to free connections, and the rest wait for one to free up.
  auto const elapsed_s = static_cast<double>(now_us() - start_us_) / 1e6;
  auto const due =
      std::min<std::uint64_t>(plan_.count, static_cast<std::uint64_t>(elapsed_s * plan_.rate) + 1);
  bool const out_of_time = plan_.max_duration.count() != 0 &&
                           std::chrono::microseconds(now_us() - start_us_) >= plan_.max_duration;
  if (!out_of_time) scheduled_ = std::max(scheduled_, due);
  for (auto& c : connections_)
    if (!c->busy() && next_ < scheduled_) on_free(*c);
  if (scheduled_ >= plan_.count || out_of_time) return;
  auto const next_due_us =
      start_us_ + static_cast<std::uint64_t>(static_cast<double>(scheduled_) / plan_.rate * 1e6);
  pace_timer_->expires_at(
      std::chrono::steady_clock::now() +
      std::chrono::microseconds(next_due_us > now_us() ? next_due_us - now_us() : 0));
  pace_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) on_tick();
  });
}

}  // namespace loadgen
