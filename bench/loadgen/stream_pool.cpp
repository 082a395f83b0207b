#include "stream_pool.hpp"

#include <sys/socket.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "clock.hpp"
#include "fact_payload.hpp"

namespace loadgen {

namespace {

// A refused or reset connect (a full accept queue, say) is retried this often before the
// stream counts as failed.
constexpr int connect_attempts = 5;
constexpr auto retry_delay = std::chrono::milliseconds(100);

}  // namespace

/** One event stream: its socket, its parser, and what it received. */
class stream_pool::stream final : public sse_handler {
 public:
  stream(stream_pool& pool, std::size_t facts_capacity)
      : pool_(pool), socket_(pool.ioc_), seen_((facts_capacity + 63) / 64, 0) {}

  void start() {
    ++attempts_;
    socket_.async_connect(pool_.server_, [this](boost::system::error_code ec) {
      if (ec) return retry_or_fail("connect: " + ec.message());
      // No TCP_NODELAY, no user-level non-blocking mode: a stream sends one request, and reads
      // are non-blocking per call (MSG_DONTWAIT). Every system call saved here is one less
      // per stream in the time to connect all N.
      net::async_write(socket_, net::buffer(pool_.request_),
                       [this](boost::system::error_code wec, std::size_t) {
                         if (wec) return retry_or_fail("send request: " + wec.message());
                         wait_readable();
                       });
    });
  }

  bool ready() const { return ready_; }
  bool open() const { return !closed_; }

  /// Counts the facts of [first, first + count) this stream holds.
  std::uint64_t count_seen(std::uint64_t first, std::uint64_t count) const {
    std::uint64_t n = 0;
    for (auto seq = first; seq < first + count && seq < seen_.size() * 64;) {
      auto const word = seen_[seq / 64];
      auto const bit = seq % 64;
      auto const span = std::min<std::uint64_t>(64 - bit, first + count - seq);
      auto const mask = span == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << span) - 1) << bit;
      n += static_cast<std::uint64_t>(std::popcount(word & mask));
      seq += span;
    }
    return n;
  }

  void reset_connection() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.set_option(net::socket_base::linger(true, 0), ec);
    socket_.close(ec);
  }

  // sse_handler
  void on_head(int status) override {
    if (status != 200) fail("status " + std::to_string(status));
  }

  void on_body_bytes() override {
    if (closed_) return;
    if (!ready_ && pool_.rule_ == ready_rule::first_bytes) become_ready();
  }

  void on_event(sse_event const& event) override {
    if (closed_) return;
    auto const stamp = event.truncated ? std::nullopt : read_fact_stamp(event.data);
    if (!ready_) {
      become_ready();
      if (!stamp) {  // the snapshot: later ids must follow its id
        ids_increase(event.id);
        return;
      }
    }
    if (!stamp) {
      ++pool_.phase_.unexpected;
      return;
    }
    auto const seq = stamp->seq;
    if (seq >= pool_.facts_capacity_) {
      ++pool_.phase_.unexpected;
      return;
    }
    auto& word = seen_[seq / 64];
    auto const bit = std::uint64_t{1} << (seq % 64);
    if (word & bit) {
      ++pool_.phase_.duplicated;
      return;
    }
    word |= bit;
    auto& rank = pool_.rank_of_[seq];
    if (rank == 0) rank = pool_.next_rank_++;
    bool const id_ok = ids_increase(event.id);
    if (rank < highest_rank_ || !id_ok) ++pool_.phase_.out_of_order;
    highest_rank_ = std::max(highest_rank_, rank);
    ++pool_.delivered_;
    auto const received = pool_.receive_us_;
    pool_.phase_.last_receive_us = received;
    pool_.phase_.latency.add(received > stamp->sent_us ? received - stamp->sent_us : 0);
  }

 private:
  // Where the server sends ids ("17", or nchan's "1795624781:3"), they must increase along
  // the stream. Ids of another shape are not checked.
  bool ids_increase(std::string_view id) {
    if (id.empty()) return true;
    std::uint64_t major = 0, minor = 0;
    auto const* end = id.data() + id.size();
    auto [stop, ec] = std::from_chars(id.data(), end, major);
    if (ec != std::errc{}) return true;
    if (stop != end) {
      if (*stop != ':') return true;
      auto [stop2, ec2] = std::from_chars(stop + 1, end, minor);
      if (ec2 != std::errc{} || stop2 != end) return true;
    }
    bool const increased =
        !has_id_ || major > last_id_.first || (major == last_id_.first && minor > last_id_.second);
    last_id_ = {major, minor};
    has_id_ = true;
    return increased;
  }

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [this](boost::system::error_code ec) {
      if (closed_) return;
      if (ec) return lost("wait: " + ec.message());
      on_readable();
    });
  }

  void on_readable() {
    // Drain the socket into the pool's buffer: everything readable now is parsed now, stamped
    // with one receive time.
    for (;;) {
      auto const got = ::recv(socket_.native_handle(), pool_.read_buffer_.data(),
                              pool_.read_buffer_.size(), MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return lost(std::strerror(errno));
      if (got == 0) return lost("server closed the stream");
      auto const n = static_cast<std::size_t>(got);
      pool_.receive_us_ = now_us();
      parser_.feed(std::string_view(pool_.read_buffer_.data(), n), *this);
      if (closed_) return;
      if (parser_.current() == sse_parser::state::failed) return fail(parser_.error());
      if (n < pool_.read_buffer_.size()) break;
    }
    pool_.delivered_total.store(pool_.delivered_, std::memory_order_relaxed);
    wait_readable();
  }

  void become_ready() {
    ready_ = true;
    pool_.on_ready(*this);
  }

  void retry_or_fail(std::string why) {
    if (closed_) return;
    boost::system::error_code ec;
    socket_.close(ec);
    if (attempts_ >= connect_attempts || ready_) return fail(std::move(why));
    retry_ = std::make_unique<net::steady_timer>(pool_.ioc_, retry_delay);
    retry_->async_wait([this](boost::system::error_code) {
      if (!closed_) start();
    });
  }

  void fail(std::string why) {
    if (ready_) return lost(std::move(why));
    reset_connection();
    pool_.on_failed(*this, std::move(why));
  }

  void lost(std::string why) {
    if (!ready_) return fail(std::move(why));
    reset_connection();
    pool_.on_closed(*this);
  }

  stream_pool& pool_;
  tcp::socket socket_;
  sse_parser parser_;
  std::vector<std::uint64_t> seen_;  // bit `seq` is set once fact `seq` arrived
  std::unique_ptr<net::steady_timer> retry_;
  std::uint32_t highest_rank_ = 0;
  std::pair<std::uint64_t, std::uint64_t> last_id_{0, 0};
  bool has_id_ = false;
  int attempts_ = 0;
  bool ready_ = false;
  bool closed_ = false;
};

