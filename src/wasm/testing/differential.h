#pragma once

// Differential testing of the engines: one module runs on each engine (every
// exported function called in export order with fixed arguments, on one
// instance, or a fresh one after a trap) and what each did is compared:
// whether it loaded, each call's results or trap (with a digest of memory at
// the trap), the values passed to the host (env.observe), and the final
// linear memory, bit for bit. Any difference is a bug in an engine (or in
// the AoT's C generation), since Wasm is deterministic apart from NaN bits.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::wasm::testing {

// What one engine did with one module.
struct EngineBehaviour {
  std::string engine;
  bool loaded = false;
  std::string load_error;          // when not loaded
  std::vector<std::string> calls;  // "f0() = i32:7", "f1(i64:1) trap: integer divide by zero"
  std::vector<uint64_t> observed;  // arguments of env.observe, in order
  std::vector<uint8_t> memory;     // final linear memory
  // A timeout or stack exhaustion stopped a call: engines may legitimately
  // differ there (speed, frame sizes), so nothing from that call on is compared.
  bool inconclusive = false;
};

// The first difference between two behaviours, "" when there is none.
// Results compare NaNs by being NaN (Wasm leaves NaN bits to the engine);
// everything else, memory included, compares bit for bit.
std::string FirstDifference(const EngineBehaviour& a, const EngineBehaviour& b);

struct DifferentialOptions {
  // Each instance's memory limit (memory.grow past it returns -1 on every
  // engine). Default 4 MiB.
  uint64_t memory_limit_bytes = 4ull << 20;
  // Each instance's deadline; a call that reaches it is inconclusive.
  // Default 10 s.
  std::chrono::milliseconds deadline{10'000};
};

struct DifferentialOutcome {
  bool valid = false;         // at least one engine loaded it
  bool inconclusive = false;  // some engine timed out or ran out of stack
  std::string divergence;     // "" when the engines agree
  std::vector<EngineBehaviour> behaviours;
};

class DifferentialRunner {
 public:
  // The engines to compare, by name (e.g. AvailableEngines()).
  static Result<std::unique_ptr<DifferentialRunner>> Create(const std::vector<std::string>& engines,
                                                            const EngineOptions& engine_options,
                                                            DifferentialOptions options = {});

  // Runs `wasm` on every engine and compares. Thread-safe. `deadline`
  // replaces the options' for this module (generated modules always finish,
  // so they get a long one: a loaded machine must not make them
  // inconclusive; mutants may loop forever and get a short one).
  DifferentialOutcome Run(std::span<const uint8_t> wasm,
                          std::optional<std::chrono::milliseconds> deadline = std::nullopt) const;

 private:
  DifferentialRunner(std::vector<std::unique_ptr<Engine>> engines, DifferentialOptions options);
  EngineBehaviour RunOn(Engine& engine, std::span<const uint8_t> wasm, std::chrono::milliseconds deadline) const;

  std::vector<std::unique_ptr<Engine>> engines_;
  DifferentialOptions options_;
};

// The arguments the runner passes to the `call`-th export (fixed edge values,
// so every engine sees the same).
std::vector<RawValue> DifferentialArgs(const FuncSig& sig, size_t call);

}  // namespace wow::wasm::testing
