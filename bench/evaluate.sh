#!/usr/bin/env bash
# The paper's evaluation against real Docker, in one command (BENCHMARKS.md,
# "The paper's evaluation"): installs what it needs (docker.io, gnuplot-nox),
# builds a Release tree in build-bench/, and runs bench/evaluation's
# `evaluate`, which starts its own private dockerd (as root), runs every
# experiment on Docker, a process per request, and wow executor and wow serve
# once per Wasm engine (`--engines all`: every engine the wow binary has, e.g.
# aot, interp, jit, tiered), and writes CSV/JSON, PNG figures and summary.md
# into bench/results/<date>-evaluation-<profile>/.
#
#   bench/evaluate.sh                 # quick profile, every engine
#   bench/evaluate.sh --full          # the longer profile, every engine
#   bench/evaluate.sh --engines aot,jit                       # only these engines
#   bench/evaluate.sh --engines default                       # wow on the node's default engine only
#   bench/evaluate.sh --platforms process,wow-serve --experiments cold,memory   # any evaluate flags
#   bench/evaluate.sh --experiments deploy                    # deploy to first result, per engine
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${WOW_BENCH_BUILD_DIR:-build-bench}
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWOW_BUILD_TESTS=OFF
fi
cmake --build "$build" --target wow wow_action_proxy evaluate examples

# Every engine unless the caller chose (`--engines default`: the node's
# default engine only, as before engines could be chosen).
engines=all
args=()
while (($#)); do
  case "$1" in
    --engines=*) engines=${1#--engines=} ;;
    --engines)
      engines=${2:?--engines needs a value}
      shift
      ;;
    *) args+=("$1") ;;
  esac
  shift
done
[[ "$engines" == default ]] && engines=
exec "$build/bench/evaluation/evaluate" ${engines:+--engines "$engines"} "${args[@]+"${args[@]}"}"
