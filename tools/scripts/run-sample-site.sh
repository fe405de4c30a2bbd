#!/usr/bin/env bash
# The main job on the sample site: build zonegate, check zones.yaml, and run the sample site's
# policy scenarios. Usage (from the repository root): bash tools/scripts/run-sample-site.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/install-deps.sh build
build="${ZONEGATE_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZONEGATE_TESTS=OFF -DZONEGATE_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target zonegate
echo "== zonegate check zones.yaml"
"$build/zonegate" check zones.yaml
echo "== zonegate policy test tests/scenarios/*.yaml"
"$build/zonegate" policy test tests/scenarios/*.yaml
echo "== zonegate policy who-can --zone db-ops --at 2026-12-01T10:00:00+09:00"
"$build/zonegate" policy who-can --zone db-ops --at 2026-12-01T10:00:00+09:00 --site zones.yaml
