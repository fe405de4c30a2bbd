#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of the real zonegated in simulation mode.
#   $1: build directory (zonegated at $1/zonegated)   $2: repository root
# Needs python3 (control-socket client, SQLite checks). Every wait is a bounded poll, not a sleep
# of a guessed length; nothing asserts on timing.
set -u
BUILD=${1:?build dir}
ROOT=${2:?repo root}
ZG="$BUILD/zonegated"
[ -x "$ZG" ] || { echo "FAIL: $ZG not found"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 needed"; exit 1; }

TMP=$(mktemp -d /tmp/zg-daemon-test.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# A group that surely does not exist: the socket must then be root-only (0600).
NOGROUP=zg-no-such-group-$$
make_config() {  # $1: output file
  sed -e "s/control_socket_group: zonegate/control_socket_group: $NOGROUP/" "$ROOT/zones.yaml" >"$1"
}

# Control-socket client: one JSON request per line in argv, prints each JSON reply.
cat >"$TMP/ctl.py" <<'PY'
import json, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rwb")
for req in sys.argv[2:]:
    f.write((req + "\n").encode()); f.flush()
    line = f.readline()
    if not line:
        sys.exit(3)
    sys.stdout.write(line.decode())
PY
ctl() { local sock=$1; shift; python3 "$TMP/ctl.py" "$sock" "$@"; }
policy_hash() { ctl "$1" '{"cmd":"status"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["policy_sha256"])'; }

# start_daemon STATE CONFIG LOG [extra args]: starts in the background, waits for the socket.
start_daemon() {
  local state=$1 config=$2 log=$3; shift 3
  "$ZG" --sim --config "$config" --state-dir "$state" "$@" >>"$log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do
    [ -S "$state/control.sock" ] && ctl "$state/control.sock" '{"cmd":"status"}' >/dev/null 2>&1 && return 0
    kill -0 "$PID" 2>/dev/null || { echo "daemon exited early:"; cat "$log"; return 1; }
    sleep 0.05
  done
  echo "daemon did not open its control socket:"; cat "$log"; return 1
}
# stop_daemon SIG: sends the signal, waits (bounded) and sets RC to its exit status.
stop_daemon() {
  kill -"$1" "$PID"
  for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$PID" 2>/dev/null; then RC=timeout; kill -9 "$PID"; wait "$PID" 2>/dev/null
  else wait "$PID"; RC=$?; fi
  PID=
}
# Contiguity check of the hash chain's structure (not the hashes themselves):
# seq 1..N without gaps, and every record's prev_hash equals the previous record's hash.
chain_check() {
  python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT seq, prev_hash, hash FROM records ORDER BY seq").fetchall()
n = len(rows)
for i, (seq, prev, h) in enumerate(rows, start=1):
    if seq != i:
        print(f"gap: expected seq {i}, found {seq}"); sys.exit(1)
    if i > 1 and prev != rows[i - 2][2]:
        print(f"record {seq}: prev_hash does not link to record {seq-1}"); sys.exit(1)
print(n)
PY
}
count_rows() {  # DB WHERE-clause
  python3 -c 'import sqlite3,sys; db=sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True); print(db.execute("SELECT count(*) FROM records WHERE "+sys.argv[2]).fetchone()[0])' "$1" "$2"
}

# ---------------------------------------------------------------------------------------------
echo "== start-up: socket and key permissions; SIGHUP reload"
S1=$TMP/s1; CFG1=$TMP/zones1.yaml; LOG1=$TMP/d1.log
make_config "$CFG1"
if start_daemon "$S1" "$CFG1" "$LOG1"; then
  mode=$(stat -c %a "$S1/control.sock"); [ "$mode" = 600 ] && pass "control.sock mode 0600" || fail "control.sock mode $mode"
  mode=$(stat -c %a "$S1/audit-signing.key" 2>/dev/null); [ "$mode" = 600 ] && pass "audit-signing.key mode 0600" || fail "audit-signing.key mode '$mode'"
  H0=$(policy_hash "$S1/control.sock")
  [ -n "$H0" ] || fail "no policy hash in status"

  # A broken file: the daemon keeps running with the old policy.
  printf '\nzones: [this is not: a zone map\n' >>"$CFG1"
  kill -HUP "$PID"
  for _ in $(seq 1 100); do grep -q "reload rejected" "$LOG1" && break; sleep 0.05; done
  grep -q "reload rejected" "$LOG1" && pass "log says reload rejected" || fail "no 'reload rejected' in the log"
  kill -0 "$PID" 2>/dev/null && pass "daemon survives a bad reload" || fail "daemon died on a bad reload"
  H1=$(policy_hash "$S1/control.sock")
  [ "$H1" = "$H0" ] && pass "policy hash unchanged after a rejected reload" || fail "hash changed: $H0 -> $H1"

  # Fixed (and changed): the new policy takes effect.
  make_config "$CFG1"
  sed -i -e 's/office: {parent: outside, max_occupancy: 400/office: {parent: outside, max_occupancy: 300/' "$CFG1"
  kill -HUP "$PID"
  H2=$H0
  for _ in $(seq 1 100); do H2=$(policy_hash "$S1/control.sock"); [ "$H2" != "$H0" ] && break; sleep 0.05; done
  [ "$H2" != "$H0" ] && pass "fixed config reloaded (new hash)" || fail "hash unchanged after a good reload"

  # SIGTERM: clean stop, exit 0, a system stop record.
  stop_daemon TERM
  [ "$RC" = 0 ] && pass "SIGTERM exit status 0" || fail "SIGTERM exit status $RC"
  n=$(count_rows "$S1/audit.db" "kind='system' AND event='stop'")
  [ "$n" -ge 1 ] && pass "audit trail has a system stop record" || fail "no system stop record"
  n=$(count_rows "$S1/audit.db" "kind='config' AND event='reload_rejected'")
  [ "$n" = 1 ] && pass "reload_rejected audited" || fail "reload_rejected records: $n"
  chain_check "$S1/audit.db" >/dev/null && pass "chain contiguous" || fail "chain broken"
else
  fail "daemon did not start"
fi

# ---------------------------------------------------------------------------------------------
echo "== unknown GPIO line at start-up (gpio: gpiod, no GPIO chip here)"
S2=$TMP/s2; CFG2=$TMP/zones-gpiod.yaml; LOG2=$TMP/d2.log
make_config "$CFG2"
sed -i -e 's/^  readers: sim .*/  readers: sim\n  gpio: gpiod/' "$CFG2"
grep -q '^  gpio: gpiod' "$CFG2" || fail "could not write the gpiod config"
# Without --sim: the hardware section is used as written. Bounded by timeout(1).
timeout 20 "$ZG" --config "$CFG2" --state-dir "$S2" >"$LOG2" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass "exits non-zero ($rc)"; else fail "exit status $rc (124 = still running after 20 s)"; fi
# The first line requested is the first door's strike output (outputs before inputs).
grep -q "lobby-" "$LOG2" && pass "error names the line" || { fail "error does not name a lobby line"; cat "$LOG2"; }
[ -S "$S2/control.sock" ] && fail "control socket left behind" || true

# ---------------------------------------------------------------------------------------------
echo "== kill -9 during a burst of taps: no acknowledged record lost"
# The socket answers a tap only after the batch holding its decision is fsync'd, with the seq it
# was recorded at. Several clients tap concurrently (so batches hold several taps); every answer
# is logged by the client before it sends the next request; the daemon is killed mid-burst. After
# that, every logged seq must be on disk with the same person, badge, door, verdict and reason.
S3=$TMP/s3; CFG3=$TMP/zones3.yaml; LOG3=$TMP/d3.log; ACKS=$TMP/acks.jsonl
make_config "$CFG3"
CLIENTS=8; TAPS=250; GO_AFTER=300
# check_acks DB: every acknowledged tap in $ACKS is in DB as acknowledged; prints a summary.
check_acks() {
  python3 - "$1" "$ACKS" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
acks = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
if not acks:
    print("no acknowledged taps to check"); sys.exit(1)
seqs = [a["seq"] for a in acks]
if len(set(seqs)) != len(seqs):
    print("the same seq was acknowledged twice"); sys.exit(1)
for a in acks:
    row = db.execute("SELECT kind, person, badge, door, verdict, reason, ref FROM records WHERE seq = ?",
                     (a["seq"],)).fetchone()
    want = ("decision", a["person"], a["badge"], a["door"], a["verdict"], a["reason"], a["request"])
    # An unknown badge names no person: the trail may store NULL for ''.
    got = None if row is None else (row[0], row[1] or "", row[2] or "", row[3], row[4], row[5], row[6])
    if got != want:
        print(f"acknowledged seq {a['seq']} lost or different: acknowledged {want}, on disk {got}"); sys.exit(1)
people = sorted({a["person"] for a in acks if a["person"]})
print(f"{len(acks)} acknowledged records on disk as acknowledged (people {people}, max seq {max(seqs)})")
PY
}
# Three enrolled people (grant or deny depending on the hour; the answer says which) and two
# unknown badges (always denied).
mkdir -p "$S3"
for n in 1 2 3; do
  "$BUILD/zonegate" badge add "04B1000$n" --person "burst-$n" --roles employee --config "$CFG3" \
    --state-dir "$S3" >/dev/null 2>"$TMP/err" || fail "badge add burst-$n: $(cat "$TMP/err")"
done
if start_daemon "$S3" "$CFG3" "$LOG3"; then
  python3 "$ROOT/tests/integration/daemon/zg_client.py" burst "$S3/control.sock" "$ACKS" "$CLIENTS" "$TAPS" lobby \
    "$TMP/go" "$GO_AFTER" burst-1 burst-2 burst-3 DEADBEE1 DEADBEE2 >"$TMP/burst.out" 2>"$TMP/burst.err" &
  BP=$!
  for _ in $(seq 1 1500); do
    [ -e "$TMP/go" ] && break
    kill -0 "$BP" 2>/dev/null || break
    sleep 0.01
  done
  [ -e "$TMP/go" ] || fail "burst did not reach $GO_AFTER acknowledged taps: $(cat "$TMP/burst.out" "$TMP/burst.err")"
  kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
  wait "$BP"; burst_rc=$?
  echo "burst: $(cat "$TMP/burst.out")"
  [ "$burst_rc" = 0 ] || fail "burst client: an answer claimed success without a seq or decision ($(cat "$TMP/burst.err"))"
  acked=$(wc -l <"$ACKS")
  if [ "$acked" -ge "$GO_AFTER" ] && [ "$acked" -lt $((CLIENTS * TAPS)) ]; then
    pass "killed mid-burst ($acked of $((CLIENTS * TAPS)) taps acknowledged)"
  else
    fail "kill was not mid-burst (acknowledged $acked of $((CLIENTS * TAPS)))"
  fi
  grep -q 'not_durable 0 ' "$TMP/burst.out" || fail "answers without durability on a healthy disk: $(cat "$TMP/burst.out")"

  # Checked on the killed trail, before a restart can add to it.
  if out=$(check_acks "$S3/audit.db"); then pass "after kill -9: $out"; else fail "after kill -9: $out"; fi
  before=$(chain_check "$S3/audit.db") && pass "chain contiguous after kill -9 ($before records)" || fail "chain after kill -9: $before"

  if start_daemon "$S3" "$CFG3" "$LOG3"; then
    pass "daemon restarts on the killed trail"
    # One more tap after the restart: acknowledged at a later seq of the same chain.
    ans=$(python3 "$ROOT/tests/integration/daemon/zg_client.py" ctl "$S3/control.sock" \
      '{"cmd":"sim.tap","who":"burst-1","door":"lobby","dir":"in"}')
    seq_after=$(printf '%s' "$ans" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["decision"]["seq"] if a.get("durable") else "")')
    if [ -n "$seq_after" ] && [ "$seq_after" -gt "${before:-0}" ]; then
      pass "tap after restart recorded at seq $seq_after"
    else
      fail "tap after restart: $ans"
    fi
    stop_daemon TERM
    [ "$RC" = 0 ] && pass "clean stop after restart" || fail "stop after restart: $RC"
    after=$(chain_check "$S3/audit.db") && pass "chain contiguous after restart ($after records)" || fail "chain after restart: $after"
    [ "${after:-0}" -gt "${before:-0}" ] && pass "restart appended to the same chain" || fail "no records appended after restart"
    if out=$(check_acks "$S3/audit.db"); then pass "after restart: $out"; else fail "after restart: $out"; fi
    # The CLI's view agrees on the last acknowledged tap of an enrolled person.
    last=$(grep '"person": "burst-' "$ACKS" | tail -n 1 |
      python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["seq"], a["person"], a["verdict"])')
    read -r last_seq last_person last_verdict <<<"$last"
    if [ -n "${last_seq:-}" ]; then
      "$BUILD/zonegate" audit query --person "$last_person" --door lobby --kind decision --limit 100000 \
        --state-dir "$S3" --config "$CFG3" >"$TMP/query" 2>&1 || fail "audit query: $(cat "$TMP/query")"
      if grep -qE "^${last_seq}  .*  decision  ${last_verdict} .*person=${last_person}  .*door=lobby" "$TMP/query"; then
        pass "zonegate audit query shows seq $last_seq ($last_person, $last_verdict)"
      else
        fail "zonegate audit query lacks seq $last_seq $last_person $last_verdict: $(head -5 "$TMP/query")"
      fi
    fi
    # Full verification: every hash recomputed and every checkpoint signature checked.
    if "$BUILD/zonegate" audit verify --state-dir "$S3" >/dev/null; then
      pass "zonegate audit verify after kill -9 and restart"
    else
      fail "zonegate audit verify after kill -9: $("$BUILD/zonegate" audit verify --state-dir "$S3" 2>&1)"
    fi
  else
    fail "daemon did not restart after kill -9"
  fi
fi

# --control-socket: the socket can live outside the owner-only state directory (the systemd unit
# puts it in /run/zonegate for control_socket_group); `zonegate --socket` reaches it there. A path
# that holds anything but a socket is refused and left as it was.
echo "--- control socket outside the state directory"
S4=$TMP/state4; RUN4=$TMP/run4; CFG4=$TMP/zones4.yaml
mkdir -p "$RUN4"
make_config "$CFG4"
printf 'precious\n' >"$RUN4/not-a-socket"
"$ZG" --sim --config "$CFG4" --state-dir "$S4" --control-socket "$RUN4/not-a-socket" >"$TMP/d4-refused.log" 2>&1
RC=$?
if [ "$RC" -ne 0 ] && grep -q "exists and is not a socket" "$TMP/d4-refused.log" &&
  [ "$(cat "$RUN4/not-a-socket")" = precious ]; then
  pass "a --control-socket path holding a file is refused and the file kept"
else
  fail "--control-socket on a regular file: exit $RC, $(tail -n 3 "$TMP/d4-refused.log")"
fi
"$ZG" --sim --config "$CFG4" --state-dir "$S4" --control-socket "$RUN4/control.sock" >"$TMP/d4.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
  [ -S "$RUN4/control.sock" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.05
done
if [ -S "$RUN4/control.sock" ] && [ ! -e "$S4/control.sock" ]; then
  pass "socket at --control-socket, none in the state directory"
else
  fail "--control-socket: $(ls -la "$RUN4" "$S4" 2>&1 | tr '\n' ' ')"
fi
if "$BUILD/zonegate" status --socket "$RUN4/control.sock" >"$TMP/status4" 2>&1 && grep -q "lobby" "$TMP/status4"; then
  pass "zonegate status --socket reaches it"
else
  fail "zonegate status --socket: $(cat "$TMP/status4")"
fi
if "$BUILD/zonegate" sim tap alice lobby in --socket "$RUN4/control.sock" >"$TMP/tap4" 2>&1 &&
  grep -q "decision:" "$TMP/tap4"; then
  pass "zonegate sim tap --socket reaches it"
else
  fail "zonegate sim tap --socket: $(cat "$TMP/tap4")"
fi
# Without daemon.upstream, libpq (and its LDAP/GnuTLS/Kerberos chain) is never loaded: it is
# loaded on first use, which keeps the idle footprint of a stand-alone gateway down.
if grep -q "libpq" "/proc/$PID/maps"; then fail "libpq is mapped although no upstream is configured"
else pass "libpq not loaded without daemon.upstream"; fi
# Members of the wrong JSON type are refused with an error; the daemon keeps running.
for req in '{"cmd":"sim.fire","on":"yes"}' '{"cmd":"sim.tamper","id":"cabinet-lid","on":1}' \
  '{"cmd":"sim.reader","reader":"lobby:in","online":null}' \
  '{"cmd":"sim.tap","who":"alice","door":"lobby","dir":"in","auth_failed":"no"}'; do
  ans=$(ctl "$RUN4/control.sock" "$req" 2>&1)
  if printf '%s' "$ans" | grep -q '"ok":false' && printf '%s' "$ans" | grep -q "must be true or false" &&
    kill -0 "$PID" 2>/dev/null; then
    pass "refused, daemon alive: $req"
  else
    fail "$req: $ans (daemon $(kill -0 "$PID" 2>/dev/null && echo alive || echo dead))"
  fi
done
stop_daemon TERM
[ "$RC" = 0 ] && pass "clean stop" || fail "stop with --control-socket: $RC"
[ ! -e "$RUN4/control.sock" ] && pass "socket removed at stop" || fail "socket left behind at stop"

echo "== $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
