#pragma once

#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <span>
#include <string>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::wasm::aot {

// Turns module bytes into a cached shared object: validate (libwabt),
// translate (wasm2c, in process), compile (the system C compiler). Artifacts
// live in <data_dir>/aot/<key>.so where key = sha256(module bytes, engine and
// glue version, compiler identity, flags). Thread-safe; concurrent requests
// for the same key in this process share one compile, and a lock file makes
// concurrent processes do the same.
class Compiler {
 public:
  explicit Compiler(EngineOptions options);

  // The cache key for `wasm` (hex).
  std::string KeyFor(std::span<const uint8_t> wasm);
  std::filesystem::path ArtifactPath(const std::string& key) const;

  // Returns the artifact for `wasm`, compiling it unless cached.
  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm);

 private:
  Result<PrepareInfo> CompileUncached(std::span<const uint8_t> wasm, const std::string& key);
  const std::string& CompilerIdentity();

  EngineOptions options_;
  std::filesystem::path dir_;
  std::once_flag identity_once_;
  std::string identity_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<Result<PrepareInfo>>> in_flight_;
};

}  // namespace wow::wasm::aot
