#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>

#include "wasm/engine.h"

namespace wow::wasm::aot {

// The ahead-of-time engine: wasm2c + the system C compiler, artifacts loaded
// with dlopen, instances on our pooled runtime. See DESIGN.md.
std::unique_ptr<Engine> CreateAotEngine(const EngineOptions& options);

// Where an AoT engine keeps the artifact of a module, and whether it is
// there already.
struct ArtifactLookup {
  std::filesystem::path path;  // <data_dir>/aot/<key>.so, unique per module and compiler setup
  bool cached = false;         // the artifact exists: Load will not compile
};

// A cache-only look-up: compiles nothing. Null when `engine` is not an AoT
// engine. Costs a sha256 of the bytes (and, once per engine, running the
// compiler's --version). Thread-safe.
std::optional<ArtifactLookup> LookUpArtifact(Engine& engine, std::span<const uint8_t> wasm);

// True when `<options.cc> --version` runs and exits 0 within
// options.compile_timeout (a hung compiler is killed).
bool CompilerRuns(const EngineOptions& options);

// For shutting down: kills the C compilers `engine` is running (their
// Prepare and Load calls fail) and makes its later compiles fail at once;
// cached artifacts still load. False when `engine` is not an AoT engine.
// Thread-safe; does not wait.
bool CancelCompiles(Engine& engine);

}  // namespace wow::wasm::aot
