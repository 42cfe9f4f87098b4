#include "wasm/host_function.h"

#include <fmt/format.h>

namespace wow::wasm {

void HostFunctions::Add(HostFunction f) {
  for (auto& existing : functions_) {
    if (existing->module == f.module && existing->name == f.name) {
      existing = std::make_shared<const HostFunction>(std::move(f));
      return;
    }
  }
  functions_.push_back(std::make_shared<const HostFunction>(std::move(f)));
}

void HostFunctions::AddAll(const HostFunctions& other) {
  for (const auto& f : other.functions_) Add(*f);
}

const HostFunction* HostFunctions::Find(const std::string& module, const std::string& name) const {
  for (const auto& f : functions_) {
    if (f->module == module && f->name == name) return f.get();
  }
  return nullptr;
}

Result<std::vector<const HostFunction*>> HostFunctions::Resolve(const std::vector<ImportDesc>& imports) const {
  std::vector<const HostFunction*> resolved;
  resolved.reserve(imports.size());
  for (const ImportDesc& imp : imports) {
    const HostFunction* found = Find(imp.module, imp.name);
    if (found == nullptr) {
      return Status::Error(Code::kLinkError, Phase::kLinking,
                           fmt::format("the module imports {}.{} {}, which the host does not provide", imp.module,
                                       imp.name, imp.sig.ToString()));
    }
    if (!(found->sig == imp.sig)) {
      return Status::Error(Code::kLinkError, Phase::kLinking,
                           fmt::format("the module imports {}.{} as {}, but the host provides {}", imp.module, imp.name,
                                       imp.sig.ToString(), found->sig.ToString()));
    }
    resolved.push_back(found);
  }
  return resolved;
}

}  // namespace wow::wasm
