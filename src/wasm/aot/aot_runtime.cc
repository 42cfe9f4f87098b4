#include "wasm/aot/aot_runtime.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "common/worker_context.h"
#include "wasm-rt.h"
#include "wasm/aot/memory_pool.h"

namespace wow::wasm::aot {
namespace {

// Reasons a guest run unwinds, passed through siglongjmp.
enum Unwind : int {
  kUnwindNone = 0,
  kUnwindTrap = 1,      // ctx.trap says which
  kUnwindExit = 2,      // proc_exit
  kUnwindResource = 3,  // ctx.error says which
};

constexpr size_t kAltStackBytes = 64 * 1024;
// A host function needs this much native stack left; deeper guests trap
// instead of overflowing inside C++ code.
// Worker threads therefore need stacks well above this (1 MiB or more).
constexpr uintptr_t kHostStackReserve = 128 * 1024;

// After the deadline the timer fires again at this interval until the guest
// is stopped: a signal that lands while host code runs is not lost.
constexpr int64_t kTimeoutRefireNs = 2'000'000;

// Per-thread state. Plain data only: read from the signal handlers.
// With fibers, several guest runs share a thread; the run that is on the CPU
// owns jmp/ctx/stack_*/unwind_target (RunGuest sets them). They belong to the
// run, not the thread: a host call may suspend the run's fiber and the fiber
// may resume on another thread, so wow_host_call keeps them on the fiber's
// stack while the host function runs and installs them on whatever thread it
// returns on. The signal stack and the timer belong to the thread.
struct ThreadState {
  sigjmp_buf* jmp = nullptr;
  GuestContext* ctx = nullptr;
  volatile sig_atomic_t in_guest = 0;
  uintptr_t stack_lo = 0;  // lowest usable address of the stack the guest runs on
  uintptr_t stack_hi = 0;
  uintptr_t thread_stack_lo = 0;  // the thread's own stack
  uintptr_t thread_stack_hi = 0;
  void* alt_stack = nullptr;
  WASM_RT_UNWIND_TARGET* unwind_target = nullptr;
  // The deadline timer: one per thread, delivering TimeoutSignal() here.
  timer_t timer{};
  bool has_timer = false;
  volatile int64_t armed_deadline_ns = 0;  // 0: disarmed
  // Guest runs installed on this thread: begun or returned from a host call
  // here, and not finished or in a host call (so neither suspended fibers nor
  // fibers that moved on count: no thread's count drifts). While it is 0 the
  // timer is not needed here.
  volatile sig_atomic_t runs_active = 0;
};

thread_local ThreadState t_state;

// The calling thread's state: all access goes through here. GCC and Clang
// treat a thread_local's address as invariant within a function, so code that
// ran on a fiber that was suspended and resumed on another thread could use the
// first thread's state through an address kept in a register (or restored by
// siglongjmp from sigsetjmp time). Not inlined, and opaque to the optimiser
// (the asm), so each call computes the address on the thread it runs on; code
// after a point where its fiber may have been suspended (RunGuest after the
// guest returned or unwound, wow_host_call after the host function) calls it
// again instead of reusing a reference from before. Checked with objdump -d on
// the gcc RelWithDebInfo build: both call State() again after that point.
[[gnu::noinline]] ThreadState& State() {
  ThreadState* state = &t_state;
  asm volatile("" : "+r"(state));
  return *state;
}

// Frees the thread's signal stack when the thread exits.
struct AltStackOwner {
  ~AltStackOwner() {
    ThreadState& t = State();
    if (t.alt_stack == nullptr) return;
    stack_t disable{};
    disable.ss_flags = SS_DISABLE;
    sigaltstack(&disable, nullptr);
    ::munmap(t.alt_stack, kAltStackBytes + getpagesize());
    t.alt_stack = nullptr;
    if (t.has_timer) {
      t.has_timer = false;
      timer_delete(t.timer);
    }
  }
};
thread_local AltStackOwner t_alt_stack_owner;

// Gives the calling thread its signal stack and deadline timer, once; cheap
// when done. Every thread must have both before guest code runs on it: on
// RunGuest and whenever a guest resumes after a host call (possibly on a thread
// that never started a guest). Failure leaves alt_stack null.
void PrepareThread() {
  ThreadState& t = State();
  if (t.alt_stack != nullptr) return;
  (void)&t_alt_stack_owner;  // instantiate the thread_local for its destructor
  size_t page = static_cast<size_t>(getpagesize());
  void* mem =
      ::mmap(nullptr, kAltStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) return;
  ::mprotect(mem, page, PROT_NONE);  // guard below the signal stack
  stack_t ss{};
  ss.ss_sp = static_cast<uint8_t*>(mem) + page;
  ss.ss_size = kAltStackBytes;
  if (sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, kAltStackBytes + page);
    return;
  }
  t.alt_stack = mem;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    t.thread_stack_lo = reinterpret_cast<uintptr_t>(addr);
    t.thread_stack_hi = t.thread_stack_lo + size;
  }
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = TimeoutSignal();
  sev._sigev_un._tid = gettid();  // sigev_notify_thread_id needs _GNU_SOURCE-era headers
  t.has_timer = timer_create(CLOCK_MONOTONIC, &sev, &t.timer) == 0;
}

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Both are async-signal-safe (timer_settime is a plain syscall).
void ArmTimer(int64_t deadline_ns) {
  itimerspec spec{};
  spec.it_value.tv_sec = deadline_ns / 1'000'000'000;
  spec.it_value.tv_nsec = deadline_ns % 1'000'000'000;
  spec.it_interval.tv_nsec = kTimeoutRefireNs;
  ThreadState& t = State();
  timer_settime(t.timer, TIMER_ABSTIME, &spec, nullptr);
  t.armed_deadline_ns = deadline_ns;
}

