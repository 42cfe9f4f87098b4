#!/usr/bin/env bash
# End-to-end figures of `wow serve` over HTTP (BENCHMARKS.md, "wow serve"):
#   1. first invocation of a newly created action (module already compiled at create): p50/p99
#   2. warm blocking invocations of add (result only) at 1 and 32 connections (bench/http_load)
#   3. RSS with 1,000 deployed actions all warm, and after they are all scaled to zero
#
#   bench/serve_bench.sh [BUILD_DIR] [SECONDS_PER_POINT] [ACTIONS]     (default: build-bench 5 1000)
set -euo pipefail
build=${1:-build-bench}
seconds=${2:-5}
actions=${3:-1000}
wow="$build/wow"
load="$build/bench/http_load"
add="$build/examples/add.wasm"
for f in "$wow" "$load" "$add"; do
  [[ -e $f ]] || { echo "serve_bench: $f is missing; build it first (see BENCHMARKS.md)" >&2; exit 2; }
done
tmp=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
percentiles() { sort -n | awk '{v[NR]=$1} END {printf "n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms\n", NR, v[int(NR*0.5)+1]*1000, v[int(NR*0.99)+(NR*0.99>int(NR*0.99))]*1000, v[NR]*1000}'; }

"$wow" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --keep-alive-ms 3000 >"$tmp/out" 2>"$tmp/err" &
server=$!
for _ in $(seq 200); do [[ $(wc -l <"$tmp/out") -ge 2 ]] && break; sleep 0.05; done
address=$(sed -n 1p "$tmp/out")
auth=$(sed -n 2p "$tmp/out" | awk '{print $NF}')
api="http://$address/api/v1/namespaces/_"
basic="Authorization: Basic $(printf %s "$auth" | base64 -w0)"
printf '{"exec":{"kind":"wasm","binary":true,"code":"%s"}}' "$(base64 -w0 "$add")" >"$tmp/action.json"
echo "idle RSS: $(rss_kib "$server") KiB"

# The first create compiles; every later one finds the artifact.
curl -sf -XPUT -H "$basic" "$api/actions/add" --data-binary @"$tmp/action.json" >/dev/null
echo "--- first invocation of a newly created action (100 actions, curl time_total)"
for i in $(seq 100); do
  curl -sf -XPUT -H "$basic" "$api/actions/first$i" --data-binary @"$tmp/action.json" >/dev/null
  curl -sf -o /dev/null -w '%{time_total}\n' -XPOST -H "$basic" -H 'Content-Type: application/json' \
    "$api/actions/first$i?blocking=true&result=true" -d '{"param1":1,"param2":2}'
done | percentiles

echo "--- warm blocking invocations of add (result=true)"
"$load" --url "$api/actions/add?blocking=true&result=true" --header "$basic" --body '{"param1":1,"param2":2}' \
  --connections 1,32 --duration "$seconds" --warmup 1

echo "--- $actions deployed actions"
before=$(rss_kib "$server")
for i in $(seq "$actions"); do
  curl -sf -XPUT -H "$basic" "$api/actions/many$i" --data-binary @"$tmp/action.json" >/dev/null
done
echo "RSS before: $before KiB; with $actions more actions all warm: $(rss_kib "$server") KiB"
sleep 5  # keep-alive 3 s: every container is unloaded
echo "RSS after all were scaled to zero: $(rss_kib "$server") KiB"
curl -sf -o /dev/null -w 'a cold invocation after scale-to-zero: %{time_total}s\n' -XPOST -H "$basic" \
  "$api/actions/many1?blocking=true&result=true" -d '{"param1":1,"param2":2}'
