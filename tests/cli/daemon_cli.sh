#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon-facing commands end to end: `zonegate badge`, `status`, `sim`, `guard`, `audit` against
# a simulated zonegated. Only assertions that hold at any time of day (the sample site's schedules
# follow the real clock): an unknown badge is denied, a door opened without a grant is forced, an
# alarm can be acknowledged, a zone can be locked down, the trail verifies, queries and exports work.
# usage: daemon_cli.sh ZONEGATE_BINARY REPO_ROOT
set -u
zonegate=$(realpath "${1:?usage: daemon_cli.sh ZONEGATE_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: daemon_cli.sh ZONEGATE_BINARY REPO_ROOT}")
zonegated="$(dirname "$zonegate")/zonegated"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
tmp=$(mktemp -d)
state="$tmp/state"
mkdir -m 700 "$state"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
zg() { "$zonegate" "$@" --state-dir "$state"; }

if [ ! -x "$zonegated" ]; then
  echo "FAIL: no daemon binary at $zonegated" >&2
  exit 1
fi

# Enrol two people before the daemon runs (the CLI creates the databases).
zg badge add 04:A2:2B:C1 --person alice --name "Alice A" --roles db-operator --kind desfire \
  --config "$root/zones.yaml" >"$tmp/out" 2>"$tmp/err" || fail "badge add alice: $(cat "$tmp/err")"
zg badge add 04B17733 --person bob --roles employee --config "$root/zones.yaml" >"$tmp/out" 2>"$tmp/err" ||
  fail "badge add bob: $(cat "$tmp/err")"
zg badge add 04B17734 --person carol --roles no-such-role --config "$root/zones.yaml" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "badge add with an unknown role did not exit 2"
grep -q "unknown role 'no-such-role'" "$tmp/err" || fail "unknown role not named: $(cat "$tmp/err")"
zg badge list >"$tmp/out" 2>&1 || fail "badge list failed"
grep -q '^04A22BC1 .*alice .*desfire .*active .*db-operator' "$tmp/out" || fail "badge list lacks alice: $(cat "$tmp/out")"
grep -q '^04B17733 .*bob .*uid .*active .*employee' "$tmp/out" || fail "badge list lacks bob: $(cat "$tmp/out")"

# Without a daemon the control commands fail clearly.
zg status >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "status without a daemon did not exit 1"
grep -q "cannot reach zonegated at $state/control.sock: .*(is the daemon running? are you root or in its group?)" \
  "$tmp/err" || fail "unexpected error without a daemon: $(cat "$tmp/err")"

"$zonegated" --config "$root/zones.yaml" --state-dir "$state" --sim >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do
  [ -S "$state/control.sock" ] && break
  sleep 0.1
done
if [ ! -S "$state/control.sock" ]; then
  echo "FAIL: zonegated did not create its control socket within 5 s" >&2
  cat "$tmp/daemon.log" >&2
  exit 1
fi

zg status >"$tmp/status" 2>"$tmp/err" || fail "status failed: $(cat "$tmp/err")"
grep -q '^site .*, gateway gw-sample-01, policy sha256 ' "$tmp/status" || fail "status header: $(head -3 "$tmp/status")"
zg status --json >"$tmp/status.json" 2>"$tmp/err" || fail "status --json failed"
grep -q '"gateway": "gw-sample-01"' "$tmp/status.json" || fail "status --json lacks the gateway"

# An unknown badge is denied.
zg sim tap DEADBEEF lobby in >/dev/null 2>"$tmp/err" || fail "sim tap failed: $(cat "$tmp/err")"
zg sim tap DEADBEEF lobby sideways >/dev/null 2>&1
[ $? -eq 2 ] || fail "sim tap with a bad direction did not exit 2"
# A badge enrolled while the daemon runs (WAL) is accepted by the CLI.
zg badge add 04B17735 --person dave --roles employee --config "$root/zones.yaml" >/dev/null 2>"$tmp/err" ||
  fail "badge add while the daemon runs: $(cat "$tmp/err")"

