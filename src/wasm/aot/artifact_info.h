#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "wasm/types.h"

namespace wow::wasm::aot {

// A module's description stored inside its artifact (as JSON text), so a
// cached artifact loads without decoding the module again.
std::string EncodeModuleInfo(const ModuleInfo& info);
Result<ModuleInfo> DecodeModuleInfo(std::string_view json);

}  // namespace wow::wasm::aot
