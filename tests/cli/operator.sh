#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `zonegate operator` end to end: accounts are created private (0600) with a scrypt hash, every
# change is an `operator` record in the audit trail naming the Unix user, the password never reaches
# the trail, bad input exits 2 and changes nothing, and without a writable trail nothing changes.
# usage: operator.sh ZONEGATE_BINARY REPO_ROOT
set -u
zonegate=$(realpath "${1:?usage: operator.sh ZONEGATE_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: operator.sh ZONEGATE_BINARY REPO_ROOT}")
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
state="$tmp/state"
mkdir -m 700 "$state"
zg() { "$zonegate" "$@" --state-dir "$state" --config "$root/zones.yaml"; }
# Exit status of a command whose output goes to $tmp/out and $tmp/err.
status_of() {
  "$@" >"$tmp/out" 2>"$tmp/err"
  echo $?
}
actor="unix:$(id -un)"
password='correct horse battery staple'
printf '%s\n' "$password" >"$tmp/pw"
chmod 600 "$tmp/pw"

# add from a file, and from standard input (not a terminal: one line)
[ "$(status_of zg operator add night.guard --role guard --password-file "$tmp/pw")" -eq 0 ] ||
  fail "add from a file: $(cat "$tmp/err")"
grep -q '^added operator night.guard (guard)$' "$tmp/out" || fail "add output: $(cat "$tmp/out")"
[ "$(stat -c %a "$state/operators.db")" = 600 ] || fail "operators.db mode is $(stat -c %a "$state/operators.db")"
printf 'an auditor passphrase\n' | zg operator add ext-auditor --role auditor >"$tmp/out" 2>"$tmp/err" ||
  fail "add from stdin: $(cat "$tmp/err")"

# refused: duplicate (1), bad role, bad name, weak password, no password (2 / 1), nothing changes
[ "$(status_of zg operator add night.guard --role admin --password-file "$tmp/pw")" -eq 1 ] ||
  fail "duplicate add did not exit 1"
grep -q "operator 'night.guard' exists already" "$tmp/err" || fail "duplicate not named: $(cat "$tmp/err")"
[ "$(status_of zg operator add boss --role root --password-file "$tmp/pw")" -eq 2 ] || fail "bad role did not exit 2"
grep -q "'root' is not a role (guard, auditor, admin)" "$tmp/err" || fail "bad role message: $(cat "$tmp/err")"
[ "$(status_of zg operator add 'Boss Man' --role admin --password-file "$tmp/pw")" -eq 2 ] ||
  fail "bad name did not exit 2"
[ "$(status_of sh -c "printf 'short\n' | \"\$0\" operator add boss --role admin --state-dir \"\$1\"" \
  "$zonegate" "$state")" -eq 2 ] || fail "a short password did not exit 2"
grep -q 'refused: the password is shorter than 12 characters' "$tmp/err" || fail "policy message: $(cat "$tmp/err")"
[ "$(status_of sh -c "printf 'boss.admin.01\n' | \"\$0\" operator add boss.admin.01 --role admin --state-dir \"\$1\"" \
  "$zonegate" "$state")" -eq 2 ] || fail "password = name did not exit 2"
[ "$(status_of zg operator add boss --role admin --password-file "$tmp/missing")" -eq 1 ] ||
  fail "a missing password file did not exit 1"
[ "$(status_of zg operator disable nobody)" -eq 1 ] || fail "disable of an unknown operator did not exit 1"
grep -q "no operator 'nobody'" "$tmp/err" || fail "unknown operator message: $(cat "$tmp/err")"
[ "$(status_of zg operator frobnicate x)" -eq 2 ] || fail "unknown subcommand did not exit 2"

