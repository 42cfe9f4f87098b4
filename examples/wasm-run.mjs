#!/usr/bin/env node
// Runs one action module outside wow, with Node's WASI, the way wow's host
// calls it, so actions can be tried and tested without the engine:
//
//   node --no-warnings examples/wasm-run.mjs [--dir DIR]... [--net] [--name NAME] \
//        module.wasm < params.json
//
// The ABI is detected from the exports as in wow: with
// `wasm_memory_buffer_allocate_space` it is the WOW ABI (parameters passed
// through the exported buffer, argv = [NAME, <length>], result read back from
// {"Ok":...}/{"Err":...}); otherwise the WASI-command ABI (parameters on the
// guest's stdin, result = last non-empty stdout line, which the guest prints
// itself). Guest stdout/stderr are this process's. For the WOW ABI the result
// is printed as the last stdout line (re-serialised by JSON.stringify).
// Exit status: 0 for a result; 1 for an error (WOW: Err or an object with an
// "error" key; WASI command: non-zero guest exit); 2 for a developer error
// (trap, missing capability, WOW guest exiting non-zero, malformed
// envelope); 64 for usage.
// --dir preopens DIR at the same path (the `dir` capability); --net links
// http.get, which blocks 300 ms and returns 0 (the `net_access` capability).
import fs from 'node:fs';
import { WASI } from 'node:wasi';

function usage(message) {
  if (message) console.error(`wasm-run: ${message}`);
  console.error('usage: wasm-run.mjs [--dir DIR]... [--net] [--name NAME] module.wasm < params.json');
  process.exit(64);
}

const preopens = {};
let net = false;
let name = null;
let file = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  if (a === '--dir' && i + 1 < args.length) preopens[args[++i]] = args[i];
  else if (a === '--net') net = true;
  else if (a === '--name' && i + 1 < args.length) name = args[++i];
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (file === null) file = a;
  else usage('more than one module given');
}
if (file === null) usage('no module given');
name ??= file.replace(/^.*\//, '').replace(/\.wasm$/, '');

function developerError(message) {
  console.error(`wasm-run: ${message}`);
  process.exit(2);
}

const module = await WebAssembly.compile(fs.readFileSync(file));
const exportNames = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
const wowAbi = exportNames.has('wasm_memory_buffer_allocate_space');

const imports = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'http' && imp.name === 'get') {
    if (!net) developerError('module imports http.get but --net (net_access) was not given');
    const cell = new Int32Array(new SharedArrayBuffer(4));
    imports.http = { get: () => (Atomics.wait(cell, 0, 0, 300), 0) };
  } else if (imp.module !== 'wasi_snapshot_preview1') {
    developerError(`unsupported import ${imp.module}.${imp.name}`);
  }
}

// The parameters: for the WOW ABI they go through the buffer; a WASI command
// reads them from stdin itself.
const params = wowAbi ? fs.readFileSync(0) : null;
const wasi = new WASI({
  version: 'preview1',
  args: wowAbi ? [name, String(params.length)] : [name],
  env: {},
  preopens,
  returnOnExit: true,
});
Object.assign(imports, wasi.getImportObject());
const instance = await WebAssembly.instantiate(module, imports);
const ex = instance.exports;

let exitCode;
try {
  if (!wowAbi) {
    exitCode = wasi.start(instance);
  } else {
    // wasi.start() sets up the guest memory before calling _start, so the
    // buffer is filled from inside a stand-in _start.
    exitCode = wasi.start({
      exports: {
        memory: ex.memory,
        _start() {
          ex.wasm_memory_buffer_allocate_space(params.length);
          const ptr = ex.get_wasm_memory_buffer_pointer() >>> 0;
          new Uint8Array(ex.memory.buffer, ptr, params.length).set(params);
          ex._start();
        },
      },
    });
  }
} catch (err) {
  developerError(`trap: ${err.message}`);
}
if (!wowAbi) {
  // The guest printed its own result line; a non-zero status marks an error.
  if (exitCode !== 0) console.error(`wasm-run: guest exited with status ${exitCode}`);
  process.exit(exitCode === 0 ? 0 : 1);
}
if (exitCode !== 0) developerError(`guest exited with status ${exitCode}`);

const ptr = ex.get_wasm_memory_buffer_pointer() >>> 0;
const len = ex.get_wasm_memory_buffer_len() >>> 0;
if (ptr + len > ex.memory.buffer.byteLength) developerError('result buffer out of bounds');
const text = Buffer.from(ex.memory.buffer, ptr, len).toString('utf8');
let envelope;
try {
  envelope = JSON.parse(text);
} catch {
  developerError(`result is not JSON: ${text.slice(0, 200)}`);
}
const ok = envelope !== null && typeof envelope === 'object' && 'Ok' in envelope;
const value = ok ? envelope.Ok : envelope?.Err;
if (value === undefined) developerError(`result is neither {"Ok":..} nor {"Err":..}: ${text.slice(0, 200)}`);
process.stdout.write(JSON.stringify(value) + '\n');
const appError = !ok || (value !== null && typeof value === 'object' && 'error' in value);
process.exitCode = appError ? 1 : 0;
