#!/usr/bin/env bash
# Installs the Debian 12 packages zonegate needs to build, test and run. Idempotent: packages that
# are already installed are not fetched again, and `apt-get update` runs only if something is missing.
# Usage: tools/scripts/install-deps.sh [build|test]   (test adds the fuzzing and lint tools)
set -euo pipefail
mode="${1:-build}"

pkgs=(build-essential cmake pkg-config libyaml-cpp-dev libssl-dev catch2 tzdata libboost-dev libsqlite3-dev
      libnfc-dev libfreefare-dev libgpiod-dev libsystemd-dev nlohmann-json3-dev libpq-dev)
if [[ "$mode" == test ]]; then
  pkgs+=(clang libclang-rt-14-dev clang-format python3 sqlite3 device-tree-compiler shellcheck postgresql-15 chromium openssl curl)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The console's browser tests drive Debian's Chromium with playwright-core from the npm registry;
# they need Node.js 18 or later. Use the machine's node if it has one, else Debian's.
if [[ "$mode" == test ]] && ! command -v node >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: node is missing (run as root, or install nodejs and npm)" >&2
    exit 1
  fi
  echo "install-deps: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
