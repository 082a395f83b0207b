// cluster_bench: the measuring side of scripts/bench-cluster, against factsd instances already
// running (the script starts them: 3 on a NATS cluster, or 1 on sqlite).
//   cluster_bench run --label L --publish-to H:P[,H:P...] --read-from H:P[,H:P...]
//       latency: --streams N on each --read-from instance, --paced-facts F at --rate R facts/s
//       POSTed to the first --publish-to instance; publish-to-receive p50/p99 over every
//       (fact, stream) pair, with every fact checked on every stream once and in order. Then
//       throughput: for each --publishers count, that many POSTs in flight (one per keep-alive
//       connection) spread over every --publish-to instance for --seconds: acknowledged facts/s.
//   cluster_bench table RECORDS...   the markdown table, with the cluster ÷ sqlite ratios
// It reuses the fan-out generator's publisher and stream pool (bench/loadgen). It prints figures:
// it exits 1 only when a case could not run (streams that do not open, facts lost).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/clock.hpp"
#include "loadgen/latency_histogram.hpp"
#include "loadgen/publisher.hpp"
#include "loadgen/record.hpp"
#include "loadgen/server_probe.hpp"
#include "loadgen/stream_pool.hpp"

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using loadgen::record;

struct options {
  std::string label;
  std::vector<std::string> publish_to;
  std::vector<std::string> read_from;
  std::size_t streams = 1000;
  double rate = 20;
  std::uint64_t paced_facts = 100;
  double seconds = 3;
  std::vector<std::size_t> publishers{1, 64};
  std::string records;
  bool no_latency = false;
};

tcp::endpoint parse_endpoint(std::string const& host_port) {
  auto const colon = host_port.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("want HOST:PORT: " + host_port);
  return {net::ip::make_address(host_port.substr(0, colon)),
          static_cast<std::uint16_t>(std::stoul(host_port.substr(colon + 1)))};
}

double ms(std::uint64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

void emit(record const& r, options const& opt) {
  std::printf("%s\n", r.line().c_str());
  std::fflush(stdout);
  if (!opt.records.empty()) std::ofstream(opt.records, std::ios::app) << r.line() << "\n";
}

template <typename F>
auto on_thread(net::io_context& ioc, F f) -> decltype(f()) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  net::post(ioc, [&task] { task(); });
  return result.get();
}

