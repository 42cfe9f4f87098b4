#!/usr/bin/env bash
# Checks the example actions by piping JSON parameters into them.
#
#   tests/examples_native_test.sh <build>/examples [<build>/wow]
#
# Always checks the native builds (<dir>/native/<name>, WASI-command protocol).
# Given the wow binary and the .wasm modules, runs the same checks on the
# modules through `wow run -P -` (parameters on stdin), plus the capability
# checks (--dir, --net): native and Wasm builds must agree. Exits non-zero on
# any failure.
set -u

dir=${1:?usage: examples_native_test.sh <build>/examples [<build>/wow]}
wow_bin=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

# check <label> <params> <want rc> <want result line | ~substring> <command...>
check() {
  local label=$1 params=$2 want_rc=$3 want=$4
  shift 4
  checks=$((checks + 1))
  printf '%s' "$params" | "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local got
  got=$(grep -v '^[[:space:]]*$' "$tmp/out" | tail -n 1)
  local ok=1
  [[ $rc == "$want_rc" ]] || ok=0
  if [[ $want == "~"* ]]; then
    [[ $got == *"${want#\~}"* ]] || ok=0
  else
    [[ $got == "$want" ]] || ok=0
  fi
  if ((ok == 0)); then
    failures=$((failures + 1))
    echo "FAIL $label: rc=$rc (want $want_rc) result=$got (want $want)"
    sed 's/^/  stderr: /' "$tmp/err" | head -5
  fi
}

# suite <kind> <runner prefix...>: the checks shared by native and wasm builds.
# "$@" followed by the action name runs that action.
suite() {
  local kind=$1
  shift
  local run=("$@")

  check "$kind add" '{"param1":2,"param2":40}' 0 '{"result":42}' "${run[@]}" add
  check "$kind add negative" '{"param1":-5,"param2":3}' 0 '{"result":-2}' "${run[@]}" add
  check "$kind add missing" '{"param1":1}' 1 "{\"error\":\"missing parameter 'param2'\"}" "${run[@]}" add
  check "$kind add type" '{"param1":"1","param2":2}' 1 \
    "{\"error\":\"parameter 'param1' must be an integer\"}" "${run[@]}" add
  check "$kind add overflow" '{"param1":9223372036854775807,"param2":1}' 1 '~overflows' "${run[@]}" add
  # wow refuses malformed parameters itself (a usage error, exit 2).
  local bad_params_rc=1 bad_params_result='{"error":"parameters are not a valid JSON object"}'
  [[ $kind == wasm ]] && bad_params_rc=2 bad_params_result=
  check "$kind add bad json" '{"param1":' $bad_params_rc "$bad_params_result" "${run[@]}" add

  check "$kind echo" $'{\n  "a": [1, "x y"],\n  "b": {"c": null}\n}\n' 0 \
    '{"a":[1,"x y"],"b":{"c":null}}' "${run[@]}" echo
  # wow run prints the action's stdout logs on its own stderr.
  local stdout_logs="$tmp/out"
  [[ $kind == wasm ]] && stdout_logs="$tmp/err"
  grep -q '^echo: [0-9]* bytes$' "$stdout_logs" || { failures=$((failures + 1)); echo "FAIL $kind echo: no stdout log"; }
  grep -q '^echo: ' "$tmp/err" || { failures=$((failures + 1)); echo "FAIL $kind echo: no stderr log"; }
  check "$kind echo empty" '' 0 '{}' "${run[@]}" echo
  # Native output is the action's own text; wow re-serialises it.
  local unicode='{"s":"\u00e9\ud83d\ude00"}'
  [[ $kind == wasm ]] && unicode='{"s":"é😀"}'
  check "$kind echo unicode" '{"s":"\u00e9\ud83d\ude00"}' 0 "$unicode" "${run[@]}" echo

  # SHA-256("abc") and SHA-256 applied three times.
  check "$kind hash 1" '{"input":"abc","iterations":1}' 0 \
    '{"digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","iterations":1}' \
    "${run[@]}" hash
  check "$kind hash 3" '{"input":"abc","iterations":3}' 0 \
    '{"digest":"f2a778f1a6ed3d5bc59a5d79104c598f3f07093f240ca4e91333fb09ed4f36da","iterations":3}' \
    "${run[@]}" hash
  check "$kind hash default" '{}' 0 '~"iterations":400000}' "${run[@]}" hash
  check "$kind hash zero" '{"iterations":0}' 1 '~between 1 and' "${run[@]}" hash

  check "$kind prime 1" '{"n":1}' 0 '{"n":1,"prime":2}' "${run[@]}" prime
  check "$kind prime 6" '{"n":6}' 0 '{"n":6,"prime":13}' "${run[@]}" prime
  check "$kind prime 10000" '{"n":10000}' 0 '{"n":10000,"prime":104729}' "${run[@]}" prime
  check "$kind prime default" '{}' 0 '{"n":1000000,"prime":15485863}' "${run[@]}" prime
  check "$kind prime zero" '{"n":0}' 1 '~between 1 and 50000000' "${run[@]}" prime
  check "$kind prime huge" '{"n":50000001}' 1 '~between 1 and 50000000' "${run[@]}" prime

  check "$kind clock" '{}' 0 '~"time_ns":' "${run[@]}" clock
  grep -Eq '"iso":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z"' "$tmp/out" ||
    { failures=$((failures + 1)); echo "FAIL $kind clock: bad iso time"; }
  check "$kind clock bad params" '[1]' $bad_params_rc "$bad_params_result" "${run[@]}" clock

  check "$kind random" '' 0 '~"value":' "${run[@]}" random
  grep -Eq '^\{"value":[0-9]+,"float":(0|0\.[0-9]+|[0-9.]+[eE]-[0-9]+)\}$' "$tmp/out" ||
    { failures=$((failures + 1)); echo "FAIL $kind random: bad output $(cat "$tmp/out")"; }
}

