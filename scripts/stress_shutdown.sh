#!/usr/bin/env bash
# Runs the wow serve start/stop tests in a loop beside CPU hogs, to catch a
# shutdown that hangs (issue 12, finding 12). A stop that times out dumps every
# thread's stack of the hung server (tests/service_fixture.h, gdb) into the
# failure message, which this script keeps in $OUT.
#   scripts/stress_shutdown.sh [ROUNDS=30] [FILTER='ServeDurabilityTest.*']
# HOGS=N sets the number of CPU hogs (default: one per core).
# Bounded: ROUNDS runs, each under `timeout 600`; the hogs stop with the script.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-30}
FILTER=${2:-'ServeDurabilityTest.*'}
BUILD_DIR=${WOW_BUILD_DIR:-build}
OUT=${OUT:-/tmp/wow-stress-shutdown}
mkdir -p "$OUT"
hogs=()
for _ in $(seq "${HOGS:-$(nproc)}"); do
  (while :; do :; done) &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
failed=0
for i in $(seq "$ROUNDS"); do
  if ! timeout 600 "$BUILD_DIR/tests/serve_test" --gtest_filter="$FILTER" >"$OUT/round-$i.log" 2>&1; then
    failed=$((failed + 1))
    echo "round $i: FAILED (log: $OUT/round-$i.log)"
  else
    rm -f "$OUT/round-$i.log"
  fi
done
echo "$((ROUNDS - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]
