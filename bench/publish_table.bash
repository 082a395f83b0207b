# The publish table of scripts/bench (issue 12), sourced by it: POST /fact throughput and
# latency of factsd (memory:, sqlite --sync normal, sqlite --sync full) against nginx + nchan,
# then publishing with 10,000 streams open, then what a second I/O thread costs per POST and per
# delivered event. Uses scripts/bench's start_peer, stop_peer, run_loadgen, log and $work.
#
# The no-stream rows use wrk (Debian's package): a small C client that is not the bottleneck at
# these rates, with 1, 8 or 64 keep-alive connections, each with one POST in flight. Each
# server is pinned to CPU 0 and wrk to CPU 1; the servers take turns within each round, and the
# row shows the round with the median POSTs/s. PUBLISH_ROUNDS, PUBLISH_SECONDS and PUBLISH_STREAMS
# (5, 3, 10000) shorten a trial run.
#
# The machine is shared: other work comes and goes within seconds and moves every figure by
# tens of percent. So the ratios are paired: each round runs every server back to back, a
# ratio is taken within each round, and the report gives the median of those ratios.

publish_counts=(1 8 64)
publish_warm_seconds=1
publish_seconds=${PUBLISH_SECONDS:-3}
publish_rounds=${PUBLISH_ROUNDS:-5}
publish_streams=${PUBLISH_STREAMS:-10000} # the with-streams case
publish_stream_seconds=3
publish_records=$work/publish-records.txt
publish_body='{"info":"Shark teeth regrow: a shark may lose 30,000 in a life","source":"bench"}'

# wrk prints latencies as 812.00us, 1.39ms or 1.02s: in ms.
wrk_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}

cpu_ticks() { # pid -> user + system clock ticks so far
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# "steal total" in clock ticks over all CPUs: time the hypervisor gave our CPUs to other guests,
# and all time. On this VM other guests' load shows up there, not as other processes.
machine_steal_ticks() {
  awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat
}

post_script=$work/post.lua # wrk's request, written by run_publish_table

# publish_wrk LABEL PUBLISHERS ROUND: one measured wrk run against the running peer.
publish_wrk() {
  local label=$1 publishers=$2 round=$3 script=$post_script
  local url=http://127.0.0.1:$server_port/fact
  taskset -c 1 wrk -t1 -c"$publishers" -d${publish_warm_seconds}s -s "$script" "$url" >/dev/null
  local before after out steal_before total_before steal_after total_after
  read -r steal_before total_before < <(machine_steal_ticks)
  before=$(cpu_ticks "$server_pid")
  out=$(taskset -c 1 wrk -t1 -c"$publishers" -d${publish_seconds}s --latency -s "$script" "$url")
  after=$(cpu_ticks "$server_pid")
  read -r steal_after total_after < <(machine_steal_ticks)
  local steal_pct
  steal_pct=$(awk -v s=$((steal_after - steal_before)) -v t=$((total_after - total_before)) \
    'BEGIN { printf "%.0f", (t > 0) ? 100 * s / t : 0 }')
  local requests rate p50 p99 bad
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  rate=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  bad=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; i++) n += $i } END { print n + 0 }' <<<"$out")
  local hz cpu_us=0
  hz=$(getconf CLK_TCK)
  ((requests > 0)) && cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" \
    'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  # A retained run's longest deletion step (a step holds the writer's commits off): this
  # factsd's /metrics, over its whole run (warm-up and the measured seconds).
  local step_ms=""
  [[ $label != *-retain ]] || step_ms=$(curl -s "http://127.0.0.1:$server_port/metrics" |
    awk '$1 == "factsd_retention_step_seconds_max" { printf "%.2f", $2 * 1000 }')
  echo "record table=publish label=$label publishers=$publishers round=$round requests=$requests" \
    "posts_per_s=$rate p50_ms=$p50 p99_ms=$p99 failed=$bad server_cpu_us_per_post=$cpu_us" \
    "steal_pct=$steal_pct${step_ms:+ step_max_ms=$step_ms}" >>"$publish_records"
  log "publish: $label, $publishers publishers: $rate POSTs/s, p99 $p99 ms, $cpu_us µs CPU each," \
    "$steal_pct% stolen"
}

# The retained rows (issue 19) start from a database of 10,000 facts made once here, so that
# with --retain-facts 10000 every POST is matched by a deletion, at every publisher count.
retain_template=$work/retain-template.db
make_retain_template() {
  rm -f "$retain_template"
  start_peer factsd-template "" || return 1
  taskset -c 1 wrk -t1 -c64 -d2s -s "$post_script" "http://127.0.0.1:$server_port/fact" >/dev/null
  stop_peer
}

