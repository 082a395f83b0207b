#include "facts/store/make_store.hpp"

#include <stdexcept>

#include "facts/store/memory_store.hpp"
#include "facts/store/nats_store.hpp"
#include "facts/store/nats_url.hpp"
#include "facts/store/sqlite_store.hpp"

namespace facts {

std::unique_ptr<fact_store> make_store(std::string const& url, store_settings const& settings) {
  if (url == "memory:") return std::make_unique<memory_store>(settings.retention);
  if (url.starts_with(sqlite_url_prefix) && url.size() > sqlite_url_prefix.size())
    return std::make_unique<sqlite_store>(url.substr(sqlite_url_prefix.size()), settings.sync,
                                          settings.retention);
  if (url.starts_with("nats:")) {
    auto parsed = parse_nats_url(url);
    if (!parsed.url) throw std::invalid_argument("--store: " + parsed.error);
    return std::make_unique<nats_store>(nats_store::options{
        .url = std::move(*parsed.url),
        .timings = nats_timings::from(settings.connect_timeout, settings.publish_timeout),
        .max_fact_bytes = settings.max_fact_bytes,
        .retention = settings.retention});
  }
  throw std::invalid_argument("--store: '" + url +
                              "' is not a store URL (expected sqlite:PATH, memory: or nats://)");
}

}  // namespace facts
