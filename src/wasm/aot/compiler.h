#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::wasm::aot {

// Turns module bytes into a cached shared object: validate (libwabt),
// translate (wasm2c, in process), compile (the system C compiler). Artifacts
// live in <data_dir>/aot/<key>.so where key = sha256(module bytes, engine and
// glue version, compiler identity, flags). Thread-safe; concurrent requests
// for the same key in this process share one compile, and a lock file makes
// concurrent processes do the same.
//
// Limits: a module with more than EngineOptions::compile_max_items is refused
// before translation; the C compiler runs under compile_timeout and
// compile_memory_mb in a process group of its own, led by a small supervisor
// process forked from this one: when this process dies, even by SIGKILL, the
// kernel closes a pipe the supervisor watches and the supervisor kills the
// group, so no compiler (nor its cc1, as, ld) outlives it. (Not
// PR_SET_PDEATHSIG: it fires when the forking *thread* exits and reaches the
// direct child only.)
class Compiler {
 public:
  explicit Compiler(EngineOptions options);
  // Cancels (Cancel()) and returns once no compiler process of this object
  // is left running.
  ~Compiler();
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // The cache key for `wasm` (hex).
  std::string KeyFor(std::span<const uint8_t> wasm);
  std::filesystem::path ArtifactPath(const std::string& key) const;

  // Returns the artifact for `wasm`, compiling it unless cached.
  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm);

  // An artifact is cached when it and its digest file (<key>.so.sha256,
  // written by the compile before the artifact appears) both exist.
  static bool IsCached(const std::filesystem::path& artifact);
  // Checks the artifact before it is dlopen'ed: a regular file (no symlink)
  // of this user's, writable by no one else, whose SHA-256 is the one its
  // compile recorded. kIntegrity-style failures come back as kLinkError
  // naming what is wrong; the caller removes the artifact and compiles anew
  // (RemoveArtifact).
  static Status VerifyArtifact(const std::filesystem::path& artifact);
  static void RemoveArtifact(const std::filesystem::path& artifact);

  // True when `<cc> --version` exits 0 under the limits.
  bool Runs();

  // For shutting down: kills the process groups of the compiles in progress
  // (their Prepare calls fail with "cancelled") and makes every later compile
  // fail the same way at once. Artifacts already cached still load.
  // Thread-safe, idempotent, does not wait.
  void Cancel();

 private:
  struct ProcessResult {
    int exit_code = -1;  // 128 + signal number when killed by a signal
    std::string output;  // stdout + stderr
  };

  Result<PrepareInfo> CompileUncached(std::span<const uint8_t> wasm, const std::string& key);
  const std::string& CompilerIdentity();
  // Runs argv (argv[0] looked up in PATH) under the limits, output to `log`.
  Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::filesystem::path& log);

  EngineOptions options_;
  std::filesystem::path dir_;
  std::once_flag identity_once_;
  std::string identity_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<Result<PrepareInfo>>> in_flight_;
  // The supervisors (process group leaders) of the running compilers, kept
  // unreaped while listed so that their group ids cannot be reused.
  std::mutex children_mu_;
  std::condition_variable children_cv_;
  std::map<pid_t, bool> children_;  // supervisor -> being reaped (Cancel leaves it alone)
  bool cancelled_ = false;
};

}  // namespace wow::wasm::aot
