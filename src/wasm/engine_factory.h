#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::wasm {

// The concrete backends compiled into this binary, "aot" first: "aot",
// "interp", and "jit" when SpiderMonkey was found. Engine-parametrised test
// suites run on each.
std::vector<std::string> AvailableEngines();

// What `--engine` and the `engine` action annotation accept: the backends
// and "tiered" (a fast engine at once, the AoT artifact once it is built).
std::vector<std::string> EngineChoices();

// The choices as "aot, interp, tiered", for messages and help texts.
std::string EngineChoicesText();

// What a node or command is for, which decides its default engine.
enum class EngineUse {
  kService,  // `wow serve`, `wow executor`, `wow proxy`: long-running
  kOneShot,  // `wow run`, `wow compile`: gain nothing from a background compile
};

// The engine used when none is named: when the C compiler options.cc runs,
// "tiered" for services and "aot" for one-shot commands; else "jit" when
// built, else "interp". Runs `<cc> --version` once per call.
std::string DefaultEngine(const EngineOptions& options, EngineUse use);

// How DefaultEngine chooses, for help texts.
std::string DefaultEngineRule(EngineUse use);

// Creates the engine called `name` (one of EngineChoices()); fails with
// kInvalidArgument naming the choices when there is no such engine. The only
// place that knows the concrete backends.
Result<std::unique_ptr<Engine>> CreateEngine(std::string_view name, const EngineOptions& options);

}  // namespace wow::wasm