void DisarmTimer() {
  itimerspec spec{};
  ThreadState& t = State();
  timer_settime(t.timer, 0, &spec, nullptr);
  t.armed_deadline_ns = 0;
}

// Makes sure the timer fires no later than `deadline_ns`. The timer is left
// armed when a run ends: the next activation's deadline is usually later, so
// steady traffic costs no timer syscall per activation; a stale expiry finds
// the next guest early and re-arms, or finds no guest and disarms.
void EnsureArmed(int64_t deadline_ns) {
  ThreadState& t = State();
  if (deadline_ns == 0 || !t.has_timer) return;
  int64_t armed = t.armed_deadline_ns;
  if (armed == 0 || armed > deadline_ns) ArmTimer(deadline_ns);
}

struct sigaction g_prev_segv;
struct sigaction g_prev_bus;

[[noreturn]] void UnwindTo(int reason) {
  ThreadState& t = State();
  t.in_guest = 0;
  siglongjmp(*t.jmp, reason);
}

void ChainToPrevious(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = sig == SIGBUS ? g_prev_bus : g_prev_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Not ours: crash as the process would have without us.
  signal(sig, SIG_DFL);
  raise(sig);
}

// A fault at most this far below the stack the guest runs on is stack
// exhaustion (a big frame may skip the guard page), and so is one in the
// lowest bytes of that stack (where a thread stack's guard may be counted).
constexpr uintptr_t kStackGuardBelow = 1u << 20;
constexpr uintptr_t kStackGuardAbove = 64 * 1024;

bool IsStackGuard(uintptr_t addr) {
  uintptr_t lo = State().stack_lo;
  if (lo == 0) return false;
  return addr + kStackGuardBelow >= lo && addr < lo + kStackGuardAbove;
}

