#include "cli/module_file.h"

#include "common/files.h"
#include "wasm/module_reader.h"

namespace wow::cli {

Result<std::vector<uint8_t>> ReadModuleFile(const std::string& path) {
  WOW_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  auto wasm =
      wasm::ToWasmBinary(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!wasm.ok()) return wasm.status().WithContext(path);
  return wasm;
}

}  // namespace wow::cli
