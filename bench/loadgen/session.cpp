#include "session.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <thread>

#include "clock.hpp"
#include "http_get.hpp"
#include "publisher.hpp"
#include "record.hpp"
#include "server_probe.hpp"
#include "server_process.hpp"
#include "stream_pool.hpp"

namespace loadgen {

namespace {

// How long a drain may see no new delivery before the rest counts as lost.
constexpr auto drain_stall = std::chrono::seconds(3);
constexpr auto connect_timeout = std::chrono::seconds(120);

/// Runs `f` on the io_context's thread and returns its result.
template <typename F>
auto on_thread(net::io_context& ioc, F f) -> decltype(f()) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  net::post(ioc, [&task] { task(); });
  return result.get();
}

char const* protocol_name(protocol p) {
  switch (p) {
    case protocol::factsd:
      return "factsd";
    case protocol::tutorial:
      return "tutorial";
    case protocol::nchan:
      return "nchan";
    case protocol::floor:
      return "floor";
  }
  return "?";
}

ready_rule ready_rule_of(protocol p) {
  // nchan has no snapshot: on an empty channel it sends only a ": hi" comment, so a stream is
  // ready once its head and first body bytes are in.
  return p == protocol::nchan ? ready_rule::first_bytes : ready_rule::first_event;
}

tcp::endpoint parse_endpoint(std::string const& host_port) {
  auto const colon = host_port.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--server wants HOST:PORT");
  auto host = host_port.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {net::ip::make_address(host),
          static_cast<std::uint16_t>(std::stoul(host_port.substr(colon + 1)))};
}

double ms(std::uint64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

/** Measures what the server (and the generator itself) spent over one case. */
class case_meter {
 public:
  explicit case_meter(int pid) : pid_(pid) {
    if (pid_ > 0) {
      peak_reset_ = reset_peak_rss(pid_);
      start_ = sample_process(pid_);
    }
    own_start_ = own_cpu_seconds();
    machine_start_ = sample_machine_cpu();
    wall_start_us_ = now_us();
  }

  void finish(record& r) const {
    auto const wall_s = static_cast<double>(now_us() - wall_start_us_) / 1e6;
    r.set("wall_s", wall_s, 2);
    auto const own_s = own_cpu_seconds() - own_start_;
    r.set("loadgen_cpu_pct", 100.0 * own_s / wall_s, 0);
    auto const machine = sample_machine_cpu();
    r.set("steal_pct", 100.0 * (machine.steal_seconds - machine_start_.steal_seconds) / wall_s, 0);
    auto const busy_s = machine.busy_seconds - machine_start_.busy_seconds;
    if (pid_ <= 0 || !start_) return;
    auto const end = sample_process(pid_);
    if (!end) return;
    auto const server_s = end->cpu_seconds - start_->cpu_seconds;
    // Whatever else kept the CPUs busy: other processes (a build, another benchmark) that
    // competed with the server or the generator and make this case's figures unreliable.
    // /proc/stat counts in 10 ms ticks: over a quarter second that is too coarse to tell.
    if (wall_s >= 0.25)
      r.set("other_cpu_pct", std::max(0.0, 100.0 * (busy_s - server_s - own_s) / wall_s), 0);
    r.set("server_cpu_s", server_s, 2);
    r.set("server_cpu_pct", 100.0 * server_s / wall_s, 0);
    r.set("rss_mb", static_cast<double>(end->rss_kb) / 1024.0, 1);
    // Without a reset the high-water mark is the process's, not this case's: say so.
    r.set(peak_reset_ ? "peak_rss_mb" : "peak_rss_mb_process",
          static_cast<double>(end->peak_kb) / 1024.0, 1);
  }

 private:
  int pid_;
  bool peak_reset_ = false;
  std::optional<proc_sample> start_;
  double own_start_ = 0;
  machine_cpu machine_start_;
  std::uint64_t wall_start_us_ = 0;
};

/** One session's moving parts, in the order they must be torn down. */
class session {
 public:
  explicit session(session_options const& opt) : opt_(opt) {
    raise_open_file_limit();
    now_us();  // fix the clock's epoch before anything is stamped
    if (!opt_.spawn.empty()) {
      spawned_ = std::make_unique<server_process>(opt_.spawn, std::chrono::seconds(30));
      server_ = {net::ip::make_address(spawned_->host()), spawned_->port()};
      pid_ = spawned_->pid();
    } else {
      server_ = parse_endpoint(opt_.server);
    }
    if (opt_.server_pid > 0) pid_ = opt_.server_pid;
    host_ = server_.address().to_string() + ":" + std::to_string(server_.port());
    auto const request = "GET " + opt_.events_path + " HTTP/1.1\r\nHost: " + host_ +
                         "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
    auto const capacity = opt_.preload + opt_.paced_facts + opt_.max_facts;
    pool_ = std::make_unique<stream_pool>(stream_ioc_, server_, request, ready_rule_of(opt_.proto),
                                          capacity);
    publisher_ = std::make_unique<publisher>(server_, host_, opt_.publish_path);
    stream_thread_ = std::thread([this] { stream_ioc_.run(); });
  }

  ~session() {
    on_thread(stream_ioc_, [this] {
      pool_->close_all();
      return 0;
    });
    work_.reset();
    stream_ioc_.stop();
    stream_thread_.join();
    pool_.reset();
  }

  int run() {
    std::printf("# %s (%s) at %s, %zu streams, server pid %d\n", opt_.label.c_str(),
                protocol_name(opt_.proto), host_.c_str(), opt_.streams, pid_);
    if (opt_.preload > 0) preload();
    if (!connect()) ok_ = false;
    if (opt_.paced_facts > 0) {
      publish_plan plan;
      plan.count = opt_.paced_facts;
      plan.rate =
          opt_.paced_events_per_s / static_cast<double>(std::max<std::size_t>(opt_.streams, 1));
      plan.in_flight = opt_.in_flight;
      phase("paced", plan);
    }
    if (opt_.max_facts > 0) {
      publish_plan plan;
      plan.count = opt_.max_facts;
      plan.in_flight = opt_.in_flight;
      plan.max_duration =
          std::chrono::milliseconds(static_cast<std::int64_t>(opt_.max_seconds * 1000));
      phase("max", plan);
    }
    if (opt_.check) std::printf("# check: %s\n", ok_ ? "passed" : "FAILED");
    return opt_.check && !ok_ ? 1 : 0;
  }

 private:
  record new_record(char const* case_name) const {
    record r;
    r.set("table", opt_.table);
    r.set("label", opt_.label);
    r.set("protocol", protocol_name(opt_.proto));
    r.set("case", case_name);
    r.set("streams", std::to_string(opt_.streams));
    return r;
  }

  void emit(record const& r) const {
    std::printf("%s\n", r.line().c_str());
    std::fflush(stdout);
    if (!opt_.records.empty()) {
      std::ofstream out(opt_.records, std::ios::app);
      out << r.line() << "\n";
    }
  }

  std::uint64_t server_rss_kb() const {
    if (pid_ <= 0) return 0;
    auto const sample = sample_process(pid_);
    return sample ? sample->rss_kb : 0;
  }

  std::optional<double> snapshots_built() const {
    if (opt_.proto != protocol::factsd) return std::nullopt;
    auto const body = http_get(server_, host_, "/metrics");
    if (!body) return std::nullopt;
    return prometheus_value(*body, "factsd_snapshots_built_total");
  }

  void preload() {
    publish_plan plan;
    plan.first_seq = next_seq_;
    plan.count = opt_.preload;
    plan.in_flight = opt_.in_flight;
    auto const tally = publisher_->run(plan);
    next_seq_ += tally.sent;
    std::printf("# preloaded %llu facts (%llu failed)\n",
                static_cast<unsigned long long>(tally.acked),
                static_cast<unsigned long long>(tally.failed));
  }

  bool connect() {
    // The server's memory before the first stream; 0 when it cannot be read.
    std::uint64_t const rss_before_kb = server_rss_kb();
    auto const built_before = snapshots_built();
    case_meter meter(pid_);
    std::promise<connect_tally> done;
    auto result = done.get_future();
    net::post(stream_ioc_, [&] {
      pool_->connect(opt_.streams, opt_.connect_window,
                     [&done](connect_tally t) { done.set_value(std::move(t)); });
    });
    if (result.wait_for(connect_timeout) != std::future_status::ready) {
      std::printf("# connect: not every stream was ready after %llds\n",
                  static_cast<long long>(connect_timeout.count()));
      record r = new_record(opt_.preload > 0 ? "snapshot" : "idle");
      r.set("connect_timeout", "1");
      emit(r);
      std::fflush(stdout);
      std::_Exit(2);  // the streams' handlers still run: nothing can be torn down cleanly
    }
    auto const tally = result.get();
    std::printf("# connect: %zu ready, %zu failed in %.3f s%s%s\n", tally.ready, tally.failed,
                tally.seconds,
                tally.first_error.empty() ? "" : "; first error: ", tally.first_error.c_str());

    record r = new_record(opt_.preload > 0 ? "snapshot" : "idle");
    r.set("ready", std::to_string(tally.ready));
    r.set("failed", std::to_string(tally.failed));
    r.set("connect_s", tally.seconds, 3);
    if (opt_.preload > 0) {
      r.set("preload", std::to_string(opt_.preload));
      auto const built_after = snapshots_built();
      if (built_before && built_after) {
        r.set("snapshots_built", *built_after - *built_before, 0);
        std::printf("# snapshots serialized while %zu clients connected: %.0f\n", tally.ready,
                    *built_after - *built_before);
      } else {
        r.set("snapshots_built", "n/a");
      }
    }
    // CPU figures cover the connecting only, not the idle hold below.
    meter.finish(r);
    if (opt_.idle_seconds > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(opt_.idle_seconds));
      auto const open = on_thread(stream_ioc_, [this] { return pool_->open_streams(); });
      r.set("open_after_idle", std::to_string(open));
      std::uint64_t const rss_after_kb = server_rss_kb();
      if (rss_before_kb > 0 && rss_after_kb > 0 && tally.ready > 0) {
        // What holding the streams costs the server: its resident memory now, less what it had
        // before the first stream, over the streams.
        auto const per_stream_kb =
            (static_cast<double>(rss_after_kb) - static_cast<double>(rss_before_kb)) /
            static_cast<double>(tally.ready);
        r.set("rss_base_mb", static_cast<double>(rss_before_kb) / 1024.0, 1);
        r.set("rss_per_stream_kb", per_stream_kb, 2);
        std::printf("# idle %.1f s: server RSS %.1f MB -> %.1f MB, %.2f KB per stream\n",
                    opt_.idle_seconds, static_cast<double>(rss_before_kb) / 1024.0,
                    static_cast<double>(rss_after_kb) / 1024.0, per_stream_kb);
        r.set("rss_mb", static_cast<double>(rss_after_kb) / 1024.0, 1);
      }
    }
    emit(r);
    return tally.failed == 0 && tally.ready == opt_.streams;
  }

  // Waits until every open stream has every acknowledged fact, or nothing arrives for a while.
  void drain(std::uint64_t target) {
    auto const start = std::chrono::steady_clock::now();
    auto last_change = start;
    auto last = pool_->delivered_total.load(std::memory_order_relaxed);
    while (last < target) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      auto const now = std::chrono::steady_clock::now();
      auto const current = pool_->delivered_total.load(std::memory_order_relaxed);
      if (current != last) {
        last = current;
        last_change = now;
      } else if (now - last_change > drain_stall) {
        break;
      }
      if (now - start > std::chrono::duration<double>(opt_.drain_seconds)) break;
    }
  }

