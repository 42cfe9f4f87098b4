#pragma once

// Generated Wasm actions of a chosen size, for tests and benchmarks that need
// a large module (tiering, deploy-to-first-result) without checking one in.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wow::wasm::testing {

// A valid WASI-command action (exports `_start` and `memory`, imports
// fd_read and fd_write from wasi_snapshot_preview1) of about `approx_bytes`
// bytes: functions are added until the size is reached, so it is at most one
// function (< 1 KB) larger, and never smaller than one function (~0.7-2 KB
// in all). Its code is many distinct generated functions doing 64-bit
// integer work (arithmetic, shifts, rotations, branches, selects, short
// loops), all called through a table from `_start`, so no compiler can drop
// any of them.
//
// The action reads its parameters on stdin, takes the first decimal number
// in them as n (0 when there is none: `{"n": 5}` gives 5) and prints
// `{"sum":S}` where S = GeneratedModuleSum(approx_bytes, seed, n), a
// checksum below 2^53 (exact in any JSON reader). Same arguments, same
// bytes. About 10 ms per MB.
std::vector<uint8_t> GenerateWasiModule(size_t approx_bytes, uint32_t seed);

// The "sum" that GenerateWasiModule(approx_bytes, seed) prints for n,
// computed natively.
uint64_t GeneratedModuleSum(size_t approx_bytes, uint32_t seed, uint64_t n);

// A module exporting `answer`, () -> i32, that returns 42 after `depth`
// nested empty blocks: for the structural limits on nesting (ModuleLimits).
// About 3 bytes per level; built without recursion.
std::vector<uint8_t> NestedBlocksModule(uint32_t depth);

// The same module as WebAssembly text: folded, `(block (block ...))`, or
// flat, `block block ... end end`.
std::string NestedBlocksText(uint32_t depth, bool folded);

}  // namespace wow::wasm::testing
