#!/usr/bin/env bash
# The main job: install, build, then run the bundled actions through
# `wow run` and print their results and timings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${WOW_BUILD_DIR:-build}
WOW="$BUILD_DIR/wow"
DATA_DIR=${WOW_DATA_DIR:-.wow}

run() {
  echo "\$ wow run $*"
  "$WOW" run "$@" --data-dir "$DATA_DIR" --timings
  echo
}
run "$BUILD_DIR/examples/add.wasm" -p param1 2 -p param2 40
run "$BUILD_DIR/examples/hash.wasm"
run "$BUILD_DIR/examples/hash.wasm" -p input hello -p iterations 1000
