# The online backup table of scripts/bench (issue 19), sourced by it: how much `factsd backup`
# holds up the commits of a factsd that publishes while it copies. A factsd on sqlite
# (--sync normal, --threads 1) is filled by wrk for BACKUP_FILL_SECONDS (8), then in each of
# BACKUP_ROUNDS (3) rounds wrk POSTs over 8 keep-alive connections for 6 s three times: alone,
# with `factsd backup` started 1 s in, and with the backup run as factsd-backup.service runs it
# (Nice=10, IOSchedulingClass=idle). The backup is one read transaction (VACUUM INTO),
# which never takes the WAL writer's lock: what it costs the POSTs is the CPU and disk it takes
# on the machine. Unpinned: factsd, wrk and the backup share the CPUs. Uses scripts/bench's
# start_peer, stop_peer, log, $work and $build, and publish_table.bash's wrk_ms and field.

backup_rounds=${BACKUP_ROUNDS:-3}
backup_fill_seconds=${BACKUP_FILL_SECONDS:-8}
backup_records=$work/backup-records.txt
backup_dir=$work/backup

backup_wrk() { # round, "alone", "backup" or "backup-as-unit" -> one record
  local round=$1 run=$2 url=http://127.0.0.1:$server_port/fact out backup_line=""
  local wrk_out=$work/backup-wrk.txt
  wrk -t1 -c8 -d6s --latency -s "$post_script" "$url" >"$wrk_out" &
  local wrk_pid=$!
  if [[ $run != alone ]]; then
    local as_unit=()
    [[ $run != backup-as-unit ]] || as_unit=(nice -n 10 ionice -c 3)
    sleep 1
    rm -f "$backup_dir/copy.db"
    backup_line=$("${as_unit[@]}" $build/factsd backup --store "sqlite:$backup_dir/facts.db" "$backup_dir/copy.db" 2>&1 |
      tail -1)
  fi
  wait "$wrk_pid"
  out=$(cat "$wrk_out")
  local rate p99 max copy_ms copy_bytes
  rate=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  max=$(wrk_ms "$(awk '$1 == "Latency" { print $4; exit }' <<<"$out")")
  copy_ms=$(sed -n 's/.* bytes in \([0-9]*\) ms.*/\1/p' <<<"$backup_line")
  copy_bytes=$(sed -n 's/.*, \([0-9]*\) bytes in .*/\1/p' <<<"$backup_line")
  [[ $run == alone || -n $copy_ms ]] || log "backup: the backup failed: $backup_line"
  echo "record table=backup round=$round run=$run posts_per_s=$rate p99_ms=$p99 max_ms=$max" \
    "copy_ms=${copy_ms:-–} copy_bytes=${copy_bytes:-–}" >>"$backup_records"
  log "backup: round $round, $run: $rate POSTs/s, p99 $p99 ms, max $max ms${copy_ms:+, a copy of $copy_bytes bytes in $copy_ms ms}"
}

run_backup_table() {
  : >"$backup_records"
  mkdir -p "$backup_dir"
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
    "'$publish_body'" >"$post_script"
  start_peer factsd-backup-source "" || return 1
  log "backup: filling the database for $backup_fill_seconds s"
  wrk -t1 -c64 -d${backup_fill_seconds}s -s "$post_script" "http://127.0.0.1:$server_port/fact" \
    >/dev/null
  local round
  for ((round = 1; round <= backup_rounds; round++)); do
    backup_wrk "$round" alone
    backup_wrk "$round" backup
    backup_wrk "$round" backup-as-unit
  done
  stop_peer
}

print_backup_report() {
  cat <<EOF

## Online backup

A factsd on sqlite (\`--sync normal\`, \`--threads 1\`) filled by wrk for ${backup_fill_seconds} s, then in
each round wrk POSTing a ${#publish_body}-byte fact over 8 keep-alive connections for 6 s: alone, with
\`factsd backup\` of the same file started 1 s in, and with that backup run as
\`factsd-backup.service\` runs it (\`nice -n 10 ionice -c 3\`) (the database grows by every run).
Unpinned: factsd, wrk and the backup share the machine's CPUs. Latencies are wrk's, per POST.

| round | run | POSTs/s | p99 ms | max ms | backup: bytes | backup: ms |
|---:|---|---:|---:|---:|---:|---:|
EOF
  local line
  while read -r line; do
    echo "| $(field "$line" round) | $(field "$line" run) | $(field "$line" posts_per_s) |" \
      "$(field "$line" p99_ms) | $(field "$line" max_ms) | $(field "$line" copy_bytes) |" \
      "$(field "$line" copy_ms) |"
  done <"$backup_records"
}
