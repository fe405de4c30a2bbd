#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real zonegated (simulated hardware) syncing with a real PostgreSQL 15 started here: a badge
# enrolled centrally is pulled and granted at the door, revoked centrally and then denied after the
# next pull; the audit records the taps made reach the centre (`zonegate status` shows the lag
# return to 0).
#   $1: build directory (zonegated and zonegate in it)   $2: repository root
# Needs the PostgreSQL server binaries (postgresql-15), psql and python3. Every wait is a bounded
# poll, not a sleep of a guessed length.
set -u
BUILD=${1:?build dir}
ROOT=${2:?repo root}
ZGD="$BUILD/zonegated"
ZG="$BUILD/zonegate"
PGS="$ROOT/tools/scripts/pg-test-server.sh"
[ -x "$ZGD" ] || { echo "FAIL: $ZGD not found"; exit 1; }
[ -x "$ZG" ] || { echo "FAIL: $ZG not found"; exit 1; }
command -v psql >/dev/null || { echo "FAIL: psql needed (apt-get install postgresql-client-15)"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 needed"; exit 1; }

TMP=$(mktemp -d /tmp/zg-upstream-test.XXXXXX)
PGDIR=$(mktemp -d /tmp/zgpg.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  bash "$PGS" stop "$PGDIR" immediate >/dev/null 2>&1
  rm -rf "$TMP" "$PGDIR"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; [ -f "$TMP/daemon.log" ] && tail -30 "$TMP/daemon.log"; exit 1; }

STATE="$TMP/state"
GW=gw-sample-01
ROLE=zg_gw_gw_sample_01
BADGE=04C0FFEE

SUPER=$(bash "$PGS" start "$PGDIR" | tail -1) || die "cannot start PostgreSQL: $(cat "$PGDIR/server.log" 2>/dev/null)"
PORT=$(cat "$PGDIR/port")
sql() { psql "$SUPER" -v ON_ERROR_STOP=1 -qAt -c "$1"; }

# The central schema and this gateway's role.
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$TMP/gw.pass"
chmod 600 "$TMP/gw.pass"
"$ZG" upstream init --dsn "$SUPER" >"$TMP/init.out" 2>&1 || die "upstream init: $(cat "$TMP/init.out")"
"$ZG" upstream add-gateway --dsn "$SUPER" --gateway "$GW" --site north --password-file "$TMP/gw.pass" \
  >"$TMP/add.out" 2>&1 || die "upstream add-gateway: $(cat "$TMP/add.out")"
pass "upstream init and add-gateway"
echo "127.0.0.1:$PORT:zonegate:$ROLE:$(cat "$TMP/gw.pass")" >"$TMP/upstream.pgpass"
chmod 600 "$TMP/upstream.pgpass"

# A guard (always allowed into the office) enrolled centrally, and someone of another site.
sql "INSERT INTO zonegate.people (site, person_id, name, roles) VALUES ('north', 'gina', 'Gina', '{guard}'),
       ('south', 'sam', 'Sam', '{guard}')" || die "cannot enrol people"
sql "INSERT INTO zonegate.badges (site, uid, person_id, kind) VALUES ('north', '$BADGE', 'gina', 'uid'),
       ('south', '04BADBAD', 'sam', 'uid')" || die "cannot enrol badges"

# The sample site, its socket root-only (a group that does not exist), reporting upstream.
awk -v dsn="host=127.0.0.1 port=$PORT dbname=zonegate user=$ROLE" -v passfile="$TMP/upstream.pgpass" '
  { sub(/control_socket_group: zonegate/, "control_socket_group: zg-no-such-group") }
  { print }
  /^  log_level:/ {
    print "  upstream:"
    print "    dsn: \"" dsn "\""
    print "    passfile: " passfile
    print "    sslmode: disable"
    print "    batch: 1000"
    print "    pull_interval: 1s"
    print "    backoff_max: 2s"
    print "    timeout: 5s"
  }' "$ROOT/zones.yaml" >"$TMP/zones.yaml"
grep -q '^  upstream:' "$TMP/zones.yaml" || die "could not add daemon.upstream to the config"
"$ZG" check "$TMP/zones.yaml" >"$TMP/check.out" 2>&1 || die "zonegate check: $(cat "$TMP/check.out")"

zg() { "$ZG" "$@" --state-dir "$STATE"; }
upstream_field() {  # upstream_field NAME: a field of the upstream section of `zonegate status --json`
  zg status --json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin).get("upstream", {}).get(sys.argv[1], ""))' "$1"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 $((limit * 10))); do
    "$@" && return 0
    kill -0 "$PID" 2>/dev/null || die "zonegated exited while waiting for $what"
    sleep 0.1
  done
  fail "timed out after ${limit}s waiting for $what (upstream: $(zg status --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("upstream"))'))"
  return 1
}

"$ZGD" --sim --config "$TMP/zones.yaml" --state-dir "$STATE" >"$TMP/daemon.log" 2>&1 &
PID=$!
started() { [ -S "$STATE/control.sock" ] && zg status >/dev/null 2>&1; }
wait_for 15 "the control socket" started || die "zonegated did not start"

