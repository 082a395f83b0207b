#include "sse_parser.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace loadgen {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void sse_parser::fail(std::string why) {
  state_ = state::failed;
  error_ = std::move(why);
}

void sse_parser::feed(std::string_view bytes, sse_handler& handler) {
  if (state_ == state::head) {
    // The head is small and arrives once: collect it, then hand what follows to the body.
    auto const before = head_.size();
    head_.append(bytes);
    auto const end = head_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (head_.size() > head_cap) fail("response head over 16 KB");
      return;
    }
    bytes.remove_prefix(end + 4 - before);
    head_.resize(end + 2);
    if (!parse_head()) return;
    state_ = state::body;
    handler.on_head(status_);
  }
  if (state_ == state::body && !bytes.empty()) feed_body(bytes, handler);
}

bool sse_parser::parse_head() {
  std::string_view head(head_);
  auto const line_end = head.find("\r\n");
  auto const status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
    fail("not an HTTP response: " + std::string(status_line.substr(0, 40)));
    return false;
  }
  status_ = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    auto const end = head.find("\r\n");
    auto const line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    auto const colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (iequals(trim(line.substr(0, colon)), "transfer-encoding") &&
        trim(line.substr(colon + 1)).find("chunked") != std::string_view::npos)
      chunked_ = true;
  }
  head_.clear();
  head_.shrink_to_fit();
  return true;
}

void sse_parser::feed_body(std::string_view bytes, sse_handler& handler) {
  handler.on_body_bytes();
  if (chunked_)
    feed_chunked(bytes, handler);
  else
    feed_events(bytes, handler);
}

void sse_parser::feed_chunked(std::string_view bytes, sse_handler& handler) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ == state::body) {
    char const c = bytes[i];
    switch (chunk_) {
      case chunk_state::size: {
        int const digit = hex_digit(c);
        if (digit >= 0) {
          if (chunk_left_ > (std::size_t{1} << 40)) return fail("chunk size too large");
          chunk_left_ = chunk_left_ * 16 + static_cast<std::size_t>(digit);
          chunk_digits_ = true;
        } else if (c == ';' || c == ' ') {
          chunk_ = chunk_state::extension;
        } else if (c == '\r') {
          chunk_ = chunk_state::size_lf;
        } else {
          return fail("bad chunk size");
        }
        ++i;
        break;
      }
      case chunk_state::extension:
        if (c == '\r') chunk_ = chunk_state::size_lf;
        ++i;
        break;
      case chunk_state::size_lf:
        if (c != '\n' || !chunk_digits_) return fail("bad chunk size line");
        chunk_ = chunk_left_ == 0 ? chunk_state::last : chunk_state::data;
        ++i;
        break;
      case chunk_state::data: {
        auto const n = std::min(chunk_left_, bytes.size() - i);
        feed_events(bytes.substr(i, n), handler);
        chunk_left_ -= n;
        i += n;
        if (chunk_left_ == 0) chunk_ = chunk_state::data_cr;
        break;
      }
      case chunk_state::data_cr:
        if (c != '\r') return fail("chunk not followed by CRLF");
        chunk_ = chunk_state::data_lf;
        ++i;
        break;
      case chunk_state::data_lf:
        if (c != '\n') return fail("chunk not followed by CRLF");
        chunk_ = chunk_state::size;
        chunk_digits_ = false;
        ++i;
        break;
      case chunk_state::last:
        // The body ended (zero-size chunk); trailers and anything after are ignored.
        return;
    }
  }
}

void sse_parser::feed_events(std::string_view bytes, sse_handler& handler) {
  while (!bytes.empty()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    // A line ends at LF, CR or CRLF; memchr for LF first is the fast path (servers send LF).
    auto const* begin = bytes.data();
    auto const* lf = static_cast<char const*>(std::memchr(begin, '\n', bytes.size()));
    auto const search = lf ? static_cast<std::size_t>(lf - begin) : bytes.size();
    auto const* cr = static_cast<char const*>(std::memchr(begin, '\r', search));
    char const* end = cr ? cr : lf;
    if (!end) {
      append_partial(bytes);
      return;
    }
    auto const length = static_cast<std::size_t>(end - begin);
    if (line_size_ == 0) {
      end_line(bytes.substr(0, length), length, handler);
    } else {
      append_partial(bytes.substr(0, length));
      auto const full = line_size_;
      std::string line;
      line.swap(line_);
      line_size_ = 0;
      end_line(line, full, handler);
      line.clear();
      line_.swap(line);  // keep the capacity for the next partial line
    }
    bytes.remove_prefix(length + 1);
    if (end == cr) skip_lf_ = true;
  }
}

void sse_parser::append_partial(std::string_view part) {
  if (line_.size() < line_cap) line_.append(part.substr(0, line_cap - line_.size()));
  line_size_ += part.size();
}

void sse_parser::end_line(std::string_view line, std::size_t full_size, sse_handler& handler) {
  if (full_size == 0) return dispatch(handler);
  if (line.front() == ':') return;  // a comment, e.g. a heartbeat
  auto const colon = line.find(':');
  auto const field = line.substr(0, colon);
  std::string_view value;
  std::size_t value_size = 0;
  if (colon != std::string_view::npos) {
    auto skip = colon + 1;
    if (skip < line.size() && line[skip] == ' ') ++skip;
    value = line.substr(std::min(skip, line.size()));
    value_size = full_size - std::min(skip, full_size);
  }
  // Field names are compared by size first: this runs for every line of every event.
  if (field.size() == 4 && field[0] == 'd' && field == "data") {
    if (has_data_) {
      data_ += '\n';
      ++data_size_;
    }
    has_data_ = true;
    if (data_.size() < line_cap) data_.append(value.substr(0, line_cap - data_.size()));
    data_size_ += value_size;
  } else if (field.size() == 5 && field == "event") {
    type_.assign(value);
  } else if (field.size() == 2 && field[0] == 'i' && field[1] == 'd') {
    id_.assign(value);
  }
  // retry: is the server's business.
}

void sse_parser::dispatch(sse_handler& handler) {
  if (has_data_) {
    sse_event event;
    event.type = type_;
    event.id = id_;
    event.data = data_;
    event.data_size = data_size_;
    event.truncated = data_size_ > data_.size();
    handler.on_event(event);
  }
  data_.clear();
  data_size_ = 0;
  has_data_ = false;
  type_.clear();
  id_.clear();
}

}  // namespace loadgen
