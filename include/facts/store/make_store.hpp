#pragma once

#include <memory>
#include <string>

#include "facts/store/fact_store.hpp"
#include "facts/store/sync_mode.hpp"

namespace facts {

/**
 * Opens the store a URL names, by scheme: `sqlite:PATH` or `memory:`. The one place that knows
 * every store. Throws std::invalid_argument for a URL we do not know and store_error when the
 * store cannot be opened.
 */
std::unique_ptr<fact_store> make_store(std::string const& url, sync_mode sync);

}  // namespace facts