// A fault in guest code is a guest trap only where guest code may fault by
// design: a linear-memory slot of the pool (incl. its guard region) or the
// stack guard. Anything else, even while in_guest is set, is a bug in the
// runtime or the generated code: it goes to the previous handler, or crashes
// with the default action (and a core) as it would without us.
void HandleFault(int sig, siginfo_t* info, void* uctx) {
  ThreadState& t = State();
  if (!t.in_guest || t.jmp == nullptr || t.ctx == nullptr) {
    ChainToPrevious(sig, info, uctx);
    return;
  }
  uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  TrapKind kind;
  if (MemoryPool::Instance().Contains(info->si_addr)) {
    kind = TrapKind::kOutOfBounds;
  } else if (IsStackGuard(addr)) {
    kind = TrapKind::kStackExhausted;
  } else {
    ChainToPrevious(sig, info, uctx);
    return;
  }
  t.ctx->trap = kind;
  UnwindTo(kUnwindTrap);
}

TrapKind FromWasmRtTrap(wasm_rt_trap_t code) {
  switch (code) {
    case WASM_RT_TRAP_OOB: return TrapKind::kOutOfBounds;
    case WASM_RT_TRAP_INT_OVERFLOW: return TrapKind::kIntegerOverflow;
    case WASM_RT_TRAP_DIV_BY_ZERO: return TrapKind::kDivideByZero;
    case WASM_RT_TRAP_INVALID_CONVERSION: return TrapKind::kInvalidConversion;
    case WASM_RT_TRAP_UNREACHABLE: return TrapKind::kUnreachable;
    case WASM_RT_TRAP_CALL_INDIRECT: return TrapKind::kIndirectCallMismatch;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return TrapKind::kUncaughtException;
    case WASM_RT_TRAP_EXHAUSTION: return TrapKind::kStackExhausted;
    default: return TrapKind::kHostError;
  }
}

// Called only from guest code (or the glue) on the guest's thread.
[[noreturn]] void ResourceError(std::string message) {
  ThreadState& t = State();
  if (t.ctx != nullptr) {
    t.ctx->error = std::move(message);
    t.ctx->resource_error = true;
  }
  if (t.jmp == nullptr) std::abort();  // generated code outside RunGuest: impossible
  UnwindTo(kUnwindResource);
}

void HandleTimeout(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  ThreadState& t = State();
  if (!t.has_timer) return;
  GuestContext* ctx = t.ctx;
  if (!t.in_guest || ctx == nullptr || t.jmp == nullptr) {
    // Host code: a waiting host call honours the deadline itself, and guest
    // code resuming after it checks the deadline or meets the next expiry.
    if (t.runs_active == 0) DisarmTimer();
    errno = saved_errno;
    return;
  }
  int64_t deadline = ctx->deadline_ns;
  if (deadline == 0) {
    DisarmTimer();
  } else if (MonotonicNs() < deadline) {
    ArmTimer(deadline);  // an earlier run's expiry
  } else {
    ctx->trap = TrapKind::kTimeout;
    UnwindTo(kUnwindTrap);
  }
  errno = saved_errno;
}

// Runtime code that guest code calls and that takes locks or allocates must
// not be unwound by the deadline signal: it runs as host code.
sig_atomic_t EnterRuntime() {
  ThreadState& t = State();
  sig_atomic_t was = t.in_guest;
  t.in_guest = 0;
  return was;
}
void LeaveRuntime(sig_atomic_t was) { State().in_guest = was; }

std::once_flag g_init_once;
bool g_initialized = false;

// The function-type registry shared by all modules and threads.
std::mutex g_types_mu;
// params..., then kTypeSeparator, results... As ints: the separator is no wasm_rt_type_t (casting -1 to that enum
// is undefined behaviour, which UBSan reported).
std::vector<std::vector<int>> g_types;
constexpr int kTypeSeparator = -1;

}  // namespace

void InitRuntime() {
  std::call_once(g_init_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = HandleFault;
    sigemptyset(&sa.sa_mask);
    // NODEFER: we leave the handler with siglongjmp and do not restore masks.
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    sigaction(SIGBUS, &sa, &g_prev_bus);
    struct sigaction timeout {};
    timeout.sa_sigaction = HandleTimeout;
    sigemptyset(&timeout.sa_mask);
    timeout.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
    sigaction(TimeoutSignal(), &timeout, nullptr);
    g_initialized = true;
  });
}