/** Represents the streams on one instance: a stream pool on its own thread. */
class reader {
 public:
  reader(tcp::endpoint server, std::size_t facts_capacity) {
    auto const host = server.address().to_string() + ":" + std::to_string(server.port());
    auto const request = "GET /events HTTP/1.1\r\nHost: " + host +
                         "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
    pool_ = std::make_unique<loadgen::stream_pool>(
        ioc_, server, request, loadgen::ready_rule::first_event, facts_capacity);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~reader() {
    on_thread(ioc_, [this] {
      pool_->close_all();
      return 0;
    });
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  std::future<loadgen::connect_tally> connect(std::size_t n) {
    auto done = std::make_shared<std::promise<loadgen::connect_tally>>();
    auto result = done->get_future();
    net::post(ioc_, [this, n, done] {
      pool_->connect(n, 256, [done](loadgen::connect_tally t) { done->set_value(std::move(t)); });
    });
    return result;
  }

  std::size_t begin_phase() {
    return on_thread(ioc_, [this] {
      pool_->begin_phase();
      return pool_->open_streams();
    });
  }

  loadgen::phase_tally end_phase(std::uint64_t first_seq, std::uint64_t count) {
    return on_thread(ioc_, [&] { return pool_->end_phase(first_seq, count); });
  }

  std::uint64_t delivered() const { return pool_->delivered_total.load(); }

 private:
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<loadgen::stream_pool> pool_;
  std::thread thread_;
};

/// Waits until the readers hold `target` deliveries each, or 5 s pass without progress.
void drain(std::vector<std::unique_ptr<reader>> const& readers,
           std::vector<std::uint64_t> const& targets) {
  auto sum = [&] {
    std::uint64_t s = 0;
    for (auto const& r : readers)
      s += r->delivered();
    return s;
  };
  std::uint64_t want = 0;
  for (auto t : targets)
    want += t;
  auto last = sum();
  auto changed = std::chrono::steady_clock::now();
  auto const deadline = changed + std::chrono::seconds(60);
  while (last < want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto const now = sum();
    if (now != last) changed = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - changed > std::chrono::seconds(5)) break;
    last = now;
  }
}

/// The latency case; false when streams failed to open or facts were lost.
bool run_latency(options const& opt) {
  std::vector<std::unique_ptr<reader>> readers;
  for (auto const& r : opt.read_from)
    readers.push_back(std::make_unique<reader>(parse_endpoint(r), opt.paced_facts));
  std::size_t ready = 0, failed = 0;
  for (auto& r : readers) {
    auto const t = r->connect(opt.streams).get();
    ready += t.ready;
    failed += t.failed;
  }
  std::vector<std::uint64_t> before, targets;
  std::size_t open = 0;
  for (auto& r : readers) {
    auto const n = r->begin_phase();
    open += n;
    before.push_back(r->delivered());
  }
  auto const target = parse_endpoint(opt.publish_to.front());
  loadgen::publisher pub(target, opt.publish_to.front(), "/fact");
  loadgen::publish_plan plan;
  plan.count = opt.paced_facts;
  plan.rate = opt.rate;
  plan.in_flight = 8;
  auto const sent = pub.run(plan);
  for (std::size_t i = 0; i < readers.size(); ++i)
    targets.push_back(before[i] + sent.acked * opt.streams);
  drain(readers, targets);

  loadgen::latency_histogram latency;
  std::uint64_t delivered = 0, duplicated = 0, out_of_order = 0, dropped = 0;
  for (auto& r : readers) {
    auto const t = r->end_phase(0, sent.sent);
    latency.merge(t.latency);
    delivered += t.delivered;
    duplicated += t.duplicated;
    out_of_order += t.out_of_order;
    dropped += t.dropped;
  }
  auto const expected = open * sent.acked;
  record rec;
  rec.set("label", opt.label);
  rec.set("case", "latency");
  rec.set("read_instances", std::to_string(readers.size()));
  rec.set("streams_per_instance", std::to_string(opt.streams));
  rec.set("open", std::to_string(open));
  rec.set("connect_failed", std::to_string(failed));
  rec.set("facts", std::to_string(sent.acked));
  rec.set("rate", opt.rate, 1);
  rec.set("posts_failed", std::to_string(sent.failed));
  rec.set("expected", std::to_string(expected));
  rec.set("delivered", std::to_string(delivered));
  rec.set("lost", std::to_string(expected > delivered ? expected - delivered : 0));
  rec.set("duplicated", std::to_string(duplicated));
  rec.set("out_of_order", std::to_string(out_of_order));
  rec.set("dropped", std::to_string(dropped));
  rec.set("p50_ms", ms(latency.percentile(0.50)), 2);
  rec.set("p99_ms", ms(latency.percentile(0.99)), 2);
  rec.set("max_ms", ms(latency.max()), 2);
  rec.set("post_p50_ms", ms(sent.answer_latency.percentile(0.50)), 2);
  rec.set("post_p99_ms", ms(sent.answer_latency.percentile(0.99)), 2);
  emit(rec, opt);
  return ready == opt.streams * readers.size() && delivered == expected && duplicated == 0 &&
         out_of_order == 0 && sent.failed == 0;
}

/// One throughput case: `publishers` POSTs in flight, spread over every --publish-to instance.
loadgen::publish_tally publish_for(options const& opt, std::size_t publishers,
                                   std::chrono::milliseconds how_long, std::uint64_t first_seq) {
  auto const k = opt.publish_to.size();
  std::vector<loadgen::publish_tally> tallies(k);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < k; ++i) {
    auto const share = publishers / k + (i < publishers % k ? 1 : 0);
    if (share == 0) continue;
    threads.emplace_back([&, i, share] {
      loadgen::publisher pub(parse_endpoint(opt.publish_to[i]), opt.publish_to[i], "/fact");
      loadgen::publish_plan plan;
      plan.first_seq = first_seq + i * 100'000'000ULL;
      plan.count = 50'000'000;
      plan.in_flight = share;
      plan.max_duration = how_long;
      tallies[i] = pub.run(plan);
    });
  }
  for (auto& t : threads)
    t.join();
  loadgen::publish_tally sum;
  sum.first_send_us = UINT64_MAX;
  for (auto const& t : tallies) {
    if (t.sent == 0) continue;
    sum.sent += t.sent;
    sum.acked += t.acked;
    sum.failed += t.failed;
    sum.first_send_us = std::min(sum.first_send_us, t.first_send_us);
    sum.last_ack_us = std::max(sum.last_ack_us, t.last_ack_us);
    sum.answer_latency.merge(t.answer_latency);
    if (sum.first_error.empty()) sum.first_error = t.first_error;
  }
  return sum;
}

