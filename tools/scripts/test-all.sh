#!/usr/bin/env bash
# Builds zonegate and runs every test: unit tests, CLI tests, the sample site's scenarios, the
# daemon end to end, the upstream sync against a throw-away PostgreSQL, the console in headless
# Chromium (GCC, warnings as errors), the same under ASan+UBSan (without the browser test), the
# libFuzzer targets for a bounded time (clang), and the clang-format check. Usage (from anywhere, as root on a fresh Debian 12):
#   bash tools/scripts/test-all.sh
# Environment: FUZZ_SECONDS (default 60 per target), JOBS (default nproc).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 1
bash tools/scripts/install-deps.sh test || exit 1

jobs="${JOBS:-$(nproc)}"
fuzz_seconds="${FUZZ_SECONDS:-60}"
passed=0
failed=0
failures=()

stage() {  # stage NAME COMMAND...
  local name="$1"
  shift
  echo "=== ${name}"
  if "$@"; then
    passed=$((passed + 1))
    echo "=== ${name}: ok"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== ${name}: FAILED"
  fi
}

gcc_build() {
  cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZONEGATE_WERROR=ON >/dev/null &&
    cmake --build build-ci -j"$jobs" &&
    ctest --test-dir build-ci --output-on-failure -j"$jobs"
}

asan_build() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DZONEGATE_SANITIZE=ON -DZONEGATE_BENCH=OFF >/dev/null &&
    cmake --build build-asan -j"$jobs" &&
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j"$jobs" -E '^e2e_console$'
}

fuzz() {
  CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZONEGATE_FUZZ=ON \
    -DZONEGATE_WERROR=OFF >/dev/null && cmake --build build-fuzz -j"$jobs" || return 1
  local ok=0 t name corpus
  for t in build-fuzz/fuzz_*; do
    [[ -x "$t" ]] || continue
    name="$(basename "$t")"
    corpus="$(mktemp -d)"
    if [[ -d "tests/fuzz/corpus/${name#fuzz_}" ]]; then cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"; fi
    echo "--- ${name}: ${fuzz_seconds}s"
    if ! "$t" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "$corpus" 2>"build-fuzz/${name}.log"; then
      tail -n 60 "build-fuzz/${name}.log"
      ok=1
    else
      grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "build-fuzz/${name}.log" | tail -n 2
    fi
    rm -rf "$corpus"
  done
  return $ok
}

format_check() {
  local files
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find daemon tools tests bench -name '*.[ch]pp')
  ((${#files[@]})) || return 0
  clang-format --dry-run --Werror "${files[@]}"
}

stage "build and test (gcc, -Werror)" gcc_build
stage "build and test (ASan+UBSan)" asan_build
stage "fuzz (${fuzz_seconds}s per target)" fuzz
stage "clang-format" format_check

echo
if ((failed)); then
  printf 'failed stage: %s\n' "${failures[@]}"
fi
echo "stages: ${passed} passed, ${failed} failed"
((failed == 0))
