#include "wasm/types.h"

namespace wow::wasm {
namespace {

const char* ValTypeName(ValType t) {
  switch (t) {
    case ValType::kI32: return "i32";
    case ValType::kI64: return "i64";
    case ValType::kF32: return "f32";
    case ValType::kF64: return "f64";
  }
  return "?";
}

std::string TypeList(const std::vector<ValType>& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) {
    if (i) out += ", ";
    out += ValTypeName(types[i]);
  }
  return out + ")";
}

}  // namespace

std::string FuncSig::ToString() const { return TypeList(params) + " -> " + TypeList(results); }

const char* ExternKindName(ExternKind kind) {
  switch (kind) {
    case ExternKind::kFunc: return "function";
    case ExternKind::kTable: return "table";
    case ExternKind::kMemory: return "memory";
    case ExternKind::kGlobal: return "global";
    case ExternKind::kTag: return "tag";
  }
  return "?";
}

const ExportDesc* ModuleInfo::FindExport(const std::string& name) const {
  for (const auto& e : exports) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace wow::wasm
