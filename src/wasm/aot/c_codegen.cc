#include "wasm/aot/c_codegen.h"

#include <set>

#include <fmt/format.h>

#include "wabt/apply-names.h"
#include "wabt/c-writer.h"
#include "wabt/generate-names.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wasm/aot/artifact_info.h"
#include "wasm/aot/glue_abi.h"

namespace wow::wasm::aot {
namespace {

constexpr char kModuleName[] = "m";

const char* CType(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return "u32";
    case wabt::Type::I64: return "u64";
    case wabt::Type::F32: return "f32";
    case wabt::Type::F64: return "f64";
    default: return nullptr;
  }
}

bool AllNumeric(const wabt::TypeVector& types) {
  for (auto t : types) {
    if (CType(t) == nullptr) return false;
  }
  return true;
}

// C expression converting raw slot `slot` to a value of type t.
std::string FromSlot(wabt::Type t, const std::string& slot) {
  switch (t) {
    case wabt::Type::I32: return fmt::format("(u32){}", slot);
    case wabt::Type::I64: return fmt::format("(u64){}", slot);
    case wabt::Type::F32: return fmt::format("wow_bits_to_f32({})", slot);
    case wabt::Type::F64: return fmt::format("wow_bits_to_f64({})", slot);
    default: return "0";
  }
}

// C expression converting value `expr` of type t to a raw slot.
std::string ToSlot(wabt::Type t, const std::string& expr) {
  switch (t) {
    case wabt::Type::I32: return fmt::format("(uint64_t)(u32)({})", expr);
    case wabt::Type::I64: return fmt::format("(uint64_t)({})", expr);
    case wabt::Type::F32: return fmt::format("wow_f32_to_bits({})", expr);
    case wabt::Type::F64: return fmt::format("wow_f64_to_bits({})", expr);
    default: return "0";
  }
}

char SigChar(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return 'i';
    case wabt::Type::I64: return 'I';
    case wabt::Type::F32: return 'f';
    case wabt::Type::F64: return 'F';
    default: return '?';
  }
}

// "params:results", e.g. "ii:i" for (i32, i32) -> i32. See glue_abi.h.
std::string SigString(const wabt::FuncSignature& sig) {
  std::string out;
  for (auto t : sig.param_types) out += SigChar(t);
  out += ':';
  for (auto t : sig.result_types) out += SigChar(t);
  return out;
}

// A C string literal for arbitrary bytes (each byte hex-escaped in its own
// literal so a following digit is never absorbed).
std::string CStringLiteral(std::string_view bytes) {
  if (bytes.empty()) return "\"\"";
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("\"\\x{:02x}\" ", c);
  return out;
}

constexpr char kGluePrelude[] = R"(
/* ---- wow glue (generated) ---- */
typedef struct {
  const char* name;
  const char* sig;
  void (*call)(void* instance, const uint64_t* args, uint64_t* results);
} wow_glue_export_t;

typedef struct {
  const char* module;
  const char* name;
  const char* sig;
} wow_glue_import_t;

typedef struct {
  uint32_t abi_version;
  uint32_t instance_size;
  void (*init_module)(void);
  void (*instantiate)(void* instance, void* host);
  void (*free_instance)(void* instance);
  wasm_rt_memory_t* (*memory)(void* instance);
  uint32_t num_exports;
  const wow_glue_export_t* exports;
  uint32_t num_imports;
  const wow_glue_import_t* imports;
  const char* module_info_json;
} wow_glue_module_t;

extern void wow_host_call(void* host, uint32_t index, const uint64_t* args, uint64_t* results);

static inline f32 wow_bits_to_f32(uint64_t bits) { u32 b = (u32)bits; f32 v; memcpy(&v, &b, 4); return v; }
static inline f64 wow_bits_to_f64(uint64_t bits) { f64 v; memcpy(&v, &bits, 8); return v; }
static inline uint64_t wow_f32_to_bits(f32 v) { u32 b; memcpy(&b, &v, 4); return b; }
static inline uint64_t wow_f64_to_bits(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }
)";

}  // namespace

