// WebAssembly text (an action's code with binary=false, a .wat zip entry): the text limits (CheckTextLimits), wabt's
// parser behind them (WatToWasm), and the binary it produces through validation (ParseModule).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "wasm/module_limits.h"
#include "wasm/module_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  wow::wasm::ModuleLimits small;
  small.max_text_nesting_depth = 8;
  (void)wow::wasm::CheckTextLimits(text, small);
  auto wasm = wow::wasm::WatToWasm(text);
  if (wasm.ok()) {
    auto parsed = wow::wasm::ParseModule(std::span<const uint8_t>(wasm->data(), wasm->size()));
    if (parsed.ok()) (void)wow::wasm::CheckImportsBindable(*parsed);
  }
  return 0;
}
