#!/usr/bin/env bash
# Install tree, .deb and systemd unit of a configured, built factsd tree:
#   tests/packaging/packaging_test.sh <build dir>
# Installs into a temporary DESTDIR and checks the tree, verifies the unit with
# systemd-analyze (and rates it), packs a .deb with cpack and reads it back with dpkg-deb.
# Everything goes into one temporary folder, removed at the end; nothing is started.
set -euo pipefail

build=$(cd "${1:?usage: packaging_test.sh <build dir>}" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# The README states the unit's rating ("rates its exposure **1.1 OK**"): the unit must do at
# least as well.
max_exposure=$(sed -n 's/.*rates its exposure \*\*\([0-9.]*\) [A-Z]*\*\*.*/\1/p' "$source_dir/docs/deploying.md")

work=$(mktemp -d "${TMPDIR:-/tmp}/factsd-packaging-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "ok   - $*"; }
fail() {
  echo "FAIL - $*"
  failures=$((failures + 1))
}
# check "what" command...: the command's success is the check.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# ---- cmake --install into a DESTDIR ----------------------------------------------------------
root=$work/root
DESTDIR=$root cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install"; exit 1; }
unit=$root/usr/lib/systemd/system/factsd.service
backup_unit=$root/usr/lib/systemd/system/factsd-backup.service
backup_timer=$root/usr/lib/systemd/system/factsd-backup.timer
env_file=$root/etc/default/factsd
check "the binary is installed and runs" "$root/usr/bin/factsd" --version
check "the systemd unit is installed" test -f "$unit"
check "the environment file is in /etc/default" test -f "$env_file"
check "the backup service and its timer are installed" test -f "$backup_unit" -a -f "$backup_timer"
check "the backup service runs the installed binary's backup" \
  grep -qx 'ExecStart=/usr/bin/factsd backup --force /var/lib/factsd-backup/facts.db' "$backup_unit"
check "the backup service runs as the daemon's user" grep -qx 'User=factsd' "$backup_unit"
check "the installed binary has the backup subcommand" \
  grep -q "consistent copy" <<<"$("$root/usr/bin/factsd" backup --help)"
check "the README is in the doc folder" test -f "$root/usr/share/doc/factsd/README.md"
check "the nginx example is in the doc folder" \
  test -f "$root/usr/share/doc/factsd/examples/nginx/factsd.conf"
check "the NATS users example is in the doc folder" \
  test -f "$root/usr/share/doc/factsd/examples/nats/users.conf"
check "the unit starts the installed binary" grep -qx 'ExecStart=/usr/bin/factsd' "$unit"
check "systemctl reload sends SIGHUP (the secrets are read again)" \
  grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit"
check "the unit reads the installed environment file" \
  grep -qx 'EnvironmentFile=-/etc/default/factsd' "$unit"
for line in Type=notify DynamicUser=yes StateDirectory=factsd ProtectSystem=strict \
  NoNewPrivileges=yes PrivateTmp=yes SystemCallFilter=@system-service \
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
  check "the unit has $line" grep -qx "$line" "$unit"
done
limit=$(sed -n 's/^LimitNOFILE=//p' "$unit")
check "LimitNOFILE ($limit) allows tens of thousands of streams" test "${limit:-0}" -ge 65536

# Every setting in the environment file, commented or not, is one factsd knows.
help=$("$root/usr/bin/factsd" --help)
vars=$(sed -n 's/^#\{0,1\}\(FACTSD_[A-Z_]*\)=.*/\1/p' "$env_file")
check "the environment file names some FACTSD_ variables" test -n "$vars"
for var in $vars; do
  flag=--$(echo "${var#FACTSD_}" | tr 'A-Z_' 'a-z-')
  check "$var in the environment file is factsd's $flag" grep -q -- "$flag" <<<"$help"
done
check "the environment file sets nothing but FACTSD_ variables" \
  test -z "$(grep -v -e '^#' -e '^$' -e '^FACTSD_[A-Z_]*=' "$env_file")"

# ---- systemd-analyze --------------------------------------------------------------------------
# verify --root resolves ExecStart= inside the DESTDIR; it needs the targets the unit is
# ordered against there too, so the host's are copied in.
cp /lib/systemd/system/*.target "$root/usr/lib/systemd/system/"
# And the kill of ExecReload=, which the package's dependency on procps brings.
mkdir -p "$root/bin" && cp /bin/kill "$root/bin/kill"
verify_out=$(systemd-analyze verify --root="$root" "$unit" 2>&1) && verify_rc=0 || verify_rc=$?
check "systemd-analyze verify passes without a word" test "$verify_rc" -eq 0 -a -z "$verify_out"
[[ -z "$verify_out" ]] || echo "$verify_out" | sed 's/^/       /'
backup_out=$(systemd-analyze verify --root="$root" "$backup_unit" "$backup_timer" 2>&1) &&
  backup_rc=0 || backup_rc=$?
check "systemd-analyze verify passes the backup service and timer without a word" \
  test "$backup_rc" -eq 0 -a -z "$backup_out"
[[ -z "$backup_out" ]] || echo "$backup_out" | sed 's/^/       /'
# And it would notice a unit whose binary is missing: the check above can fail.
mv "$root/usr/bin/factsd" "$work/factsd.moved"
systemd-analyze verify --root="$root" "$unit" >/dev/null 2>&1 && missing_rc=0 || missing_rc=$?
mv "$work/factsd.moved" "$root/usr/bin/factsd"
check "systemd-analyze verify fails when the binary is missing" test "$missing_rc" -ne 0

rating=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
  sed -n 's/.*Overall exposure level for factsd.service: //p')
echo "#    systemd-analyze security: $rating"
exposure=${rating%% *}
check "the README states a rating" test -n "$max_exposure"
check "systemd-analyze security rates the unit $rating, at most the README's $max_exposure" \
  awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e != "" && e + 0 <= m + 0) }'

# ---- cpack -G DEB -----------------------------------------------------------------------------
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/deb") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; exit 1; }
deb=$(find "$work/deb" -maxdepth 1 -name 'factsd_*.deb' | head -n 1)
check "cpack made a .deb" test -n "$deb"
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for path in ./usr/bin/factsd ./usr/lib/systemd/system/factsd.service ./etc/default/factsd \
  ./usr/lib/systemd/system/factsd-backup.service ./usr/lib/systemd/system/factsd-backup.timer \
  ./usr/share/doc/factsd/README.md ./usr/share/doc/factsd/examples/nginx/factsd.conf \
  ./usr/share/doc/factsd/examples/nats/users.conf; do
  check "the .deb holds $path" grep -qx -- "$path" <<<"$contents"
done
depends=$(dpkg-deb --field "$deb" Depends)
echo "#    Depends: $depends"
check "the .deb depends on procps (the kill of ExecReload=)" grep -q procps <<<"$depends"
for lib in libc6 libsqlite3-0 libstdc++6 libjwt0; do
  check "the .deb depends on $lib (from the shared libraries)" grep -q "$lib" <<<"$depends"
done
check "the environment file is a conffile" \
  grep -qx /etc/default/factsd <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
check "the packed unit starts /usr/bin/factsd" \
  grep -qx 'ExecStart=/usr/bin/factsd' \
  <<<"$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/factsd.service)"

if ((failures > 0)); then
  echo "$failures failed"
  exit 1
fi
echo "all passed"
