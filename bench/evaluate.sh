#!/usr/bin/env bash
# The paper's evaluation against real Docker, in one command (BENCHMARKS.md,
# "The paper's evaluation"): installs what it needs (docker.io, gnuplot-nox),
# builds a Release tree in build-bench/, and runs bench/evaluation's
# `evaluate`, which starts its own private dockerd (as root), runs every
# experiment on Docker, a process per request, wow executor and wow serve,
# and writes CSV/JSON, PNG figures and summary.md into
# bench/results/<date>-evaluation-<profile>/.
#
#   bench/evaluate.sh                 # quick profile, <= 10 minutes on 2 cores
#   bench/evaluate.sh --full          # the longer profile
#   bench/evaluate.sh --platforms process,wow-serve --experiments cold,memory   # any evaluate flags
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${WOW_BENCH_BUILD_DIR:-build-bench}
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWOW_BUILD_TESTS=OFF
fi
cmake --build "$build" --target wow wow_action_proxy evaluate examples
exec "$build/bench/evaluation/evaluate" "$@"
