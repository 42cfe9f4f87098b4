#!/bin/sh
# What wasm2c's force_read costs on an example action.
#   bench/experiments/force_read/run.sh <build dir> <example> '<params json>'
#   e.g. run.sh build-bench prime '{"n": 5000000}'
# Builds <example>.wasm through Debian's wasm2c twice, with the AoT engine's
# cc flags: as generated ("stock"), and with the force_read asm statement
# removed from the load macros ("no-force-read": NOT conforming, a dead
# out-of-bounds load would no longer trap; for measurement only). Runs both
# on the stock runtime and the native build, and prints CPU times.
set -eu
build=$1 example=$2 params=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/wow-force-read.XXXXXX)
trap 'rm -rf "$work"' EXIT
wasm2c -n m "$build/examples/$example.wasm" -o "$work/m.c"
sed 's/wasm_asm("" ::"r"(result));//' "$work/m.c" > "$work/m_nofr.c"
flags="-O2 -w -fno-strict-aliasing -fno-fast-math -ffp-contract=off -I/usr/src/wasm2c -I$work"
cc $flags -o "$work/stock" "$here/harness.c" "$work/m.c" -lwasm-rt-impl -lm
cc $flags -o "$work/nofr" "$here/harness.c" "$work/m_nofr.c" -lwasm-rt-impl -lm
printf '%s' "$params" > "$work/params.json"
for round in 1 2 3; do
  printf 'stock          '; "$work/stock" "$params" 8 | tail -1
  printf 'no-force-read  '; "$work/nofr" "$params" 8 | tail -1
  printf 'native         '
  perf stat -r 8 -x, -e task-clock sh -c "'$build/examples/native/$example' < '$work/params.json' > /dev/null" 2>&1 |
    awk -F, '/task-clock/ {printf "cpu mean %.1f ms (incl. sh + exec)\n", $1}'
done
