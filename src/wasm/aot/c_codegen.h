#pragma once

#include <string>

#include "common/status.h"
#include "wasm/module_reader.h"

namespace wow::wasm::aot {

// The C translation of a module: wasm2c's source and header, plus our glue
// appended to the source (import trampolines into wow_host_call, export
// trampolines and the `wow_module_v1` descriptor the loader looks up).
struct GeneratedC {
  std::string source;  // includes "module.h"
  std::string header;  // must be written as module.h beside the source
};

// Version of the glue ABI between generated artifacts and the loader; part of
// the artifact cache key.
inline constexpr int kGlueAbiVersion = 2;

// wasm2c's C-name mangling (wabt 1.0.32): "Z_" then the name with every byte
// outside [A-Za-z0-9_] (and 'Z' itself) written as Z + two hex digits.
std::string MangleName(std::string_view name);

// Translates a validated module. Imports other than functions, and function
// imports with more than one result, are kUnsupported naming the import.
// Consumes `parsed.ir` (wabt's name passes rewrite it).
Result<GeneratedC> GenerateC(ParsedModule& parsed);

}  // namespace wow::wasm::aot
