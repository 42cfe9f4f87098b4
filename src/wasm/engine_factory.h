#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::wasm {

// Names of the engines compiled into this binary, default first ("aot").
std::vector<std::string> AvailableEngines();

// Creates the engine called `name`; fails with kInvalidArgument naming the
// known engines when there is no such engine. The only place that knows the
// concrete backends.
Result<std::unique_ptr<Engine>> CreateEngine(std::string_view name, const EngineOptions& options);

}  // namespace wow::wasm
