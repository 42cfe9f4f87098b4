#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ from the test guests (tests/guests/*.wat, through wabt's wat2wasm).

Run from anywhere: python3 fuzz/make_seeds.py. The seeds are checked in; rerun after changing this script. Crash
inputs that were fixed are kept next to them as regression seeds (fuzz/corpus/<target>/crash-*), which this script
leaves alone.
"""
import base64
import io
import json
import pathlib
import subprocess
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUESTS = ROOT / "tests" / "guests"
CORPUS = ROOT / "fuzz" / "corpus"


def wasm_of(wat_path):
    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / "m.wasm"
        subprocess.run(["wat2wasm", str(wat_path), "-o", str(out)], check=True)
        return out.read_bytes()


def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 6, 0, 0, 0))  # fixed: the seeds stay byte-identical
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o40755 << 16) | 0x10 if name.endswith("/") else 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def requests(*reqs):
    """fuzz_util.h's text format: METHOD TARGET, auth line, body; requests separated by %% lines."""
    return "\n%%\n".join(f"{m} {t}\n{a}\n{b}" for m, t, a, b in reqs)


def main():
    wats = sorted(GUESTS.glob("*.wat"))
    binaries = {p.stem: wasm_of(p) for p in wats}
    cat = binaries["abi_wasi_cat"]
    cat_b64 = base64.b64encode(cat).decode()
    small_wat = '(module (memory (export "memory") 1) (func (export "_start")))'

    for stem, wasm in binaries.items():
        write("fuzz_module", stem + ".wasm", wasm)
    for p in wats:
        write("fuzz_wat", p.name, p.read_bytes())

    # fuzz_action_code: flags byte (1 binary, 2 small limits, 4 also base64 of the raw input), main line, code.
    write("fuzz_action_code", "base64_wasm", b"\x01\n" + cat_b64.encode())
    write("fuzz_action_code", "base64_wasm_lines", b"\x01main\n" + base64.encodebytes(cat))
    write("fuzz_action_code", "text", b"\x00\n" + small_wat.encode())
    write("fuzz_action_code", "text_is_base64", b"\x00\n" + cat_b64.encode())
    z = zip_of([("lib/", b""), ("README", b"hi"), ("main.wasm", cat), ("other.wasm", binaries["start"])])
    write("fuzz_action_code", "zip_main", b"\x01main.wasm\n" + base64.b64encode(z))
    write("fuzz_action_code", "zip_raw", b"\x04other.wasm\n" + z)
    write("fuzz_action_code", "zip_wat", b"\x05action.wat\n" + zip_of([("action.wat", small_wat.encode())]))
    write("fuzz_action_code", "zip_small_limits", b"\x07\n" + z)

    # fuzz_runtime_messages: selector byte (0 init, 1 run, 2 header checks), body.
    init = {"value": {"name": "a", "main": "main", "binary": True, "code": cat_b64, "env": {"A": "b"},
                      "annotations": {"dir": ["/data"], "net_access": True, "memory": 64, "engine": "interp"},
                      "limits": {"memory": 128, "timeout": 1000, "logs": 1}}}
    run = {"value": {"x": [1, 2.5, "s", None, {"y": True}]}, "namespace": "guest", "action_name": "/guest/a",
           "activation_id": "0123456789abcdef", "transaction_id": "t", "deadline": "1893456000000",
           "api_key": "k"}
    write("fuzz_runtime_messages", "init", b"\x00" + json.dumps(init).encode())
    write("fuzz_runtime_messages", "init_text", b"\x00" + json.dumps(
        {"value": {"main": "_start", "code": small_wat, "binary": False}}).encode())
    write("fuzz_runtime_messages", "init_empty", b"\x00{}")
    write("fuzz_runtime_messages", "run", b"\x01" + json.dumps(run).encode())
    write("fuzz_runtime_messages", "run_array", b"\x01" + json.dumps({"value": [1, 2], "deadline": "-1"}).encode())
    write("fuzz_runtime_messages", "header", b"\x02s3cret\n123")
    write("fuzz_runtime_messages", "header_big", b"\x02wrong\n99999999999999999999")

    # fuzz_executor_protocol: init, run, destroy on one container; auth line is the secret ("valid": the right one).
    init_body = json.dumps({"value": {"name": "cat", "main": "main", "binary": True, "code": cat_b64,
                                      "limits": {"timeout": 500}}})
    run_body = json.dumps({"value": {"hello": "world"}, "activation_id": "a1", "deadline": "1893456000000"})
    write("fuzz_executor_protocol", "init_run_destroy", requests(
        ("POST", "/c1/init", "valid", init_body), ("POST", "/c1/run", "valid", run_body),
        ("POST", "/c1/run", "valid", json.dumps({"value": [1]})), ("POST", "/c1/destroy", "valid", "")))
    write("fuzz_executor_protocol", "init_text", requests(
        ("POST", "/t/init", "valid", json.dumps({"value": {"main": "_start", "code": small_wat}})),
        ("POST", "/t/run", "valid", "{}")))
    write("fuzz_executor_protocol", "bad_secret", requests(("POST", "/c1/init", "wrong", init_body),
                                                           ("POST", "/c1/run", "none", run_body)))
    write("fuzz_executor_protocol", "bad_routes", requests(
        ("GET", "/", "valid", ""), ("POST", "/a b/init", "valid", ""), ("POST", "/x/y/z", "valid", "{}"),
        ("DELETE", "/c1/destroy", "valid", "")))
    write("fuzz_executor_protocol", "annotations", requests(("POST", "/d/init", "valid", json.dumps(
        {"value": {"main": "main", "binary": True, "code": cat_b64,
                   "annotations": {"dir": "/tmp/x", "engine": "aot", "memory": 1}}})),
        ("POST", "/d/run", "valid", run_body)))

    # fuzz_annotations: flags byte (1: limits.memory, 2: an owner with ".."), JSON annotations.
    for name, flags, ann in [
        ("object", 0, {"dir": ["/data", "/shared/inbox"], "net_access": True, "memory": 8, "engine": "interp"}),
        ("array", 1, [{"key": "dir", "value": "/x"}, {"key": "memory", "value": 512}, {"key": "exec"}]),
        ("traversal", 2, {"dir": ["/../etc", "/a/../../b", "//", "/shared/inbox/../../data"]}),
        ("engines", 0, {"engine": "aot"}),
        ("bad_types", 3, {"dir": 5, "net_access": "yes", "memory": -1, "engine": None}),
    ]:
        write("fuzz_annotations", name, bytes([flags]) + json.dumps(ann).encode())

    # fuzz_wasi: FuzzedDataProvider input: guest memory bytes from the front (paths the calls may point at), the
    # choices of functions and arguments from the back; the seeds give paths, the fuzzer finds the calls.
    paths = b"escape/victim\0../outside/victim\0file.txt\0abs\0dir/../../outside\0/etc/passwd\0escape\0"
    for i, tail in enumerate([bytes(range(64)), bytes(range(255, 0, -3)), b"\x00\x01" * 40, b"\xff" * 64]):
        write("fuzz_wasi", f"paths{i}", paths.ljust(160, b"\0") + tail)

    # fuzz_rest_api: auth line "valid", "other", "none" or a raw Authorization value.
    action = {"exec": {"kind": "wasm", "code": cat_b64, "binary": True, "main": "main"},
              "parameters": [{"key": "p", "value": 1}], "annotations": [{"key": "memory", "value": 32}],
              "limits": {"timeout": 500, "memory": 128, "logs": 1, "concurrency": 2}}
    write("fuzz_rest_api", "put_invoke_get", requests(
        ("PUT", "/api/v1/namespaces/_/actions/cat?overwrite=true", "valid", json.dumps(action)),
        ("POST", "/api/v1/namespaces/_/actions/cat?blocking=true&result=true", "valid", '{"a":"b"}'),
        ("GET", "/api/v1/namespaces/guest/actions/cat", "valid", ""),
        ("GET", "/api/v1/namespaces/_/activations?limit=2&docs=true", "valid", "")))
    write("fuzz_rest_api", "put_text_package", requests(
        ("PUT", "/api/v1/namespaces/_/actions/pkg/t?overwrite=true", "valid",
         json.dumps({"exec": {"kind": "wasm", "code": small_wat}})),
        ("POST", "/api/v1/namespaces/_/actions/pkg/t?blocking=true&timeout=50", "valid", ""),
        ("GET", "/api/v1/namespaces/_/actions?limit=5&skip=1", "valid", ""),
        ("DELETE", "/api/v1/namespaces/_/actions/pkg/t", "valid", "")))
    write("fuzz_rest_api", "auth", requests(
        ("GET", "/api/v1/namespaces", "none", ""), ("GET", "/api/v1/namespaces/guest/actions", "other", ""),
        ("GET", "/api/v1/namespaces", "Basic !!!!", ""), ("GET", "/api/v1", "none", "")))
    write("fuzz_rest_api", "activations", requests(
        ("POST", "/api/v1/namespaces/_/actions/cat", "valid", "{}"),
        ("GET", "/api/v1/namespaces/_/activations?name=cat&since=0&upto=99999999999999", "valid", ""),
        ("GET", "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef/logs", "valid", ""),
        ("GET", "/api/v1/namespaces/_/activations/x/result", "valid", "")))
    write("fuzz_rest_api", "others", requests(
        ("PUT", "/api/v1/namespaces/_/triggers/t", "valid", "{}"), ("GET", "/api/v1/namespaces/_/rules", "valid", ""),
        ("PATCH", "/api/v1/namespaces/_/actions/cat", "valid", ""), ("GET", "/x/%zz?a=%", "valid", "")))
    # The text fuzz_wat found wabt throwing on (TESTING.md), as an action's code through each face.
    bad_text = '(func (@x")\n'
    write("fuzz_rest_api", "wabt_throws", requests(
        ("PUT", "/api/v1/namespaces/_/actions/t?overwrite=true", "valid",
         json.dumps({"exec": {"kind": "wasm", "code": bad_text, "binary": False}})),
        ("GET", "/api/v1/namespaces/_/actions", "valid", "")))
    bad_segment = '(module (memory 1) (data 8 (i32.const 96) "x"))'  # wabt's binary writer asserted on it
    write("fuzz_rest_api", "wabt_asserts", requests(
        ("PUT", "/api/v1/namespaces/_/actions/a?overwrite=true", "valid",
         json.dumps({"exec": {"kind": "wasm", "code": bad_segment, "binary": False}}))))
    write("fuzz_executor_protocol", "wabt_asserts", requests(
        ("POST", "/a/init", "valid", json.dumps({"value": {"main": "main", "code": bad_segment}}))))
    write("fuzz_executor_protocol", "wabt_throws", requests(
        ("POST", "/w/init", "valid", json.dumps({"value": {"main": "main", "code": bad_text}})),
        ("POST", "/w/run", "valid", "{}")))
    write("fuzz_rest_api", "bad_put", requests(
        ("PUT", "/api/v1/namespaces/_/actions/bad", "valid",
         json.dumps({"exec": {"kind": "wasm", "code": "AGFzbQ==", "binary": "x"}, "limits": {"memory": 1e9}})),
        ("PUT", "/api/v1/namespaces/_/actions/-bad name", "valid", "[]"),
        ("PUT", "/api/v1/namespaces/_/actions/a/b/c", "valid", "{}")))

    # fuzz_differential: entropy for RandomModule (fixed pseudo-random bytes of several lengths), and the test
    # guests as raw modules (their traps, loops and tables; those importing WASI fail to link on every engine).
    import random
    for i, n in enumerate([64, 256, 1024, 2048, 4096, 8192, 16384, 30000]):
        write("fuzz_differential", f"entropy_{i}", random.Random(i).randbytes(n))
    for stem in ["divzero", "bad_indirect", "host_imports_in_tables", "isolation", "infinite_loop"]:
        if stem in binaries:
            write("fuzz_differential", stem + ".wasm", binaries[stem])


if __name__ == "__main__":
    main()