  void phase(char const* case_name, publish_plan plan) {
    plan.first_seq = next_seq_;
    auto const open = on_thread(stream_ioc_, [this] {
      pool_->begin_phase();
      return pool_->open_streams();
    });
    auto const delivered_before = pool_->delivered_total.load();
    case_meter meter(pid_);
    auto const sent = publisher_->run(plan);
    drain(delivered_before + open * sent.acked);
    auto const tally =
        on_thread(stream_ioc_, [&] { return pool_->end_phase(plan.first_seq, sent.sent); });
    next_seq_ += sent.sent;

    auto const expected = open * sent.acked;
    auto const lost = expected > tally.delivered ? expected - tally.delivered : 0;
    auto const span_us =
        tally.last_receive_us > sent.first_send_us ? tally.last_receive_us - sent.first_send_us : 0;
    auto const events_per_s =
        span_us ? static_cast<double>(tally.delivered) * 1e6 / static_cast<double>(span_us) : 0;
    auto const post_span_us =
        sent.last_ack_us > sent.first_send_us ? sent.last_ack_us - sent.first_send_us : 0;

    record r = new_record(case_name);
    r.set("open", std::to_string(open));
    r.set("facts", std::to_string(sent.acked));
    r.set("posts_failed", std::to_string(sent.failed));
    if (plan.rate > 0) r.set("offered_events_per_s", plan.rate * static_cast<double>(open), 0);
    r.set("facts_per_s",
          post_span_us ? static_cast<double>(sent.acked) * 1e6 / static_cast<double>(post_span_us)
                       : 0,
          1);
    r.set("expected", std::to_string(expected));
    r.set("delivered", std::to_string(tally.delivered));
    r.set("lost", std::to_string(lost));
    r.set("duplicated", std::to_string(tally.duplicated));
    r.set("out_of_order", std::to_string(tally.out_of_order));
    r.set("unexpected", std::to_string(tally.unexpected));
    r.set("dropped", std::to_string(tally.dropped));
    r.set("p50_ms", ms(tally.latency.percentile(0.50)), 2);
    r.set("p90_ms", ms(tally.latency.percentile(0.90)), 2);
    r.set("p99_ms", ms(tally.latency.percentile(0.99)), 2);
    r.set("max_ms", ms(tally.latency.max()), 2);
    r.set("events_per_s", events_per_s, 0);
    r.set("post_p50_ms", ms(sent.answer_latency.percentile(0.50)), 2);
    r.set("post_p99_ms", ms(sent.answer_latency.percentile(0.99)), 2);
    meter.finish(r);
    emit(r);

    std::printf(
        "# %s: %llu facts to %zu streams: delivered %llu of %llu, lost %llu, duplicated %llu, "
        "out of order %llu; latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms; %.0f events/s\n",
        case_name, static_cast<unsigned long long>(sent.acked), open,
        static_cast<unsigned long long>(tally.delivered), static_cast<unsigned long long>(expected),
        static_cast<unsigned long long>(lost), static_cast<unsigned long long>(tally.duplicated),
        static_cast<unsigned long long>(tally.out_of_order), ms(tally.latency.percentile(0.5)),
        ms(tally.latency.percentile(0.9)), ms(tally.latency.percentile(0.99)),
        ms(tally.latency.max()), events_per_s);
    if (!sent.first_error.empty())
      std::printf("# %s: first failed POST: %s\n", case_name, sent.first_error.c_str());

    bool const exact = sent.failed == 0 && lost == 0 && tally.duplicated == 0 &&
                       tally.out_of_order == 0 && tally.unexpected == 0 && tally.dropped == 0 &&
                       tally.delivered == expected && open == opt_.streams;
    if (!exact) ok_ = false;
  }

  session_options const& opt_;
  std::unique_ptr<server_process> spawned_;  // stopped last: after the streams are gone
  tcp::endpoint server_;
  std::string host_;
  int pid_ = 0;
  net::io_context stream_ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_{stream_ioc_.get_executor()};
  std::unique_ptr<stream_pool> pool_;
  std::unique_ptr<publisher> publisher_;
  std::thread stream_thread_;
  std::uint64_t next_seq_ = 0;
  bool ok_ = true;
};

}  // namespace

int run_session(session_options const& options) {
  session s(options);
  return s.run();
}

}  // namespace loadgen