publish_labels=(nchan factsd factsd-normal factsd-full factsd-normal-retain factsd-full-retain)

run_publish_rows() {
  local round p label
  make_retain_template
  for ((round = 1; round <= publish_rounds; round++)); do
    for p in "${publish_counts[@]}"; do
      for label in "${publish_labels[@]}"; do
        start_peer "$label" 0 || continue
        publish_wrk "$label" "$p" "$round"
        stop_peer
      done
    done
  done
}

# With streams open, every fact goes to each of them: the generator reads them all and checks
# that each got every fact once, in order (loadgen's max-rate phase, 64 POSTs in flight).
run_publish_with_streams() {
  local label
  for label in nchan factsd; do
    log "publish: $label, 64 publishers with $publish_streams streams"
    start_peer "$label" 0 || continue
    in_flight=64 run_loadgen publish "$label" 1 "$publish_records" --streams $publish_streams \
      --max-seconds $publish_stream_seconds --max-facts 1000000
    stop_peer
  done
}

# What a second I/O thread costs, unpinned (factsd and the generator share the two CPUs): server
# CPU per POST and per delivered event, --threads 1 against --threads 2. Paced, so both serve the
# same load: 20,000 POSTs/s over 64 connections (one stream open), and 200 facts/s to 1,000
# streams (200,000 events/s). Then at max rate, where the figures also show how much each
# configuration batches (a saturated server writes more facts per syscall).
thread_paced_posts=20000
thread_paced_events=200000
run_thread_scaling() {
  local label
  for label in factsd-1t factsd-2t; do
    log "publish: $label, unpinned"
    start_peer "$label" "" || continue
    in_flight=64 run_loadgen threads "$label" "" "$publish_records" --streams 1 \
      --paced-events $thread_paced_posts --paced-facts $((thread_paced_posts * 3))
    stop_peer
    start_peer "$label" "" || continue
    run_loadgen threads "$label" "" "$publish_records" --streams 1000 \
      --paced-events $thread_paced_events --paced-facts $((thread_paced_events * 3 / 1000)) \
      --max-seconds 3 --max-facts 20000
    stop_peer
  done
}

run_publish_table() {
  : >"$publish_records"
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
    "'$publish_body'" >"$post_script"
  run_publish_rows
  run_publish_with_streams
  run_thread_scaling
}

# --- the report --------------------------------------------------------------------------------

# The value of KEY in a record line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# The record of LABEL at PUBLISHERS whose POSTs/s is the median of its rounds.
median_record() {
  grep "table=publish label=$1 publishers=$2 round=" "$publish_records" |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^posts_per_s=/) print substr($i, 13) " " $0 }' |
    sort -n | cut -d' ' -f2- | awk '{ lines[NR] = $0 } END { if (NR) print lines[int((NR + 1) / 2)] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f×", a / b; else print "–" }'; }

