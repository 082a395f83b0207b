#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "facts/http/connection_deadline.hpp"
#include "facts/http/net.hpp"
#include "facts/http/post_batch.hpp"
#include "facts/http/routes.hpp"
#include "facts/http/stream_group.hpp"
#include "facts/limits.hpp"
#include "facts/read_pool.hpp"

namespace facts::http {

/** Represents what an HTTP connection needs from the server, shared by every connection. */
struct session_context {
  route_context routes;
  broadcaster& hub;
  limits const& lim;
  std::chrono::milliseconds retry;
  metrics& stats;
  /// Requests read and not yet answered: shutdown waits for them to reach 0.
  std::atomic<std::size_t>& requests_in_flight;
  /// Longest a Last-Event-ID the log has, but this instance not yet, waits for it to be
  /// fanned out here (--publish-timeout).
  std::chrono::milliseconds catch_up_wait{5000};
  /// Where the routes that read the store are answered, off the I/O threads.
  read_pool& reads;
};

/**
 * Represents one HTTP/1.1 connection: reads requests under size and time limits, routes them,
 * writes answers, and on `GET /events` hands its socket to its thread's stream_group.
 */
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  /// `streams` and `posts`: those of the I/O thread the socket runs on; `streams` takes it on
  /// GET /events, `posts` carries its POSTs to the writer.
  http_session(tcp::socket&& socket, session_context const& ctx, stream_group& streams,
               post_batch& posts);
  ~http_session();

  void run();

 private:
  void do_read();
  void on_first_bytes(beast::error_code ec, std::size_t bytes);
  void do_read_request();
  /// Feeds the parser what the buffer holds; `ec` is set when that is a bad request.
  void parse_buffered(beast::error_code& ec);
  void on_read_header(beast::error_code ec, std::size_t bytes);
  void do_read_body();
  void on_read(beast::error_code ec, std::size_t bytes);
  /// The 503 for a request whose answer failed (a store read threw); logs why.
  response failure_answer(std::exception const& e) const;
  /// Runs `read` on the read pool and writes its answer back on this session's thread.
  void answer_read(std::function<response()> read);
  void open_stream(response header);
  /// Opens the stream once the hub has fanned out `wanted` (a resume from an id the log has and
  /// this instance not yet), or at the --publish-timeout deadline.
  void wait_for_fan_out(std::uint64_t wanted, std::string head, std::optional<std::string> id);
  void refuse(bhttp::status status, std::string const& message);
  /// Answers `res` to a request whose body is unread, and closes.
  void refuse(response res);
  void answer_done();
  void on_published(std::optional<append_result> const& result);
  void do_write(response res);
  /// Sends answer_ and then res_'s body (if res_ holds a response): one gather write.
  void send_answer(bool keep_alive);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void do_close();
  void close();
  void do_linger();
  void on_linger(beast::error_code ec, std::size_t bytes);

  static constexpr std::size_t linger_limit = 4 * 1024 * 1024;  // most we drain before closing

  tcp::socket socket_;
  std::optional<connection_deadline> deadline_;  // made in run(), once owned by a shared_ptr
  session_context const& ctx_;
  stream_group& streams_;
  post_batch& posts_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  request req_;                     // the request being answered
  std::optional<response> res_;     // the response being written, unless answer_ holds it all
  std::string answer_;              // its status line and header block (a stored fact's: all)
  std::size_t lingered_bytes_ = 0;  // drained after the last answer, bounded by linger_limit
  bool answering_ = false;          // counted in requests_in_flight
  bool served_ = false;             // a request was answered: waits now get the idle timeout
  // When the token of the stream being opened expires (route_decision::expires).
  std::optional<std::chrono::system_clock::time_point> stream_expires_;
};

}  // namespace facts::http
