#include "facts/store/log_payloads.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <utility>

namespace facts {

log_payloads::log_payloads(std::string log_name, std::size_t max_fact_bytes)
    : log_name_(std::move(log_name)), max_fact_bytes_(max_fact_bytes) {}

fact log_payloads::to_fact(std::string_view payload, std::uint64_t seq) {
  std::string why;
  if (payload.size() > max_fact_bytes_) {
    why = "larger than " + std::to_string(max_fact_bytes_) + " bytes (--max-fact-bytes)";
  } else {
    auto parsed = parse_fact(payload);
    if (parsed.ok()) return {seq, std::move(parsed.json)};
    why = std::move(parsed.error);
  }
  report(seq, why);
  return {seq, invalid_fact_json(why)};
}

void log_payloads::report(std::uint64_t seq, std::string const& why) {
  {
    std::lock_guard lock(mutex_);
    if (!reported_.insert(seq).second) return;
    // The oldest go first: history is read newest-last, and a seq forgotten is only logged
    // and counted again, never served raw.
    if (reported_.size() > remembered_seqs) reported_.erase(reported_.begin());
  }
  ++invalid_;
  spdlog::warn("[log] fact {} in {} is not a valid fact ({}): served as an error object", seq,
               log_name_, why);
}

std::string invalid_fact_json(std::string_view why) {
  return nlohmann::json{{"error", "not a valid fact in the log: " + std::string(why)}}.dump();
}

}  // namespace facts
