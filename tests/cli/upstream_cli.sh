#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `zonegate upstream init|add-gateway|status` and `zonegate audit verify --upstream` against a real
# PostgreSQL server started by tools/scripts/pg-test-server.sh: init is idempotent, a gateway is
# registered with a password file, a local trail uploaded as that gateway verifies, and a
# truncated, edited or forked local log is detected (exit 1, naming the seq). Fails (does not skip)
# without the PostgreSQL server binaries: CI installs postgresql-15.
# usage: upstream_cli.sh ZONEGATE_BINARY REPO_ROOT
set -u
zonegate=$(realpath "${1:?usage: upstream_cli.sh ZONEGATE_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: upstream_cli.sh ZONEGATE_BINARY REPO_ROOT}")
pgserver="$root/tools/scripts/pg-test-server.sh"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
for tool in sqlite3 psql; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is needed (apt-get install sqlite3 postgresql-client)" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
pgdir=$(mktemp -d /tmp/zgpg.XXXXXX)
cleanup() {
  bash "$pgserver" stop "$pgdir" immediate >/dev/null 2>&1
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT

if ! dsn=$(bash "$pgserver" start "$pgdir" 2>"$tmp/err"); then
  echo "FAIL: cannot start the test PostgreSQL server: $(cat "$tmp/err")" >&2
  exit 1
fi
port=$(cat "$pgdir/port")
role_dsn() { echo "host=127.0.0.1 port=$port dbname=zonegate user=$1 passfile=$tmp/pgpass.$1 sslmode=disable"; }
make_passfile() {
  echo "127.0.0.1:$port:*:$1:$2" >"$tmp/pgpass.$1"
  chmod 600 "$tmp/pgpass.$1"
}

# --- init, twice --------------------------------------------------------------------------------
status=0
"$zonegate" upstream init --dsn "$dsn" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || fail "upstream init: exit $status: $(cat "$tmp/err")"
grep -q '^  created table zonegate.events$' "$tmp/out" || fail "upstream init did not report the events table: $(cat "$tmp/out")"
status=0
"$zonegate" upstream init --dsn "$dsn" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || fail "second upstream init: exit $status"
grep -q 'nothing changed' "$tmp/out" || fail "second upstream init changed something: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "second upstream init listed actions: $(cat "$tmp/out")"

# A password in the DSN is refused before connecting.
status=0
"$zonegate" upstream init --dsn "host=127.0.0.1 port=$port password=oops" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] || fail "a DSN with a password: exit $status, expected 2"
grep -q 'passfile' "$tmp/err" || fail "no hint at passfile: $(cat "$tmp/err")"
grep -q 'oops' "$tmp/err" && fail "the password was echoed"

# --- a gateway and an auditor -------------------------------------------------------------------
gateway=gw-sample-01
role=zg_gw_gw_sample_01
printf 'gw-cli-secret\n' >"$tmp/gw.pass"
chmod 600 "$tmp/gw.pass"
status=0
"$zonegate" upstream add-gateway --dsn "$dsn" --gateway "$gateway" --site hq --password-file "$tmp/gw.pass" \
  >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || fail "add-gateway: exit $status: $(cat "$tmp/err")"
grep -q "created login role $role" "$tmp/out" || fail "add-gateway output: $(cat "$tmp/out")"
make_passfile "$role" gw-cli-secret
psql "$dsn" -q -v ON_ERROR_STOP=1 -c "CREATE ROLE cli_auditor LOGIN PASSWORD 'aud-secret' IN ROLE zonegate_auditor" \
  >/dev/null 2>"$tmp/err" || fail "creating the auditor: $(cat "$tmp/err")"
make_passfile cli_auditor aud-secret
auditor=$(role_dsn cli_auditor)

# --- a local trail: each badge enrolment is an audit record ---------------------------------------
state="$tmp/state"
mkdir -m 700 "$state"
enrol() {
  "$zonegate" badge add "$1" --person "$2" --roles employee --state-dir "$state" --config "$root/zones.yaml" \
    >/dev/null 2>"$tmp/err" || fail "badge add $1: $(cat "$tmp/err")"
}
for i in $(seq 10 29); do enrol "04A1B2$i" "person$i"; done
last=$(sqlite3 "$state/audit.db" 'SELECT max(seq) FROM records')
[ "$last" -ge 20 ] || fail "expected at least 20 local records, got $last"

# Upload it as the gateway (COPY, text format: NULL as \N, bytea as \\x…), as the sync would.
copy_rows() {
  local cols="seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, severity,
    source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash"
  local select="'$gateway'"
  local c
  for c in seq time_ms kind event person badge door zone direction verdict reason alarm severity source ref detail; do
    select="$select, coalesce(replace(replace(replace(replace($c, '\\', '\\\\'), char(9), '\\t'), char(10), '\\n'),
      char(13), '\\r'), '\\N')"
  done
  for c in salt personal_digest; do select="$select, coalesce('\\\\x' || lower(hex($c)), '\\N')"; done
  select="$select, coalesce(purged_by, '\\N'), '\\\\x' || lower(hex(prev_hash)), '\\\\x' || lower(hex(hash))"
  sqlite3 -separator $'\t' "$1" "SELECT $select FROM records ORDER BY seq" >"$tmp/rows.copy"
  psql "$(role_dsn "$role")" -q -v ON_ERROR_STOP=1 \
    -c "\\copy zonegate.events (gateway_id, $cols) FROM '$tmp/rows.copy'" 2>"$tmp/err" ||
    fail "uploading as the gateway: $(cat "$tmp/err")"
}
copy_rows "$state/audit.db"
head=$(psql "$auditor" -tA -c "SELECT seq || ' ' || faulted FROM zonegate.chain_heads WHERE gateway_id = '$gateway'")
[ "$head" = "$last false" ] || fail "central head after the upload: '$head', expected '$last false'"
# A retried upload changes nothing.
copy_rows "$state/audit.db"
faults=$(psql "$auditor" -tA -c "SELECT count(*) FROM zonegate.chain_faults")
[ "$faults" = 0 ] || fail "a retried upload raised $faults chain fault(s)"