int TimeoutSignal() { return SIGRTMAX - 2; }

int GuestRunsOnThisThread() { return State().runs_active; }

Status RunGuest(GuestContext& ctx, void (*fn)(void*), void* arg) {
  PrepareThread();
  ThreadState& t = State();  // valid until the guest runs: it may leave this thread in a host call
  if (t.alt_stack == nullptr) {
    return Status::Error(Code::kResourceExhausted, Phase::kExecution, "cannot set up a signal stack for this thread");
  }
  // Save the enclosing run (a host function may, in theory, re-enter). These
  // live on the fiber's stack, so they follow the run to any thread.
  sigjmp_buf* prev_jmp = t.jmp;
  GuestContext* prev_ctx = t.ctx;
  uintptr_t prev_lo = t.stack_lo;
  uintptr_t prev_hi = t.stack_hi;
  StackRange fiber = CurrentFiberStack();
  t.stack_lo = fiber.empty() ? t.thread_stack_lo : fiber.lo;
  t.stack_hi = fiber.empty() ? t.thread_stack_hi : fiber.hi;
  sigjmp_buf jmp;
  t.jmp = &jmp;
  t.ctx = &ctx;
  t.runs_active = t.runs_active + 1;
  EnsureArmed(ctx.deadline_ns);
  int reason = sigsetjmp(jmp, 0);
  if (reason == kUnwindNone) {
    if (ctx.deadline_ns != 0 && MonotonicNs() >= ctx.deadline_ns) {
      ctx.trap = TrapKind::kTimeout;  // out of time before it began
      reason = kUnwindTrap;
    } else {
      State().in_guest = 1;
      fn(arg);
      State().in_guest = 0;  // fn may have returned on another thread
    }
  }
  // Here after fn returned or an unwind (with the registers of sigsetjmp
  // time), possibly on another thread than the one above: State() again.
  ThreadState& end = State();
  end.runs_active = end.runs_active - 1;
  end.jmp = prev_jmp;
  end.ctx = prev_ctx;
  end.stack_lo = prev_lo;
  end.stack_hi = prev_hi;
  // Host functions clear in_guest before they run anything that could nest.
  end.in_guest = 0;
  switch (reason) {
    case kUnwindNone: return Status::Ok();
    case kUnwindExit: return Status::Ok();
    case kUnwindResource: return Status::Error(Code::kResourceExhausted, Phase::kExecution, ctx.error);
    default: return Status::TrapOf(ctx.trap, ctx.error);
  }
}

namespace {

// Tables are per instance: plain heap arrays, charged to the instance's
// budget at sizeof(element) each (wasm_rt_funcref_t: 24 bytes).
template <typename Table>
void AllocateTable(Table* table, uint32_t elements, uint32_t max_elements) {
  using Elem = std::remove_pointer_t<decltype(table->data)>;
  GuestContext* ctx = State().ctx;
  if (ctx == nullptr) std::abort();  // generated code outside RunGuest: impossible
  std::string refused;  // moved out before unwinding: no destructor is skipped
  {
    Status charged = ctx->budget.ChargeInitialTable(elements, sizeof(Elem));
    if (!charged.ok()) refused = charged.message();
  }
  if (!refused.empty()) ResourceError(std::move(refused));
  table->data = static_cast<Elem*>(std::calloc(elements ? elements : 1, sizeof(Elem)));
  if (table->data == nullptr) ResourceError("out of memory for a table");
  table->size = elements;
  table->max_size = max_elements;
}

template <typename Table>
void FreeTable(Table* table) {
  std::free(table->data);
  table->data = nullptr;
  table->size = 0;
}

// table.grow: the module's maximum and kMaxTableElements refuse first, then
// the instance's memory limit (remembered as a limit hit).
template <typename Table, typename Elem>
uint32_t GrowTable(Table* table, uint32_t delta, Elem init) {
  uint32_t old = table->size;
  uint64_t want = uint64_t{old} + delta;
  if (want > table->max_size || want > kMaxTableElements) return UINT32_MAX;
  if (delta == 0) return old;
  GuestContext* ctx = State().ctx;
  uint64_t bytes = uint64_t{delta} * sizeof(Elem);
  if (ctx == nullptr || !ctx->budget.TryCharge(bytes)) return UINT32_MAX;
  auto* data = static_cast<Elem*>(std::realloc(table->data, want * sizeof(Elem)));
  if (data == nullptr) {
    ctx->budget.Release(bytes);
    return UINT32_MAX;
  }
  for (uint64_t i = old; i < want; ++i) data[i] = init;
  table->data = data;
  table->size = static_cast<uint32_t>(want);
  return old;
}

}  // namespace

}  // namespace wow::wasm::aot

