#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "facts/store/fact_store.hpp"
#include "facts/store/nats_url.hpp"

namespace facts {

/// How long JetStream remembers a Nats-Msg-Id (our Idempotency-Key): as long as keys live.
inline constexpr std::chrono::seconds nats_duplicate_window{idempotency_window_seconds};

/**
 * Represents the one JetStream stream shape factsd runs on: one subject, file storage, the URL's
 * replicas, no deletes, purges or limits (so seqs stay dense and are fact ids), a 24-hour
 * duplicate window and direct gets. The config's strings point into `url`: keep it alive.
 */
void fill_stream_config(jsStreamConfig& cfg, nats_url const& url, char const** subject);

/**
 * What makes an existing stream unfit, in one line naming each difference ("" when it fits).
 * Anything that could let seqs skip (limits, deletes, purges, other subjects) or weaken what an
 * acknowledgement means (storage, replicas) is refused rather than adjusted: changing a stream
 * in use is the operator's decision, not ours.
 */
std::string stream_shape_difference(jsStreamConfig const& have, nats_url const& want);

}  // namespace facts