pulled() { [ "$(upstream_field last_pull_version)" -gt 0 ] 2>/dev/null; }
wait_for 30 "the first badge pull" pulled
V1=$(upstream_field last_pull_version)
zg sim tap "$BADGE" lobby in >"$TMP/tap1" 2>&1 || fail "sim tap: $(cat "$TMP/tap1")"
if grep -q "decision: gina grant (ok) at lobby in" "$TMP/tap1"; then pass "centrally enrolled badge granted"
else fail "first tap not granted: $(cat "$TMP/tap1")"; fi
zg sim tap 04BADBAD lobby in >"$TMP/tap-south" 2>&1
if grep -q "decision: badge 04BADBAD deny (unknown_badge)" "$TMP/tap-south"; then
  pass "another site's badge unknown here"
else fail "another site's badge: $(cat "$TMP/tap-south")"; fi

sql "UPDATE zonegate.badges SET revoked = true WHERE site = 'north' AND uid = '$BADGE'" || die "cannot revoke"
pulled_again() { [ "$(upstream_field last_pull_version)" -gt "$V1" ] 2>/dev/null; }
wait_for 30 "the pull of the revocation" pulled_again
zg sim tap "$BADGE" lobby in >"$TMP/tap2" 2>&1 || fail "sim tap: $(cat "$TMP/tap2")"
if grep -q "decision: gina deny (revoked) at lobby in" "$TMP/tap2"; then pass "centrally revoked badge denied"
else fail "tap after the revocation not denied as revoked: $(cat "$TMP/tap2")"; fi

# The records of these taps reach the centre.
caught_up() {
  [ "$(upstream_field lag_records)" = "0" ] && [ "$(upstream_field state)" = "idle" ] &&
    [ "$(upstream_field central_seq)" = "$(upstream_field local_seq)" ]
}
wait_for 30 "the upload to catch up" caught_up && pass "upstream lag back to 0"
zg status >"$TMP/status" 2>&1
grep -Eq "^  lag 0 records, 0(\.0)? s" "$TMP/status" || fail "zonegate status does not show lag 0: $(grep -A3 '^upstream' "$TMP/status")"
LOCAL=$(upstream_field local_seq)
CENTRAL=$(sql "SELECT count(*) FROM zonegate.events WHERE gateway_id = '$GW'")
if [ "$CENTRAL" = "$LOCAL" ]; then pass "centre holds all $LOCAL records"
else fail "centre holds $CENTRAL records, local $LOCAL"; fi
DENIED=$(sql "SELECT count(*) FROM zonegate.events WHERE gateway_id = '$GW' AND badge = '$BADGE' AND reason = 'revoked'")
if [ "$DENIED" = "1" ]; then pass "the denial is in the central audit trail"
else fail "central denials of $BADGE: $DENIED"; fi
if grep -qF "$(cat "$TMP/gw.pass")" "$TMP/daemon.log"; then fail "the password appears in the daemon log"; fi

# Reload: changed upstream settings restart the sync; a DSN libpq cannot parse is refused with its
# place in the file, and the running sync stays.
in_log() { grep -qF "$1" "$TMP/daemon.log"; }
sed -i 's/^    batch: 1000$/    batch: 500/' "$TMP/zones.yaml"
kill -HUP "$PID"
if wait_for 15 "the sync restart after a reload" in_log "upstream: settings changed; restarting the sync"; then
  wait_for 15 "the restarted sync to reconnect" caught_up && pass "reload with new upstream settings restarts the sync"
fi
sed -i 's/^    dsn: .*/    dsn: "host=127.0.0.1 port"/' "$TMP/zones.yaml"
DSN_AT=$(grep -n '^    dsn: ' "$TMP/zones.yaml" | cut -d: -f1)
kill -HUP "$PID"
if wait_for 15 "the rejected reload" in_log "reload rejected: $TMP/zones.yaml:$DSN_AT:10: daemon.upstream.dsn: invalid connection string"; then
  # The rejection is itself an audit record, so the sync may be uploading it: the sync must not
  # restart, and it must catch up with that record over the connection it already had.
  RESTARTS=$(grep -cF "upstream: settings changed; restarting the sync" "$TMP/daemon.log")
  if wait_for 15 "the sync to upload the rejection record" caught_up; then
    if [ "$RESTARTS" = "1" ] && [ "$(grep -cF "upstream: stopped" "$TMP/daemon.log")" = "1" ]; then
      pass "a reload with an unparsable DSN is rejected; the sync goes on"
    else fail "the sync restarted after a rejected reload ($RESTARTS restarts)"; fi
  fi
fi
# The same DSN at start: zonegated refuses to start, naming file, line and column.
"$ZGD" --sim --config "$TMP/zones.yaml" --state-dir "$TMP/state2" >"$TMP/bad-start.log" 2>&1
RC=$?
if [ "$RC" -eq 1 ] && grep -qF "$TMP/zones.yaml:$DSN_AT:10: daemon.upstream.dsn: invalid connection string" "$TMP/bad-start.log"; then
  pass "an unparsable DSN stops the start with file:line:col"
else
  fail "start with an unparsable DSN: exit $RC, $(cat "$TMP/bad-start.log")"
fi

kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
  fail "zonegated did not stop on SIGTERM"
else
  wait "$PID"
  RC=$?
  PID=
  if [ "$RC" -eq 0 ]; then pass "clean stop on SIGTERM"; else fail "zonegated exited $RC on SIGTERM"; fi
fi

if [ "$FAILS" -gt 0 ]; then
  echo "--- daemon log (tail)"
  tail -30 "$TMP/daemon.log"
  echo "$FAILS failure(s)"
  exit 1
fi
echo "all upstream daemon tests passed"
