#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the decision benchmark in Release mode and runs it from the repository root against the
# sample site zones.yaml. Prints the date, the machine and the figures (medians of the runs).
#
# usage: bench/run_decision_bench.sh [BUILD_DIR] [decision_bench options...]
#   BUILD_DIR defaults to build-bench/ in the repository root. Options are passed to
#   decision_bench (--people N --located N --events N --runs N --cpu N|none --seed N).
#   Extra CMake arguments can be given in CMAKE_ARGS.
set -euo pipefail

invocation="bench/run_decision_bench.sh${*:+ $*}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build-bench"
if [[ $# -gt 0 && $1 != -* ]]; then
  build=$(realpath -m -- "$1")
  shift
fi

# shellcheck disable=SC2086  # CMAKE_ARGS is a list of words on purpose
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZONEGATE_TESTS=OFF ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target decision_bench

cd "$repo"
echo "date:    $(date -u +%F)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $invocation"
echo "runs:    ${build#"$repo"/}/bench/decision_bench${*:+ $*}  (from $repo)"
echo
exec "$build/bench/decision_bench" "$@"
