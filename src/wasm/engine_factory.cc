#include "wasm/engine_factory.h"

#include <fmt/format.h>

#include "wasm/aot/aot_engine.h"

namespace wow::wasm {

std::vector<std::string> AvailableEngines() { return {"aot"}; }

Result<std::unique_ptr<Engine>> CreateEngine(std::string_view name, const EngineOptions& options) {
  if (name == "aot") return aot::CreateAotEngine(options);
  std::string known;
  for (const auto& e : AvailableEngines()) known += (known.empty() ? "" : ", ") + e;
  return Status::InvalidArgument(fmt::format("unknown engine '{}' (available: {})", name, known));
}

}  // namespace wow::wasm
