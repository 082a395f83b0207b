#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "facts/fact.hpp"

namespace facts {

/** Represents bytes ready for the wire, built once and shared by every stream that sends them. */
using frame = std::shared_ptr<std::string const>;

/// The event type of a snapshot that replaces everything the client has (see README).
inline constexpr char const* reset_event_type = "reset";

/** One live event: `id: <seq>` and `data: <json>`. */
std::string make_event(fact const& f);

/// make_event(f) appended to `out`: a batch's events built in one string.
void append_event(std::string& out, fact const& f);

/**
 * The first event of a stream: `data:` is a JSON array of `facts` and `id:` is `last_seq`, the
 * newest sequence number the client holds afterwards. With `reset`, the event carries the type
 * `reset`, telling the client to drop what it has before taking the array.
 */
std::string make_snapshot(std::span<fact const> facts, std::uint64_t last_seq, bool reset);

/** `retry: <ms>`, the reconnection delay EventSource should use. */
std::string make_retry(std::chrono::milliseconds delay);

/** A reconnection delay in [least, least + spread), so clients told together come back apart. */
std::chrono::milliseconds jittered_retry(std::chrono::milliseconds least,
                                         std::chrono::milliseconds spread);

/** A comment line that keeps idle connections alive through proxies. */
std::string make_heartbeat();

/// How often the heartbeat tick runs for a `--heartbeat` period: a quarter of it. A tick sends
/// the comment to every stream whose last byte left three quarters of a period ago or more, so
/// no stream is silent for longer than the period (plus the tick's own lateness), whatever it
/// was sent before.
std::chrono::milliseconds heartbeat_tick(std::chrono::milliseconds period);

}  // namespace facts