using wow::wasm::aot::EnterRuntime;
using wow::wasm::aot::GuestContext;
using wow::wasm::aot::LeaveRuntime;
using wow::wasm::aot::MemoryPool;
using wow::wasm::aot::State;

extern "C" {

// Called by generated import trampolines: `host` is the GuestContext passed
// to instantiate, `index` the function-import index.
__attribute__((visibility("default"))) void wow_host_call(void* host, uint32_t index, const uint64_t* args,
                                                          uint64_t* results) {
  using wow::wasm::aot::State;
  using wow::wasm::aot::ThreadState;
  ThreadState& t = State();  // the thread the call came in on; the fiber may leave it in the host function
  // Only the code of the instance RunGuest runs calls its imports, so `host`
  // is t.ctx; anything else is a code generation bug (as wasm2c's
  // element segments were, see c_codegen.cc), stopped before `host` is read.
  if (host != t.ctx) {
    if (t.jmp == nullptr || t.ctx == nullptr) std::abort();  // guest code outside RunGuest: impossible
    t.in_guest = 0;
    t.ctx->trap = wow::TrapKind::kHostError;
    t.ctx->error = "an import was called with a bad instance pointer (a bug in wow's AoT code generation)";
    wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindTrap);
  }
  auto* ctx = static_cast<GuestContext*>(host);
  const wow::wasm::HostFunction* f = ctx->imports[index];
  // Keep C++ code off the last bit of the stack: a fault there is not a guest fault.
  uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (t.stack_lo != 0 && sp - t.stack_lo < wow::wasm::aot::kHostStackReserve) {
    ctx->trap = wow::TrapKind::kStackExhausted;
    wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindTrap);
  }
  t.in_guest = 0;
  // The host function may suspend this fiber while others run guests on this
  // thread, and the fiber may resume on another thread. The run's state
  // leaves the thread for the fiber's stack, and the thread no longer counts
  // the run, so nothing of it stays behind when the fiber moves on.
  sigjmp_buf* jmp = t.jmp;
  GuestContext* run_ctx = t.ctx;
  uintptr_t stack_lo = t.stack_lo;
  uintptr_t stack_hi = t.stack_hi;
  WASM_RT_UNWIND_TARGET* unwind_target = t.unwind_target;
  t.jmp = nullptr;
  t.ctx = nullptr;
  t.stack_lo = 0;
  t.stack_hi = 0;
  t.unwind_target = nullptr;
  t.runs_active = t.runs_active - 1;
  // The call runs in a nested scope so every C++ temporary is destroyed
  // before we may unwind past this frame.
  wow::wasm::HostAction action;
  {
    std::span<const uint64_t> a(args, f->sig.params.size());
    std::span<uint64_t> r(results, f->sig.results.size());
    action = f->fn(ctx->host_call, a, r);
  }
  // Possibly on another thread now: `t` may be the old thread's. Give this
  // one its signal stack and timer, and install the run's state here.
  wow::wasm::aot::PrepareThread();
  ThreadState& now = State();
  now.jmp = jmp;
  now.ctx = run_ctx;
  now.stack_lo = stack_lo;
  now.stack_hi = stack_hi;
  now.unwind_target = unwind_target;
  now.runs_active = now.runs_active + 1;
  if (now.alt_stack == nullptr) wow::wasm::aot::ResourceError("cannot set up a signal stack for this thread");
  switch (action) {
    case wow::wasm::HostAction::kContinue:
      if (ctx->deadline_ns != 0) {
        if (wow::wasm::aot::MonotonicNs() >= ctx->deadline_ns) {
          ctx->trap = wow::TrapKind::kTimeout;
          wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindTrap);
        }
        // Another fiber may have moved the timer past our deadline, or this
        // is another thread, whose timer knows nothing of it.
        wow::wasm::aot::EnsureArmed(ctx->deadline_ns);
      }
      State().in_guest = 1;
      return;
    case wow::wasm::HostAction::kExit:
      ctx->exited = true;
      ctx->exit_code = ctx->host_call.exit_code;
      wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindExit);
    case wow::wasm::HostAction::kTrap:
      ctx->trap = ctx->host_call.trap;
      ctx->error = ctx->host_call.trap_message;
      wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindTrap);
  }
}

