#!/usr/bin/env bash
# Sanitizer and fuzz checks (TESTING.md): scripts/sanitize.sh [asan] [tsan] [fuzz]   (default: all three)
#   asan: builds the unit suites under src/ and the fuzz targets in build-asan (ASan + UBSan, clang-16) and runs
#         the suites;
#   tsan: builds the scheduler, invoker and store suites in build-tsan and runs them;
#   fuzz: runs each fuzz target of build-asan for FUZZ_SECONDS (default 25) from its seed corpus.
# Only the targets named here are built (no examples, benchmarks or end-to-end suites). scripts/test.sh runs this
# after the main suite (WOW_SANITIZE=0 skips it). Fails on the first failing suite or fuzz finding.
set -euo pipefail
cd "$(dirname "$0")/.."
phases=("$@")
((${#phases[@]})) || phases=(asan tsan fuzz)
JOBS=${WOW_JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-25}
FUZZ_SKIP=${FUZZ_SKIP:-}  # fuzz targets not to run, e.g. "fuzz_wat" while an open finding of it is unfixed
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}  # seconds per suite: a hang fails instead of stalling CI

# The fast unit suites under src/ (no server processes, no C guests). client_test is left out: most of its cases
# start the wow binary. aot_smoke_test and the rewrite suite compile Wasm with the system C compiler, as their
# normal runs do.
ASAN_SUITES=(common_test deadline_test action_code_test capability_policy_test scheduler_test executor_test
  store_test invoker_test messages_test http_server_test wasi_host_test module_limits_test memory_pool_test
  aot_runtime_test aot_smoke_test engine_rewrite_test differential_test)
TSAN_SUITES=(scheduler_test invoker_test store_test)

# The sanitizers refuse the symbolizer through Debian's /usr/bin/llvm-symbolizer symlink: name the real file.
symbolizer=$(readlink -f "$(command -v llvm-symbolizer || true)" 2>/dev/null || true)
SYMBOLIZE=${symbolizer:+:external_symbolizer_path=$symbolizer}

configure() {  # PRESET DIR
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  [[ -f "$2/build.ninja" ]] || cmake --preset "$1" "${launcher[@]}" >/dev/null
}

run_suite() {  # DIR NAME
  local bin
  bin=$(find "$1" -name "$2" -type f -perm -u+x | head -1)
  [[ -n "$bin" ]] || { echo "sanitize: $2 not built in $1" >&2; return 1; }
  local start=$SECONDS
  if ! timeout "$SUITE_TIMEOUT" "$bin" --gtest_brief=1 >"$1/$2.log" 2>&1; then
    tail -60 "$1/$2.log" >&2
    echo "sanitize: $2 FAILED under $1 (log: $1/$2.log)" >&2
    return 1
  fi
  echo "sanitize: $2 passed under $1 in $((SECONDS - start)) s: $(grep -o 'PASSED.*' "$1/$2.log" | tail -1)"
}

for phase in "${phases[@]}"; do
  start=$SECONDS
  case $phase in
    asan)
      configure asan build-asan
      cmake --build build-asan -j "$JOBS" --target "${ASAN_SUITES[@]}" fuzz_targets >/dev/null
      # See TESTING.md for each setting.
      export ASAN_OPTIONS=abort_on_error=1:detect_stack_use_after_return=0$SYMBOLIZE
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1$SYMBOLIZE
      for s in "${ASAN_SUITES[@]}"; do run_suite build-asan "$s"; done
      ;;
    tsan)
      configure tsan build-tsan
      cmake --build build-tsan -j "$JOBS" --target "${TSAN_SUITES[@]}" >/dev/null
      export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp$SYMBOLIZE"
      for s in "${TSAN_SUITES[@]}"; do run_suite build-tsan "$s"; done
      ;;
    fuzz)
      configure asan build-asan
      cmake --build build-asan -j "$JOBS" --target fuzz_targets >/dev/null
      for f in fuzz/fuzz_*.cc; do
        t=$(basename "$f" .cc)
        if [[ " $FUZZ_SKIP " == *" $t "* ]]; then
          echo "sanitize: $t skipped (FUZZ_SKIP)"
          continue
        fi
        fstart=$SECONDS
        if ! WOW_FUZZ_BUILD_DIR=build-asan WOW_FUZZ_PRESET=asan bash scripts/fuzz.sh "$t" "$FUZZ_SECONDS" \
          >"build-asan/$t.log" 2>&1; then
          tail -60 "build-asan/$t.log" >&2
          echo "sanitize: fuzz target $t FAILED (log: build-asan/$t.log, input: build-asan/artifacts/$t/)" >&2
          exit 1
        fi
        echo "sanitize: $t ran $(grep -o 'number_of_executed_units: [0-9]*' "build-asan/$t.log" | grep -o '[0-9]*$') inputs in $((SECONDS - fstart)) s"
      done
      ;;
    *)
      echo "usage: $0 [asan] [tsan] [fuzz]" >&2
      exit 2
      ;;
  esac
  echo "sanitize: $phase done in $((SECONDS - start)) s"
done
