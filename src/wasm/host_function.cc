#include "wasm/host_function.h"

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

}  // namespace wow::wasm