native() { "$dir/native/$1"; }

for name in add block clock echo filesys hash prime random; do
  [[ -x $dir/native/$name ]] || { echo "FAIL missing native build $dir/native/$name"; exit 1; }
done
suite native native

# Native-only behaviour: block sleeps instead of calling http.get.
start=$(date +%s%N)
check "native block" '{}' 0 '{"status":0}' native block
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
((elapsed_ms >= 290)) || { failures=$((failures + 1)); echo "FAIL native block: only ${elapsed_ms} ms"; }

check "native filesys" "{\"dir\":\"$tmp/fs\",\"content\":\"hi\\n\"}" 0 '~"bytes":3,"content":"hi\n"}' native filesys
[[ -z $(ls -A "$tmp/fs") ]] || { failures=$((failures + 1)); echo "FAIL native filesys: temp file left behind"; }
check "native filesys path" "{\"path\":\"$tmp/kept.txt\",\"content\":\"x\"}" 0 \
  "{\"path\":\"$tmp/kept.txt\",\"bytes\":1,\"content\":\"x\"}" native filesys
check "native filesys error" "{\"path\":\"$tmp/no/such/dir/f\"}" 1 '~No such file or directory' native filesys

if [[ -n $wow_bin && -x $wow_bin && -f $dir/add.wasm ]]; then
  wasm() {
    local name=$1
    shift
    "$wow_bin" run "$dir/$name.wasm" -P - --data-dir "$tmp/data" "$@"
  }
  suite wasm wasm

  check "wasm block net" '{}' 0 '{"status":0}' wasm block --net
  # Without --net, http.get is not linked: the module is refused at load.
  check "wasm block no net" '{}' 1 '' wasm block
  mkdir -p "$tmp/wfs"
  check "wasm filesys" "{\"dir\":\"$tmp/wfs\"}" 0 '~"bytes":25,"content":"Hello from a wow action.\n"}' \
    wasm filesys --dir "$tmp/wfs"
  [[ -z $(ls -A "$tmp/wfs") ]] || { failures=$((failures + 1)); echo "FAIL wasm filesys: temp file left behind"; }
  check "wasm filesys no capability" "{\"dir\":\"$tmp/wfs\"}" 1 '~Capabilities insufficient' wasm filesys
  for variant in hash_oz hash_o0; do
    check "wasm $variant" '{"input":"abc","iterations":3}' 0 \
      '{"digest":"f2a778f1a6ed3d5bc59a5d79104c598f3f07093f240ca4e91333fb09ed4f36da","iterations":3}' \
      wasm $variant
  done
else
  echo "note: the wow binary or the .wasm modules are missing; wasm checks skipped"
fi

echo "$checks checks, $failures failures"
((failures == 0))