stream_pool::stream_pool(net::io_context& ioc, tcp::endpoint server, std::string request,
                         ready_rule rule, std::size_t facts_capacity)
    : ioc_(ioc),
      server_(std::move(server)),
      request_(std::move(request)),
      rule_(rule),
      facts_capacity_(facts_capacity),
      read_buffer_(256 * 1024),
      rank_of_(facts_capacity, 0) {}

stream_pool::~stream_pool() = default;

void stream_pool::connect(std::size_t n, std::size_t window,
                          std::function<void(connect_tally)> done) {
  wanted_ = n;
  connect_ = {};
  connect_done_ = std::move(done);
  connect_start_us_ = now_us();
  streams_.reserve(n);
  if (n == 0) return connect_done_(connect_);
  for (std::size_t i = 0; i < std::max<std::size_t>(window, 1); ++i)
    start_next();
}

void stream_pool::start_next() {
  if (started_ >= wanted_) return;
  ++started_;
  streams_.push_back(std::make_unique<stream>(*this, facts_capacity_));
  streams_.back()->start();
}

void stream_pool::on_ready(stream&) {
  ++connect_.ready;
  if (connect_.ready + connect_.failed == wanted_) {
    connect_.seconds = static_cast<double>(now_us() - connect_start_us_) / 1e6;
    if (connect_done_) std::exchange(connect_done_, nullptr)(connect_);
    return;
  }
  start_next();
}

void stream_pool::on_failed(stream&, std::string why) {
  if (connect_.first_error.empty()) connect_.first_error = std::move(why);
  ++connect_.failed;
  if (connect_.ready + connect_.failed == wanted_) {
    connect_.seconds = static_cast<double>(now_us() - connect_start_us_) / 1e6;
    if (connect_done_) std::exchange(connect_done_, nullptr)(connect_);
    return;
  }
  start_next();
}

void stream_pool::on_closed(stream&) {
  ++phase_.dropped;
}

void stream_pool::begin_phase() {
  phase_ = {};
}

phase_tally stream_pool::end_phase(std::uint64_t first_seq, std::uint64_t count) {
  auto tally = phase_;
  tally.delivered = 0;
  for (auto const& s : streams_)
    tally.delivered += s->count_seen(first_seq, count);
  return tally;
}

std::size_t stream_pool::open_streams() const {
  std::size_t n = 0;
  for (auto const& s : streams_)
    if (s->ready() && s->open()) ++n;
  return n;
}

void stream_pool::close_all() {
  // The streams themselves live until the pool goes: handlers of theirs may still be queued.
  for (auto const& s : streams_)
    s->reset_connection();
}

}  // namespace loadgen
