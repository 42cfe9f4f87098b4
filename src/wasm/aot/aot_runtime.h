#pragma once

// Our implementation of wabt's wasm-rt.h runtime interface for wasm2c code,
// fit for a multi-threaded server (the stock libwasm-rt-impl.a is not: see
// DESIGN.md). The C entry points (wasm_rt_*, wow_host_call) are defined in
// aot_runtime.cc; this header is the C++ side used by the AoT engine.

#include <csetjmp>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "wasm/host_function.h"
#include "wasm/memory_budget.h"

namespace wow::wasm::aot {

// The per-instance state the runtime needs while guest code runs; the AoT
// instance derives from it. Owned by the engine's Instance.
struct GuestContext {
  // Linear memory and tables against the instance's memory limit.
  MemoryBudget budget;
  // CLOCK_MONOTONIC nanoseconds after which guest code stops with
  // TrapKind::kTimeout, also inside loops without calls; 0 = no deadline.
  int64_t deadline_ns = 0;
  // Host functions in the module's function-import order, resolved at load.
  const HostFunction* const* imports = nullptr;
  HostCall host_call;
  // Why the last guest run stopped (set before unwinding).
  TrapKind trap = TrapKind::kNone;
  std::string error;    // extra detail for traps and host errors
  bool exited = false;  // proc_exit
  int exit_code = 0;
  bool resource_error = false;  // e.g. initial memory above the limit
};

// Installs the signal handlers (once per process). Thread-safe.
void InitRuntime();

// The real-time signal that stops guest code at its deadline: each thread
// that runs guests owns a POSIX timer delivering it to that thread only.
int TimeoutSignal();

// Runs `fn(arg)` as guest code on the calling thread: traps, stack exhaustion,
// host-requested exits, out-of-bounds faults and the deadline unwind back here.
// Runs on the current fiber's stack when a scheduler set one
// (common/worker_context.h); a host function may suspend the fiber, and the
// fiber may resume on another thread (that thread's CurrentFiberStack() set as
// on the first): the run's trap target, stack bounds and deadline go with it,
// and that thread gets its signal stack and timer on the way back into guest
// code. Returns OK when `fn` returned or the guest called proc_exit (see
// ctx.exited). `fn` must be generated code or the glue around it: no C++
// frames with destructors may sit between here and a trap.
Status RunGuest(GuestContext& ctx, void (*fn)(void*), void* arg);

// Guest runs whose state is installed on the calling thread: in guest or
// runtime code here, not inside a host call (a run suspended there counts on
// no thread until it returns, wherever that is). 0 on a thread between
// activations. For tests.
int GuestRunsOnThisThread();

}  // namespace wow::wasm::aot
