#include "facts/store/make_store.hpp"

#include <stdexcept>

#include "facts/store/memory_store.hpp"

namespace facts {

std::unique_ptr<fact_store> make_store(std::string const& url) {
  if (url == "memory:") return std::make_unique<memory_store>();
  throw std::invalid_argument("--store: '" + url + "' is not a store URL (expected memory:)");
}

}  // namespace facts
