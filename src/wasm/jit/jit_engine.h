#pragma once

#include <memory>

#include "wasm/engine.h"

namespace wow::wasm::jit {

// The JIT backend on SpiderMonkey 102: modules compile in milliseconds
// (baseline tier at once, the optimizing tier in the background), so it
// serves while the AoT artifact is still compiling. Instances run on the
// engine's own JS threads; callers wait for them without holding a fiber
// worker (common/worker_context.h).
std::unique_ptr<Engine> CreateJitEngine(const EngineOptions& options);

}  // namespace wow::wasm::jit
