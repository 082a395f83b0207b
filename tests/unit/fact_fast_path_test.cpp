// parse_fact's single pass against the document path it replaces: the same bytes, the same
// errors, for hand-picked edge cases and for thousands of generated facts.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "facts/fact.hpp"

namespace {

void check_same(std::string const& body) {
  INFO("body: " << body);
  auto const fast = facts::parse_fact(body);
  auto const reference = facts::parse_fact_document(body);
  CHECK(fast.json == reference.json);
  CHECK(fast.error == reference.error);
}

/** Represents a generator of random JSON text, with random whitespace between tokens. */
class json_text {
 public:
  explicit json_text(unsigned seed) : random_(seed) {}

  std::string object(int depth) {
    std::string out = "{" + space();
    auto const members = pick(0, depth > 2 ? 2 : 6);
    for (int i = 0; i < members; ++i) {
      if (i > 0) out += "," + space();
      out += string_token() + space() + ":" + space() + value(depth + 1) + space();
    }
    return out + "}";
  }

 private:
  int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

  std::string space() {
    static constexpr char const* choices[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    return choices[pick(0, 6)];
  }

  std::string value(int depth) {
    switch (pick(0, depth > 4 ? 5 : 7)) {
      case 0:
        return "null";
      case 1:
        return pick(0, 1) ? "true" : "false";
      case 2:
        return std::to_string(pick(-100000, 100000));
      case 3:
        return "18446744073709551615";
      case 4:
        return string_token();
      case 5:
        return pick(0, 3) == 0 ? "1.5e3" : "-0";
      case 6:
        return object(depth);
      default: {
        std::string out = "[" + space();
        auto const items = pick(0, 4);
        for (int i = 0; i < items; ++i)
          out += (i > 0 ? "," + space() : "") + value(depth + 1) + space();
        return out + "]";
      }
    }
  }

  std::string string_token() {
    // Letters, then the characters that escaping is about, raw where JSON allows it.
    static constexpr char const* pieces[] = {"a",
                                             "info",
                                             "é",
                                             "日本",
                                             "\\\"",
                                             "\\\\",
                                             "\\/",
                                             "\\b",
                                             "\\f",
                                             "\\n",
                                             "\\r",
                                             "\\t",
                                             "\\u0001",
                                             "\\u001f",
                                             "\\u007f",
                                             "\\u00e9",
                                             "\\ud83d\\ude00",
                                             " ",
                                             "\x7f",
                                             "source",
                                             "k",
                                             "<>&'"};
    std::string out = "\"";
    auto const length = pick(0, 5);
    for (int i = 0; i < length; ++i)
      out += pieces[pick(0, sizeof pieces / sizeof *pieces - 1)];
    return out + "\"";
  }

  std::mt19937 random_;
};

}  // namespace

TEST_CASE("parse_fact's single pass writes what the document path writes") {
  for (auto const* body : {
           R"({})",
           R"({"a":1})",
           R"( { "info" : "Shark teeth" , "source" : "https://example.com/x?y=1" } )",
           R"({"n":-0,"big":18446744073709551615,"neg":-9223372036854775808})",
           R"({"s":"quote \" backslash \\ slash \/ tab \t nl \n cr \r bs \b ff \f"})",
           R"({"u":"\u0000\u0001\u001F\u007f\u00e9\ud83d\ude00"})",
           "{\"raw\":\"é 日本 \x7f\"}",
           R"({"a":[1,[2,[]],{},{"b":[true,false,null]}],"c":{"d":{"e":"f"}}})",
           R"({"f":1.0,"g":1e2,"h":-0.0,"i":1.5})",  // floats: the document path's own form
           R"({"a":1,"a":2})",                       // a repeated key: last value, first place
           R"({"o":{"k":1,"k":{"x":1}},"k":3})",
           R"([1,2])",
           R"("text")",
           R"(42)",
           R"({"a":1,})",
           R"({"a":1} {"b":2})",
           R"({"a":"\ud800"})",
           "{\"bad\":\"\xff\"}",
           "",
           "   ",
       })
    check_same(body);
}

TEST_CASE("parse_fact gives up on a large object and still writes what the document path does") {
  for (int keys : {63, 64, 65, 200}) {
    std::string body = "{";
    for (int i = 0; i < keys; ++i)
      body += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":" + std::to_string(i);
    check_same(body + "}");
  }
}

TEST_CASE("parse_fact's single pass matches the document path on generated facts") {
  json_text generate(20261201);
  for (int i = 0; i < 5000; ++i)
    check_same(generate.object(0));
}
