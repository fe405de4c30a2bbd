#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `zonegate policy test`: every scenario in tests/scenarios passes; a deliberately failing file
# in tests/data/scenarios-failing fails with exit 1 and names the failed expectations.
# usage: policy_test.sh ZONEGATE_BINARY REPO_ROOT
set -u
zonegate=$(realpath "${1:?usage: policy_test.sh ZONEGATE_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: policy_test.sh ZONEGATE_BINARY REPO_ROOT}")
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 1

# 1. The project's scenarios (skipped if there are none yet).
shopt -s nullglob
scenarios=(tests/scenarios/*.yaml)
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "policy_test.sh: no tests/scenarios/*.yaml yet, skipping that part"
else
  status=0
  "$zonegate" policy test "${scenarios[@]}" >"$tmp/out" 2>"$tmp/err" || status=$?
  last=$(tail -n 1 "$tmp/out")
  if [ "$status" -ne 0 ]; then
    fail "tests/scenarios: exit status $status, expected 0"
    cat "$tmp/out" "$tmp/err" >&2
  fi
  if ! [[ "$last" =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
    fail "tests/scenarios: closing line is '$last', expected 'N passed, 0 failed'"
  fi
  passed=$(grep -c '^ok   ' "$tmp/out")
  [ "$last" = "$passed passed, 0 failed" ] || fail "closing line '$last' does not count the $passed ok lines"
fi

# 2. A file that must fail.
failing=tests/data/scenarios-failing/wrong-expectations.yaml
status=0
"$zonegate" policy test "$failing" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || fail "$failing: exit status $status, expected 1"
expect_line() {
  grep -Fqx -- "$1" "$tmp/out" || fail "$failing: missing output line: $1"
}
expect_line "ok   $failing: correct scenario passes"
expect_line "FAIL $failing: wrong expectations are reported"
expect_line "  step 2 {after: 20s, gate: view-gate, signal: clear}: expected decision grant, got deny (screening_timeout)"
expect_line "  step 3 {badge: dave, door: lobby, dir: in}: expected decision grant, got deny (revoked)"
expect_line "  step 3 {badge: dave, door: lobby, dir: in}: expected alarms [door_forced], got []"
expect_line "  step 4 {after: 1s}: expected where alice: db-view, got office"
expect_line "1 passed, 1 failed"
[ "$(tail -n 1 "$tmp/out")" = "1 passed, 1 failed" ] || fail "$failing: the closing line is not last"
if [ "$failures" -ne 0 ]; then
  echo "  output was:" >&2
  sed 's/^/    /' "$tmp/out" >&2
fi

# 3. Together, a failing file makes the whole run fail and the counts add up.
if [ ${#scenarios[@]} -gt 0 ]; then
  status=0
  "$zonegate" policy test "${scenarios[@]}" "$failing" >"$tmp/out" 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "scenarios plus the failing file: exit status $status, expected 1"
  [[ "$(tail -n 1 "$tmp/out")" =~ ^[0-9]+\ passed,\ 1\ failed$ ]] || fail "combined closing line: $(tail -n 1 "$tmp/out")"
fi

# 4. A malformed file is reported with file:line:col and counted as a failure.
cat >"$tmp/broken.yaml" <<YAML
site: $root/zones.yaml
scenarios:
  - name: typo
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: alice, door: lobby, dir: in, expext: {decision: grant}}
YAML
status=0
"$zonegate" policy test "$tmp/broken.yaml" >"$tmp/out" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "malformed file: exit status $status, expected 1"
grep -Fq "$tmp/broken.yaml:6:46: scenarios[0].steps[0].expext: unknown key" "$tmp/out" ||
  fail "malformed file: no located error: $(cat "$tmp/out")"
[ "$(tail -n 1 "$tmp/out")" = "0 passed, 1 failed" ] || fail "malformed file: closing line $(tail -n 1 "$tmp/out")"

# 5. Usage.
status=0
"$zonegate" policy test >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "policy test without files: exit $status, expected 2"

if [ "$failures" -ne 0 ]; then
  echo "policy_test.sh: $failures failure(s)" >&2
  exit 1
fi
echo "policy_test.sh: ok"
