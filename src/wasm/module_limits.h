#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/status.h"
#include "wasm/memory_budget.h"

namespace wow::wasm {

// Structural limits on a module, checked on its raw bytes before any
// recursive pass (wabt's readers and writers, wasm2c, the JIT's rewrite pass,
// IR destructors all recurse once per nesting level). The spec bounds none of
// these; Wasmtime and V8 publish theirs (V8's wasm-limits.h), which the
// defaults follow where they exist. Nesting depth is ours: it is what keeps
// the recursive passes within a native stack (before this check, 20,000
// nested blocks crashed the AoT code generator, 50,000 the rewrite pass and
// 100,000 in text the text parser).
struct ModuleLimits {
  // Blocks, loops, ifs and trys open at once in one function body (or
  // constant expression). Default 1024: clang's wasm32 output of the project's
  // examples and test guests nests at most 31 deep (13 modules), and a
  // `switch` lowers to about one block per distinct case target, so a switch
  // of ~1,000 targets still fits; every engine is tested at the cap.
  uint32_t max_nesting_depth = 1024;
  // Functions, imported and defined together. Default 1,000,000 (V8, Wasmtime).
  uint32_t max_functions = 1'000'000;
  // Bytes of one function body. Default 7,654,321 (V8).
  uint32_t max_function_body_bytes = 7'654'321;
  // Locals a function body declares (parameters not counted). Default 50,000
  // (V8, Wasmtime).
  uint32_t max_locals = 50'000;
  // Parameters, and results, of one function type. Default 1,000 each (V8,
  // Wasmtime).
  uint32_t max_params = 1'000;
  uint32_t max_results = 1'000;
  // Entries of the type section. Default 1,000,000 (V8, Wasmtime).
  uint32_t max_types = 1'000'000;
  // Imports and exports. Default 100,000 each (V8).
  uint32_t max_imports = 100'000;
  uint32_t max_exports = 100'000;
  // Globals, imported and defined. Default 1,000,000 (V8, Wasmtime).
  uint32_t max_globals = 1'000'000;
  // Tables, imported and defined. Default 100 (Wasmtime).
  uint32_t max_tables = 100;
  // A table's initial size, and the entries of one element segment. Default
  // kMaxTableElements (10,000,000, V8's and Wasmtime's), the cap table.grow
  // obeys on every engine too: a declared table is refused here, at deploy,
  // rather than at every instantiation. The bytes a table takes count against
  // the instance's memory limit (MemoryBudget).
  uint32_t max_table_elements = kMaxTableElements;
  // Element segments, and data segments (also the data count section's
  // value). Default 100,000 each (V8, Wasmtime). A data segment's size is
  // bounded by the module's own size.
  uint32_t max_elem_segments = 100'000;
  uint32_t max_data_segments = 100'000;

  // WebAssembly text, checked before wabt's text parser (which recurses per
  // nesting level): parentheses open at once plus unfolded blocks open at
  // once (`block ... end`). Default 4096, above max_nesting_depth so that text
  // that nests too deep in blocks is refused with the binary check's message
  // naming the function; folded instructions need a few levels more than
  // the blocks they hold.
  uint32_t max_text_nesting_depth = 4096;
  // Bytes of WebAssembly text. Default 64 MiB (the parser's memory is a
  // multiple of the text's size), as CodeLimits::max_module_bytes for binaries.
  size_t max_text_bytes = 64ull << 20;
};

// Checks `wasm` against `limits` in one linear, iterative pass over its bytes
// (no recursion; never reads outside `wasm`). A limit exceeded is
// kInvalidModule (phase kValidation) naming the limit, the value and where,
// e.g. "function 3 nests blocks 20000 deep; at most 1024 are allowed".
// Bytes it cannot decode are not an error here: the pass skips to the next
// function body or section it can frame, and stops at a section it cannot
// frame, leaving the module's validator to report what is malformed (wabt
// reads sections in order and stops at the first error, so it never gets
// past what this pass could not check). Thread-safe.
Status CheckModuleLimits(std::span<const uint8_t> wasm, const ModuleLimits& limits = {});

// The same for WebAssembly text, before any parsing: its size and its
// nesting depth (parentheses and `block`/`loop`/`if`/`try` ... `end`),
// skipping comments and strings. kInvalidModule (phase kLoading) naming the
// limit, the value and the line. Custom annotations ("(@name ...)", a
// proposal wow does not enable) are refused here too, with their line: wabt's
// parser throws on some malformed ones. Linear, iterative; thread-safe.
Status CheckTextLimits(std::string_view text, const ModuleLimits& limits = {});

// What the binary pass measured, for tests and diagnostics.
struct ModuleShape {
  uint32_t max_nesting_depth = 0;  // deepest nesting in any function body
  uint64_t functions = 0;          // imported + defined
  uint64_t bodies = 0;             // code section entries
  // Every section framed and every function body decoded to its final `end`
  // exactly at its declared size (false for malformed bytes, or opcodes the
  // pass does not know).
  bool fully_decoded = false;
};
// Measures `wasm` with the same pass, checking no limit.
ModuleShape MeasureModule(std::span<const uint8_t> wasm);

}  // namespace wow::wasm
