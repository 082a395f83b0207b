#include "facts/store/nats_calls.hpp"

#include <algorithm>

namespace facts {

std::string nats_error(natsStatus status) {
  char const* last = nats_GetLastError(nullptr);
  if (last == nullptr || *last == '\0') return natsStatus_GetText(status);
  std::string text(last);
  if (text.starts_with('(')) {
    if (auto const end = text.find("): "); end != std::string::npos) text.erase(0, end + 3);
  }
  return text;
}

store_error nats_failure(nats_url const& url, std::string const& why) {
  return store_error("store " + url.describe() + ": " + why);
}

std::string_view payload_of(natsMsg* msg) {
  auto const* data = natsMsg_GetData(msg);
  if (data == nullptr) return {};
  return {data, static_cast<std::size_t>(natsMsg_GetDataLength(msg))};
}

std::chrono::milliseconds millis_left(std::chrono::steady_clock::time_point deadline) {
  auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max(std::chrono::milliseconds(1), left);
}

jsOptions js_call(std::chrono::milliseconds wait) {
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = wait.count();
  return call;
}

}  // namespace facts
