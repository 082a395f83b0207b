#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the check every payload read back from a shared log passes before it becomes a
 * fact. Anyone allowed to publish on the log's subject can put any bytes there, and what the
 * log holds goes to every stream and into every snapshot array: raw, `x\n\nid: 999` would be an
 * event of its own in every client, and one non-JSON payload would make every snapshot holding
 * it invalid JSON for good (the log denies deletes). So a payload is validated and made compact
 * exactly as a POST's body is (parse_fact, at most --max-fact-bytes). One that fails is never
 * written raw: its seq carries the stand-in invalid_fact_json() instead, so ids stay dense and
 * a client's resume point moves past it. Each such seq is logged and counted once (among the
 * newest remembered_seqs of them). Safe from any thread.
 */
class log_payloads {
 public:
  /// How many invalid seqs are remembered, so that a re-read is neither logged nor counted again.
  static constexpr std::size_t remembered_seqs = 10'000;

  /// `log_name` names the log in the warning (the store's description).
  log_payloads(std::string log_name, std::size_t max_fact_bytes);

  /// The fact `seq` whose payload in the log is `payload`: the payload made compact, or the
  /// stand-in when it is not a valid fact.
  fact to_fact(std::string_view payload, std::uint64_t seq);

  /// Seqs whose payload was not a valid fact, each counted once.
  std::uint64_t invalid_count() const { return invalid_.load(); }

 private:
  void report(std::uint64_t seq, std::string const& why);

  std::string log_name_;
  std::size_t max_fact_bytes_;
  std::atomic<std::uint64_t> invalid_{0};
  std::mutex mutex_;                  // guards reported_
  std::set<std::uint64_t> reported_;  // the newest invalid seqs already logged and counted
};

/// What a client gets, under the seq, for a payload that is not a valid fact: a JSON object
/// `{"error":"not a valid fact in the log: WHY"}`, as compact as any fact.
std::string invalid_fact_json(std::string_view why);

}  // namespace facts
