#!/usr/bin/env bash
# HTTP figures of `wow executor` (BENCHMARKS.md, "Executor service"): idle RSS,
# warm POST /{id}/run of examples/add over keep-alive HTTP at 1, 8 and 64
# connections (bench/http_load), the same through `wow proxy`, and RSS after.
#
#   bench/service_bench.sh [BUILD_DIR] [SECONDS_PER_POINT]     (default: build-bench 5)
set -euo pipefail
build=${1:-build-bench}
seconds=${2:-5}
wow="$build/wow"
load="$build/bench/http_load"
add="$build/examples/add.wasm"
for f in "$wow" "$load" "$add"; do
  [[ -e $f ]] || { echo "service_bench: $f is missing; build it first (see BENCHMARKS.md)" >&2; exit 2; }
done
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# start FACE: runs `wow FACE` on a free port; sets $pid and $addr.
start() {
  "$wow" "$1" --listen 127.0.0.1:0 --data-dir "$tmp/data" --action-logs none >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [[ -s $tmp/$1.out ]] && break; sleep 0.05; done
  addr=$(head -1 "$tmp/$1.out")
}

code=$(base64 -w0 "$add")
printf '{"value":{"binary":true,"code":"%s"}}' "$code" >"$tmp/init.json"
run_body='{"value":{"param1":20,"param2":22}}'

start executor
sleep 0.5
echo "executor idle RSS: $(rss_kib "$pid") KiB"
curl -sf -XPOST "http://$addr/add/init" --data-binary @"$tmp/init.json" >/dev/null
echo "executor RSS with one container: $(rss_kib "$pid") KiB"
echo "--- wow executor: POST /add/run (add.wasm), keep-alive"
"$load" --url "http://$addr/add/run" --body "$run_body" --connections 1,8,64 --duration "$seconds" --warmup 1 \
  --json "$tmp/executor.json"
echo "executor RSS after the runs: $(rss_kib "$pid") KiB"
kill "$pid"

start proxy
curl -sf -XPOST "http://$addr/init" --data-binary @"$tmp/init.json" >/dev/null
echo "--- wow proxy: POST /run (add.wasm), keep-alive"
"$load" --url "http://$addr/run" --body "$run_body" --connections 1,8,64 --duration "$seconds" --warmup 1
