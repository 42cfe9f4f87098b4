#!/usr/bin/env bash
# Installs, builds and runs every test (GoogleTest suites through CTest); with WOW_SANITIZE=1 also the sanitizer
# suites and a short run of every fuzz target (scripts/sanitize.sh, ~12 min on 2 cores; TESTING.md). CI does not
# set it yet: the sanitizer step joins CI once a whole CI run with it has been measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${WOW_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900
if [[ "${WOW_SANITIZE:-}" == "1" ]]; then
  bash scripts/sanitize.sh
fi