# role, disable, enable, passwd
zg operator role ext-auditor admin >"$tmp/out" 2>"$tmp/err" || fail "role: $(cat "$tmp/err")"
zg operator disable night.guard >"$tmp/out" 2>"$tmp/err" || fail "disable: $(cat "$tmp/err")"
zg operator list --json >"$tmp/list.json" 2>"$tmp/err" || fail "list --json: $(cat "$tmp/err")"
python3 - "$tmp/list.json" <<'PY' || fail "list --json content: $(cat "$tmp/list.json")"
import json, sys
ops = {o["name"]: o for o in json.load(open(sys.argv[1]))}
assert sorted(ops) == ["ext-auditor", "night.guard"], ops
assert ops["ext-auditor"]["role"] == "admin" and ops["ext-auditor"]["status"] == "active", ops
assert ops["night.guard"]["role"] == "guard" and ops["night.guard"]["status"] == "disabled", ops
assert ops["night.guard"]["last_login"] is None and ops["night.guard"]["failed_logins"] == 0, ops
PY
zg operator enable night.guard >"$tmp/out" 2>"$tmp/err" || fail "enable: $(cat "$tmp/err")"
printf 'a second long password\n' >"$tmp/pw2"
zg operator passwd night.guard --password-file "$tmp/pw2" >"$tmp/out" 2>"$tmp/err" || fail "passwd: $(cat "$tmp/err")"
zg operator list >"$tmp/out" 2>"$tmp/err" || fail "list: $(cat "$tmp/err")"
grep -q '^night.guard  *guard  *active ' "$tmp/out" || fail "list lacks night.guard: $(cat "$tmp/out")"
grep -q '^2 operator(s)$' "$tmp/out" || fail "list count: $(cat "$tmp/out")"

# the hash in the database is scrypt in the self-describing form
if command -v sqlite3 >/dev/null; then
  hash=$(sqlite3 "$state/operators.db" "SELECT password FROM operators WHERE name = 'ext-auditor'")
  [[ "$hash" =~ ^scrypt\$15\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$ ]] || fail "stored hash: $hash"
fi

# the trail: one operator record per change, naming the caller, in order; no password anywhere
zg audit tail -n 50 >"$tmp/trail" 2>"$tmp/err" || fail "audit tail: $(cat "$tmp/err")"
expected="operator_add:night.guard operator_add:ext-auditor operator_role:ext-auditor operator_disable:night.guard"
expected="$expected operator_enable:night.guard operator_passwd:night.guard"
got=$(awk '$3 == "operator" { for (i = 1; i <= NF; i++) if ($i == "operator" && i > 4) { print $4 ":" $(i + 1); break } }' \
  "$tmp/trail" | sed 's/,$//' | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$expected" ] || fail "operator records: got '$got', expected '$expected'"
[ "$(grep -c " person=$actor  source=zonegate-cli " "$tmp/trail")" -eq 6 ] ||
  fail "records do not name $actor: $(cat "$tmp/trail")"
grep -q 'operator ext-auditor, role auditor -> admin' "$tmp/trail" || fail "role change detail: $(cat "$tmp/trail")"
zg audit verify >"$tmp/out" 2>"$tmp/err" || fail "audit verify: $(cat "$tmp/out" "$tmp/err")"
for secret in "$password" 'an auditor passphrase' 'a second long password'; do
  if grep -rqaF "$secret" "$state"; then fail "a password is stored in clear in $state"; fi
done

# fail closed: without a writable audit trail nothing changes
state2="$tmp/state2"
mkdir -m 700 "$state2"
mkdir "$state2/audit.db"
[ "$("$zonegate" operator add late.guard --role guard --password-file "$tmp/pw" --state-dir "$state2" \
  >"$tmp/out" 2>"$tmp/err"; echo $?)" -eq 1 ] || fail "add without an audit trail did not exit 1"
grep -q 'refusing the change: the audit trail cannot be written' "$tmp/err" || fail "fail-closed message: $(cat "$tmp/err")"
"$zonegate" operator list --json --state-dir "$state2" >"$tmp/out" 2>&1
grep -q 'late.guard' "$tmp/out" && fail "operator added although the trail could not be written"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "operator CLI: all checks passed"
