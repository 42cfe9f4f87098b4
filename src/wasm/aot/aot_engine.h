#pragma once

#include <memory>

#include "wasm/engine.h"

namespace wow::wasm::aot {

// The ahead-of-time engine: wasm2c + the system C compiler, artifacts loaded
// with dlopen, instances on our pooled runtime. See DESIGN.md.
std::unique_ptr<Engine> CreateAotEngine(const EngineOptions& options);

}  // namespace wow::wasm::aot
