#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Console benchmarks (bench/README.md, "console"):
#   alarm — screening alarm raised on the control socket -> its element in a guard's page (headless
#           Chromium), N times, each acknowledged at once (default), left unacknowledged (--no-ack),
#           or both modes one after the other in one invocation (--both);
#   audit — GET /api/v1/audit pages as an auditor over HTTPS on an audit trail of --records records
#           built by audit_bench (kept in --db DIR, default BUILD_DIR/console-bench-audit-N, and
#           reused by later runs).
# Usage: bench/console_bench.sh BUILD_DIR [--part alarm|audit|all] [--alarms N] [--no-ack|--both]
#                               [--records N] [--db DIR] [--pages N]
# BUILD_DIR holds zonegated, zonegate and bench/audit_bench. Needs node, chromium, curl, python3 and
# playwright-core in tests/e2e/node_modules (tests/e2e/run.sh installs it). Every daemon started here
# is stopped on exit.
set -uo pipefail
BUILD=$(cd "${1:?usage: console_bench.sh BUILD_DIR [options]}" && pwd)
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PART=all
ALARMS=200
ACK=yes
RECORDS=1000000
DB=
PAGES=5
while [ $# -gt 0 ]; do
  case "$1" in
    --part) PART=${2:?}; shift 2 ;;
    --alarms) ALARMS=${2:?}; shift 2 ;;
    --no-ack) ACK=no; shift ;;
    --both) ACK=both; shift ;;
    --records) RECORDS=${2:?}; shift 2 ;;
    --db) DB=${2:?}; shift 2 ;;
    --pages) PAGES=${2:?}; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ZGD="$BUILD/zonegated"
ZG="$BUILD/zonegate"
BENCH="$BUILD/bench/audit_bench"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
E2E="$ROOT/tests/e2e"
for f in "$ZGD" "$ZG"; do [ -x "$f" ] || { echo "console_bench: $f not found" >&2; exit 1; }; done
[ -d "$E2E/node_modules/playwright-core" ] || { echo "console_bench: $E2E/node_modules/playwright-core missing (run tests/e2e/run.sh once)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/zg-console-bench.XXXXXX)
chmod 700 "$TMP"
PID=
stop_daemon() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  PID=
}
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
  stop_daemon
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
new_password() {
  python3 -c 'import secrets; print(secrets.token_urlsafe(18))'
}

# start_daemon STATE CONFIG PORT: zonegated --sim, waits until the console answers.
start_daemon() {
  local state=$1 config=$2 port=$3 log="$TMP/zonegated.log"
  "$ZGD" --sim --config "$config" --state-dir "$state" --console-assets "$ROOT/daemon/web/console" \
    --console-port "$port" >"$log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    kill -0 "$PID" 2>/dev/null || break
    code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$port/") || true
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "console_bench: the console did not answer on port $port; daemon log:" >&2
  tail -n 40 "$log" >&2
  return 1
}

# run_alarm_mode yes|no: one alarm run on a fresh state directory and daemon.
run_alarm_mode() {
  local ack=$1 state="$TMP/alarm-state-$1" config="$ROOT/zones.yaml" port pw
  mkdir -m 700 "$state"
  "$ZG" badge import "$ROOT/tools/sample/roster.csv" --state-dir "$state" --config "$config" >/dev/null || return 1
  pw=$(new_password)
  printf '%s\n' "$pw" >"$TMP/guard.pw"
  "$ZG" operator add bench-guard --role guard --password-file "$TMP/guard.pw" --state-dir "$state" --config "$config" ||
    return 1
  port=$(free_port)
  echo "== alarm: zonegated --sim on 127.0.0.1:$port, $ALARMS alarms (acknowledge each: $ack)"
  start_daemon "$state" "$config" "$port" || return 1
  ZG_BASE_URL="https://127.0.0.1:$port" ZG_CONTROL="$state/control.sock" ZG_CHROMIUM="$CHROMIUM" ZG_E2E_DIR="$E2E" \
    ZG_GUARD=bench-guard ZG_GUARD_PASSWORD="$pw" ZG_ALARMS="$ALARMS" ZG_ACK="$ack" \
    timeout 1800 node "$ROOT/bench/console_bench.mjs" alarm
  local rc=$?
  stop_daemon
  return "$rc"
}

run_alarm() {
  case "$ACK" in
    both) run_alarm_mode yes && run_alarm_mode no ;;
    *) run_alarm_mode "$ACK" ;;
  esac
}

run_audit() {
  local db=${DB:-$BUILD/console-bench-audit-$RECORDS} config="$TMP/zones-gw-bench.yaml" port pw
  [ -x "$BENCH" ] || { echo "console_bench: $BENCH not found" >&2; return 1; }
  mkdir -p "$db" && chmod 700 "$db"
  # Builds the trail once (audit_bench reuses a database that already holds the records).
  echo "== audit: trail of $RECORDS records in $db"
  "$BENCH" --only query --query-records "$RECORDS" --query-db "$db" --dir "$TMP/audit-bench" || return 1
  # audit_bench writes its trail as gateway gw-bench; the daemon refuses a trail of another gateway,
  # so it runs with a copy of the sample site that names that gateway.
  sed 's/^\(  gateway_id:\) [a-z0-9-]*/\1 gw-bench/' "$ROOT/zones.yaml" >"$config"
  grep -q '^  gateway_id: gw-bench' "$config" || { echo "console_bench: could not set gateway_id" >&2; return 1; }
  pw=$(new_password)
  printf '%s\n' "$pw" >"$TMP/auditor.pw"
  # The operator stays in the kept trail's state directory; a rerun gives it a new password.
  "$ZG" operator add bench-auditor --role auditor --password-file "$TMP/auditor.pw" --state-dir "$db" --config "$config" 2>/dev/null ||
    "$ZG" operator passwd bench-auditor --password-file "$TMP/auditor.pw" --state-dir "$db" --config "$config" || return 1
  port=$(free_port)
  echo "== audit: zonegated --sim on 127.0.0.1:$port"
  start_daemon "$db" "$config" "$port" || return 1
  ZG_BASE_URL="https://127.0.0.1:$port" ZG_AUDITOR=bench-auditor ZG_AUDITOR_PASSWORD="$pw" ZG_PAGES="$PAGES" \
    timeout 1800 node "$ROOT/bench/console_bench.mjs" audit
  local rc=$?
  stop_daemon
  return "$rc"
}

rc=0
case "$PART" in
  alarm) run_alarm || rc=1 ;;
  audit) run_audit || rc=1 ;;
  all) run_alarm || rc=1; run_audit || rc=1 ;;
  *) echo "--part alarm|audit|all" >&2; exit 2 ;;
esac
exit "$rc"
