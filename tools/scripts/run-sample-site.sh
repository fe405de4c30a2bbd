#!/usr/bin/env bash
# The main job: the sample site (zones.yaml + a small roster) running on simulated hardware in the
# foreground. Builds zonegate and zonegated, checks the configuration, runs the sample site's
# policy scenarios, enrols tools/sample/roster.csv, then starts the daemon. Ctrl-C stops it.
# Usage (from the repository root, as root on Debian 12): bash tools/scripts/run-sample-site.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/install-deps.sh build
build="${ZONEGATE_BUILD_DIR:-build}"
state="${ZONEGATE_STATE_DIR:-$PWD/run/state}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZONEGATE_TESTS=OFF -DZONEGATE_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target zonegate zonegated

echo "== zonegate check zones.yaml"
"$build/zonegate" check zones.yaml
echo "== zonegate policy test tests/scenarios/*.yaml"
"$build/zonegate" policy test tests/scenarios/*.yaml | tail -n 1
echo "== enrolling the sample roster (tools/sample/roster.csv) into $state"
mkdir -p "$state"
chmod 700 "$state"
"$build/zonegate" badge import tools/sample/roster.csv --state-dir "$state" --config zones.yaml

# A first console administrator, created once with a random password kept (mode 0600) in the
# state directory; the guard and auditor accounts are made from the console's admin view or with
# `zonegate operator add NAME --role guard|auditor`.
pwfile="$state/console-admin.password"
if [[ ! -f "$pwfile" ]]; then
  (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$pwfile")
  "$build/zonegate" operator add admin --role admin --password-file "$pwfile" --state-dir "$state" \
    --config zones.yaml
fi
z="$build/zonegate"
cat <<EOT

== the console: https://127.0.0.1:8443/  (self-signed certificate, fingerprint in the log below)
   first login: admin / $(cat "$pwfile")   (also in $pwfile)

== zonegated is starting on simulated hardware (state in $state). From a second terminal:
   $z status --state-dir $state                       # doors, who is where, alarms
   $z sim tap gus lobby in --state-dir $state         # gus (guard) badges in at the lobby
   $z sim door lobby open --state-dir $state          # ... walks through
   $z sim door lobby closed --state-dir $state
   $z sim tap gus view-door in --state-dir $state     # DESFire badge at the DB viewing area: screening first
   $z sim gate view-gate clear --state-dir $state     # the metal detector reports a clear pass: door unlocks
   $z sim gate view-gate alarm --state-dir $state     # ... or an alarm: denied, guard alarm raised
   $z guard ack ALARM_ID --note "checked" --state-dir $state
   $z audit tail --state-dir $state                   # the tamper-evident audit trail
   $z audit verify --state-dir $state
 The roster's staff (alice, bob: db-operator; vera: db-viewer; eric: employee; carol: contractor)
 follow the weekday schedules in zones.yaml (Asia/Tokyo); gus, a guard, may enter at any time.
 Ctrl-C stops the daemon.

EOT
exec "$build/zonegated" --config zones.yaml --state-dir "$state" --sim --console-assets "$PWD/daemon/web/console"
