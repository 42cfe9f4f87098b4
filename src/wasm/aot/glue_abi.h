#pragma once

// The descriptor every AoT artifact exports as `wow_module_v1`. Shared (as
// text) with the generated glue in c_codegen.cc; keep the two in sync and
// bump kGlueAbiVersion on any change.

#include <cstdint>

#include "wasm-rt.h"

namespace wow::wasm::aot {

// Signatures are "params:results" with i=i32, I=i64, f=f32, F=f64.
struct GlueExport {
  const char* name;
  const char* sig;
  // Calls the export with raw 64-bit argument/result slots.
  void (*call)(void* instance, const uint64_t* args, uint64_t* results);
};

struct GlueImport {
  const char* module;
  const char* name;
  const char* sig;
};

struct GlueModule {
  uint32_t abi_version;
  uint32_t instance_size;
  void (*init_module)(void);
  // `host` is handed to every function import (wow_host_call's first arg).
  void (*instantiate)(void* instance, void* host);
  void (*free_instance)(void* instance);
  // The exported memory, or null when the module exports none.
  wasm_rt_memory_t* (*memory)(void* instance);
  uint32_t num_exports;
  const GlueExport* exports;
  uint32_t num_imports;
  const GlueImport* imports;     // function imports, in import order
  const char* module_info_json;  // the module's ModuleInfo, see artifact_info.h
};

}  // namespace wow::wasm::aot
