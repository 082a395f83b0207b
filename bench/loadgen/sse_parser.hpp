#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace loadgen {

/** One dispatched Server-Sent Event. `data` may be cut at the parser's cap (see `truncated`). */
struct sse_event {
  std::string_view type;      ///< the `event:` field, empty for the default "message"
  std::string_view id;        ///< the `id:` field of this event, empty when it had none
  std::string_view data;      ///< the data lines joined with '\n', at most line_cap bytes
  std::size_t data_size = 0;  ///< the full size of the data, even when `data` was cut
  bool truncated = false;
};

/** What an sse_parser reports, as it happens. */
class sse_handler {
 public:
  virtual ~sse_handler() = default;
  /// The response head is complete.
  virtual void on_head(int status) = 0;
  /// Body bytes arrived (a comment, part of an event...): the stream is flowing.
  virtual void on_body_bytes() = 0;
  /// An event was dispatched (a blank line ended it and it had data).
  virtual void on_event(sse_event const& event) = 0;
};

/**
 * Parses one event-stream response as it arrives: the HTTP response head, then the body (raw,
 * or `Transfer-Encoding: chunked` as Node and nginx send it), then the events in it, which end
 * at a blank line (LF, CRLF or CR line ends, as the SSE spec allows).
 *
 * Memory per stream stays bounded whatever the server sends: a line is kept only up to
 * `line_cap` bytes (a 700 KB snapshot array is counted, not stored), which is plenty for the
 * ~70-byte facts whose contents we read.
 */
class sse_parser {
 public:
  static constexpr std::size_t line_cap = 512;
  static constexpr std::size_t head_cap = 16 * 1024;

  enum class state { head, body, failed };

  /// Consumes `bytes`; calls `handler` for what they complete.
  void feed(std::string_view bytes, sse_handler& handler);

  state current() const { return state_; }
  bool chunked() const { return chunked_; }
  std::string const& error() const { return error_; }

 private:
  void feed_body(std::string_view bytes, sse_handler& handler);
  void feed_chunked(std::string_view bytes, sse_handler& handler);
  void feed_events(std::string_view bytes, sse_handler& handler);
  void append_partial(std::string_view part);
  void end_line(std::string_view line, std::size_t full_size, sse_handler& handler);
  void dispatch(sse_handler& handler);
  bool parse_head();
  void fail(std::string why);

  state state_ = state::head;
  std::string error_;
  std::string head_;  // the response head, until its blank line
  int status_ = 0;
  bool chunked_ = false;

  // Chunked decoding: where we are in "SIZE[;ext]\r\nDATA\r\n".
  enum class chunk_state { size, extension, size_lf, data, data_cr, data_lf, last };
  chunk_state chunk_ = chunk_state::size;
  std::size_t chunk_left_ = 0;
  bool chunk_digits_ = false;

  // Line assembly: the start of a line that arrived in an earlier read, cut at line_cap.
  std::string line_;
  std::size_t line_size_ = 0;  // full size of that partial line
  bool skip_lf_ = false;       // the last byte was a CR: an LF right after it ends no line

  // The event being assembled.
  std::string data_;
  std::size_t data_size_ = 0;
  bool has_data_ = false;
  std::string type_;
  std::string id_;
};

}  // namespace loadgen
