#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of the real zonegated with REAL libnfc readers: every reader of the sample site
# is a pn532emu PN532 emulator on a pseudo-terminal, opened by libnfc through its pn532_uart
# connstring. A DESFire badge (AES key diversified per card with AN10922 from the site master key)
# tapped at view-door must wait for the metal-detector gate and unlock the door only after a clear
# screening; a wrong-key DESFire and a UID-only badge are refused; the audit trail records it all.
#   $1: build directory (zonegated, zonegate, and the pn532emu binary somewhere below it)
#   $2: repository root
# Needs python3 (control-socket client, AN10922 key diversification with python3-cryptography or
# the openssl command). Runs in about 12 s.
# Every wait is a bounded poll; nothing asserts on timing.
set -u
BUILD=${1:?build dir}
ROOT=${2:?repo root}
HERE=$(cd "$(dirname "$0")" && pwd)
ZGD="$BUILD/zonegated"
ZG="$BUILD/zonegate"
EMU="$BUILD/tools/pn532emu/pn532emu"
[ -x "$EMU" ] || EMU=$(find "$BUILD" -name pn532emu -type f -perm -u+x 2>/dev/null | head -n1)
for b in "$ZGD" "$ZG" "$EMU"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then echo "FAIL: binary '$b' not found (build zonegated zonegate pn532emu_cli)"; exit 1; fi
done
command -v python3 >/dev/null || { echo "FAIL: python3 needed"; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || command -v openssl >/dev/null \
  || { echo "FAIL: python3-cryptography or the openssl command needed (AES for the key diversification)"; exit 1; }
CLIENT="$HERE/zg_client.py"

TMP=$(mktemp -d /tmp/zg-nfc-e2e.XXXXXX)
STATE="$TMP/state"
CONFIG="$TMP/nfc-site.yaml"
SOCK="$STATE/control.sock"
LOG="$TMP/zonegated.log"
mkdir -p "$STATE" && chmod 700 "$STATE"
PID=
EMU_PIDS=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  local p
  for p in "${EMU_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 1 40); do
    local alive=0
    for p in "${EMU_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.05
  done
  for p in "${EMU_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; echo "--- zonegated log:"; cat "$LOG" 2>/dev/null; exit 1; }
ctl() { python3 "$CLIENT" ctl "$SOCK" "$@"; }
wait_status() { python3 "$CLIENT" wait "$SOCK" "$@"; }  # TIMEOUT EXPR

# --- site keys ---------------------------------------------------------------------------------
MASTER=000102030405060708090A0B0C0D0E0F
OTHER_MASTER=F0E0D0C0B0A090807060504030201000
AID_CONFIG=5A4701      # as written in the config ...
AID_WIRE=01475A        # ... and in wire order (least significant byte first), as the card stores it
KEY_NO=1
SYSID=7A6F6E6567617465
GOOD_UID=04112233445566      # g1's DESFire, keyed from the site master key
BAD_UID=04AABBCCDDEEFF       # g1's second DESFire, keyed from another master key (wrong key)
WEAK_UID=08A1B2C3            # g2's UID-only badge
printf '%s\n' "$MASTER" >"$STATE/desfire-master.key"
chmod 600 "$STATE/desfire-master.key"
GOOD_KEY=$(python3 "$CLIENT" diversify "$MASTER" "$GOOD_UID" "$AID_WIRE" "$SYSID") || die "diversify"
BAD_KEY=$(python3 "$CLIENT" diversify "$OTHER_MASTER" "$BAD_UID" "$AID_WIRE" "$SYSID") || die "diversify"
KEY0=00000000000000000000000000000000   # application key 0 (unused by the daemon)

# --- emulated readers: one per reader of the sample site (readers: nfc needs every door) --------
READERS="lobby-in lobby-out view-door-in view-door-out ops-door-in ops-door-out"
for r in $READERS; do
  "$EMU" --link "$TMP/reader-$r" --control "$TMP/reader-$r.ctl" --seed 7 </dev/null >"$TMP/emu-$r.log" 2>&1 &
  EMU_PIDS+=($!)
done
for r in $READERS; do
  for _ in $(seq 1 100); do
    grep -q '^connstring' "$TMP/emu-$r.log" 2>/dev/null && [ -p "$TMP/reader-$r.ctl" ] && break
    sleep 0.05
  done
  grep -q '^connstring' "$TMP/emu-$r.log" || die "emulator $r did not start: $(cat "$TMP/emu-$r.log")"
done
pass "6 PN532 emulators up ($(for r in $READERS; do printf '%s ' "reader-$r"; done))"
emu() {  # emu READER COMMAND...: one command on the emulator's control FIFO, waits for its answer
  local r=$1; shift
  local before
  before=$(wc -l <"$TMP/emu-$r.log")
  # Bounded: opening a FIFO nobody reads (emulator gone) would block forever.
  # shellcheck disable=SC2016  # expanded by the inner shell
  timeout 2 bash -c 'printf "%s\n" "$1" >"$2"' _ "$*" "$TMP/reader-$r.ctl" || { echo "emulator $r: control FIFO not answering"; return 1; }
  for _ in $(seq 1 100); do
    [ "$(wc -l <"$TMP/emu-$r.log")" -gt "$before" ] && break
    sleep 0.02
  done
  tail -n +"$((before + 1))" "$TMP/emu-$r.log" | grep -q '^ok' || { echo "emulator $r: '$*' -> $(tail -n +"$((before + 1))" "$TMP/emu-$r.log")"; return 1; }
}
emu_stat() {  # emu_stat READER NAME: one counter of the emulator's `stats` line
  local r=$1 before
  before=$(wc -l <"$TMP/emu-$r.log")
  # shellcheck disable=SC2016  # expanded by the inner shell
  timeout 2 bash -c 'printf "stats\n" >"$1"' _ "$TMP/reader-$r.ctl" || return 1
  for _ in $(seq 1 100); do
    tail -n +"$((before + 1))" "$TMP/emu-$r.log" | grep -q 'auth_ok=' && break
    sleep 0.02
  done
  tail -n +"$((before + 1))" "$TMP/emu-$r.log" | grep -o "\b$2=[0-9]*" | head -n1 | cut -d= -f2
}
last_seq() { ctl '{"cmd":"status"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["audit"]["last_seq"])'; }

# --- site config: the sample site (zones, doors, gates, roles unchanged) with NFC readers ---------
python3 - "$ROOT/zones.yaml" "$CONFIG" "$TMP" "$AID_CONFIG" "$KEY_NO" "$SYSID" <<'PY' || die "config generation"
import re, sys
src, dst, tmp, aid, key_no, sysid = sys.argv[1:]
text = open(src).read()
nfc = (f"  readers: nfc\n  gpio: sim\n  nfc:\n    master_key_file: desfire-master.key\n"
       f"    application: {aid}\n    key_number: {key_no}\n    system_identifier: {sysid}\n"
       f"    poll_interval: 50ms\n    hung_timeout: 3s\n")
text, n = re.subn(r"^  readers: sim\b.*\n", nfc, text, count=1, flags=re.M)
assert n == 1, "no 'readers: sim' line in zones.yaml"
text, n = re.subn(r"pn532_uart:/dev/zonegate/", f"pn532_uart:{tmp}/", text)
assert n == 6, f"expected 6 reader connstrings, found {n}"
# A group that surely does not exist: the control socket stays owner-only.
text = text.replace("control_socket_group: zonegate", "control_socket_group: zg-no-such-group-e2e")
open(dst, "w").write(text)
PY
"$ZG" check "$CONFIG" >/dev/null || { "$ZG" check "$CONFIG"; die "generated config is invalid"; }
pass "site config: sample site with readers: nfc, gpio: sim, 6 pn532_uart readers ($CONFIG)"

# --- badges ------------------------------------------------------------------------------------
badge() { "$ZG" badge add "$@" --state-dir "$STATE" --config "$CONFIG" >>"$TMP/badge.log" 2>&1 || { cat "$TMP/badge.log"; die "badge add $*"; }; }
badge "$GOOD_UID" --person g1 --roles guard --kind desfire
badge "$BAD_UID" --person g1 --roles guard --kind desfire
badge "$WEAK_UID" --person g2 --roles guard --kind uid
pass "enrolled g1 (guard, DESFire $GOOD_UID and $BAD_UID) and g2 (guard, UID-only $WEAK_UID) with 'zonegate badge add'"

# --- daemon ------------------------------------------------------------------------------------
"$ZGD" --config "$CONFIG" --state-dir "$STATE" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  [ -S "$SOCK" ] && ctl '{"cmd":"status"}' >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || die "zonegated exited early"
  sleep 0.05
done
[ -S "$SOCK" ] || die "zonegated did not open its control socket"
grep -q "readers nfc" "$LOG" || die "zonegated did not start with NFC readers"
wait_status 10 'len(s["readers"]) == 6 and all(r["online"] for r in s["readers"])' \
  || die "not every NFC reader came online"
pass "zonegated up, readers nfc, all 6 libnfc readers online"

# Place g1 in the office (everyone starts outside; anti-passback is hard at view-door).
ctl '{"cmd":"guard","action":"forgive","person":"g1","zone":"office","note":"nfc e2e"}' | grep -q '"ok":true' \
  || die "guard forgive g1 into office"
wait_status 3 '"g1" in next(z for z in s["zones"] if z["id"] == "office")["people"]' || die "g1 not in office"
pass "g1 placed in the office (guard forgive)"

# --- 1. good DESFire at view-door:in: pending screening, not unlocked ---------------------------
emu view-door-in desfire "$GOOD_UID" "$AID_WIRE" "$KEY0" "$GOOD_KEY" || die "emulator desfire"
if wait_status 5 'any(p["dir"] == "in" and "g1" in p["people"] for p in pending("view-door"))'; then
  pass "DESFire tap at view-door:in authenticated; request pending: $(ctl '{"cmd":"status"}' | python3 -c 'import json,sys; print(json.dumps([p for p in json.load(sys.stdin)["status"]["pending"] if p["door"]=="view-door"]))')"
else
  fail "no pending screening request for g1 at view-door"
fi
if wait_status 0.3 'door("view-door")["unlocked"]' >/dev/null; then
  fail "view-door unlocked before the gate screening"
else
  pass "view-door stays locked while the screening is pending"
fi
emu view-door-in remove || fail "emulator remove"
ok_logins=$(emu_stat view-door-in auth_ok)
if [ "${ok_logins:-0}" -ge 1 ]; then pass "emulated card saw $ok_logins successful AES login(s) through libnfc"
else fail "the emulated DESFire saw no successful AES login (auth_ok=${ok_logins:-?})"; fi

# --- 2. clear screening: unlocked ----------------------------------------------------------------
ctl '{"cmd":"sim.gate","gate":"view-gate","signal":"clear"}' | grep -q '"ok":true' || fail "sim.gate clear refused"
if wait_status 1 'door("view-door")["unlocked"] and not pending("view-door")'; then
  pass "view-gate clear -> view-door unlocked within 1 s"
else
  fail "view-door not unlocked after a clear screening"
fi
if wait_status 10 'not door("view-door")["unlocked"]' >/dev/null; then
  pass "view-door relocked after its unlock time"
else
  fail "view-door did not relock"
fi

# --- 3. DESFire with a wrong key -----------------------------------------------------------------
seq0=$(last_seq)
emu view-door-in desfire "$BAD_UID" "$AID_WIRE" "$KEY0" "$BAD_KEY" || die "emulator desfire (bad)"
wait_status 5 "s['audit']['last_seq'] > $seq0" >/dev/null || fail "no audit record after the wrong-key tap"
bad_logins=$(emu_stat view-door-in auth_failed)
if [ "${bad_logins:-0}" -ge 1 ]; then pass "emulated card refused the reader's AES login (auth_failed=$bad_logins)"
else fail "the emulated DESFire saw no failed AES login (auth_failed=${bad_logins:-?})"; fi
if wait_status 0.1 'door("view-door")["unlocked"] or pending("view-door")' >/dev/null; then
  fail "wrong-key DESFire unlocked the door or is pending"
else
  pass "wrong-key DESFire: view-door stays locked, nothing pending"
fi
emu view-door-in remove

# --- 4. UID-only badge at a desfire door -----------------------------------------------------------
seq0=$(last_seq)
emu view-door-in uid "$WEAK_UID" || die "emulator uid"
wait_status 5 "s['audit']['last_seq'] > $seq0" >/dev/null || fail "no audit record after the UID-only tap"
if wait_status 0.1 'door("view-door")["unlocked"] or pending("view-door")' >/dev/null; then
  fail "UID-only badge unlocked view-door or is pending"
else
  pass "UID-only badge: view-door stays locked, nothing pending"
fi
emu view-door-in remove
ctl '{"cmd":"status"}' >"$TMP/status.json"

# --- stop, then the audit trail ------------------------------------------------------------------
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$PID" 2>/dev/null; then fail "zonegated ignored SIGTERM"; kill -9 "$PID"; wait "$PID" 2>/dev/null
else
  wait "$PID"; rc=$?
  if [ "$rc" = 0 ]; then pass "zonegated stopped on SIGTERM (exit 0)"; else fail "zonegated exit status $rc on SIGTERM"; fi
fi
PID=

AQ() { "$ZG" audit query --state-dir "$STATE" --config "$CONFIG" "$@"; }
if "$ZG" audit verify --state-dir "$STATE" --config "$CONFIG" >"$TMP/verify.txt" 2>&1; then
  pass "zonegate audit verify: $(tail -n1 "$TMP/verify.txt")"
else
  fail "zonegate audit verify failed: $(cat "$TMP/verify.txt")"
fi
audit_has() {  # audit_has DESCRIPTION QUERY-ARGS... -- PATTERN...: every pattern in one output line
  local what=$1; shift
  local args=() pats=()
  while [ "$1" != "--" ]; do args+=("$1"); shift; done; shift
  pats=("$@")
  local out line
  out=$(AQ "${args[@]}" 2>&1) || { fail "$what: zonegate audit query ${args[*]} failed: $out"; return; }
  while IFS= read -r line; do
    local all=1
    for p in "${pats[@]}"; do case "$line" in *"$p"*) ;; *) all=0 ;; esac; done
    if [ $all = 1 ]; then pass "$what: $line"; return; fi
  done <<<"$out"
  fail "$what: no record with ${pats[*]} in: $out"
}
audit_has "audit: pending screening" --person g1 --door view-door --decision pending -- "$GOOD_UID" view-door/in "pending screening"
audit_has "audit: grant after the clear screening" --person g1 --door view-door --decision grant -- "$GOOD_UID" view-door/in "grant ok"
audit_has "audit: wrong key denied" --reason credential_auth_failed -- "$BAD_UID" view-door/in credential_auth_failed
audit_has "audit: UID-only denied" --reason weak_credential -- "$WEAK_UID" g2 view-door/in weak_credential
audit_has "audit: badge enrolment recorded" --kind operator -- badge_add "$GOOD_UID" "person g1"

if [ "$FAILS" -ne 0 ]; then
  echo "--- zonegated log:"; cat "$LOG"
  echo "--- audit trail:"; "$ZG" audit tail -n 40 --state-dir "$STATE" --config "$CONFIG" 2>&1
  echo "$FAILS check(s) failed"
  exit 1
fi
echo "all NFC end-to-end checks passed"
exit 0
