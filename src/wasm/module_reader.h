#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "wabt/type.h"
#include "wasm/module_limits.h"
#include "wasm/types.h"

namespace wabt {
struct Module;
struct FuncSignature;
class Features;
}  // namespace wabt

namespace wow::wasm {

// True when `bytes` start with the Wasm binary magic "\0asm".
bool IsWasmBinary(std::span<const uint8_t> bytes);

// Converts WebAssembly text (.wat) to a binary module; a syntax error is
// kInvalidModule with the line and column. Text over `limits` (its size, its
// nesting: CheckTextLimits) is refused before wabt's parser sees it.
Result<std::vector<uint8_t>> WatToWasm(std::string_view text, std::string_view filename = "module.wat",
                                       const ModuleLimits& limits = {});

// Returns the module's binary: `bytes` when they are Wasm already, else the
// result of WatToWasm. Anything that is neither is kInvalidModule.
Result<std::vector<uint8_t>> ToWasmBinary(std::span<const uint8_t> bytes, const ModuleLimits& limits = {});

// A decoded and validated module (wabt IR) plus its engine-neutral summary.
struct ParsedModule {
  ParsedModule();
  ~ParsedModule();
  ParsedModule(ParsedModule&&) noexcept;
  ParsedModule& operator=(ParsedModule&&) noexcept;

  std::unique_ptr<wabt::Module> ir;
  ModuleInfo info;
};

// Decodes and validates a binary module with libwabt. A file that is not Wasm,
// Wasm over `limits` (CheckModuleLimits, run before wabt sees the bytes), or
// Wasm that fails validation, is kInvalidModule naming what is wrong. Every
// engine decodes modules here, so all refuse the same modules with the same
// message.
Result<ParsedModule> ParseModule(std::span<const uint8_t> wasm, const ModuleLimits& limits = {});

// The Wasm features every engine supports (SIMD and threads off), for
// engines that decode the binary again with libwabt.
wabt::Features SupportedFeatures();

// A numeric wabt type as ours; kUnsupported (validation) for reference types.
Result<ValType> ToValType(wabt::Type t);
// A function signature as ours; kUnsupported when it has reference types
// (such functions are fine inside a module but not callable from the host).
Result<FuncSig> ToFuncSig(const wabt::FuncSignature& sig);

// Refuses imports the host cannot bind, for every engine: anything but a
// function, or a function with several results or reference types, is
// kUnsupported naming the import.
Status CheckImportsBindable(const ParsedModule& parsed);

}  // namespace wow::wasm
