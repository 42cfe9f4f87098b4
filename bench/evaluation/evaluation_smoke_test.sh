#!/usr/bin/env bash
# The evaluation harness end to end with tiny counts (--profile smoke): every
# experiment on every platform, then every output file must exist and no
# invocation may have failed. Where dockerd cannot start (not root, no
# docker.io), the Docker part must be skipped with the reason in summary.md.
set -euo pipefail
evaluate=$1
out=$(mktemp -d /tmp/wow-eval-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

status=0
"$evaluate" --profile smoke --out "$out" >"$out.log" 2>&1 || status=$?
cat "$out.log"
rm -f "$out.log"
if ((status != 0)); then
  echo "FAIL: evaluate exited with status $status" >&2
  exit 1
fi

fail=0
expect() {
  if [[ ! -s "$out/$1" ]]; then
    echo "FAIL: $1 was not written (or is empty)" >&2
    fail=1
  fi
}

platforms=(process wow-executor wow-serve)
if grep -q "Docker: skipped: " "$out/summary.md"; then
  echo "note: $(grep -m1 'Docker: skipped: ' "$out/summary.md")"
else
  platforms+=(docker)
fi

for f in results.json summary.md cold_start.csv cold_start.png cold_start.gp cold_start_latency.png \
  throughput.csv skewed.csv skewed_ecdf.png memory.csv memory.png cpu_speed.csv; do
  expect "$f"
done
for w in hash block mixed; do expect "throughput_$w.png"; done
for p in "${platforms[@]}"; do
  expect "cold_start_$p.csv"
  expect "skewed_ecdf_$p.csv"
  expect "memory_$p.csv"
  for w in hash block mixed; do expect "throughput_${w}_$p.csv"; done
done

# PNG signature on every figure.
for png in "$out"/*.png; do
  if [[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
    echo "FAIL: $png is not a PNG" >&2
    fail=1
  fi
done

if grep -E "invocations failed|not measured|Output problems| skipped: " "$out/summary.md" | grep -v "Docker: skipped: "; then
  echo "FAIL: the summary reports failures (above)" >&2
  fail=1
fi
exit $fail
