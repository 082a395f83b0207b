#include "facts/fact.hpp"

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace facts {

namespace {

// nlohmann parses iteratively but serializes recursively: a body of 60,000 nested brackets
// would overflow an I/O thread's stack in dump(). Measuring the depth first is one cheap pass.
std::size_t nesting_depth(std::string_view body) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char const c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

using document = nlohmann::ordered_json;

/**
 * Represents one pass over a POST body that writes the compact text dump() would give, byte for
 * byte, without building a document or calling a parser per token: the bytes of a plain string
 * are copied as one run. It covers what facts usually hold. Where it cannot be sure of matching
 * dump() it gives up and the caller takes the document path: a float (dump() has its own
 * shortest form), an integer beyond 64 bits (a float to nlohmann), a `\u` escape, a key
 * repeated in one object (the document keeps the first place and the last value), an object of
 * more than max_keys keys (the repeat check is a scan), anything but an object at the top,
 * nesting deeper than max_fact_depth, and every error (so errors read as they always did).
 */
class compact_scanner {
 public:
  static constexpr std::size_t max_keys = 64;

  // The output is never longer than the body (whitespace and `\/` only shrink, an integer is
  // written back as it came or shorter): it is written through a pointer into `out`, sized once.
  compact_scanner(std::string_view body, std::string& out)
      : p_(body.data()), end_(p_ + body.size()), out_(out) {
    out_.resize(body.size());
    w_ = out_.data();
    key_hashes_.clear();
  }

  bool run() {
    skip_space();
    if (p_ == end_ || *p_ != '{' || !object()) return false;
    skip_space();
    if (p_ != end_) return false;
    out_.resize(static_cast<std::size_t>(w_ - out_.data()));
    return true;
  }

 private:
  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  bool value() {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool object() {
    if (++depth_ > max_fact_depth) return false;
    ++p_;
    *w_++ = '{';
    auto const first_key = key_hashes_.size();
    skip_space();
    if (p_ != end_ && *p_ == '}') return close('}');
    for (;;) {
      if (p_ == end_ || *p_ != '"') return false;
      auto const key_start = w_;
      if (!string()) return false;
      auto const hash = std::hash<std::string_view>{}(
          std::string_view(key_start, static_cast<std::size_t>(w_ - key_start)));
      if (key_hashes_.size() - first_key >= max_keys) return false;
      for (auto i = first_key; i < key_hashes_.size(); ++i)
        if (key_hashes_[i] == hash) return false;  // a repeat, or two keys of one hash
      key_hashes_.push_back(hash);
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      *w_++ = ':';
      skip_space();
      if (!value()) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == '}') {
        key_hashes_.resize(first_key);
        return close('}');
      }
      if (*p_ != ',') return false;
      ++p_;
      *w_++ = ',';
      skip_space();
    }
  }

  bool array() {
    if (++depth_ > max_fact_depth) return false;
    ++p_;
    *w_++ = '[';
    skip_space();
    if (p_ != end_ && *p_ == ']') return close(']');
    for (;;) {
      if (!value()) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ']') return close(']');
      if (*p_ != ',') return false;
      ++p_;
      *w_++ = ',';
      skip_space();
    }
  }

  bool close(char bracket) {
    ++p_;
    *w_++ = bracket;
    --depth_;
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word)
      return false;
    w_ = std::copy(word.begin(), word.end(), w_);
    p_ += word.size();
    return true;
  }

  // An integer as nlohmann reads it (`-0` is 0), written back as dump() writes it.
  bool number() {
    auto const start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0')
      ++p_;
    else
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9')
        ++p_;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E' || (*p_ >= '0' && *p_ <= '9')))
      return false;  // a float, or a leading zero (an error)
    if (*start == '-') return write_number<std::int64_t>(start);
    return write_number<std::uint64_t>(start);
  }

  template <class Integer>
  bool write_number(char const* start) {
    Integer n{};
    auto const [end, ec] = std::from_chars(start, p_, n);
    if (ec != std::errc{} || end != p_) return false;  // beyond 64 bits: a float to nlohmann
    w_ = std::to_chars(w_, w_ + (p_ - start), n).ptr;
    return true;
  }

  // As dump() writes a string with ensure_ascii off: quote and backslash escaped, control
  // characters by their short escapes, valid UTF-8 and the rest as they are.
  bool string() {
    ++p_;
    *w_++ = '"';
    for (;;) {
      auto const run = p_;
      p_ = plain_run_end(p_, end_);
      w_ = std::copy(run, p_, w_);
      if (p_ == end_) return false;
      auto const c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        *w_++ = '"';
        return true;
      }
      if (c == '\\') {
        if (!escape()) return false;
      } else if (c >= 0x80) {
        if (!utf8_sequence()) return false;
      } else {
        return false;  // a raw control character: an error
      }
    }
  }

  static bool plain(char c) {
    auto const u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && u != '"' && u != '\\';
  }

  // The end of the run of plain() characters from `p`: 16 at a time where SSE2 is there (every
  // x86-64), since a fact is mostly such runs and a byte-at-a-time loop was most of its scan.
  static char const* plain_run_end(char const* p, char const* end) {
#if defined(__SSE2__)
    auto const quote = _mm_set1_epi8('"');
    auto const backslash = _mm_set1_epi8('\\');
    // A signed comparison: bytes from 0x80 up are negative, so below 0x20 as well.
    auto const space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
      auto const bytes = _mm_loadu_si128(reinterpret_cast<__m128i const*>(p));
      auto const special =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
                       _mm_cmplt_epi8(bytes, space));
      if (auto const mask = _mm_movemask_epi8(special); mask != 0) return p + __builtin_ctz(mask);
      p += 16;
    }