void run_throughput(options const& opt, std::size_t publishers, std::uint64_t first_seq) {
  publish_for(opt, publishers, std::chrono::milliseconds(500), first_seq);  // warm-up
  auto const t =
      publish_for(opt, publishers, std::chrono::milliseconds(static_cast<long>(opt.seconds * 1000)),
                  first_seq + 10'000'000);
  auto const span = t.last_ack_us > t.first_send_us ? t.last_ack_us - t.first_send_us : 0;
  record rec;
  rec.set("label", opt.label);
  rec.set("case", "publish");
  rec.set("publishers", std::to_string(publishers));
  rec.set("instances", std::to_string(opt.publish_to.size()));
  rec.set("acked", std::to_string(t.acked));
  rec.set("failed", std::to_string(t.failed));
  rec.set("facts_per_s", span ? static_cast<double>(t.acked) * 1e6 / static_cast<double>(span) : 0,
          0);
  rec.set("post_p50_ms", ms(t.answer_latency.percentile(0.50)), 2);
  rec.set("post_p99_ms", ms(t.answer_latency.percentile(0.99)), 2);
  emit(rec, opt);
  if (!t.first_error.empty()) std::printf("# first failed POST: %s\n", t.first_error.c_str());
}

std::string field(std::vector<record> const& rs, std::string const& label,
                  std::string const& case_name, std::string const& key,
                  std::string const& pubs = "") {
  for (auto const& r : rs)
    if (r.get("label") == label && r.get("case") == case_name &&
        (pubs.empty() || r.get("publishers") == pubs))
      return r.get(key);
  return "n/a";
}

std::string ratio(std::string const& a, std::string const& b) {
  try {
    auto const y = std::stod(b);
    if (y == 0) return "n/a";
    std::ostringstream out;
    out.precision(2);
    out << std::fixed << std::stod(a) / y;
    return out.str();
  } catch (std::exception const&) {
    return "n/a";
  }
}

/// CPU time of every measured process (factsd, nats-server) per acknowledged fact, in ms, over
/// the 64-publisher case: the sum of the `case=cpu64` percentages over its facts/s.
std::string cpu_ms_per_fact(std::vector<record> const& rs, std::string const& label) {
  double pct = 0;
  for (std::string const name : {"factsd", "nats"})
    for (int i = 1; i <= 3; ++i)
      for (auto const& r : rs)
        if (r.get("label") == label && r.get("case") == "cpu64")
          pct += r.number(name + std::to_string(i) + "_cpu_pct").value_or(0);
  auto const per_s = field(rs, label, "publish", "facts_per_s", "64");
  if (pct == 0 || per_s == "n/a" || std::stod(per_s) == 0) return "n/a";
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << pct * 10 / std::stod(per_s);  // (pct / 100 CPU) / (facts/s) * 1000 ms
  return out.str();
}

