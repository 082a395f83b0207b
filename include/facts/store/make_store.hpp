#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "facts/store/fact_store.hpp"
#include "facts/store/retention_bounds.hpp"
#include "facts/store/sync_mode.hpp"

namespace facts {

/**
 * Represents what a store may need beyond its URL. The defaults are the command line's (config),
 * which fills every field.
 */
struct store_settings {
  sync_mode sync = sync_mode::full;             ///< sqlite: how hard to sync
  std::chrono::milliseconds connect_timeout{};  ///< nats: startup wait
  std::chrono::milliseconds publish_timeout{};  ///< nats: wait for an ack
  std::size_t max_fact_bytes = 0;               ///< nats: the largest payload that is a fact
  retention_bounds retention{};                 ///< every store: how much history it keeps
};

/**
 * Opens the store a URL names, by scheme: `sqlite:PATH`, `memory:` or `nats://...`. The one
 * place that knows every store. Throws std::invalid_argument for a URL we do not know and
 * store_error when the store cannot be opened.
 */
std::unique_ptr<fact_store> make_store(std::string const& url, store_settings const& settings);

}  // namespace facts
