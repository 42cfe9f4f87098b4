// The AoT runtime's fault handling: which faults in guest code are guest traps.
#include "wasm/aot/aot_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "common/worker_context.h"
#include "wasm-rt.h"
#include "wasm/aot/memory_pool.h"
#include "wasm/host_function.h"
#include "wasm/types.h"

extern "C" void wow_host_call(void* host, uint32_t index, const uint64_t* args, uint64_t* results);

namespace wow::wasm::aot {
namespace {

// "Guest code" that writes to *arg: what a runtime bug looks like when the
// address is not guest memory.
void WriteTo(void* arg) { *static_cast<volatile uint8_t*>(arg) = 1; }

// A page outside every pool reservation that faults when written.
uint8_t* ProtectedPage() {
  void* page = ::mmap(nullptr, static_cast<size_t>(getpagesize()), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(page, MAP_FAILED);
  return page == MAP_FAILED ? nullptr : static_cast<uint8_t*>(page);
}

TEST(AotRuntimeTest, FaultInsideAPoolReservationIsAGuestTrap) {
  InitRuntime();
  uint8_t* memory = MemoryPool::Instance().Acquire(kWasmPageSize);
  ASSERT_NE(memory, nullptr);
  GuestContext ctx;
  Status s = RunGuest(ctx, WriteTo, memory + kWasmPageSize);  // just past the accessible page: the guard region
  EXPECT_EQ(s.code(), Code::kTrap) << s.ToString();
  EXPECT_EQ(s.trap(), TrapKind::kOutOfBounds) << s.ToString();
  MemoryPool::Instance().Release(memory, kWasmPageSize);
}

// How a fault the runtime passes on ends the process: the default action, or under ASan (the asan preset) the report
// of ASan's handler, which the runtime chains to, followed by abort (abort_on_error=1, scripts/sanitize.sh).
#if defined(__SANITIZE_ADDRESS__)  // gcc
#define WOW_UNDER_ASAN 1
#elif defined(__has_feature)  // clang (nested: gcc 12 cannot parse __has_feature(...) in the same #if)
#if __has_feature(address_sanitizer)
#define WOW_UNDER_ASAN 1
#endif
#endif
#ifdef WOW_UNDER_ASAN
constexpr int kFaultSignal = SIGABRT;
#else
constexpr int kFaultSignal = SIGSEGV;
#endif

// Regression (issue 12, finding 11): any SIGSEGV while in_guest was set was
// taken for a guest trap, hiding bugs in the runtime.
TEST(AotRuntimeDeathTest, FaultOutsideTheReservationsIsNotSwallowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  InitRuntime();
  uint8_t* page = ProtectedPage();
  ASSERT_NE(page, nullptr);
  EXPECT_EXIT(
      {
        GuestContext ctx;
        (void)RunGuest(ctx, WriteTo, page);
        std::_Exit(0);  // swallowed as a trap: the bug
      },
      ::testing::KilledBySignal(kFaultSignal), "");
  ::munmap(page, static_cast<size_t>(getpagesize()));
}

// The function-type registry as generated modules call it at load: equal signatures share an id, and where the
// parameters end matters. (Under UBSan, the asan preset, the old registry failed here: it stored its separator as
// wasm_rt_type_t(-1), outside the enum's range.)
TEST(AotRuntimeTest, RegistersFunctionTypesBySignature) {
  uint32_t i32_to_i64 = wasm_rt_register_func_type(1, 1, WASM_RT_I32, WASM_RT_I64);
  uint32_t again = wasm_rt_register_func_type(1, 1, WASM_RT_I32, WASM_RT_I64);
  uint32_t two_params = wasm_rt_register_func_type(2, 0, WASM_RT_I32, WASM_RT_I64);
  uint32_t two_results = wasm_rt_register_func_type(0, 2, WASM_RT_I32, WASM_RT_I64);
  uint32_t none = wasm_rt_register_func_type(0, 0);
  EXPECT_NE(i32_to_i64, 0u);
  EXPECT_EQ(again, i32_to_i64);
  EXPECT_NE(two_params, i32_to_i64);
  EXPECT_NE(two_results, two_params);
  EXPECT_NE(none, 0u);
  EXPECT_EQ(wasm_rt_register_func_type(0, 0), none);
  EXPECT_NE(none, two_results);
}

// --- Fibers that resume on another thread (issue 13, step 2 of docs/scheduling-design.md) ---

// A fiber resumed by hand, on whichever thread calls Resume(), as a scheduler
// that migrates fibers will: like src/executor/scheduler.cc it publishes the
// fiber's stack (with a guard page below) around each switch.
class HandFiber {
 public:
  static constexpr size_t kStackBytes = 2 << 20;

  explicit HandFiber(std::function<void()> body) : body_(std::move(body)) {
    self_ = boost::context::fiber(std::allocator_arg, Stack{this}, [this](boost::context::fiber&& back) {
      back_ = std::move(back);
      body_();
      finished_ = true;
      return std::move(back_);
    });
  }
  // Runs the fiber on the calling thread until it suspends or ends.
  void Resume() {
    SetCurrentFiberStack(stack_);
    self_ = std::move(self_).resume();
    SetCurrentFiberStack({});
  }
  // Inside the fiber: back to the Resume() that ran it.
  void Suspend() { back_ = std::move(back_).resume(); }
  bool finished() const { return finished_; }

 private:
  struct Stack {
    HandFiber* fiber;
    boost::context::stack_context allocate() {
      size_t page = static_cast<size_t>(getpagesize());
      void* base = ::mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (base == MAP_FAILED) std::abort();
      ::mprotect(base, page, PROT_NONE);
      boost::context::stack_context sc;
      sc.size = kStackBytes;
      sc.sp = static_cast<char*>(base) + page + kStackBytes;
      fiber->stack_ = {reinterpret_cast<uintptr_t>(base) + page, reinterpret_cast<uintptr_t>(sc.sp)};
      return sc;
    }
    void deallocate(boost::context::stack_context& sc) noexcept {
      ::munmap(static_cast<char*>(sc.sp) - kStackBytes - getpagesize(), kStackBytes + getpagesize());
    }
  };

  std::function<void()> body_;
  StackRange stack_;
  boost::context::fiber self_;
  boost::context::fiber back_;
  bool finished_ = false;
};

// A thread that runs one job at a time, for as long as it lives, so its
// thread-local state persists from one job to the next.
class JobThread {
 public:
  JobThread() : thread_([this] { Loop(); }) {}
  ~JobThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Runs `job` on this thread and returns when it has.
  void Run(std::function<void()> job) {
    std::unique_lock<std::mutex> lock(mu_);
    job_ = std::move(job);
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
      if (stop_) return;
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// What a test guest does after its (possibly suspending) host call.
enum class Then { kOutOfBounds, kRecurse, kSpin, kGrowMemory };

// The memory limit of test guests: the page they allocate and one more.
constexpr uint64_t kLimitBytes = 2 * kWasmPageSize;
// How long a spinning guest spins before giving up: a deadline that does not
// stop it fails the test instead of hanging it.
constexpr int64_t kSpinGiveUpNs = 20'000'000'000;
// The deadline of a spinning guest, from the moment it (re)starts spinning.
constexpr int64_t kSpinDeadlineNs = 50'000'000;

struct TestGuest {
  GuestContext* ctx = nullptr;
  Then then = Then::kOutOfBounds;
  bool call_host = false;     // calls import 0 first (which suspends the fiber)
  wasm_rt_memory_t memory{};  // freed by the test: a trap skips the guest's frames
  int64_t spin_until = 0;
  bool spun_out = false;  // the deadline never stopped the spin
  uint32_t grow_above_limit = 0;
  uint32_t grow_within_limit = 0;
};

[[gnu::noinline]] int Recurse(int n) {
  volatile char frame[512];
  frame[n % sizeof(frame)] = static_cast<char>(n);
  if (n == 0) return 0;
  return Recurse(n - 1) + frame[n % sizeof(frame)];  // not a tail call
}
volatile int g_depth = 1 << 30;  // data, so the compiler cannot drop the recursion (DESIGN.md)

// "Guest code" of the migration tests: allocates its memory (from the pool,
// charged to the budget), calls the host, then does what `then` says.
void TestGuestBody(void* arg) {
  auto& g = *static_cast<TestGuest*>(arg);
  wasm_rt_allocate_memory(&g.memory, 1, 65536);
  if (g.call_host) wow_host_call(g.ctx, 0, nullptr, nullptr);
  switch (g.then) {
    case Then::kOutOfBounds: static_cast<volatile uint8_t*>(g.memory.data)[g.memory.size] = 1; break;
    case Then::kRecurse: (void)Recurse(g_depth); break;
    case Then::kSpin:
      while (NowNs() < g.spin_until) {
      }
      g.spun_out = true;
      break;
    case Then::kGrowMemory:
      g.grow_above_limit = wasm_rt_grow_memory(&g.memory, 2);
      g.grow_within_limit = wasm_rt_grow_memory(&g.memory, 1);
      break;
  }
}

// The import of test guests: suspends the fiber in HostCall::data.
const HostFunction kSuspend{"test", "suspend", FuncSig{},
                            [](HostCall& call, std::span<const RawValue>, std::span<RawValue>) {
                              static_cast<HandFiber*>(call.data)->Suspend();
                              return HostAction::kContinue;
                            }};
const HostFunction* const kImports[] = {&kSuspend};

void Prepare(GuestContext& ctx, HandFiber* fiber) {
  ctx.budget = MemoryBudget(kLimitBytes);
  ctx.imports = kImports;
  ctx.host_call.data = fiber;
}

// How each kind of run must end, migrated or not.
void ExpectOutcome(Then then, const Status& s, const GuestContext& ctx, const TestGuest& g) {
  switch (then) {
    case Then::kOutOfBounds: EXPECT_EQ(s.trap(), TrapKind::kOutOfBounds) << s.ToString(); break;
    case Then::kRecurse: EXPECT_EQ(s.trap(), TrapKind::kStackExhausted) << s.ToString(); break;
    case Then::kSpin:
      EXPECT_EQ(s.trap(), TrapKind::kTimeout) << s.ToString();
      EXPECT_FALSE(g.spun_out) << "the deadline did not stop the guest";
      break;
    case Then::kGrowMemory:
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(g.grow_above_limit, UINT32_MAX);
      EXPECT_TRUE(ctx.budget.limit_hit());
      EXPECT_EQ(g.grow_within_limit, 1u);  // the run's context came along
      break;
  }
}

// A whole run of `then` on `thread`, on a fiber, without a suspension.
void RunInPlace(JobThread& thread, Then then) {
  GuestContext ctx;
  TestGuest guest{.ctx = &ctx, .then = then, .call_host = false};
  Prepare(ctx, nullptr);
  Status s = Status::Ok();
  int runs_after = -1;
  thread.Run([&] {
    if (then == Then::kSpin) {
      ctx.deadline_ns = NowNs() + kSpinDeadlineNs;
      guest.spin_until = NowNs() + kSpinGiveUpNs;
    }
    HandFiber fiber([&] { s = RunGuest(ctx, TestGuestBody, &guest); });
    fiber.Resume();
    EXPECT_TRUE(fiber.finished());
    runs_after = GuestRunsOnThisThread();
  });
  ExpectOutcome(then, s, ctx, guest);
  EXPECT_EQ(runs_after, 0);
  wasm_rt_free_memory(&guest.memory);
}

class AotMigrationTest : public ::testing::TestWithParam<Then> {};

// A guest's fiber suspends in a host call on thread A and resumes on thread
// B, which never ran a guest before: the trap, stack exhaustion, deadline or
// memory limit that follows is reported as without the move (B needs its own
// signal stack and timer for the first two), and the run's state neither
// stays on A nor skews either thread's count of runs. Meanwhile and afterwards
// guests on A trap as before.
TEST_P(AotMigrationTest, GuestResumedOnAnotherThreadTrapsAsBefore) {
  InitRuntime();
  const Then then = GetParam();
  JobThread a;
  JobThread b;
  GuestContext ctx;
  TestGuest guest{.ctx = &ctx, .then = then, .call_host = true};
  Status s = Status::Ok();
  HandFiber fiber([&] { s = RunGuest(ctx, TestGuestBody, &guest); });
  Prepare(ctx, &fiber);
  int runs_on_a = -1;
  a.Run([&] {
    // A's timer is armed for this run, which then leaves A.
    if (then == Then::kSpin) ctx.deadline_ns = NowNs() + 600'000'000'000;
    fiber.Resume();
    runs_on_a = GuestRunsOnThisThread();
  });
  ASSERT_FALSE(fiber.finished()) << "the guest did not suspend";
  EXPECT_EQ(runs_on_a, 0) << "a suspended run still counts on its thread";

  // A serves another guest while this one is away.
  RunInPlace(a, Then::kOutOfBounds);

  int runs_on_b = -1;
  b.Run([&] {
    if (then == Then::kSpin) {
      ctx.deadline_ns = NowNs() + kSpinDeadlineNs;  // only B's timer can stop it now
      guest.spin_until = NowNs() + kSpinGiveUpNs;
    }
    fiber.Resume();
    runs_on_b = GuestRunsOnThisThread();
  });
  ASSERT_TRUE(fiber.finished());
  ExpectOutcome(then, s, ctx, guest);
  EXPECT_EQ(runs_on_b, 0);
  wasm_rt_free_memory(&guest.memory);

  // A is untouched: each kind of run still ends there as it should.
  a.Run([&] { runs_on_a = GuestRunsOnThisThread(); });
  EXPECT_EQ(runs_on_a, 0);
  RunInPlace(a, then);
  RunInPlace(a, Then::kOutOfBounds);
  // And B goes on as any thread.
  RunInPlace(b, then);
}

INSTANTIATE_TEST_SUITE_P(Traps, AotMigrationTest,
                         ::testing::Values(Then::kOutOfBounds, Then::kRecurse, Then::kSpin, Then::kGrowMemory),
                         [](const ::testing::TestParamInfo<Then>& info) {
                           switch (info.param) {
                             case Then::kOutOfBounds: return "OutOfBounds";
                             case Then::kRecurse: return "StackExhausted";
                             case Then::kSpin: return "Deadline";
                             case Then::kGrowMemory: return "MemoryGrowAboveLimit";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace wow::wasm::aot
