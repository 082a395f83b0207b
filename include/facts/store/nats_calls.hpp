#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "facts/fact.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/nats_url.hpp"

// What every part of the nats:// store needs around a call into nats.c.
namespace facts {

/// The jsErrCode nats.c leaves when JetStream gave none.
inline constexpr jsErrCode no_js_error = static_cast<jsErrCode>(0);

/// nats.c's last error on this thread, in one line, without its "(conn.c:2088): " position.
std::string nats_error(natsStatus status);

/// A failure of the nats:// store on `url`, in the one line every one of them reads as:
/// "store nats://HOST:PORT/STREAM: WHY" (without the URL's secret).
store_error nats_failure(nats_url const& url, std::string const& why);

/// The payload of a message JetStream handed back (a get or a consumer's delivery), as it is in
/// the log: valid while `msg` is. It becomes a fact only through log_payloads::to_fact().
std::string_view payload_of(natsMsg* msg);

/// What is left of `deadline`, at least 1 ms: nats.c reads a wait of 0 as its default wait.
std::chrono::milliseconds millis_left(std::chrono::steady_clock::time_point deadline);

/// Options for one JetStream API call that waits up to `wait` for its answer.
jsOptions js_call(std::chrono::milliseconds wait);

}  // namespace facts