/// The table: one row per figure, the cluster, the single sqlite instance, and their ratio.
int print_table(std::vector<std::string> const& files) {
  auto const rs = loadgen::read_records(files);
  std::string const c = "cluster", s = "sqlite";
  std::printf("| figure | 3 factsd + 3-node NATS, R3 | 1 factsd, sqlite --sync full | ratio |\n");
  std::printf("|---|---:|---:|---:|\n");
  for (std::string const n : {"1", "64"}) {
    auto const a = field(rs, c, "publish", "facts_per_s", n);
    auto const b = field(rs, s, "publish", "facts_per_s", n);
    std::printf("| acknowledged facts/s, %s publisher%s | %s | %s | %s |\n", n.c_str(),
                n == "1" ? "" : "s", a.c_str(), b.c_str(), ratio(a, b).c_str());
    auto const pa = field(rs, c, "publish", "post_p99_ms", n);
    auto const pb = field(rs, s, "publish", "post_p99_ms", n);
    std::printf("| POST p99 ms, %s publisher%s | %s | %s | %s |\n", n.c_str(), n == "1" ? "" : "s",
                pa.c_str(), pb.c_str(), ratio(pa, pb).c_str());
  }
  for (std::string const p : {"p50_ms", "p99_ms"}) {
    auto const a = field(rs, c, "latency", p);
    auto const b = field(rs, s, "latency", p);
    std::printf("| publish-to-receive %s, 1,000 streams per instance | %s | %s | %s |\n",
                p.substr(0, 3).c_str(), a.c_str(), b.c_str(), ratio(a, b).c_str());
  }
  auto const ca = cpu_ms_per_fact(rs, c), cb = cpu_ms_per_fact(rs, s);
  std::printf(
      "| CPU ms per acknowledged fact, 64 publishers (every factsd and nats-server) | %s | "
      "%s | %s |\n",
      ca.c_str(), cb.c_str(), ratio(ca, cb).c_str());
  auto const a64 = field(rs, c, "publish", "facts_per_s", "64");
  auto const b64 = field(rs, s, "publish", "facts_per_s", "64");
  auto const r = ratio(a64, b64);
  bool const pass = r != "n/a" && std::stod(r) >= 1.0;
  std::printf(
      "\nTarget: 64 publishers on the cluster reach at least the facts/s of one factsd "
      "with --sync full: %s (%s x).\n",
      pass ? "PASS" : "MISS", r.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cluster benchmark: a NATS-backed factsd fleet against one sqlite factsd"};
  app.require_subcommand(1);
  options opt;
  auto* run = app.add_subcommand("run", "measure one set of running instances");
  run->add_option("--label", opt.label, "cluster or sqlite")->required();
  run->add_option("--publish-to", opt.publish_to, "HOST:PORT, where facts are POSTed")
      ->delimiter(',')
      ->required();
  run->add_option("--read-from", opt.read_from, "HOST:PORT, where the streams read")
      ->delimiter(',')
      ->required();
  run->add_option("--streams", opt.streams, "streams on each --read-from instance");
  run->add_option("--rate", opt.rate, "latency case: facts per second");
  run->add_option("--paced-facts", opt.paced_facts, "latency case: facts");
  run->add_option("--seconds", opt.seconds, "throughput case: seconds measured");
  run->add_option("--publishers", opt.publishers, "throughput case: POSTs in flight")
      ->delimiter(',');
  run->add_option("--records", opt.records, "also append the record lines to this file");
  run->add_flag("--no-latency", opt.no_latency, "only the throughput cases");
  std::vector<std::string> files;
  auto* table = app.add_subcommand("table", "print the table from record files");
  table->add_option("records", files)->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*table) return print_table(files);
    loadgen::raise_open_file_limit();
    loadgen::now_us();  // fix the clock's epoch before anything is stamped
    bool const ok = opt.no_latency || run_latency(opt);
    std::uint64_t first_seq = opt.paced_facts;
    for (auto const n : opt.publishers) {
      run_throughput(opt, n, first_seq);
      first_seq += 1'000'000'000ULL;
    }
    return ok ? 0 : 1;
  } catch (std::exception const& e) {
    std::cerr << "cluster_bench: " << e.what() << "\n";
    return 2;
  }
}
