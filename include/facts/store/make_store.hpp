#pragma once

#include <memory>
#include <string>

#include "facts/store/fact_store.hpp"

namespace facts {

/**
 * Opens the store a URL names, by scheme: `memory:`. The one place that knows every store.
 * Throws std::invalid_argument for an unknown scheme and store_error when it cannot open.
 */
std::unique_ptr<fact_store> make_store(std::string const& url);

}  // namespace facts
