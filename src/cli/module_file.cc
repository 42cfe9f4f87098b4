#include "cli/module_file.h"

#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
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

std::optional<std::vector<uint8_t>> ReadModuleOrReport(const std::string& path, const char* command, int* exit_code) {
  auto wasm = ReadModuleFile(path);
  if (wasm.ok()) return std::move(wasm).value();
  fmt::print(stderr, "wow {}: {}\n", command, wasm.status().ToString());
  *exit_code = wasm.status().code() == Code::kInvalidModule ? kExitFailed : kExitUsage;
  return std::nullopt;
}

}  // namespace wow::cli
