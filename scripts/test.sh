#!/usr/bin/env bash
# Installs, builds and runs every test (GoogleTest suites through CTest), then the sanitizer suites and a short run
# of every fuzz target (scripts/sanitize.sh; TESTING.md). WOW_SANITIZE=0 skips that second step (~12 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${WOW_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900
if [[ "${WOW_SANITIZE:-1}" != "0" ]]; then
  bash scripts/sanitize.sh
fi
