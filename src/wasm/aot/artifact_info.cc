#include "wasm/aot/artifact_info.h"

#include <boost/json.hpp>

#include "common/json.h"

namespace wow::wasm::aot {
namespace {

std::string EncodeTypes(const std::vector<ValType>& types) {
  std::string out;
  for (ValType t : types) out += "iIfF"[static_cast<int>(t)];
  return out;
}

bool DecodeTypes(std::string_view text, std::vector<ValType>& out) {
  for (char c : text) {
    switch (c) {
      case 'i': out.push_back(ValType::kI32); break;
      case 'I': out.push_back(ValType::kI64); break;
      case 'f': out.push_back(ValType::kF32); break;
      case 'F': out.push_back(ValType::kF64); break;
      default: return false;
    }
  }
  return true;
}

boost::json::object EncodeSig(const FuncSig& sig) {
  return {{"params", EncodeTypes(sig.params)}, {"results", EncodeTypes(sig.results)}};
}

}  // namespace

std::string EncodeModuleInfo(const ModuleInfo& info) {
  boost::json::array imports;
  for (const auto& i : info.imports) {
    imports.push_back(boost::json::object{
        {"module", i.module}, {"name", i.name}, {"kind", static_cast<int>(i.kind)}, {"sig", EncodeSig(i.sig)}});
  }
  boost::json::array exports;
  for (const auto& e : info.exports) {
    exports.push_back(
        boost::json::object{{"name", e.name}, {"kind", static_cast<int>(e.kind)}, {"sig", EncodeSig(e.sig)}});
  }
  boost::json::object root{{"imports", std::move(imports)},
                           {"exports", std::move(exports)},
                           {"initial_memory_pages", info.initial_memory_pages},
                           {"has_memory", info.has_memory}};
  return ToJson(root);
}

Result<ModuleInfo> DecodeModuleInfo(std::string_view json) {
  auto corrupt = [] { return Status::Internal("the artifact's module description is corrupt"); };
  auto parsed = ParseJson(json);
  if (!parsed.ok() || !parsed->is_object()) return corrupt();
  try {
    const auto& root = parsed->as_object();
    ModuleInfo info;
    auto decode_sig = [&](const boost::json::value& v, FuncSig& sig) {
      const auto& o = v.as_object();
      return DecodeTypes(o.at("params").as_string(), sig.params) &&
             DecodeTypes(o.at("results").as_string(), sig.results);
    };
    for (const auto& v : root.at("imports").as_array()) {
      const auto& o = v.as_object();
      ImportDesc d;
      d.module = o.at("module").as_string();
      d.name = o.at("name").as_string();
      d.kind = static_cast<ExternKind>(o.at("kind").to_number<int>());
      if (!decode_sig(o.at("sig"), d.sig)) return corrupt();
      info.imports.push_back(std::move(d));
    }
    for (const auto& v : root.at("exports").as_array()) {
      const auto& o = v.as_object();
      ExportDesc d;
      d.name = o.at("name").as_string();
      d.kind = static_cast<ExternKind>(o.at("kind").to_number<int>());
      if (!decode_sig(o.at("sig"), d.sig)) return corrupt();
      info.exports.push_back(std::move(d));
    }
    info.initial_memory_pages = root.at("initial_memory_pages").to_number<uint32_t>();
    info.has_memory = root.at("has_memory").as_bool();
    return info;
  } catch (const std::exception&) {
    return corrupt();
  }
}

}  // namespace wow::wasm::aot
