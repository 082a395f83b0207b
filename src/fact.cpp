#include "facts/fact.hpp"

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

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

using json = nlohmann::ordered_json;

/**
 * Represents nlohmann's SAX events written straight back as the compact text dump() would
 * give, without building the document: no allocation per value, and one pass instead of a
 * parse and a dump (together about a tenth of a POST's time on one core). It covers what facts
 * usually hold; on what it cannot match byte for byte it gives up, and the caller takes the
 * document path: a float (dump() has its own shortest form), a key repeated in one object
 * (the document keeps the first place and the last value), an object of more than max_keys keys
 * (the repeat check is a scan), anything but an object at the top, nesting deeper than
 * max_fact_depth, and every error (so errors read as they always did).
 */
class compact_writer {
 public:
  static constexpr std::size_t max_keys = 64;

  explicit compact_writer(std::string& out) : out_(out) {
    key_hashes_.clear();
    object_starts_.clear();
  }

  bool null() { return value("null"); }
  bool boolean(bool b) { return value(b ? "true" : "false"); }
  bool number_integer(json::number_integer_t n) { return number(n); }
  bool number_unsigned(json::number_unsigned_t n) { return number(n); }
  bool number_float(json::number_float_t, json::string_t const&) { return false; }
  bool string(json::string_t& s) {
    if (!begin_value()) return false;
    write_string(s);
    return true;
  }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) {
    if (!begin_value(true) || ++depth_ > max_fact_depth) return false;
    out_ += '{';
    object_starts_.push_back(key_hashes_.size());
    first_ = true;
    return true;
  }
  bool key(json::string_t& k) {
    auto const hash = std::hash<std::string_view>{}(k);
    auto const start = object_starts_.back();
    if (key_hashes_.size() - start >= max_keys) return false;
    for (auto i = start; i < key_hashes_.size(); ++i)
      if (key_hashes_[i] == hash) return false;  // a repeat, or two keys of one hash
    key_hashes_.push_back(hash);
    if (!first_) out_ += ',';
    write_string(k);
    out_ += ':';
    after_key_ = true;
    return true;
  }
  bool end_object() {
    --depth_;
    key_hashes_.resize(object_starts_.back());
    object_starts_.pop_back();
    out_ += '}';
    first_ = false;
    return true;
  }
  bool start_array(std::size_t) {
    if (!begin_value() || ++depth_ > max_fact_depth) return false;
    out_ += '[';
    first_ = true;
    return true;
  }
  bool end_array() {
    --depth_;
    out_ += ']';
    first_ = false;
    return true;
  }
  bool parse_error(std::size_t, std::string const&, nlohmann::detail::exception const&) {
    return false;
  }

 private:
  // Writes the comma before an array element; a member's value follows its key directly. The
  // top value must be an object.
  bool begin_value(bool is_object = false) {
    if (!started_) {
      started_ = true;
      return is_object;
    }
    if (after_key_)
      after_key_ = false;
    else if (!first_)
      out_ += ',';
    first_ = false;
    return true;
  }

  bool value(std::string_view text) {
    if (!begin_value()) return false;
    out_ += text;
    return true;
  }

  template <class Number>
  bool number(Number n) {
    if (!begin_value()) return false;
    char digits[24];
    auto const end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out_.append(digits, end);
    return true;
  }

  // As dump() escapes with ensure_ascii off: quote, backslash and control characters; UTF-8
  // (already checked by the parser) and the rest as they are.
  void write_string(std::string_view s) {
    out_ += '"';
    for (char const c : s) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\t':
          out_ += "\\t";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\r':
          out_ += "\\r";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            out_ += "\\u00";
            out_ += hex[(c >> 4) & 0xf];
            out_ += hex[c & 0xf];
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string& out_;
  bool started_ = false;    // the top value has begun
  bool first_ = true;       // nothing written yet in the open object or array
  bool after_key_ = false;  // a key was written: its value comes next, with no comma
  std::size_t depth_ = 0;   // open objects and arrays
  // The open objects' keys, as hashes, and where each object's begin: kept per thread, so a
  // POST allocates nothing here once its thread has seen a fact of that size.
  static thread_local std::vector<std::size_t> key_hashes_;
  static thread_local std::vector<std::size_t> object_starts_;
};

thread_local std::vector<std::size_t> compact_writer::key_hashes_;
thread_local std::vector<std::size_t> compact_writer::object_starts_;

}  // namespace

fact_parse_result parse_fact(std::string_view body) {
  // nlohmann stops at a NUL as if the input ended there; what follows would be dropped unseen.
  if (body.find('\0') != std::string_view::npos) return {{}, "body contains a NUL byte"};
  // Too deep a fact makes the pass give up: the document path then says so.
  fact_parse_result fast;
  fast.json.reserve(body.size());
  compact_writer writer(fast.json);
  if (json::sax_parse(body, &writer)) return fast;
  return parse_fact_document(body);
}

fact_parse_result parse_fact_document(std::string_view body) {
  if (body.find('\0') != std::string_view::npos) return {{}, "body contains a NUL byte"};
  if (nesting_depth(body) > max_fact_depth)
    return {{}, "fact is nested deeper than " + std::to_string(max_fact_depth) + " levels"};
  // ordered_json keeps the fields in the order they were sent.
  auto const parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return {{}, "body is not valid JSON"};
  if (!parsed.is_object()) return {{}, "a fact must be a JSON object"};
  return {parsed.dump(), {}};
}

}  // namespace facts
