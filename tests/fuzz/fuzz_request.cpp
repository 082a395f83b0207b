// Request handling on arbitrary bytes: Beast's parser under our limits, then routing. Every
// input ends in either a parse error (the server answers 400/413/431 and closes) or a complete
// response; nothing crashes, and every response serializes.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "facts/broadcaster.hpp"
#include "facts/http/routes.hpp"
#include "facts/store/memory_store.hpp"

namespace {

namespace http = facts::http;
namespace bhttp = boost::beast::http;

struct fixture {
  facts::memory_store store;
  facts::broadcaster hub{{}, 0};
  http::cors_policy cors{{"https://a.example"}};
  http::static_files files{""};
  facts::limits lim;
  facts::metrics stats;
  http::access_gate access{{}, "s3cret", nullptr};
  http::route_context ctx{cors,   files, hub,  store, std::chrono::steady_clock::now(),
                          access, lim,   stats};

  fixture() {
    lim.max_fact_bytes = 4096;
    lim.max_header_bytes = 4096;
    store.append(std::vector<std::string>{R"({"info":"a"})", R"({"info":"b"})"});
  }
};

void check_serializes(http::response const& res) {
  std::ostringstream out;
  out << res;
  if (out.str().rfind("HTTP/1.", 0) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  static fixture f;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.body_limit(f.lim.max_fact_bytes);
  parser.header_limit(static_cast<std::uint32_t>(f.lim.max_header_bytes));
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) {
    check_serializes(
        http::error_response(bhttp::status::bad_request, ec.message(), parser.get(), f.cors));
    return 0;
  }
  auto decision = http::route_request(parser.get(), f.ctx);
  switch (decision.what) {
    case http::route_decision::action::publish: {
      // What routing accepts for storage must be a valid fact already.
      auto const again = facts::parse_fact(decision.fact_json);
      if (!again.ok() || again.json != decision.fact_json) __builtin_trap();
      check_serializes(http::publish_answer(
          facts::append_result{facts::append_result::outcome::created, {3, decision.fact_json}},
          parser.get(), f.cors));
      break;
    }
    case http::route_decision::action::open_stream:
      if (http::stream_header_bytes(decision.res).find("\r\n\r\n") == std::string::npos)
        __builtin_trap();
      break;
    case http::route_decision::action::respond:
      check_serializes(decision.res);
      break;
    case http::route_decision::action::read:
      check_serializes(decision.read());
      break;
  }
  return 0;
}
