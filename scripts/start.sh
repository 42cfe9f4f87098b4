#!/usr/bin/env bash
# The main job: install, build, then start `wow serve` (the OpenWhisk-
# compatible platform) on its embedded defaults with the example actions
# deployed. Stop it with Ctrl-C (SIGINT) or SIGTERM.
#
#   WOW_LISTEN   address to listen on (default 127.0.0.1:3233)
#   WOW_DATA_DIR data directory: SQLite store, artifacts, credential (default .wow)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${WOW_BUILD_DIR:-build}
WOW="$BUILD_DIR/wow"
DATA_DIR=${WOW_DATA_DIR:-.wow}
LISTEN=${WOW_LISTEN:-127.0.0.1:3233}

out=$(mktemp)
"$WOW" serve --listen "$LISTEN" --data-dir "$DATA_DIR" >"$out" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM
for _ in $(seq 200); do
  [[ $(wc -l <"$out") -ge 2 ]] && break
  kill -0 "$server" 2>/dev/null || { echo "wow serve did not start" >&2; exit 1; }
  sleep 0.05
done
address=$(sed -n 1p "$out")
auth=$(sed -n 2p "$out" | awk '{print $NF}')
rm -f "$out"
echo "wow serve is listening on http://$address"
echo "  wsk property set --apihost http://$address --auth $auth"

# Deploy the examples (compiled at deploy time; later starts hit the cache).
client=(--apihost "http://$address" --auth "$auth")
for example in add hash prime echo clock random; do
  "$WOW" action update "$example" "$BUILD_DIR/examples/$example.wasm" "${client[@]}" >/dev/null
done
"$WOW" action update block "$BUILD_DIR/examples/block.wasm" -a net_access true "${client[@]}" >/dev/null
# The example's own default directory; no --allow-dir is given, so the action
# gets a private directory under $DATA_DIR/files that it sees at that path.
"$WOW" action update filesys "$BUILD_DIR/examples/filesys.wasm" -a dir /tmp/wow-filesys "${client[@]}" >/dev/null
echo "deployed: add hash prime echo clock random block filesys"
echo
echo "\$ wow action invoke add -p param1 2 -p param2 40 --result"
"$WOW" action invoke add -p param1 2 -p param2 40 --result "${client[@]}"
echo
echo "Serving until Ctrl-C. Try: $WOW action list ${client[*]}"
wait "$server"
