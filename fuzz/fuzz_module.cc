// Module validation and the structural limits (src/wasm/module_limits.h, module_reader.h): arbitrary bytes as a
// binary module, as every engine receives them. The limits pass must never read outside the bytes nor recurse; a
// module it passes goes on to wabt's reader and validator, as in ParseModule.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wasm/module_limits.h"
#include "wasm/module_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  wow::wasm::MeasureModule(bytes);
  // Tight limits too, so that every "exceeded" path (and its message) runs on small inputs.
  wow::wasm::ModuleLimits small;
  small.max_nesting_depth = 4;
  small.max_functions = 4;
  small.max_function_body_bytes = 64;
  small.max_locals = 8;
  small.max_params = 4;
  small.max_results = 2;
  small.max_types = 4;
  small.max_imports = 4;
  small.max_exports = 4;
  small.max_globals = 4;
  small.max_tables = 1;
  small.max_table_elements = 16;
  small.max_elem_segments = 2;
  small.max_data_segments = 2;
  (void)wow::wasm::CheckModuleLimits(bytes, small);
  auto parsed = wow::wasm::ParseModule(bytes);
  if (parsed.ok()) (void)wow::wasm::CheckImportsBindable(*parsed);
  return 0;
}
