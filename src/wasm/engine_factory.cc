#include "wasm/engine_factory.h"

#include <fmt/format.h>

#include "wasm/aot/aot_engine.h"
#include "wasm/interp/interp_engine.h"
#include "wasm/tiered/tiered_engine.h"
#ifdef WOW_HAVE_JIT
#include "wasm/jit/jit_engine.h"
#endif

namespace wow::wasm {
namespace {

#ifdef WOW_HAVE_JIT
constexpr char kFastEngine[] = "jit";
#else
constexpr char kFastEngine[] = "interp";
#endif

// The engine that serves while an AoT artifact compiles, or instead of it.
std::unique_ptr<Engine> CreateFastEngine(const EngineOptions& options) {
#ifdef WOW_HAVE_JIT
  return jit::CreateJitEngine(options);
#else
  return interp::CreateInterpEngine(options);
#endif
}

}  // namespace

std::vector<std::string> AvailableEngines() {
#ifdef WOW_HAVE_JIT
  return {"aot", "interp", "jit"};
#else
  return {"aot", "interp"};
#endif
}

std::vector<std::string> EngineChoices() {
  std::vector<std::string> choices = AvailableEngines();
  choices.push_back("tiered");
  return choices;
}

std::string EngineChoicesText() {
  std::string text;
  for (const auto& e : EngineChoices()) text += (text.empty() ? "" : ", ") + e;
  return text;
}

std::string DefaultEngine(const EngineOptions& options, EngineUse use) {
  if (!aot::CompilerRuns(options)) return kFastEngine;
  return use == EngineUse::kService ? "tiered" : "aot";
}

std::string DefaultEngineRule(EngineUse use) {
  return fmt::format("{} when the C compiler runs, else {}", use == EngineUse::kService ? "tiered" : "aot",
                     kFastEngine);
}

Result<std::unique_ptr<Engine>> CreateEngine(std::string_view name, const EngineOptions& options) {
  if (name == "aot") return aot::CreateAotEngine(options);
  if (name == "interp") return interp::CreateInterpEngine(options);
#ifdef WOW_HAVE_JIT
  if (name == "jit") return jit::CreateJitEngine(options);
#endif
  if (name == "tiered") {
    std::unique_ptr<Engine> fast = CreateFastEngine(options);
    return tiered::CreateTieredEngine(std::move(fast), aot::CreateAotEngine(options));
  }
  return Status::InvalidArgument(fmt::format("unknown engine '{}' (choices: {})", name, EngineChoicesText()));
}

}  // namespace wow::wasm
