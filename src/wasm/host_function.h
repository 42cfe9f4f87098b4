#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm/guest_memory.h"
#include "wasm/types.h"

namespace wow::wasm {

// What a host function tells the engine after it returns.
enum class HostAction : uint8_t {
  kContinue,  // results are written; resume the guest
  kExit,      // the guest called proc_exit: unwind out of guest code
  kTrap,      // unrecoverable host error: unwind with TrapKind::kHostError
};

// Per-call view handed to a host function. `memory` is null when the module
// has no memory. `data` is the embedder's per-instance state (e.g. the WASI
// context), set in InstanceOptions; host functions cast it to what they
// registered for.
struct HostCall {
  GuestMemory* memory = nullptr;
  void* data = nullptr;
  // For kExit: the exit code. For kTrap: a message and the trap's kind
  // (kTimeout when a wait was cut short by the activation's deadline).
  int exit_code = 0;
  std::string trap_message;
  TrapKind trap = TrapKind::kHostError;
};

// A host function, written once for every engine: raw 64-bit argument and
// result slots (see RawValue). Must not throw and must not unwind.
using HostFn = std::function<HostAction(HostCall& call, std::span<const RawValue> args, std::span<RawValue> results)>;

struct HostFunction {
  std::string module;
  std::string name;
  FuncSig sig;
  HostFn fn;
};

// A set of host functions a module may import. Immutable once shared with
// an engine; thread-safe to read.
class HostFunctions {
 public:
  void Add(HostFunction f);
  // Adds every function of `other`; later additions win on name clashes.
  void AddAll(const HostFunctions& other);
  const HostFunction* Find(const std::string& module, const std::string& name) const;
  // Binds a module's function imports, in order, for every engine: an import
  // the set lacks, or has with another type, is kLinkError naming it. The
  // pointers stay valid while this set (or a copy of it) lives.
  Result<std::vector<const HostFunction*>> Resolve(const std::vector<ImportDesc>& imports) const;
  const std::vector<std::shared_ptr<const HostFunction>>& all() const { return functions_; }

 private:
  std::vector<std::shared_ptr<const HostFunction>> functions_;
};

}  // namespace wow::wasm
