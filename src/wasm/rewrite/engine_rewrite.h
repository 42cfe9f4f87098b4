#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm/module_reader.h"

namespace wow::wasm::rewrite {

// A pass over a validated module for engines that cannot enforce wow's rules
// themselves (SpiderMonkey behind JS): it cannot cap one instance's memory
// below the module's own maximum, cannot time-limit a start function, and
// passes f32/f64 through JS numbers, which canonicalise NaNs and quiet f32
// signalling NaNs; nor can it count tables against that memory limit. The rewritten module gives the embedder the hooks to do
// what the AoT engine does natively (aot_runtime.cc, wasm_rt_grow_memory).
//
// Every added item is appended (functions, globals, types, exports), so each
// index of the original module keeps its meaning. Stateless and thread-safe.

struct RewriteOptions {
  // Add integer shims for f32/f64 at the host boundary (exports and imports).
  // Default true; engines that pass floats bit-exactly need not pay for them.
  bool float_shims = true;
  // Bytes the engine allocates per table element, charged against the limit
  // by every table.grow (and in the tables global's initial value). Defaults:
  // SpiderMonkey 102's (a funcref is a code pointer and an instance pointer;
  // an externref one GC pointer).
  uint64_t funcref_bytes = 16;
  uint64_t externref_bytes = 8;
};

// What RewriteForEngine produced, and the names the embedder must use.
struct RewrittenModule {
  std::vector<uint8_t> bytes;  // the rewritten binary; valid Wasm

  // Exported mutable i64 global: the limit in bytes on linear memory plus
  // tables (as MemoryBudget counts them), read as unsigned. The embedder sets
  // it after instantiation and before calling the start export. Initial value
  // 2^64-1 (no limit beyond Wasm's). Growing a memory to 65536 pages (4 GiB)
  // is refused regardless, as on the AoT engine. Empty when the module has
  // neither a memory nor a table.
  std::string limit_global;
  // Exported mutable i32 global, set to 1 when memory.grow or table.grow was
  // refused because of the limit: the grow would have succeeded under the
  // module's own maximum (memories capped at 65535 pages, tables at
  // kMaxTableElements, as in the AoT engine). Never reset by the module.
  // Empty when limit_global is.
  std::string hit_global;
  // The former start function, exported with type () -> (); the start section
  // is gone, so instantiation runs no guest code. Empty when there was none.
  std::string start_export;
  // The export name of the memory: the module's own export, or an added one.
  // Empty when the module has no memory.
  std::string memory_export;
  // With float_shims: for every exported function with f32/f64 params or
  // results, an added export of the same function with f32 -> i32 and
  // f64 -> i64 (the bits unchanged). Original export name -> shim name.
  // Imports with floats are retyped the same way: the host sees, and must be
  // bound with, the integer signature.
  std::map<std::string, std::string, std::less<>> integer_exports;
};

// Rewrites `wasm`, which is decoded and validated first (with the features
// every engine supports):
//  - every memory.grow and table.grow calls an appended function that
//    refuses a grow past the limit global (setting the hit global as
//    described above); table.grow also refuses past kMaxTableElements. The
//    table bytes are kept in an unexported i64 global, initially the tables'
//    declared minimum sizes times RewriteOptions' element sizes;
//  - the start section is removed and its function exported;
//  - an unexported memory is exported;
//  - with float_shims, the shims described in RewrittenModule.
// Added export names are __wow_limit, __wow_limit_hit, __wow_start,
// __wow_memory and __wow_i_<k> (k = index of the original export), each with
// '_' appended until it clashes with no other export.
// Errors: kInvalidModule for bytes that are not a valid module; kUnsupported
// for modules the pass cannot handle (several or 64-bit memories).
Result<RewrittenModule> RewriteForEngine(std::span<const uint8_t> wasm, const RewriteOptions& options = {});
// The same on a module the caller decoded already (ParseModule), saving a
// second decode; its IR is rewritten in place and must not be used after.
Result<RewrittenModule> RewriteForEngine(ParsedModule& parsed, const RewriteOptions& options = {});

}  // namespace wow::wasm::rewrite
