#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"
#include "wasm/types.h"

namespace wow::wasm {

// What every engine's Instance::Call checks before running guest code, with
// the same errors on every engine: a dead instance (kInvalidArgument), no
// callable export `name` (`sig` null: kNotFound), and arguments or result
// slots that do not fit `sig` (kInvalidArgument; the instance stays usable).
Status CheckCall(bool dead, std::string_view name, const FuncSig* sig, size_t args, size_t result_slots);

}  // namespace wow::wasm
