#pragma once

#include <chrono>
#include <memory>

#include "wasm/engine.h"

namespace wow::wasm::tiered {

// Tiered start: a module is runnable as soon as the fast engine (the JIT, or
// the interpreter) has loaded it, while the AoT engine builds its artifact on
// a background thread; once the artifact is loaded, new instances run on it.
//
// - Load loads on `fast` and returns at once. If `aot` has the artifact
//   cached already, the module is AoT from its first instance. Otherwise the
//   AoT Prepare + Load is queued: one compile at a time in the process, at
//   low priority (TieredOptions::compile_nice), deduplicated by module
//   across modules and engines.
// - Instantiate uses the AoT module once it is published, else the fast one;
//   a running instance keeps its backend, so the switch fails or slows no
//   request. After the switch the fast module is released.
// - An AoT failure (no C compiler, a failed compile) is logged once per
//   module on stderr; the module stays on the fast tier, and later loads of
//   the same bytes do not try again.
// - Prepare validates on `fast`, reports `fast`'s PrepareInfo and queues the
//   AoT compile; with the artifact cached, it reports that instead.
// - Destroying the engine stops a compile in progress (its compiler
//   processes are killed) and waits for the background thread; modules
//   outlive it on the tier they have.
//
// Thread-safe. `aot` should be the AoT engine (aot::CreateAotEngine); any
// other engine works, without the cache look-up and compiler cancellation.
struct TieredOptions {
  // The background thread's nice value (Linux: per thread), inherited by the
  // C compiler. Higher leaves more CPU to activations when the node is busy,
  // and makes the switch later: under full load on other threads a nice-10
  // compile gets about a tenth of a core. Default 10.
  int compile_nice = 10;
};
std::unique_ptr<Engine> CreateTieredEngine(std::unique_ptr<Engine> fast, std::unique_ptr<Engine> aot,
                                           TieredOptions options = {});

// Test hook: waits until `module`, loaded by a tiered engine, instantiates on
// the AoT tier. True once it does; false after `timeout`, when its AoT
// compile failed, when its engine was destroyed first, or when `module` is
// not a tiered module.
bool WaitForAotTier(const Module& module, std::chrono::milliseconds timeout);

}  // namespace wow::wasm::tiered