void wasm_rt_init(void) { wow::wasm::aot::InitRuntime(); }
bool wasm_rt_is_initialized(void) { return wow::wasm::aot::g_initialized; }
void wasm_rt_free(void) {}

void wasm_rt_trap(wasm_rt_trap_t code) {
  wow::wasm::aot::ThreadState& t = State();
  if (t.jmp == nullptr || t.ctx == nullptr) std::abort();  // guest code outside RunGuest
  t.ctx->trap = wow::wasm::aot::FromWasmRtTrap(code);
  wow::wasm::aot::UnwindTo(wow::wasm::aot::kUnwindTrap);
}

const char* wasm_rt_strerror(wasm_rt_trap_t trap) { return wow::TrapKindMessage(wow::wasm::aot::FromWasmRtTrap(trap)); }

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  // Runs at artifact load, outside guest runs; guarded all the same.
  sig_atomic_t was = EnterRuntime();
  std::vector<int> sig;
  sig.reserve(params + results + 1);
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params; ++i) sig.push_back(va_arg(ap, int));  // wasm_rt_type_t, promoted
  sig.push_back(wow::wasm::aot::kTypeSeparator);
  for (uint32_t i = 0; i < results; ++i) sig.push_back(va_arg(ap, int));
  va_end(ap);
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lock(wow::wasm::aot::g_types_mu);
    auto& types = wow::wasm::aot::g_types;
    for (size_t i = 0; i < types.size() && id == 0; ++i) {
      if (types[i] == sig) id = static_cast<uint32_t>(i + 1);
    }
    if (id == 0) {
      types.push_back(std::move(sig));
      id = static_cast<uint32_t>(types.size());  // 0 stays "no type"
    }
  }
  LeaveRuntime(was);
  return id;
}

// Exception handling (the proposal is disabled at validation; these exist so
// every wasm-rt.h symbol resolves).
namespace {
thread_local uint32_t t_exception_tag = 0;
thread_local uint32_t t_exception_size = 0;
thread_local uint8_t t_exception[256];
std::atomic<uint32_t> g_next_tag{1};
}  // namespace

uint32_t wasm_rt_register_tag(uint32_t size) { return g_next_tag.fetch_add(1); }

void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) {
  if (size > sizeof(t_exception)) wow::wasm::aot::ResourceError("exception payload too large");
  t_exception_tag = tag;
  t_exception_size = size;
  if (size) std::memcpy(t_exception, values, size);
}

