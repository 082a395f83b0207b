#include "facts/store/make_store.hpp"

#include <stdexcept>

#include "facts/store/memory_store.hpp"
#include "facts/store/sqlite_store.hpp"

namespace facts {

std::unique_ptr<fact_store> make_store(std::string const& url, sync_mode sync) {
  if (url == "memory:") return std::make_unique<memory_store>();
  if (url.starts_with("sqlite:") && url.size() > 7)
    return std::make_unique<sqlite_store>(url.substr(7), sync);
  throw std::invalid_argument("--store: '" + url +
                              "' is not a store URL (expected sqlite:PATH or memory:)");
}

}  // namespace facts