std::string MangleName(std::string_view name) {
  std::string out = "Z_";
  for (unsigned char c : name) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if ((alnum && c != 'Z') || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("Z{:02X}", c);
    }
  }
  return out;
}

Result<GeneratedC> GenerateC(ParsedModule& parsed) {
  wabt::Module& m = *parsed.ir;
  const std::string mod = MangleName(kModuleName);  // "Z_m"

  // Only function imports are linked by the host.
  std::set<std::string> import_modules;
  for (const wabt::Import* imp : m.imports) {
    if (imp->kind() != wabt::ExternalKind::Func) {
      return Status::Error(Code::kUnsupported, Phase::kLinking,
                           fmt::format("import {}.{} is a {}; only function imports are supported",
                                       imp->module_name, imp->field_name,
                                       wabt::GetKindName(imp->kind())));
    }
    auto* fi = static_cast<const wabt::FuncImport*>(imp);
    const auto& sig = fi->func.decl.sig;
    if (sig.result_types.size() > 1 || !AllNumeric(sig.param_types) || !AllNumeric(sig.result_types)) {
      return Status::Error(Code::kUnsupported, Phase::kLinking,
                           fmt::format("import {}.{} has a signature the host cannot bind "
                                       "(multiple results or reference types)",
                                       imp->module_name, imp->field_name));
    }
    import_modules.insert(imp->module_name);
  }

  // The host must see the module's memory even when it is not exported
  // (HostCall::memory); export it under a name no one else uses.
  std::string hidden_memory_export;
  if (!m.memories.empty()) {
    bool exported = false;
    for (const wabt::Export* exp : m.exports) exported |= exp->kind == wabt::ExternalKind::Memory;
    if (!exported) {
      hidden_memory_export = "__wow_memory";
      while (m.GetExport(hidden_memory_export) != nullptr) hidden_memory_export += "_";
      auto field = std::make_unique<wabt::ExportModuleField>();
      field->export_.name = hidden_memory_export;
      field->export_.kind = wabt::ExternalKind::Memory;
      field->export_.var = wabt::Var(0, wabt::Location());
      m.AppendField(std::move(field));
    }
  }

  if (wabt::Failed(wabt::GenerateNames(&m)) || wabt::Failed(wabt::ApplyNames(&m))) {
    return Status::Error(Code::kInternal, Phase::kCompilation, "wabt could not name the module's items");
  }

  wabt::MemoryStream c_stream;
  wabt::MemoryStream h_stream;
  wabt::WriteCOptions options;
  options.module_name = kModuleName;
  if (wabt::Failed(wabt::WriteC(&c_stream, &h_stream, "module.h", &m, options))) {
    return Status::Error(Code::kCompileError, Phase::kCompilation, "wasm2c could not translate the module");
  }
  GeneratedC out;
  const auto& cbuf = c_stream.output_buffer().data;
  const auto& hbuf = h_stream.output_buffer().data;
  out.source.assign(cbuf.begin(), cbuf.end());
  out.header.assign(hbuf.begin(), hbuf.end());

  std::string glue = kGluePrelude;

  // Import trampolines: wasm2c declares them; we define them.
  uint32_t import_index = 0;
  for (const wabt::Import* imp : m.imports) {
    auto* fi = static_cast<const wabt::FuncImport*>(imp);
    const auto& sig = fi->func.decl.sig;
    std::string ret = sig.result_types.empty() ? "void" : CType(sig.result_types[0]);
    std::string params = fmt::format("struct {}_instance_t* host", MangleName(imp->module_name));
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      params += fmt::format(", {} a{}", CType(sig.param_types[i]), i);
    }
    glue += fmt::format("{} {}{}({}) {{\n", ret, MangleName(imp->module_name), MangleName(imp->field_name), params);
    glue += fmt::format("  uint64_t args[{}];\n  uint64_t results[1] = {{0}};\n", std::max<size_t>(1, sig.param_types.size()));
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      glue += fmt::format("  args[{}] = {};\n", i, ToSlot(sig.param_types[i], fmt::format("a{}", i)));
    }
    glue += fmt::format("  wow_host_call((void*)host, {}u, args, results);\n", import_index);
    if (!sig.result_types.empty()) glue += fmt::format("  return {};\n", FromSlot(sig.result_types[0], "results[0]"));
    glue += "}\n";
    ++import_index;
  }

  // Export trampolines for callable function exports.
  struct ExportEntry {
    std::string name, sig, trampoline;
  };
  std::vector<ExportEntry> export_entries;
  std::string memory_export;
  for (const wabt::Export* exp : m.exports) {
    if (exp->kind == wabt::ExternalKind::Memory) {
      if (memory_export.empty() || exp->name == "memory") memory_export = exp->name;
      continue;
    }
    if (exp->kind != wabt::ExternalKind::Func) continue;
    const wabt::Func* f = m.GetFunc(exp->var);
    if (f == nullptr) continue;
    const auto& sig = f->decl.sig;
    if (sig.result_types.size() > 1 || !AllNumeric(sig.param_types) || !AllNumeric(sig.result_types)) continue;
    std::string tramp = fmt::format("wow_export_{}", export_entries.size());
    std::string call = fmt::format("{}{}(({}_instance_t*)instance", mod, MangleName(exp->name), mod);
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      call += ", " + FromSlot(sig.param_types[i], fmt::format("args[{}]", i));
    }
    call += ")";
    glue += fmt::format("static void {}(void* instance, const uint64_t* args, uint64_t* results) {{\n", tramp);
    glue += "  (void)args; (void)results;\n";
    if (sig.result_types.empty()) {
      glue += fmt::format("  {};\n", call);
    } else {
      glue += fmt::format("  results[0] = {};\n", ToSlot(sig.result_types[0], call));
    }
    glue += "}\n";
    export_entries.push_back({exp->name, SigString(sig), tramp});
  }

  // Instantiate: every import module's instance pointer is the same host.
  std::string inst_args;
  for (size_t i = 0; i < import_modules.size(); ++i) inst_args += ", host";
  glue += fmt::format("static void wow_instantiate(void* instance, void* host) {{\n  (void)host;\n  {}_instantiate(({}_instance_t*)instance{});\n}}\n",
                      mod, mod, inst_args);
  glue += fmt::format("static void wow_free(void* instance) {{ {}_free(({}_instance_t*)instance); }}\n", mod, mod);
  if (!memory_export.empty()) {
    glue += fmt::format("static wasm_rt_memory_t* wow_memory(void* instance) {{ return {}{}(({}_instance_t*)instance); }}\n",
                        mod, MangleName(memory_export), mod);
  }

  glue += "static const wow_glue_export_t wow_exports[] = {\n";
  for (const auto& e : export_entries) {
    glue += fmt::format("  {{{}, \"{}\", {}}},\n", CStringLiteral(e.name), e.sig, e.trampoline);
  }
  glue += "  {0, 0, 0}\n};\n";
  glue += "static const wow_glue_import_t wow_imports[] = {\n";
  for (const wabt::Import* imp : m.imports) {
    auto* fi = static_cast<const wabt::FuncImport*>(imp);
    glue += fmt::format("  {{{}, {}, \"{}\"}},\n", CStringLiteral(imp->module_name), CStringLiteral(imp->field_name),
                        SigString(fi->func.decl.sig));
  }
  glue += "  {0, 0, 0}\n};\n";
  glue += fmt::format("static const char wow_module_info[] = {};\n", CStringLiteral(EncodeModuleInfo(parsed.info)));
  glue += fmt::format(
      "__attribute__((visibility(\"default\"))) const wow_glue_module_t wow_module_v1 = {{\n"
      "  {}u, (uint32_t)sizeof({}_instance_t), {}_init_module, wow_instantiate, wow_free, {},\n"
      "  {}u, wow_exports, {}u, wow_imports, wow_module_info\n}};\n",
      kGlueAbiVersion, mod, mod, memory_export.empty() ? "0" : "wow_memory", export_entries.size(), m.imports.size());

  out.source += glue;
  return out;
}

}  // namespace wow::wasm::aot
