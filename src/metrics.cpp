#include "facts/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "facts/process_metrics.hpp"

namespace facts {

namespace {

constexpr std::array<char const*, 7> end_names{
    "client_closed", "slow", "timeout", "shutdown", "error", "client_sent", "expired"};

}  // namespace

void metrics::stream_ended(stream_end why) {
  ++streams_ended_[static_cast<std::size_t>(why)];
}

void metrics::write_tally::frame_written(std::uint32_t events,
                                         std::chrono::steady_clock::time_point published,
                                         std::chrono::steady_clock::time_point now) {
  events_ += events;
  auto const latency = now - published;
  auto const seconds = std::chrono::duration<double>(latency).count();
  std::size_t bucket = 0;
  while (bucket < latency_buckets.size() && seconds > latency_buckets[bucket])
    ++bucket;
  ++latency_counts_[bucket];
  latency_sum_ns_ += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count());
}

void metrics::add(write_tally& tally) {
  if (tally.events_ != 0) events_written_ += tally.events_;
  if (tally.bytes_ != 0) bytes_written_ += tally.bytes_;
  for (std::size_t i = 0; i < tally.latency_counts_.size(); ++i)
    if (tally.latency_counts_[i] != 0) latency_counts_[i] += tally.latency_counts_[i];
  if (tally.latency_sum_ns_ != 0) latency_sum_ns_ += tally.latency_sum_ns_;
  tally = {};
}

void metrics::request_answered(std::string_view route, unsigned status) {
  auto const named = std::find(route_names.begin(), route_names.end(), route);
  auto const row = named == route_names.end() ? std::find(route_names.begin(), route_names.end(),
                                                          std::string_view("other"))
                                              : named;
  status = std::clamp(status, first_status, last_status);
  requests_[static_cast<std::size_t>(row - route_names.begin())][status - first_status].fetch_add(
      1, std::memory_order_relaxed);
}

std::string metrics::prometheus_text(hub_figures const& hub, log_figures const& log,
                                     catch_up_figures const& catch_up) const {
  std::string out;
  auto metric = [&](char const* name, char const* type, char const* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("factsd_streams_open", "gauge", "Open event streams.");
  out += fmt::format("factsd_streams_open {}\n", hub.open_streams);
  metric("factsd_snapshots_built_total", "counter",
         "Snapshot events serialized; new clients share one per sequence number.");
  out += fmt::format("factsd_snapshots_built_total {}\n", hub.snapshots_built);
  metric("factsd_streams_lagging", "gauge", "Streams with events waiting behind a write.");
  out += fmt::format("factsd_streams_lagging {}\n", lagging_.load());
  metric("factsd_facts_published_total", "counter", "Facts stored and fanned out.");
  out += fmt::format("factsd_facts_published_total {}\n", facts_published_.load());
  metric("factsd_events_written_total", "counter", "Live events written to streams.");
  out += fmt::format("factsd_events_written_total {}\n", events_written_.load());
  metric("factsd_bytes_written_total", "counter", "Bytes written to streams.");
  out += fmt::format("factsd_bytes_written_total {}\n", bytes_written_.load());
  metric("factsd_catch_up_bytes_held", "gauge",
         "Bytes of catch-up chunks alive, bounded by the reader's budget (64 MiB).");
  out += fmt::format("factsd_catch_up_bytes_held {}\n", catch_up.bytes_held);
  metric("factsd_catch_up_reads_waiting", "gauge",
         "Catch-up reads queued: over budget, streams wait for chunks to be sent or given back.");
  out += fmt::format("factsd_catch_up_reads_waiting {}\n", catch_up.reads_waiting);
  metric("factsd_catch_up_given_back_total", "counter",
         "Catch-up chunks let go by streams that took them slower than the floor.");
  out += fmt::format("factsd_catch_up_given_back_total {}\n", catch_up_given_back_.load());
  metric("factsd_streams_ended_total", "counter", "Streams ended, by reason.");
  for (std::size_t i = 0; i < end_names.size(); ++i)
    out += fmt::format("factsd_streams_ended_total{{reason=\"{}\"}} {}\n", end_names[i],
                       streams_ended_[i].load());
  metric("factsd_http_requests_total", "counter", "Requests answered, by route and status.");
  for (std::size_t route = 0; route < route_names.size(); ++route)
    for (std::size_t i = 0; i < requests_[route].size(); ++i)
      if (auto const count = requests_[route][i].load(std::memory_order_relaxed); count != 0)
        out += fmt::format("factsd_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                           route_names[route], first_status + i, count);
  metric("factsd_publish_to_write_seconds", "histogram",
         "Time from fan-out to a stream's write completing, per frame and stream; a frame "
         "that carries several batches counts from its oldest.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
    cumulative += latency_counts_[i].load();
    out += fmt::format("factsd_publish_to_write_seconds_bucket{{le=\"{}\"}} {}\n",
                       latency_buckets[i], cumulative);
  }
  cumulative += latency_counts_.back().load();
  out += fmt::format("factsd_publish_to_write_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("factsd_publish_to_write_seconds_sum {}\n", latency_sum_ns_.load() / 1e9);
  out += fmt::format("factsd_publish_to_write_seconds_count {}\n", cumulative);
  metric("factsd_log_last_seq", "gauge", "The log's newest seq as this instance knows it.");
  out += fmt::format("factsd_log_last_seq {}\n", log.last_seq);
  metric("factsd_log_lag", "gauge", "Facts the log has that this instance has not fanned out.");
  out += fmt::format("factsd_log_lag {}\n", log.lag);
  metric("factsd_publish_outcomes_total", "counter",
         "POSTed facts by what the shared log answered (nats:// stores; 0 otherwise).");
  out += fmt::format("factsd_publish_outcomes_total{{outcome=\"acked\"}} {}\n", log.acked);
  out += fmt::format("factsd_publish_outcomes_total{{outcome=\"duplicate\"}} {}\n", log.duplicate);
  out += fmt::format("factsd_publish_outcomes_total{{outcome=\"timeout\"}} {}\n", log.timeout);
  out += fmt::format("factsd_publish_outcomes_total{{outcome=\"no_quorum\"}} {}\n", log.no_quorum);
  metric("factsd_log_invalid_facts_total", "counter",
         "Seqs whose payload in the shared log was not a valid fact, served as an error object.");
  out += fmt::format("factsd_log_invalid_facts_total {}\n", log.invalid);
  metric("factsd_oldest_kept_id", "gauge",
         "The oldest fact's id the store keeps (the newest id + 1 when it keeps none).");
  out += fmt::format("factsd_oldest_kept_id {}\n", log.first_seq);
  metric("factsd_retention_removed_total", "counter",
         "Facts removed by retention (--retain-facts, --retain-age, --retain-bytes) since start.");
  out += fmt::format("factsd_retention_removed_total {}\n", log.removed);
  metric("factsd_store_bytes", "gauge",
         "The store's size: database and WAL files (sqlite:), facts' JSON (memory:), the "
         "stream's bytes (nats://).");
  out += fmt::format("factsd_store_bytes {}\n", log.stored_bytes);
  metric("factsd_retention_step_seconds_max", "gauge",
         "The longest one step of retention held the store's commits off (sqlite:).");
  out += fmt::format("factsd_retention_step_seconds_max {}\n", log.longest_step_ns / 1e9);
  out += process_metrics_text();
  return out;
}

}  // namespace facts