void wasm_rt_throw(void) {
  WASM_RT_UNWIND_TARGET* target = State().unwind_target;
  if (target != nullptr) siglongjmp(*target, 1);
  wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}

WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return State().unwind_target; }
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) { State().unwind_target = target; }
uint32_t wasm_rt_exception_tag(void) { return t_exception_tag; }
uint32_t wasm_rt_exception_size(void) { return t_exception_size; }
void* wasm_rt_exception(void) { return t_exception; }

void wasm_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  sig_atomic_t was = EnterRuntime();
  GuestContext* ctx = State().ctx;
  if (ctx == nullptr) std::abort();  // generated code outside RunGuest: impossible
  uint64_t bytes = uint64_t{initial_pages} * wow::wasm::kWasmPageSize;
  std::string refused;  // moved out before unwinding: no destructor is skipped
  {
    wow::Status charged = ctx->budget.ChargeInitialMemory(initial_pages);
    if (!charged.ok()) refused = charged.message();
  }
  if (!refused.empty()) wow::wasm::aot::ResourceError(std::move(refused));
  uint8_t* data = MemoryPool::Instance().Acquire(bytes);
  if (data == nullptr) wow::wasm::aot::ResourceError("no linear memory slot available (pool exhausted)");
  memory->data = data;
  memory->pages = initial_pages;
  memory->max_pages = max_pages;
  memory->size = static_cast<uint32_t>(bytes);  // ChargeInitialMemory refused 4 GiB
  LeaveRuntime(was);
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t delta) {
  uint32_t old_pages = memory->pages;
  uint64_t new_pages = uint64_t{old_pages} + delta;
  if (delta == 0) return old_pages;
  if (new_pages > memory->max_pages || new_pages > 65535) return UINT32_MAX;
  GuestContext* ctx = State().ctx;
  uint64_t new_bytes = new_pages * wow::wasm::kWasmPageSize;
  uint64_t added = new_bytes - memory->size;
  if (ctx == nullptr || !ctx->budget.TryCharge(added)) return UINT32_MAX;
  sig_atomic_t was = EnterRuntime();
  bool grown = MemoryPool::Instance().Grow(memory->data, memory->size, new_bytes);
  LeaveRuntime(was);
  if (!grown) {
    ctx->budget.Release(added);
    return UINT32_MAX;
  }
  memory->pages = static_cast<uint32_t>(new_pages);
  memory->size = static_cast<uint32_t>(new_bytes);
  return old_pages;
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) {
  if (memory->data == nullptr) return;
  sig_atomic_t was = EnterRuntime();
  MemoryPool::Instance().Release(memory->data, memory->size);
  LeaveRuntime(was);
  memory->data = nullptr;
  memory->size = 0;
  memory->pages = 0;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* table, uint32_t elements, uint32_t max_elements) {
  sig_atomic_t was = EnterRuntime();
  wow::wasm::aot::AllocateTable(table, elements, max_elements);
  LeaveRuntime(was);
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* table) {
  sig_atomic_t was = EnterRuntime();
  wow::wasm::aot::FreeTable(table);
  LeaveRuntime(was);
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t* table, uint32_t elements, uint32_t max_elements) {
  sig_atomic_t was = EnterRuntime();
  wow::wasm::aot::AllocateTable(table, elements, max_elements);
  LeaveRuntime(was);
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t* table) {
  sig_atomic_t was = EnterRuntime();
  wow::wasm::aot::FreeTable(table);
  LeaveRuntime(was);
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t* table, uint32_t delta, wasm_rt_funcref_t init) {
  sig_atomic_t was = EnterRuntime();
  uint32_t old = wow::wasm::aot::GrowTable(table, delta, init);
  LeaveRuntime(was);
  return old;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t* table, uint32_t delta, wasm_rt_externref_t init) {
  sig_atomic_t was = EnterRuntime();
  uint32_t old = wow::wasm::aot::GrowTable(table, delta, init);
  LeaveRuntime(was);
  return old;
}

}  // extern "C"
