#!/usr/bin/env bash
# The evaluation harness end to end with tiny counts (--profile smoke): every
# experiment on every platform, then every output file must exist and no
# invocation may have failed. Where dockerd cannot start (not root, no
# docker.io), the Docker part must be skipped with the reason in summary.md.
# A second run takes wow's platforms once per engine (--engines: jit and
# interp when the wow binary has a JIT, else aot and interp), without the
# baselines, and checks the per-engine files and the deploy experiment.
set -euo pipefail
evaluate=$1
out=$(mktemp -d /tmp/wow-eval-smoke.XXXXXX)
engines_out=$(mktemp -d /tmp/wow-eval-smoke-engines.XXXXXX)
trap 'rm -rf "$out" "$engines_out"' EXIT

# run <results dir> <evaluate flags...>
run() {
  local dir=$1 status=0
  shift
  "$evaluate" --profile smoke --out "$dir" "$@" >"$dir.log" 2>&1 || status=$?
  cat "$dir.log"
  rm -f "$dir.log"
  if ((status != 0)); then
    echo "FAIL: evaluate $* exited with status $status" >&2
    exit 1
  fi
}

fail=0
expect() {
  if [[ ! -s "$1" ]]; then
    echo "FAIL: $1 was not written (or is empty)" >&2
    fail=1
  fi
}

# PNG signature on every figure, and no failure in the summary.
check_common() {
  local dir=$1 png
  for png in "$dir"/*.png; do
    if [[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
      echo "FAIL: $png is not a PNG" >&2
      fail=1
    fi
  done
  if grep -E "invocations failed|samples failed|not measured|Output problems| skipped: " "$dir/summary.md" |
    grep -v "Docker: skipped: "; then
    echo "FAIL: the summary of $dir reports failures (above)" >&2
    fail=1
  fi
}

# ---- 1. every platform, the node's default engine -------------------------------
run "$out"
platforms=(process wow-executor wow-serve)
if grep -q "Docker: skipped: " "$out/summary.md"; then
  echo "note: $(grep -m1 'Docker: skipped: ' "$out/summary.md")"
else
  platforms+=(docker)
fi

for f in results.json summary.md cold_start.csv cold_start.png cold_start.gp cold_start_latency.png \
  throughput.csv skewed.csv skewed_ecdf.png memory.csv memory.png cpu_speed.csv \
  deploy.csv deploy.png deploy_wow-executor.csv; do
  expect "$out/$f"
done
for w in hash block mixed; do expect "$out/throughput_$w.png"; done
for p in "${platforms[@]}"; do
  expect "$out/cold_start_$p.csv"
  expect "$out/skewed_ecdf_$p.csv"
  expect "$out/memory_$p.csv"
  for w in hash block mixed; do expect "$out/throughput_${w}_$p.csv"; done
done
check_common "$out"

# ---- 2. wow's platforms once per engine -----------------------------------------
mapfile -t available < <("$evaluate" --list-engines)
echo "note: the wow binary's engines: ${available[*]:-none listed}"
if [[ " ${available[*]} " == *" jit "* ]]; then
  engines=(jit interp)
else
  engines=(aot interp)
fi
run "$engines_out" --platforms wow-executor,wow-serve \
  --engines "$(IFS=,; echo "${engines[*]}")"
for f in results.json summary.md deploy.csv deploy.png cpu_speed.csv; do expect "$engines_out/$f"; done
for e in "${engines[@]}"; do
  expect "$engines_out/deploy_wow-executor-$e.csv"
  grep -q "^wow executor ($e),$e,2 KB," "$engines_out/deploy.csv" ||
    { echo "FAIL: deploy.csv has no 2 KB sample of wow executor ($e)" >&2; fail=1; }
  grep -q ",$e$" "$engines_out/cpu_speed.csv" ||
    { echo "FAIL: cpu_speed.csv has no row of engine $e" >&2; fail=1; }
  for p in wow-executor wow-serve; do
    expect "$engines_out/cold_start_$p-$e.csv"
    expect "$engines_out/skewed_ecdf_$p-$e.csv"
    expect "$engines_out/memory_$p-$e.csv"
    for w in hash block mixed; do expect "$engines_out/throughput_${w}_$p-$e.csv"; done
  done
done
grep -qE "^\| +i \| wow executor \(${engines[0]}\)" "$engines_out/summary.md" ||
  { echo "FAIL: summary.md's cold start table has no column per engine" >&2; fail=1; }
check_common "$engines_out"
exit $fail
