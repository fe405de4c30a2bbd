#!/usr/bin/env bash
# Lints the shell scripts of the gateway image: every firmware/**/*.sh (the image recipe) and the
# tests in tests/firmware/, with `bash -n` and ShellCheck (all severities, style included). Also
# checks that firmware/image/build-image.sh answers --help without root or network, so its usage
# text cannot rot unnoticed.
# Needs shellcheck (Debian: shellcheck); skips cleanly without it.
# Usage: tests/firmware/test_scripts.sh [REPO_ROOT]   (default: two directories up)
# Exit: 0 pass or skip (a line starting "SKIP:"), 1 failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${1:-$here/../..}" && pwd)"

command -v shellcheck >/dev/null || {
  echo "SKIP: shellcheck not installed (apt-get install shellcheck)"
  exit 0
}

mapfile -t scripts < <(find "$root/firmware" "$root/tests/firmware" -type f -name '*.sh' | sort)
((${#scripts[@]})) || {
  echo "FAIL - no shell scripts under firmware/ or tests/firmware/"
  exit 1
}

passes=0
fails=0
echo "$(shellcheck --version | sed -n 's/^version: /shellcheck /p'), ${#scripts[@]} scripts"
for s in "${scripts[@]}"; do
  rel="${s#"$root"/}"
  if out="$(bash -n "$s" 2>&1 && shellcheck --shell=bash --severity=style --external-sources "$s" 2>&1)"; then
    echo "ok   - $rel: bash -n, shellcheck clean"
    passes=$((passes + 1))
  else
    echo "FAIL - $rel"
    echo "$out"
    fails=$((fails + 1))
  fi
done

recipe="$root/firmware/image/build-image.sh"
if [[ -f "$recipe" ]]; then
  if help="$(bash "$recipe" --help 2>&1)" && grep -q -- '--build-dir' <<<"$help" && grep -q 'Outputs' <<<"$help"; then
    echo "ok   - build-image.sh --help prints its usage (options and outputs)"
    passes=$((passes + 1))
  else
    echo "FAIL - build-image.sh --help did not print its usage"
    echo "$help" | head -n 5
    fails=$((fails + 1))
  fi
fi

echo "test_scripts: ${passes} passed, ${fails} failed"
((fails == 0))