# A door opened without a grant is forced; the alarm can be acknowledged.
zg sim door lobby open >/dev/null 2>"$tmp/err" || fail "sim door failed: $(cat "$tmp/err")"
sleep 0.2
zg status >"$tmp/status" 2>&1 || fail "status failed"
alarm=$(sed -n 's/^  #\([0-9]*\) door_forced .*source lobby.*UNACKNOWLEDGED.*/\1/p' "$tmp/status" | head -1)
if [ -z "$alarm" ]; then
  fail "no unacknowledged door_forced alarm in status: $(cat "$tmp/status")"
else
  grep -q '^  lobby .*open FORCED' "$tmp/status" || fail "lobby not shown as forced"
  zg guard ack "$alarm" --note "checked, cleaner" >"$tmp/out" 2>"$tmp/err" || fail "guard ack failed: $(cat "$tmp/err")"
  zg status >"$tmp/status" 2>&1
  grep -q "^  #$alarm door_forced .*acknowledged by unix:.*(checked, cleaner)" "$tmp/status" ||
    fail "alarm $alarm not shown acknowledged: $(grep door_forced "$tmp/status")"
  zg guard ack "$alarm" >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] || fail "acknowledging twice did not exit 1"
  grep -q "zonegated refused: alarm $alarm was acknowledged by" "$tmp/err" || fail "second ack: $(cat "$tmp/err")"
fi
zg sim door lobby closed >/dev/null 2>&1 || fail "sim door closed failed"

# Lockdown of a zone.
zg guard lockdown --zone db-view --note drill >"$tmp/out" 2>"$tmp/err" || fail "guard lockdown failed: $(cat "$tmp/err")"
zg status >"$tmp/status" 2>&1
grep -q '^  db-view .*LOCKDOWN' "$tmp/status" || fail "db-view not in lockdown: $(grep db-view "$tmp/status")"
zg guard unlock --door lobby >/dev/null 2>&1
[ $? -eq 2 ] || fail "guard unlock without a reason did not exit 2"
zg guard lockdown --zone nowhere >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "lockdown of an unknown zone did not exit 1"

# Stop the daemon; the trail must verify.
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
zg audit verify >"$tmp/out" 2>"$tmp/err" || fail "audit verify failed: $(cat "$tmp/out" "$tmp/err")"
grep -q '^ok' "$tmp/out" || fail "audit verify output: $(cat "$tmp/out")"

zg audit query --reason unknown_badge --config "$root/zones.yaml" >"$tmp/out" 2>"$tmp/err" ||
  fail "audit query failed: $(cat "$tmp/err")"
grep -q ' decision  deny unknown_badge .*badge=DEADBEEF.*door=lobby' "$tmp/out" ||
  fail "audit query lacks the denial: $(cat "$tmp/out")"
zg audit query --kind operator --config "$root/zones.yaml" >"$tmp/out" 2>&1
grep -q ' operator  badge_add  person=unix:.*badge=04A22BC1' "$tmp/out" || fail "badge_add not audited: $(cat "$tmp/out")"
zg audit query --decision maybe >/dev/null 2>&1
[ $? -eq 2 ] || fail "audit query --decision maybe did not exit 2"

zg audit export --format csv --reason unknown_badge --out "$tmp/export.csv" --config "$root/zones.yaml" \
  >/dev/null 2>"$tmp/err" || fail "audit export failed: $(cat "$tmp/err")"
head -1 "$tmp/export.csv" | grep -q '^seq,' || fail "export has no header: $(head -1 "$tmp/export.csv")"
grep -q 'DEADBEEF' "$tmp/export.csv" || fail "export lacks the row"
zg audit tail -n 1 --config "$root/zones.yaml" >"$tmp/out" 2>&1
grep -q ' export  export .*reason=unknown_badge' "$tmp/out" || fail "the export was not audited: $(cat "$tmp/out")"
zg audit verify >/dev/null 2>&1 || fail "audit verify after the export failed"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s); daemon log:" >&2
  cat "$tmp/daemon.log" >&2
  exit 1
fi
echo "daemon_cli: ok"