# --- status ---------------------------------------------------------------------------------------
status=0
"$zonegate" upstream status --dsn "$auditor" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || fail "upstream status: exit $status: $(cat "$tmp/err")"
grep -Eq "^$gateway +hq +$last +[0-9-]+T" "$tmp/out" || fail "upstream status: $(cat "$tmp/out")"
"$zonegate" upstream status --dsn "$auditor" --json >"$tmp/out" 2>"$tmp/err" || fail "upstream status --json"
grep -q "\"head_seq\": $last" "$tmp/out" || fail "upstream status --json: $(cat "$tmp/out")"

# --- verify --upstream ----------------------------------------------------------------------------
verify() {
  status=0
  "$zonegate" audit verify --upstream "$auditor" --state-dir "$1" >"$tmp/out" 2>"$tmp/err" || status=$?
}
verify "$state"
[ "$status" -eq 0 ] || fail "verify --upstream of the intact trail: exit $status: $(cat "$tmp/err")"
grep -q "^ok: $last record(s)" "$tmp/out" || fail "verify --upstream output: $(cat "$tmp/out")"

# A copy of the trail to damage, with the append-only triggers dropped (as an attacker would).
damaged() {
  rm -rf "$tmp/bad"
  mkdir -m 700 "$tmp/bad"
  cp -p "$state"/audit* "$tmp/bad/"
  sqlite3 "$tmp/bad/audit.db" "SELECT 'DROP TRIGGER \"' || name || '\";' FROM sqlite_master WHERE type = 'trigger'" |
    sqlite3 "$tmp/bad/audit.db"
}
expect_mismatch() {  # what, kind, seq
  [ "$status" -eq 1 ] || fail "$1: exit $status, expected 1: $(cat "$tmp/err")"
  grep -q "($2)" "$tmp/err" || fail "$1: not reported as $2: $(cat "$tmp/err")"
  grep -qx "first divergent record: $3" "$tmp/err" || fail "$1: seq $3 not named: $(cat "$tmp/err")"
}

damaged
sqlite3 "$tmp/bad/audit.db" "DELETE FROM records WHERE seq > $((last - 5)); DELETE FROM checkpoints WHERE seq > $((last - 5))"
verify "$tmp/bad"
expect_mismatch "truncated log" truncated $((last - 4))

damaged
sqlite3 "$tmp/bad/audit.db" "UPDATE records SET person = 'mallory' WHERE seq = 7"
verify "$tmp/bad"
expect_mismatch "edited record" edited 7

damaged
sqlite3 "$tmp/bad/audit.db" "DELETE FROM records WHERE seq > 12; DELETE FROM checkpoints WHERE seq > 12"
for i in $(seq 30 39); do
  "$zonegate" badge add "04A1B2$i" --person "other$i" --roles employee --state-dir "$tmp/bad" \
    --config "$root/zones.yaml" >/dev/null 2>"$tmp/err" || fail "badge add on the cut-back log: $(cat "$tmp/err")"
done
verify "$tmp/bad"
expect_mismatch "forked log" forked 13

# --- usage and connection errors exit 2 -----------------------------------------------------------
status=0
"$zonegate" audit verify --upstream "host=127.0.0.1 port=1 dbname=zonegate user=x connect_timeout=2" \
  --state-dir "$state" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] || fail "verify against an unreachable server: exit $status, expected 2"
status=0
"$zonegate" audit verify --upstream "$auditor" --gateway gw-unknown --state-dir "$state" >"$tmp/out" 2>"$tmp/err" ||
  status=$?
[ "$status" -eq 2 ] || fail "verify of another gateway: exit $status, expected 2"
status=0
"$zonegate" upstream add-gateway --dsn "$dsn" --gateway "$gateway" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] || fail "add-gateway without --site: exit $status, expected 2"

# `audit query --kind` knows the kinds.
status=0
"$zonegate" audit query --kind bogus --state-dir "$state" --config "$root/zones.yaml" >"$tmp/out" 2>"$tmp/err" ||
  status=$?
[ "$status" -eq 2 ] || fail "audit query --kind bogus: exit $status, expected 2"
grep -q "unknown kind 'bogus'" "$tmp/err" || fail "audit query --kind bogus: $(cat "$tmp/err")"
"$zonegate" audit query --kind operator --state-dir "$state" --config "$root/zones.yaml" >"$tmp/out" 2>"$tmp/err" ||
  fail "audit query --kind operator: $(cat "$tmp/err")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "upstream CLI: all checks passed"
