#include "report_table.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>

#include "record.hpp"

namespace loadgen {

namespace {

// The names scripts/bench gives its peers and tables.
constexpr char const* factsd_label = "factsd";
constexpr char const* pinned_table = "pinned";
constexpr char const* unpinned_table = "unpinned";
// A generator busier than this may itself have limited the figure.
constexpr double generator_busy_pct = 90;
// Other processes busier than this (in % of one CPU) during a case make its figures unreliable.
constexpr double noisy_other_pct = 20;

bool noisy(record const& r) {
  return r.number("other_cpu_pct").value_or(0) > noisy_other_pct;
}

/// What the footnotes under a table must explain.
struct table_notes {
  bool busy_generator = false;
  bool noisy = false;
};

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string grouped(double value) {
  auto digits = fixed(value, 0);
  std::string out;
  auto const sign = digits.front() == '-' ? 1u : 0u;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string ratio_text(std::optional<double> num, std::optional<double> den) {
  if (!num || !den || *den <= 0) return "–";
  return fixed(*num / *den, 2) + "×";
}

class run_records {
 public:
  explicit run_records(std::vector<record> records) : records_(std::move(records)) {}

  std::vector<record> const& all() const { return records_; }

  record const* find(std::string const& table, std::string const& label, std::string const& kase,
                     std::size_t streams) const {
    for (auto const& r : records_)
      if (r.get("table") == table && r.get("label") == label && r.get("case") == kase &&
          r.number("streams") == static_cast<double>(streams))
        return &r;
    return nullptr;
  }

  std::optional<double> figure(std::string const& table, std::string const& label,
                               std::string const& kase, std::size_t streams,
                               std::string const& key) const {
    auto const* r = find(table, label, kase, streams);
    return r ? r->number(key) : std::nullopt;
  }

  std::vector<std::string> labels(std::string const& table) const {
    std::vector<std::string> out;
    for (auto const& r : records_)
      if (r.get("table") == table && std::find(out.begin(), out.end(), r.get("label")) == out.end())
        out.push_back(r.get("label"));
    return out;
  }

  std::set<std::size_t> stream_counts(std::string const& table) const {
    std::set<std::size_t> out;
    for (auto const& r : records_)
      if (r.get("table") == table && r.get("case") != "snapshot")
        if (auto n = r.number("streams")) out.insert(static_cast<std::size_t>(*n));
    return out;
  }

 private:
  std::vector<record> records_;
};

/// Where a row's ratios take their numerator and denominator.
struct ratio_sides {
  record const* numerator = nullptr;
  record const* denominator = nullptr;
};

std::string case_title(record const& r) {
  auto const kase = r.get("case");
  if (kase == "idle") return "idle: connect all, hold";
  if (kase == "paced") {
    auto const offered = r.number("offered_events_per_s");
    return "paced, " + (offered ? grouped(*offered) : std::string("?")) + " events/s offered";
  }
  if (kase == "max") return "max rate, 8 POSTs in flight";
  if (kase == "snapshot")
    return "burst: connect all at once, " + grouped(r.number("preload").value_or(0)) +
           " facts stored";
  return kase;
}

std::string cell(record const& r, std::string const& key, int decimals) {
  auto const v = r.number(key);
  if (!v) return "–";
  return decimals < 0 ? grouped(*v) : fixed(*v, decimals);
}

// Events delivered per second of server CPU: what a server gets out of the CPU it was given,
// which other work on the machine disturbs far less than events/s.
std::string per_cpu_second(record const& r) {
  auto const delivered = r.number("delivered");
  auto const cpu = r.number("server_cpu_s");
  if (!delivered || !cpu || *cpu <= 0) return "–";
  return grouped(*delivered / *cpu);
}

// Lost facts, and the streams the server cut off (whose missing facts are among them).
std::string lost_cell(record const& r) {
  auto text = cell(r, "lost", -1);
  auto const dropped = r.number("dropped").value_or(0);
  if (dropped > 0) text += " (" + grouped(dropped) + " streams cut off)";
  return text;
}

void print_row(std::ostream& out, record const& r, ratio_sides sides, table_notes& notes) {
  bool const live = r.get("case") == "paced" || r.get("case") == "max";
  auto const gen_cpu = r.number("loadgen_cpu_pct");
  bool const busy = live && gen_cpu && *gen_cpu >= generator_busy_pct;
  notes.busy_generator = notes.busy_generator || busy;
  notes.noisy = notes.noisy || noisy(r);

  auto const dash = std::string("–");
  out << "| " << grouped(r.number("streams").value_or(0)) << " | " << case_title(r) << " | "
      << r.get("label") << (noisy(r) ? " ‡" : "") << " | ";
  if (live) {
    out << grouped(r.number("delivered").value_or(0)) << " / "
        << grouped(r.number("expected").value_or(0)) << " | " << lost_cell(r) << " | "
        << cell(r, "duplicated", -1) << " | " << cell(r, "out_of_order", -1) << " | "
        << cell(r, "p50_ms", 2) << " | " << cell(r, "p90_ms", 2) << " | " << cell(r, "p99_ms", 2)
        << " | " << cell(r, "max_ms", 2) << " | " << cell(r, "events_per_s", -1)
        << (busy ? " †" : "") << " | " << per_cpu_second(r) << " | " << dash << " | " << dash
        << " | ";
  } else {
    out << dash << " | " << dash << " | " << dash << " | " << dash << " | " << dash << " | " << dash
        << " | " << dash << " | " << dash << " | " << dash << " | " << cell(r, "connect_s", 3)
        << " | " << cell(r, "rss_per_stream_kb", 2) << " | ";
  }
  out << cell(r, "server_cpu_s", 2)
      << (r.number("server_cpu_pct") ? " (" + cell(r, "server_cpu_pct", 0) + "%)" : "") << " | "
      << (r.number("peak_rss_mb") ? cell(r, "peak_rss_mb", 1) : cell(r, "peak_rss_mb_process", 1))
      << " | " << cell(r, "loadgen_cpu_pct", 0) << " | "
      << (r.get("snapshots_built").empty() ? dash : r.get("snapshots_built")) << " | ";

  auto side = [](record const* s, std::string const& key) {
    return s ? s->number(key) : std::nullopt;
  };
  bool const self = sides.numerator == sides.denominator;
  if (self || !sides.numerator || !sides.denominator) {
    out << dash << " | " << dash << " | " << dash << " |\n";
    return;
  }
  out << (live ? ratio_text(side(sides.numerator, "events_per_s"),
                            side(sides.denominator, "events_per_s"))
               : dash)
      << " | "
      << (live ? ratio_text(side(sides.numerator, "p99_ms"), side(sides.denominator, "p99_ms"))
               : dash)
      << " | "
      << (r.get("case") == "idle" ? ratio_text(side(sides.numerator, "rss_per_stream_kb"),
                                               side(sides.denominator, "rss_per_stream_kb"))
                                  : dash)
      << " |\n";
}

void print_table(std::ostream& out, run_records const& runs, std::string const& table,
                 std::string const& ratio_heading,
                 std::function<ratio_sides(record const&)> const& sides_of) {
  out << "| N | case | peer | delivered / expected | lost | dup | out of order | p50 ms | p90 ms "
         "| p99 ms | max ms | events/s | events per server CPU s | connect all s | RSS/stream KB | "
         "server CPU s (% of one) | "
         "peak RSS "
         "MB | generator CPU % | snapshots serialized | "
      << ratio_heading << " events/s | " << ratio_heading << " p99 | " << ratio_heading
      << " mem/stream |\n";
  out << "|";
  for (int column = 0; column < 22; ++column)
    out << "---|";
  out << "\n";
  table_notes notes;
  auto const labels = runs.labels(table);
  for (auto const n : runs.stream_counts(table))
    for (auto const* kase : {"idle", "paced", "max"})
      for (auto const& label : labels)
        if (auto const* r = runs.find(table, label, kase, n))
          print_row(out, *r, sides_of(*r), notes);
  for (auto const& label : labels)
    for (std::size_t n : {std::size_t{1000}, std::size_t{10000}, std::size_t{100}})
      if (auto const* r = runs.find(table, label, "snapshot", n)) print_row(out, *r, {}, notes);
  if (notes.busy_generator || notes.noisy) out << "\n";
  if (notes.noisy)
    out << "‡ other processes kept the CPUs more than " << fixed(noisy_other_pct, 0)
        << "% busy (of one CPU) during this case: its figures are unreliable; rerun on a quiet "
           "machine.\n\n";
  if (notes.busy_generator)
    out << "† the generator used ≥ " << fixed(generator_busy_pct, 0)
        << "% of its CPU in this case: the figure may be the generator's limit, not the "
           "server's.\n";
}

/** Prints one target line: what was measured, and whether it was met. */
class target_list {
 public:
  explicit target_list(std::ostream& out) : out_(out) {}

  void check(std::string const& target, std::optional<bool> met, std::string const& measured) {
    out_ << "| " << target << " | " << measured << " | "
         << (!met ? "n/a" : (*met ? "met" : "**missed**")) << " |\n";
  }

 private:
  std::ostream& out_;
};

std::optional<double> divide(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}

std::string show(std::optional<double> v, int decimals, std::string const& unit = "") {
  return v ? fixed(*v, decimals) + unit : "n/a";
}

void print_targets(std::ostream& out, run_records const& runs) {
  constexpr std::size_t n = 10000;
  auto const p = std::string(pinned_table);
  auto fig = [&](std::string const& label, char const* kase, char const* key,
                 std::string const& table = pinned_table) {
    return runs.figure(table, label, kase, n, key);
  };
  auto at_least = [](std::optional<double> v, double bound) -> std::optional<bool> {
    if (!v) return std::nullopt;
    return *v >= bound;
  };

  out << "| target (10,000 streams, same run) | measured | verdict |\n|---|---|---|\n";
  target_list targets(out);

  auto const factsd_max = fig(factsd_label, "max", "events_per_s");
  auto const vs_nchan = divide(factsd_max, fig("nchan", "max", "events_per_s"));
  auto const vs_tutorial = divide(factsd_max, fig("tutorial", "max", "events_per_s"));
  targets.check(
      "max rate: ≥ 3× nchan's events/s", at_least(vs_nchan, 3),
      show(vs_nchan, 2, "×") + " (" + (factsd_max ? grouped(*factsd_max) : "n/a") + " events/s)");
  targets.check("max rate: ≥ 8× the tutorial server's events/s", at_least(vs_tutorial, 8),
                show(vs_tutorial, 2, "×"));
  auto const lost = fig(factsd_label, "max", "lost");
  auto const dup = fig(factsd_label, "max", "duplicated");
  auto const ooo = fig(factsd_label, "max", "out_of_order");
  auto const dropped = fig(factsd_label, "max", "dropped");
  std::optional<bool> exact;
  if (lost && dup && ooo) exact = *lost == 0 && *dup == 0 && *ooo == 0;
  targets.check("max rate: nothing lost, duplicated or out of order", exact,
                "lost " + show(lost, 0) + ", duplicated " + show(dup, 0) + ", out of order " +
                    show(ooo, 0) + ", streams cut off " + show(dropped, 0));
  auto const vs_floor = divide(factsd_max, fig("floor-coalesce", "max", "events_per_s"));
  targets.check("max rate: ≥ 0.5× the coalescing floor's events/s", at_least(vs_floor, 0.5),
                show(vs_floor, 2, "×"));

  auto const p99 = fig(factsd_label, "paced", "p99_ms");
  auto const floor_p99 = fig("floor-write", "paced", "p99_ms");
  auto const nchan_p99 = fig("nchan", "paced", "p99_ms");
  auto const vs_floor_p99 = divide(p99, floor_p99);
  std::optional<bool> p99_met;
  if (vs_floor_p99) p99_met = *vs_floor_p99 <= 1.2;
  targets.check("paced: p99 ≤ 1.2× the one-write floor's", p99_met,
                show(p99, 2, " ms") + " vs " + show(floor_p99, 2, " ms") + " = " +
                    show(vs_floor_p99, 2, "×"));
  std::optional<bool> below_nchan;
  if (p99 && nchan_p99) below_nchan = *p99 < *nchan_p99;
  targets.check("paced: p99 below nchan's", below_nchan,
                show(p99, 2, " ms") + " vs " + show(nchan_p99, 2, " ms"));

  auto const per_stream = fig(factsd_label, "idle", "rss_per_stream_kb");
  std::optional<bool> memory_met;
  if (per_stream) memory_met = *per_stream <= 6;
  targets.check("idle: ≤ 6 KB of server RSS per stream", memory_met,
                show(per_stream, 2, " KB") + " (nchan " +
                    show(fig("nchan", "idle", "rss_per_stream_kb"), 2, " KB") + ")");

  auto const connect = fig(factsd_label, "idle", "connect_s");
  std::optional<bool> connect_met;
  if (connect) connect_met = *connect <= 0.5;
  targets.check("all 10,000 connected with their snapshot within 0.5 s", connect_met,
                show(connect, 3, " s"));

  record const* burst = nullptr;
  for (std::size_t clients : {std::size_t{1000}, std::size_t{100}, std::size_t{10000}})
    if (!burst) burst = runs.find(p, factsd_label, "snapshot", clients);
  std::optional<bool> once;
  std::string built = "n/a";
  if (burst) {
    built = burst->get("snapshots_built");
    if (auto v = burst->number("snapshots_built")) once = *v <= 1;
    built = "factsd_snapshots_built_total rose by " + built + " while " +
            grouped(burst->number("ready").value_or(0)) + " clients connected to " +
            grouped(burst->number("preload").value_or(0)) + " stored facts";
  }
  targets.check("burst: the snapshot is serialized once per sequence number, not per client", once,
                built);

  auto const two_threads = fig("factsd-2t", "max", "events_per_s", unpinned_table);
  auto const scaling = divide(two_threads, factsd_max);
  targets.check(
      "unpinned, 2 threads: max rate ≥ 1.6× factsd's own 1-thread figure", at_least(scaling, 1.6),
      show(scaling, 2, "×") + " (" + (two_threads ? grouped(*two_threads) : "n/a") + " events/s)");
}

}  // namespace

// Names the cases behind the targets that ran while other work kept the machine busy.
void print_target_noise(std::ostream& out, run_records const& runs) {
  std::string noisy_cases;
  for (auto const& r : runs.all()) {
    bool const behind_a_target = r.number("streams") == 10000.0 || r.get("case") == "snapshot";
    if (!behind_a_target || !noisy(r)) continue;
    noisy_cases += (noisy_cases.empty() ? "" : ", ") + r.get("label") + " " + r.get("case") + " (" +
                   cell(r, "other_cpu_pct", 0) + "%)";
  }
  if (noisy_cases.empty())
    out << "\nNo case behind these targets ran with other work taking more than "
        << fixed(noisy_other_pct, 0) << "% of a CPU.\n";
  else
    out << "\nUnreliable: other work took more than " << fixed(noisy_other_pct, 0)
        << "% of a CPU during " << noisy_cases << ".\n";
}

int print_tables(std::vector<std::string> const& record_files, std::ostream& out) {
  run_records const runs(read_records(record_files));

  out << "### Pinned: server on CPU 0, generator on CPU 1, factsd with --threads 1\n\n";
  print_table(out, runs, pinned_table, "factsd ÷ peer", [&](record const& r) {
    auto const* factsd = runs.find(pinned_table, factsd_label, r.get("case"),
                                   static_cast<std::size_t>(r.number("streams").value_or(0)));
    return ratio_sides{factsd, &r};
  });

  if (!runs.labels(unpinned_table).empty()) {
    out << "\n### Unpinned: factsd with --threads 2, nothing pinned\n\n";
    print_table(out, runs, unpinned_table, "this ÷ factsd 1 thread pinned", [&](record const& r) {
      auto const* one_thread = runs.find(pinned_table, factsd_label, r.get("case"),
                                         static_cast<std::size_t>(r.number("streams").value_or(0)));
      return ratio_sides{&r, one_thread};
    });
  }

  out << "\n### Targets\n\n";
  print_targets(out, runs);
  print_target_noise(out, runs);
  return 0;
}

}  // namespace loadgen
