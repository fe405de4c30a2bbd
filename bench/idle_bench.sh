#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Idle footprint of zonegated in simulation: resident memory and CPU while nothing happens.
#
#   bench/idle_bench.sh              configure build-bench/ (Release), build zonegated, measure
#   bench/idle_bench.sh BUILD_DIR    use (and build) zonegated in BUILD_DIR
#
# Starts `zonegated --config zones.yaml --state-dir TMP --sim` from the repo root (TMP is a new
# directory under the current directory, removed afterwards), waits WARMUP seconds (default 5),
# then samples for WINDOW seconds (default 60): VmRSS and VmHWM from /proc/PID/status once a
# second, and utime+stime from /proc/PID/stat at the start and the end of the window.
# CPU % = ticks used / (CLK_TCK * window) * 100, i.e. percent of one core.
# Targets: idle RSS < 16 MB, idle CPU < 0.5 %.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build-bench}
warmup=${WARMUP:-5}
window=${WINDOW:-60}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZONEGATE_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target zonegated >/dev/null

state=$(mktemp -d "$PWD/idle-bench-XXXXXX")
log="$state.log"
"$build/zonegated" --config "$repo/zones.yaml" --state-dir "$state" --sim --log-level warning >"$log" 2>&1 &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$state" "$log"
}
trap cleanup EXIT INT TERM

sleep "$warmup"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "zonegated exited during warm-up:" >&2
  cat "$log" >&2
  exit 1
fi

# Fields 14 and 15 of /proc/PID/stat; the command name (field 2) has no spaces here.
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }

hz=$(getconf CLK_TCK)
t0=$(ticks)
s0=$(date +%s.%N)
rss_max=0
rss_sum=0
n=0
i=0
while [ "$i" -lt "$window" ]; do
  sleep 1
  r=$(kb VmRSS)
  rss_sum=$((rss_sum + r))
  n=$((n + 1))
  [ "$r" -gt "$rss_max" ] && rss_max=$r
  i=$((i + 1))
done
t1=$(ticks)
s1=$(date +%s.%N)
hwm=$(kb VmHWM)
rss_end=$(kb VmRSS)

echo "idle_bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v sum="$rss_sum" -v n="$n" \
    -v mx="$rss_max" -v hwm="$hwm" -v last="$rss_end" -v warm="$warmup" 'BEGIN {
  secs = s1 - s0
  cpu = (t1 - t0) / hz / secs * 100
  printf "window %.1f s after %d s warm-up, %d RSS samples\n", secs, warm, n
  printf "idle RSS  mean %.2f MB, max %.2f MB, end %.2f MB; VmHWM %.2f MB   (target < 16 MB: %s)\n",
         sum / n / 1024, mx / 1024, last / 1024, hwm / 1024, (mx / 1024 < 16 ? "met" : "NOT met")
  printf "idle CPU  %d ticks of 1/%d s in %.1f s = %.3f %% of one core   (target < 0.5 %%: %s)\n",
         t1 - t0, hz, secs, cpu, (cpu < 0.5 ? "met" : "NOT met")
}'
