#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of the console in headless Chromium (Debian's chromium, driven by playwright-core).
#   $1: build directory (zonegate and zonegated in it)   $2: repository root
# Starts the real zonegated on simulated hardware with a throw-away state directory, creates one
# operator per role, runs tests/e2e/console.spec.mjs and always stops the daemon. Screenshots of each
# view go to $1/e2e-screenshots/. Prints `N passed, N failed`; exits non-zero on any failure.
# Needs: chromium, nodejs, npm (the npm registry or a warm npm cache for `npm ci`), curl, python3.
set -uo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
ROOT=$(cd "${2:?repo root}" && pwd)
HERE="$ROOT/tests/e2e"
ZGD="$BUILD/zonegated"
ZG="$BUILD/zonegate"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

for tool in node npm curl python3; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is not installed (tools/scripts/install-deps.sh test)" >&2; exit 1; }
done
[ -x "$CHROMIUM" ] || { echo "e2e: $CHROMIUM is not installed (tools/scripts/install-deps.sh test)" >&2; exit 1; }
[ -x "$ZGD" ] || { echo "FAIL: $ZGD not found"; exit 1; }
[ -x "$ZG" ] || { echo "FAIL: $ZG not found"; exit 1; }

# playwright-core from package-lock.json; reinstalled only when the lock file changed.
stamp="$HERE/node_modules/.zg-lock-sha256"
want=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== npm ci (tests/e2e)"
  (cd "$HERE" && timeout 600 npm ci --prefer-offline --no-audit --no-fund) || { echo "FAIL: npm ci"; exit 1; }
  echo "$want" >"$stamp"
fi

TMP=$(mktemp -d /tmp/zg-e2e.XXXXXX)
chmod 700 "$TMP"
STATE="$TMP/state"
mkdir -m 700 "$STATE"
LOG="$TMP/zonegated.log"
PID=
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port, so that the test never meets another console (or a second test run).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The sample site as shipped (its daemon.console section enables the console); the port is
# overridden on the command line.
CONFIG="$ROOT/zones.yaml"

echo "== enrolling tools/sample/roster.csv"
"$ZG" badge import "$ROOT/tools/sample/roster.csv" --state-dir "$STATE" --config "$CONFIG" ||
  { echo "FAIL: badge import"; exit 1; }

# One operator per role, with random passwords handed to the browser test in its environment.
declare -A PASSWORDS
for role in guard auditor admin; do
  pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  PASSWORDS[$role]=$pw
  printf '%s\n' "$pw" >"$TMP/$role.pw"
  chmod 600 "$TMP/$role.pw"
  "$ZG" operator add "e2e-$role" --role "$role" --password-file "$TMP/$role.pw" --state-dir "$STATE" --config "$CONFIG" ||
    { echo "FAIL: zonegate operator add e2e-$role"; exit 1; }
done

echo "== starting zonegated --sim (console on 127.0.0.1:$PORT)"
"$ZGD" --sim --config "$CONFIG" --state-dir "$STATE" --console-assets "$ROOT/daemon/web/console" \
  --console-port "$PORT" >"$LOG" 2>&1 &
PID=$!
ready=
for _ in $(seq 1 300); do
  kill -0 "$PID" 2>/dev/null || break
  code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$PORT/") || true
  if [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "FAIL: the console did not answer on https://127.0.0.1:$PORT/ within 30 s; daemon log:"
  cat "$LOG"
  exit 1
fi

mkdir -p "$BUILD/e2e-screenshots"
ZG_BASE_URL="https://127.0.0.1:$PORT" ZG_CLI="$ZG" ZG_STATE="$STATE" ZG_CONFIG="$CONFIG" \
  ZG_SCREENSHOTS="$BUILD/e2e-screenshots" ZG_CHROMIUM="$CHROMIUM" \
  ZG_GUARD=e2e-guard ZG_GUARD_PASSWORD="${PASSWORDS[guard]}" \
  ZG_AUDITOR=e2e-auditor ZG_AUDITOR_PASSWORD="${PASSWORDS[auditor]}" \
  ZG_ADMIN=e2e-admin ZG_ADMIN_PASSWORD="${PASSWORDS[admin]}" \
  timeout 600 node "$HERE/console.spec.mjs"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- zonegated log (last 80 lines)"
  tail -n 80 "$LOG"
fi
exit "$rc"
