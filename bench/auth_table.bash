# The token table of scripts/bench (issue 20), sourced by it: AUTH_STREAMS (10,000) streams
# connecting to factsd with reads open, and with --read-auth token and an HS256 or an ES256 key,
# the token in ?access_token= as an EventSource brings it. The server CPU per connect beside
# the open row's is what verifying a token costs. The three servers take turns within each of
# AUTH_ROUNDS (3) rounds, and the table shows medians. Uses scripts/bench's start_peer,
# stop_peer, run_loadgen, log and $work.

auth_rounds=${AUTH_ROUNDS:-3}
auth_streams=${AUTH_STREAMS:-10000}
auth_records=$work/auth-records.txt
auth_keys=$work/keys

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

auth_input() { # scope lifetime alg -> the token's signing input
  printf '%s.%s' "$(printf '{"alg":"%s","typ":"JWT"}' "$3" | b64url)" \
    "$(printf '{"sub":"bench","scope":"%s","exp":%d}' "$1" $(($(date +%s) + $2)) | b64url)"
}

# The README's one-liner: HMAC-SHA256 of the input with the secret file's bytes.
mint_hs256() { # secret-file scope lifetime
  local input
  input=$(auth_input "$2" "$3" HS256)
  printf '%s.%s' "$input" \
    "$(printf %s "$input" | openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$1")" -binary | b64url)"
}

# OpenSSL signs ES256 in DER; JWS wants r and s as 32 bytes each, one after the other.
mint_es256() { # private-pem scope lifetime
  local input r s
  input=$(auth_input "$2" "$3" ES256)
  read -r r s < <(printf %s "$input" | openssl dgst -sha256 -sign "$1" |
    openssl asn1parse -inform DER | awk -F: '/INTEGER/ { printf "%s ", $NF }')
  r=$(printf '%064s' "$r" | tr ' ' 0)
  s=$(printf '%064s' "$s" | tr ' ' 0)
  printf '%s.%s' "$input" "$(printf '%s%s' "${r: -64}" "${s: -64}" | xxd -r -p | b64url)"
}

run_auth_table() {
  mkdir -p "$auth_keys"
  openssl rand -hex 32 | tr -d '\n' >"$auth_keys/hs256.key"
  openssl ecparam -name prime256v1 -genkey -noout -out "$auth_keys/es256.pem" 2>/dev/null
  openssl ec -in "$auth_keys/es256.pem" -pubout -out "$auth_keys/es256.pub" 2>/dev/null
  : >"$auth_records"
  local round label path
  for ((round = 1; round <= auth_rounds; round++)); do
    for label in factsd factsd-token-hs256 factsd-token-es256; do
      case $label in
      factsd) path=/events ;;
      factsd-token-hs256) path="/events?access_token=$(mint_hs256 "$auth_keys/hs256.key" facts:read 3600)" ;;
      factsd-token-es256) path="/events?access_token=$(mint_es256 "$auth_keys/es256.pem" facts:read 3600)" ;;
      esac
      log "auth: $label, $auth_streams streams, round $round of $auth_rounds"
      start_peer "$label" 0 || continue
      run_loadgen auth "$label" 1 "$auth_records" --streams "$auth_streams" --idle-seconds 1 \
        --events-path "$path"
      stop_peer
    done
  done
}

print_auth_report() {
  cat <<EOF

## Connecting with tokens, $(date -u '+%Y-%m-%d %H:%M UTC')

- $auth_streams streams connect (at most 256 at once) to a fresh factsd --threads 1 pinned to
  CPU 0, the generator on CPU 1; $auth_rounds rounds, the servers taking turns in each; medians.
- open: --read-auth none. HS256, ES256: --read-auth token, the key of that algorithm, one
  token (scope facts:read) in \`?access_token=\` of every stream.
- Server CPU: /proc/PID/stat over the connecting. Per connect: that over $auth_streams; the
  extra is the median, over the rounds, of (token − open) per connect.

| server | connect all (s) | server CPU (s) | CPU per connect (µs) | extra per connect (µs) | ready |
|---|---:|---:|---:|---:|---:|
EOF
  awk -v streams="$auth_streams" '
    function field(name,   i, kv) {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
      return ""
    }
    function median(list, n,   i, j, t, a) {
      for (i = 1; i <= n; i++) a[i] = list[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $1 == "record" && field("table") == "auth" {
      label = field("label"); k = ++count[label]
      connect[label, k] = field("connect_s"); cpu[label, k] = field("server_cpu_s")
      ready[label] = field("ready")
      if (!(label in seen)) { seen[label] = 1; order[++labels] = label }
    }
    END {
      for (l = 1; l <= labels; l++) {
        label = order[l]; n = count[label]
        for (k = 1; k <= n; k++) { c[k] = connect[label, k]; u[k] = cpu[label, k]
          d[k] = (cpu[label, k] - cpu["factsd", k]) / streams * 1e6 }
        name = label == "factsd" ? "open" : toupper(substr(label, 14))
        extra = label == "factsd" ? "–" : sprintf("%.1f", median(d, n))
        printf "| %s | %.3f | %.2f | %.1f | %s | %s |\n", name, median(c, n), median(u, n),
          median(u, n) / streams * 1e6, extra, ready[label]
      }
    }' "$auth_records"
  cat <<EOF

<details><summary>Raw records</summary>

\`\`\`
$(cat "$auth_records")
\`\`\`
</details>
EOF
}
