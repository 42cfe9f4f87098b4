#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "wasm/guest_memory.h"
#include "wasm/host_function.h"
#include "wasm/types.h"

namespace wow::wasm {

// Per-instance settings, fixed when the instance is created.
struct InstanceOptions {
  // Linear memory may not grow past this many bytes; memory.grow beyond it
  // returns -1 as Wasm specifies. A module whose initial memory is larger
  // fails to instantiate. 0 means no limit beyond Wasm's own (just under
  // 4 GiB: a memory of exactly 4 GiB is not supported). Default 256 MiB.
  uint64_t memory_limit_bytes = 256ull << 20;
  // Embedder state passed to host functions as HostCall::data.
  void* host_data = nullptr;
  // When set, calls stop with a TrapKind::kTimeout trap once steady_clock
  // passes it, also inside loops that make no calls (AoT: a per-thread timer
  // signal unwinds guest code only). Default: no deadline.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// One fresh, isolated instance of a Module: its own linear memory, globals and
// tables. Created per request and discarded afterwards. Not thread-safe: use
// from one thread at a time; may be destroyed on any thread.
class Instance {
 public:
  virtual ~Instance() = default;

  // Calls the exported function `name`. `args` and `results` are raw slots
  // matching the export's signature. A trap, a host error or proc_exit stops
  // the call: traps come back as Status with Code::kTrap and a TrapKind;
  // proc_exit returns OK and sets exit_code(). After a trap the instance
  // refuses further calls; after proc_exit it may still be called (e.g. to
  // read results out of its memory).
  virtual Status Call(std::string_view name, std::span<const RawValue> args, std::span<RawValue> results) = 0;

  // The code passed to proc_exit, if the guest called it.
  virtual std::optional<int> exit_code() const = 0;

  // The exported memory (or the module's only memory); null when none.
  virtual GuestMemory* memory() = 0;

  // True once memory.grow was refused because of memory_limit_bytes; lets
  // callers explain a later trap.
  virtual bool memory_limit_hit() const = 0;

  // The backend that runs this instance ("aot", "jit", "interp"): a tiered
  // module's instances name the tier that served them.
  virtual std::string_view engine_name() const = 0;
};

// A validated, compiled and linked module. Immutable and shared: safe to
// instantiate from many threads at once.
class Module {
 public:
  virtual ~Module() = default;
  virtual const ModuleInfo& info() const = 0;
  virtual Result<std::unique_ptr<Instance>> Instantiate(const InstanceOptions& options) const = 0;
};

// Engine-wide settings. Every option states its default.
struct EngineOptions {
  // Where compiled artifacts are cached. Default "./.wow".
  std::filesystem::path data_dir = ".wow";
  // C compiler for the AoT engine; default "cc".
  std::string cc = "cc";
  // Optimisation level passed as -O<level>; default "2".
  std::string opt_level = "2";
  // Wall-time limit of one C compiler run (one module, AoT engine). On expiry
  // the compiler and every process it started are killed and the compile
  // fails with a compile error; each compiler process also gets this (plus
  // 5 s) as its RLIMIT_CPU. Default 120 s: gcc -O2 takes ~55 s for a 1 MB
  // module on these machines.
  std::chrono::milliseconds compile_timeout{120'000};
  // Address-space limit (RLIMIT_AS) of each C compiler process (the driver,
  // cc1, as, ld, each on its own), in MiB; past it the compiler fails to
  // allocate and the compile fails with a compile error. Default 2048 (cc1
  // at -O2 peaks at ~520 MB resident for a 1 MB module).
  uint64_t compile_memory_mb = 2048;
  // Most functions, globals, types, tables, memories, tags and exports
  // (imported ones included) a module compiled by the AoT engine may have,
  // checked before translation: wasm2c's translation (in process, not under
  // the limits above) takes time growing with the square of their number
  // (100,000 empty functions: over an hour; 20,000: ~15-40 s here). Default
  // 20,000; the JIT and the interpreter are not limited by it.
  uint64_t compile_max_items = 20'000;
};

// Timings of the last Prepare, for the CLI and the records.
struct PrepareInfo {
  std::filesystem::path artifact;  // AoT: the shared object
  bool cache_hit = false;
  double compile_ms = 0;  // validation + translation + C compile
};

// A Wasm engine: turns module bytes into a Module. Thread-safe.
// Backends are created by CreateEngine (engine_factory.h) only.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;

  // Validates and compiles (or finds in the cache) without linking. Idempotent
  // and safe to call concurrently; concurrent calls for the same bytes do the
  // work once.
  virtual Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm) = 0;

  // Prepares if needed, then links the module's imports against `host`:
  // an import the host does not provide (or provides with another type)
  // fails with Code::kLinkError naming it.
  virtual Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t> wasm, const HostFunctions& host) = 0;
};

}  // namespace wow::wasm
