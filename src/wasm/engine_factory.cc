#include "wasm/engine_factory.h"

#include <fmt/format.h>

#include "wasm/aot/aot_engine.h"
#include "wasm/interp/interp_engine.h"

namespace wow::wasm {

std::vector<std::string> AvailableEngines() { return {"aot", "interp"}; }

Result<std::unique_ptr<Engine>> CreateEngine(std::string_view name, const EngineOptions& options) {
  if (name == "aot") return aot::CreateAotEngine(options);
  if (name == "interp") return interp::CreateInterpEngine(options);
  std::string known;
  for (const auto& e : AvailableEngines()) known += (known.empty() ? "" : ", ") + e;
  return Status::InvalidArgument(fmt::format("unknown engine '{}' (available: {})", name, known));
}

}  // namespace wow::wasm
