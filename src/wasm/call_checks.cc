#include "wasm/call_checks.h"

#include <fmt/format.h>

namespace wow::wasm {

Status CheckCall(bool dead, std::string_view name, const FuncSig* sig, size_t args, size_t result_slots) {
  if (dead) {
    return Status::Error(Code::kInvalidArgument, Phase::kExecution,
                         "the instance trapped before and cannot be called again");
  }
  if (sig == nullptr) {
    return Status::Error(Code::kNotFound, Phase::kExecution,
                         fmt::format("the module exports no callable function '{}'", name));
  }
  if (args != sig->params.size() || result_slots < sig->results.size()) {
    return Status::Error(Code::kInvalidArgument, Phase::kExecution,
                         fmt::format("'{}' has type {} but was called with {} arguments", name, sig->ToString(), args));
  }
  return Status::Ok();
}

}  // namespace wow::wasm
