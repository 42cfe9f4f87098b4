#!/usr/bin/env bash
# Installs, builds and runs every test (GoogleTest suites through CTest); in CI (CI=true) or with WOW_SANITIZE=1 also
# the sanitizer suites and a short run of every fuzz target (scripts/sanitize.sh, TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${WOW_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900
if [[ "${CI:-}" == "true" || "${WOW_SANITIZE:-}" == "1" ]]; then
  bash scripts/sanitize.sh
fi
