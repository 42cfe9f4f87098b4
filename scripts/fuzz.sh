#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS from its seed corpus: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   scripts/fuzz.sh fuzz_module 60
#   scripts/fuzz.sh fuzz_rest_api 600 -jobs=2 -workers=2
# Targets: fuzz/fuzz_*.cc (TESTING.md says what each feeds). Builds the target when needed.
# New corpus entries go to BUILD_DIR/corpus/TARGET (fuzz/corpus/TARGET, the checked-in seeds, is only read); a crash
# or hang is written to BUILD_DIR/artifacts/TARGET/ and the script fails. Add a fixed crash input to
# fuzz/corpus/TARGET/ as a regression seed. Prints libFuzzer's final stats (number_of_executed_units).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 2)); then
  echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
# build-fuzz (the `fuzz` preset) by default; scripts/sanitize.sh uses build-asan (the `asan` preset, same flags).
BUILD_DIR=${WOW_FUZZ_BUILD_DIR:-build-fuzz}
PRESET=${WOW_FUZZ_PRESET:-fuzz}
if [[ ! -f fuzz/$target.cc ]]; then
  echo "fuzz.sh: no target $target (fuzz/$target.cc); targets: $(cd fuzz && ls fuzz_*.cc | sed 's/\.cc$//' | tr '\n' ' ')" >&2
  exit 2
fi
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake --preset "$PRESET" -B "$BUILD_DIR" "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD_DIR" --target "$target" -j "${WOW_JOBS:-$(nproc)}" >/dev/null
corpus="$BUILD_DIR/corpus/$target"
artifacts="$BUILD_DIR/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
# ASan aborts on a report (a crash for libFuzzer); no fake stacks (ASan keeps one per fiber, ~150 KB an activation:
# fuzz_rest_api hit 2 GB); UBSan stops at the first error with a stack. See TESTING.md.
# The sanitizers refuse the symbolizer through Debian's /usr/bin/llvm-symbolizer symlink: name the real file.
symbolizer=$(readlink -f "$(command -v llvm-symbolizer || true)" 2>/dev/null || true)
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=0${symbolizer:+:external_symbolizer_path=$symbolizer}}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1${symbolizer:+:external_symbolizer_path=$symbolizer}}
# -timeout: an input running longer than 30 s is a hang (the targets cap activations at 1 s and wait at most 60 s
# for an answer). -rss_limit_mb: libFuzzer's default. -max_len: room for an action with its code in a request.
# The targets that keep a service across inputs (store, caches, warm containers, timer and worker threads) look to
# libFuzzer's per-input leak check as if every input leaked, so it ran LeakSanitizer after each one: 85% of the time
# of fuzz_rest_api (perf), 7x fewer executions. Their leaks go unchecked; the stateless targets keep the check.
extra=()
case $target in
  fuzz_rest_api | fuzz_executor_protocol) extra=(-detect_leaks=0) ;;
  # Every input creates, changes and checks files in its sandbox: on the disk, beside builds, it ran 157 inputs a
  # second; in memory 2,400.
  fuzz_wasi) [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm ;;
esac
exec "$BUILD_DIR/fuzz/$target" "${extra[@]}" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$corpus" "fuzz/corpus/$target"
