#pragma once

#include <memory>

#include "wasm/engine.h"

namespace wow::wasm::interp {

// The interpreter backend on libwabt's interpreter: no C compiler needed,
// and the reference engine in tests.
std::unique_ptr<Engine> CreateInterpEngine(const EngineOptions& options);

}  // namespace wow::wasm::interp
