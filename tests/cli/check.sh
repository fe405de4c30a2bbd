#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `zonegate check`: the sample site is valid; every tests/data/bad/*.yaml is rejected with exit 1
# and at least the lines of its .expected file on stderr; usage errors exit 2.
# usage: check.sh ZONEGATE_BINARY REPO_ROOT
set -u
zonegate=$(realpath "${1:?usage: check.sh ZONEGATE_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: check.sh ZONEGATE_BINARY REPO_ROOT}")
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The sample site.
if ! (cd "$root" && "$zonegate" check zones.yaml >"$tmp/out" 2>"$tmp/err"); then
  fail "zonegate check zones.yaml exited non-zero"
  cat "$tmp/err" >&2
elif ! grep -Eq '^zones\.yaml: ok — site [^ ]+: [0-9]+ zones, [0-9]+ doors, [0-9]+ gates, [0-9]+ roles \(sha256 [0-9a-f]{64}\)$' "$tmp/out"; then
  fail "unexpected output of zonegate check zones.yaml: $(cat "$tmp/out")"
fi

# Every bad sample. The .expected lines name the file by its basename, so run from its folder.
shopt -s nullglob
bad_files=("$root"/tests/data/bad/*.yaml)
if [ ${#bad_files[@]} -eq 0 ]; then
  fail "no samples in tests/data/bad"
fi
for file in "${bad_files[@]}"; do
  name=$(basename "$file")
  expected="${file%.yaml}.expected"
  status=0
  (cd "$root/tests/data/bad" && "$zonegate" check "$name" >"$tmp/out" 2>"$tmp/err") || status=$?
  if [ "$status" -ne 1 ]; then
    fail "$name: exit status $status, expected 1"
    continue
  fi
  if ! grep -Fqx "$name: $(grep -c "^$name:[0-9]" "$tmp/err") error(s)" "$tmp/err"; then
    fail "$name: stderr does not end with the error count line"
    sed 's/^/    /' "$tmp/err" >&2
  fi
  if [ -s "$tmp/out" ]; then
    fail "$name: printed to stdout for an invalid file: $(cat "$tmp/out")"
  fi
  if [ ! -f "$expected" ]; then
    fail "$name: no ${name%.yaml}.expected beside it"
    continue
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    [ -z "$line" ] && continue
    if ! grep -Fqx -- "$line" "$tmp/err"; then
      fail "$name: missing error line: $line"
      echo "  stderr was:" >&2
      sed 's/^/    /' "$tmp/err" >&2
    fi
  done <"$expected"
done

# A file that does not exist is an invalid config (exit 1), not a usage error.
status=0
"$zonegate" check "$tmp/no-such-file.yaml" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || fail "check of a missing file: exit $status, expected 1"

# Usage errors.
for args in "" "--bogus" "a.yaml b.yaml"; do
  status=0
  # shellcheck disable=SC2086  # word splitting of $args is intended
  "$zonegate" check $args >/dev/null 2>"$tmp/err" || status=$?
  [ "$status" -eq 2 ] || fail "zonegate check $args: exit $status, expected 2"
  grep -q "usage" "$tmp/err" || fail "zonegate check $args: no usage message"
done
status=0
"$zonegate" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "zonegate without a command: exit $status, expected 2"
status=0
"$zonegate" frobnicate >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "zonegate frobnicate: exit $status, expected 2"
"$zonegate" --help >/dev/null || fail "zonegate --help exited non-zero"

if [ "$failures" -ne 0 ]; then
  echo "check.sh: $failures failure(s)" >&2
  exit 1
fi
echo "check.sh: ok (${#bad_files[@]} bad samples)"
