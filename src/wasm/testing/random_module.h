#pragma once

// Random valid Wasm modules for differential testing of the engines: every
// module is valid, terminates, and behaves the same on every correct engine,
// so any difference between engines is a bug in one of them.
//
// The module is chosen by `entropy` (libFuzzer's input, or bytes from a seeded
// PRNG): each byte is one decision; when the bytes run out every decision is
// the simplest choice, so generation always ends. Small changes to the bytes
// (libFuzzer's mutations) give small changes to the module.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace wow::wasm::testing {

// What every generated module looks like:
// - imports `env.observe: (i64) -> ()`, called with values the code computes
//   (the order of host calls is part of the behaviour compared);
// - one memory (1 initial page, a maximum of 1-4 pages or none) with a data
//   segment, a funcref table holding most functions (some slots null),
//   mutable globals of every numeric type;
// - 1 to kMaxFunctions functions of random signatures (params and at most one
//   result of i32/i64/f32/f64) exported as "f0", "f1", ..., whose bodies use
//   integer and float arithmetic (division and conversions that trap),
//   loads and stores (mostly in bounds, some not), read-modify-writes of one
//   address (which the AoT engine fuses), memory.grow/size/fill/copy,
//   blocks, loops, if/else, br_if, br_table, select, calls, call_indirect
//   (some with a wrong signature or a null slot), unreachable and return;
// - "dump", exported last, which stores every global into memory from
//   address 0, so that comparing memory also compares globals.
// Termination: a global fuel counter, decremented on every function entry and
// loop iteration, traps (unreachable) at 0; call depth is capped the same way
// below any engine's stack limit. NaN results of float arithmetic are
// canonicalised (Wasm leaves their bits to the engine), so results and memory
// are comparable bit for bit.
std::vector<uint8_t> RandomModule(std::span<const uint8_t> entropy);

// Entropy for RandomModule from a seed: `bytes` bytes of a fixed PRNG.
// The default is more than a module takes (they are below 30 KB).
std::vector<uint8_t> EntropyFromSeed(uint64_t seed, size_t bytes = 65536);

inline constexpr uint32_t kRandomModuleMaxFunctions = 8;
// Fuel (function entries plus loop iterations) of one instance.
inline constexpr int32_t kRandomModuleFuel = 20'000;
// Deepest call chain; far below every engine's stack (the AoT's 1 MiB-plus
// fiber stacks hold thousands of small frames).
inline constexpr int32_t kRandomModuleMaxCallDepth = 60;
// A deadline no generated module comes near (they take well under a second
// on every engine; a run of 10,000 on a loaded machine saw one pass 2 s).
inline constexpr std::chrono::milliseconds kRandomModuleDeadline{60'000};

}  // namespace wow::wasm::testing
