#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wow::wasm {

enum class ValType : uint8_t { kI32, kI64, kF32, kF64 };

// A Wasm function type, e.g. (i32, i32) -> i32.
struct FuncSig {
  std::vector<ValType> params;
  std::vector<ValType> results;

  bool operator==(const FuncSig&) const = default;
  // "(i32, i32) -> (i32)"
  std::string ToString() const;
};

enum class ExternKind : uint8_t { kFunc, kTable, kMemory, kGlobal, kTag };

const char* ExternKindName(ExternKind kind);

struct ImportDesc {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // for functions
};

struct ExportDesc {
  std::string name;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // for functions
};

// What a module declares, read from its binary. Engine-independent.
struct ModuleInfo {
  std::vector<ImportDesc> imports;
  std::vector<ExportDesc> exports;
  uint32_t initial_memory_pages = 0;  // of the (first) memory, 0 when none
  bool has_memory = false;

  const ExportDesc* FindExport(const std::string& name) const;
};

// Raw Wasm values are passed as 64-bit slots: i32 zero-extended, floats by bits.
using RawValue = uint64_t;

constexpr uint64_t kWasmPageSize = 65536;

}  // namespace wow::wasm
