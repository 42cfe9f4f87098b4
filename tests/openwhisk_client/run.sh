#!/usr/bin/env bash
# End-to-end test of `wow serve` with the official OpenWhisk JavaScript client.
#
#   tests/openwhisk_client/run.sh BUILD_DIR [WORK_DIR]
#
# Installs the pinned `openwhisk` npm package (package-lock.json, `npm ci`)
# into WORK_DIR (default BUILD_DIR/tests/openwhisk_client), starts
# BUILD_DIR/wow serve on 127.0.0.1 port 0 with a temporary data directory,
# runs client_test.js against it and stops the server with SIGTERM (it must
# exit 0). Exits 77 (ctest's SKIP_RETURN_CODE) only when node or npm is
# missing; a failing npm install is a failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:?usage: run.sh BUILD_DIR [WORK_DIR]}" && pwd)"
work="${2:-$build/tests/openwhisk_client}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIPPED: $tool is not installed; the OpenWhisk client test needs Node.js 18+ and npm" >&2
    exit 77
  fi
done
for file in "$build/wow" "$build/examples/add.wasm" "$build/examples/echo.wasm"; do
  if [[ ! -e "$file" ]]; then
    echo "FAILED: $file was not built" >&2
    exit 1
  fi
done

# The client and its pinned dependencies, installed once per lock file.
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/client_test.js" "$work/"
if ! cmp -s "$here/package-lock.json" "$work/node_modules/.wow-installed-lock" 2>/dev/null; then
  echo "run.sh: npm ci in $work" >&2
  if ! (cd "$work" && npm ci --no-audit --no-fund); then
    echo "FAILED: npm ci could not install the openwhisk client" >&2
    exit 1
  fi
  cp "$here/package-lock.json" "$work/node_modules/.wow-installed-lock"
fi

data="$(mktemp -d "${TMPDIR:-/tmp}/wow-ow-client.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

# Compiled artifacts are cached by content: keep them across runs.
mkdir -p "$data/store" "$work/aot-cache"
ln -s "$work/aot-cache" "$data/store/aot"
"$build/wow" serve --listen 127.0.0.1:0 --data-dir "$data/store" >"$data/stdout" 2>"$data/stderr" &
pid=$!
for _ in $(seq 1 3000); do
  [[ "$(wc -l <"$data/stdout")" -ge 2 ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "FAILED: wow serve exited before printing its address" >&2
    cat "$data/stderr" >&2
    exit 1
  fi
  sleep 0.01
done
wsk_line="$(sed -n 2p "$data/stdout")"
if [[ ! "$wsk_line" =~ ^wsk\ property\ set\ --apihost\ (http://[^ ]+)\ --auth\ ([^ ]+:[^ ]+)$ ]]; then
  echo "FAILED: the second stdout line of wow serve is not 'wsk property set --apihost URL --auth UUID:KEY': '$wsk_line'" >&2
  cat "$data/stderr" >&2
  exit 1
fi
apihost="${BASH_REMATCH[1]}"
auth="${BASH_REMATCH[2]}"
echo "run.sh: wow serve at $apihost" >&2

status=0
(
  cd "$work"
  unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy PROXY proxy
  APIHOST="$apihost" AUTH="$auth" ADD_WASM="$build/examples/add.wasm" ECHO_WASM="$build/examples/echo.wasm" \
    node client_test.js
) || status=$?

kill -TERM "$pid"
serve_status=0
wait "$pid" || serve_status=$?
pid=""
if [[ $status -ne 0 ]]; then
  echo "--- wow serve stderr" >&2
  cat "$data/stderr" >&2
  exit 1
fi
if [[ $serve_status -ne 0 ]]; then
  echo "FAILED: wow serve exited $serve_status on SIGTERM" >&2
  cat "$data/stderr" >&2
  exit 1
fi
echo "run.sh: passed" >&2
