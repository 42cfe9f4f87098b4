#!/usr/bin/env bash
# Installs the Debian packages wow needs to build, test and benchmark.
# Idempotent: when every package is present it only checks and exits (no apt-get update).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-context1.81-dev
  wabt
  # The JIT engine (src/wasm/jit): SpiderMonkey 102.
  libmozjs-102-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev
  libssl-dev libsqlite3-dev libzip-dev
  clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32
  # Sanitizer and fuzz builds (scripts/sanitize.sh, TESTING.md): clang-16's ASan/UBSan/TSan runtimes and libFuzzer.
  libclang-rt-16-dev libfuzzer-16-dev
  # Rust guests in WOW's style (tests): rust-lld is lld-14, only recommended.
  rustc libstd-rust-dev-wasm32 lld-14
  # The paper's evaluation (bench/evaluation): the Docker baseline and the plots.
  docker.io gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