#endif
    while (p != end && plain(*p))
      ++p;
    return p;
  }

  bool escape() {
    if (end_ - p_ < 2) return false;
    char const e = p_[1];
    char written;
    switch (e) {
      case '"':
      case '\\':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        written = e;
        break;
      case '/':
        p_ += 2;
        *w_++ = '/';
        return true;
      default:
        return false;  // `\u` (dump() decides how its character is written), or an error
    }
    p_ += 2;
    *w_++ = '\\';
    *w_++ = written;
    return true;
  }

  // One well-formed UTF-8 character (RFC 3629: no overlong forms, no surrogates, nothing past
  // U+10FFFF), copied as it is.
  bool utf8_sequence() {
    auto const lead = static_cast<unsigned char>(*p_);
    std::size_t length;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0) low = 0xa0;
      if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0) low = 0x90;
      if (lead == 0xf4) high = 0x8f;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end_ - p_) < length) return false;
    auto const second = static_cast<unsigned char>(p_[1]);
    if (second < low || second > high) return false;
    for (std::size_t i = 2; i < length; ++i) {
      auto const next = static_cast<unsigned char>(p_[i]);
      if (next < 0x80 || next > 0xbf) return false;
    }
    w_ = std::copy(p_, p_ + length, w_);
    p_ += length;
    return true;
  }

  char const* p_;
  char const* end_;
  std::string& out_;
  char* w_;
  std::size_t depth_ = 0;  // open objects and arrays
  // The open objects' keys, as hashes of their written form: kept per thread, so a POST
  // allocates nothing here once its thread has seen a fact of that size.
  static thread_local std::vector<std::size_t> key_hashes_;
};

thread_local std::vector<std::size_t> compact_scanner::key_hashes_;

}  // namespace

fact_parse_result parse_fact(std::string_view body) {
  // A NUL, too deep a fact and every error make the pass give up: the document path then says
  // what was wrong.
  fact_parse_result fast;
  if (compact_scanner(body, fast.json).run()) return fast;
  return parse_fact_document(body);
}

fact_parse_result parse_fact_document(std::string_view body) {
  // nlohmann stops at a NUL as if the input ended there; what follows would be dropped unseen.
  if (body.find('\0') != std::string_view::npos) return {{}, "body contains a NUL byte"};
  if (nesting_depth(body) > max_fact_depth)
    return {{}, "fact is nested deeper than " + std::to_string(max_fact_depth) + " levels"};
  // ordered_json keeps the fields in the order they were sent.
  auto const parsed = document::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return {{}, "body is not valid JSON"};
  if (!parsed.is_object()) return {{}, "a fact must be a JSON object"};
  return {parsed.dump(), {}};
}

}  // namespace facts