# The median over rounds of KEY of LABEL ÷ KEY of PEER, both at PUBLISHERS, in the same round.
paired_ratio() {
  local label=$1 peer=$2 publishers=$3 key=$4 round a b
  for ((round = 1; round <= publish_rounds; round++)); do
    a=$(field "$(grep "table=publish label=$label publishers=$publishers round=$round " "$publish_records")" "$key")
    b=$(field "$(grep "table=publish label=$peer publishers=$publishers round=$round " "$publish_records")" "$key")
    [[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.4f\n", a / b }'
  done | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f×", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print "–" }'
}

# The highest step_max_ms of LABEL's rounds at PUBLISHERS.
longest_step() {
  grep "table=publish label=$1 publishers=$2 round=" "$publish_records" |
    sed -n 's/.* step_max_ms=\([0-9.]*\).*/\1/p' | sort -n | tail -1 | awk '{ print } END { if (!NR) print "–" }'
}

# The lowest and highest stolen % of LABEL's rounds at PUBLISHERS, as "3–12".
steal_range() {
  grep "table=publish label=$1 publishers=$2 round=" "$publish_records" |
    sed -n 's/.* steal_pct=\([0-9]*\).*/\1/p' | sort -n |
    awk '{ v[NR] = $1 } END { if (!NR) print "–"; else if (v[1] == v[NR]) print v[1]; else print v[1] "–" v[NR] }'
}

print_publish_report() {
  local p label r nchan_rate nchan_p99 memory_rate
  cat <<EOF

## Publish table

- Each server alone, pinned to CPU 0 (factsd \`--threads 1\`, nginx one worker), wrk pinned to
  CPU 1: \`wrk -t1 -cN\` POSTing a ${#publish_body}-byte fact over N keep-alive connections, each with
  one POST in flight, ${publish_warm_seconds} s of warm-up and then ${publish_seconds} s measured; no stream is open.
  ${publish_rounds} rounds, the servers taking turns in each; the row is the round with the
  median POSTs/s. Latency is wrk's, from sending a POST to its answer. The ÷ nchan columns are
  paired: the ratio within each round (the two servers ran seconds apart), then the median of
  those ratios, which other work on the machine moves far less than either figure alone.
- factsd stores each fact before it answers \`201\` (and fans it out first): \`memory:\`, or
  SQLite in ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')) with \`--sync normal\` (no fsync per commit)
  or \`--sync full\` (fsync before the answer). nchan keeps its messages in memory.
- Server CPU: its user + system time over the measured run, per POST. Stolen: the share of
  the CPUs' time the hypervisor gave to other guests during that run (\`steal\` in /proc/stat);
  at 10% and more every figure of the run is lower and noisier. The range is over the rounds.

| publishers | server | POSTs/s | p50 ms | p99 ms | server CPU µs/POST | failed | ÷ nchan POSTs/s | ÷ nchan p99 | stolen % (rounds) |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
  for p in "${publish_counts[@]}"; do
    r=$(median_record nchan "$p")
    nchan_rate=$(field "$r" posts_per_s)
    nchan_p99=$(field "$r" p99_ms)
    for label in "${publish_labels[@]}"; do
      r=$(median_record "$label" "$p")
      [[ -n $r ]] || continue
      local name=$label
      case $label in
      factsd) name="factsd memory:" ;;
      factsd-normal) name="factsd sqlite normal" ;;
      factsd-full) name="factsd sqlite full" ;;
      factsd-normal-retain) name="factsd sqlite normal, --retain-facts 10000" ;;
      factsd-full-retain) name="factsd sqlite full, --retain-facts 10000" ;;
      esac
      local vs_rate="–" vs_p99="–"
      if [[ $label != nchan ]]; then
        vs_rate=$(paired_ratio "$label" nchan "$p" posts_per_s)
        vs_p99=$(paired_ratio "$label" nchan "$p" p99_ms)
      fi
      echo "| $p | $name | $(field "$r" posts_per_s) | $(field "$r" p50_ms) | $(field "$r" p99_ms) |" \
        "$(field "$r" server_cpu_us_per_post) | $(field "$r" failed) | $vs_rate | $vs_p99 |" \
        "$(steal_range "$label" "$p") |"
    done
  done
  local top=${publish_counts[-1]}
  local memory_vs normal_vs full_vs p99_vs
  memory_vs=$(paired_ratio factsd nchan "$top" posts_per_s)
  normal_vs=$(paired_ratio factsd-normal nchan "$top" posts_per_s)
  full_vs=$(paired_ratio factsd-full factsd "$top" posts_per_s)
  p99_vs=$(paired_ratio factsd nchan "$top" p99_ms)
  verdict() { awk -v r="${1%×}" -v k="$2" -v dir="$3" 'BEGIN { ok = (dir == "min") ? (r + 0 >= k) : (r + 0 <= k); print (r != "–" && ok) ? "MET" : "MISSED" }'; }
  cat <<EOF

Targets at $top publishers (paired medians): \`memory:\` ≥ 1.2× nchan: $(verdict "$memory_vs" 1.2 min) ($memory_vs); \`--sync normal\` ≥ 1.2× nchan:
$(verdict "$normal_vs" 1.2 min) ($normal_vs); \`--sync full\` ≥ 0.8× \`memory:\`: $(verdict "$full_vs" 0.8 min) ($full_vs);
p99 no worse than nchan's: $(verdict "$p99_vs" 1 max) (\`memory:\` ÷ nchan $p99_vs).

Retention (issue 19), POSTs/s with \`--retain-facts 10000\` (from a database of 10,000 facts:
every POST is matched by a deletion) ÷ without, paired medians; target: within 10% (≥ 0.9×):
$(for p in "${publish_counts[@]}"; do
    n=$(paired_ratio factsd-normal-retain factsd-normal "$p" posts_per_s)
    f=$(paired_ratio factsd-full-retain factsd-full "$p" posts_per_s)
    echo "- $p publishers: \`--sync normal\` $n ($(verdict "$n" 0.9 min)), \`--sync full\` $f ($(verdict "$f" 0.9 min))"
  done)

The longest deletion step of each retained run (\`factsd_retention_step_seconds_max\`: a step
holds the writer's commits off while it runs), the highest over the rounds, in ms:
$(for p in "${publish_counts[@]}"; do
    n=$(longest_step factsd-normal-retain "$p")
    f=$(longest_step factsd-full-retain "$p")
    echo "- $p publishers: \`--sync normal\` $n, \`--sync full\` $f"
  done)

### Publishing with $publish_streams streams open

64 POSTs in flight (loadgen, one connection each) for ${publish_stream_seconds} s while the generator reads every
stream and checks that each got every acknowledged fact once and in order; server pinned to
CPU 0, generator to CPU 1.

| server | facts/s | POST p50 ms | POST p99 ms | events delivered/s | delivered / expected | server CPU % |
|---|---:|---:|---:|---:|---:|---:|
EOF
  for label in nchan factsd; do
    r=$(grep "table=publish " "$publish_records" | grep "label=$label " | grep "case=max" | tail -1)
    [[ -n $r ]] || continue
    echo "| $label | $(field "$r" facts_per_s) | $(field "$r" post_p50_ms) | $(field "$r" post_p99_ms) |" \
      "$(field "$r" events_per_s) | $(field "$r" delivered) / $(field "$r" expected) |" \
      "$(field "$r" server_cpu_pct) |"
  done
  cat <<EOF

### A second I/O thread

Unpinned (factsd and the generator share the two CPUs), \`--threads 1\` against \`--threads 2\`:
server CPU per POST ($thread_paced_posts POSTs/s paced over 64 connections, one stream) and per
delivered event (1,000 streams: $((thread_paced_events / 1000)) facts/s paced, then max rate with 8 POSTs in
flight). The paced rows compare the same load: within 10% means a second thread costs no extra
work per unit. At max rate a saturated server batches more (several facts per write), so there
the figures also measure how saturated each configuration was.

| figure | --threads 1 | --threads 2 | ratio |
|---|---:|---:|---:|
EOF
  local r1 r2
  r1=$(thread_record factsd-1t 1 paced)
  r2=$(thread_record factsd-2t 1 paced)
  echo "| server CPU µs per POST, paced | $(per_unit "$r1" facts 1e6) | $(per_unit "$r2" facts 1e6) |" \
    "$(ratio "$(per_unit "$r2" facts 1e6)" "$(per_unit "$r1" facts 1e6)") |"
  r1=$(thread_record factsd-1t 1000 paced)
  r2=$(thread_record factsd-2t 1000 paced)
  echo "| server CPU ns per event, paced | $(per_unit "$r1" delivered 1e9) | $(per_unit "$r2" delivered 1e9) |" \
    "$(ratio "$(per_unit "$r2" delivered 1e9)" "$(per_unit "$r1" delivered 1e9)") |"
  r1=$(thread_record factsd-1t 1000 max)
  r2=$(thread_record factsd-2t 1000 max)
  echo "| server CPU ns per event, max rate | $(per_unit "$r1" delivered 1e9) | $(per_unit "$r2" delivered 1e9) |" \
    "$(ratio "$(per_unit "$r2" delivered 1e9)" "$(per_unit "$r1" delivered 1e9)") |"
  echo "| events/s, max rate | $(field "$r1" events_per_s) | $(field "$r2" events_per_s) |" \
    "$(ratio "$(field "$r2" events_per_s)" "$(field "$r1" events_per_s)") |"
  cat <<EOF

<details><summary>Publish records</summary>

\`\`\`
$(cat "$publish_records")
\`\`\`
</details>
EOF
}

thread_record() { # LABEL STREAMS CASE -> the loadgen record of the thread scaling run
  grep "table=threads " "$publish_records" | grep "label=$1 " | grep " streams=$2 " |
    grep "case=$3 " | tail -1
}

per_unit() { # RECORD COUNT_KEY SCALE -> server CPU per counted unit (1e6: µs, 1e9: ns)
  local cpu count
  cpu=$(field "$1" server_cpu_s)
  count=$(field "$1" "$2")
  awk -v c="$cpu" -v n="$count" -v k="$3" 'BEGIN { if (n > 0) printf "%.1f", c * k / n; else print "–" }'
}
