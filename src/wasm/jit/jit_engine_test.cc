// What only the JIT engine has: its own JS threads (callers on fibers wait
// without holding their worker; the pool grows under concurrency and gives
// threads back), SpiderMonkey's signal handlers next to the AoT engine's,
// and exit with instances still alive. The behaviour every engine shares is
// tested in tests/engine_test.cc on the JIT too.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/worker_context.h"
#include "executor/scheduler.h"
#include "wasm/engine_factory.h"
#include "wasm/module_reader.h"

namespace wow::wasm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kGuest[] = R"((module
  (import "env" "sleep_ms" (func $sleep (param i32)))
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l)))
  (func (export "nap") (param i32) (call $sleep (local.get 0)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "oob") (result i32) (i32.load (i32.const 70000))))
)";

HostFunctions SleepHost() {
  HostFunctions host;
  host.Add({"env", "sleep_ms", FuncSig{{ValType::kI32}, {}}, [](HostCall&, std::span<const RawValue> args, auto) {
              WaitUntil(Clock::now() + std::chrono::milliseconds(static_cast<uint32_t>(args[0])));
              return HostAction::kContinue;
            }});
  return host;
}

std::shared_ptr<const Module> Load(Engine& engine, const HostFunctions& host = SleepHost()) {
  auto wasm = WatToWasm(kGuest);
  EXPECT_TRUE(wasm.ok()) << wasm.status().ToString();
  auto module = engine.Load(*wasm, host);
  EXPECT_TRUE(module.ok()) << module.status().ToString();
  return module.ok() ? *module : nullptr;
}

std::unique_ptr<Engine> Jit() {
  auto engine = CreateEngine("jit", {});
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// A JIT call runs on a JS thread; the fiber that made it is suspended, so
// its worker runs other tasks meanwhile.
TEST(JitEngineTest, AFiberWaitingForAJitCallDoesNotHoldItsWorker) {
  auto engine = Jit();
  auto module = Load(*engine);
  ASSERT_NE(module, nullptr);
  executor::Scheduler scheduler(executor::SchedulerOptions{.workers = 1});
  std::atomic<int> spins_stopped{0};
  std::atomic<int64_t> quick_done_ns{0};
  auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(scheduler.Submit([&] {
      InstanceOptions options;
      options.deadline = Clock::now() + std::chrono::milliseconds(300);
      auto instance = module->Instantiate(options);
      if (!instance.ok()) return;
      RawValue none[1];
      Status s = (*instance)->Call("spin", {}, {none, 0});
      if (s.code() == Code::kTrap && s.trap() == TrapKind::kTimeout) ++spins_stopped;
    }));
  }
  ASSERT_TRUE(scheduler.Submit([&] {
    auto instance = module->Instantiate({});
    if (!instance.ok()) return;
    RawValue args[2] = {40, 2}, result[1] = {0};
    if ((*instance)->Call("add", args, result).ok() && result[0] == 42) {
      quick_done_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    }
  }));
  scheduler.Shutdown();
  EXPECT_EQ(spins_stopped.load(), 4) << "every spinning call stops at its deadline";
  ASSERT_GT(quick_done_ns.load(), 0) << "the quick call did not succeed";
  // Had the spinning calls held the only worker, the quick one would have
  // waited for them (>= 300 ms).
  EXPECT_LT(quick_done_ns.load(), 250'000'000) << "the quick call waited for the spinning ones";
}

// Instances waiting in host calls each hold a JS thread: more of them than
// the pool's minimum start more threads, and all run at once.
TEST(JitEngineTest, ConcurrentWaitingInstancesRunAtOnce) {
  auto engine = Jit();
  auto module = Load(*engine);
  ASSERT_NE(module, nullptr);
  constexpr int kInstances = 24;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  auto start = Clock::now();
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&] {
      auto instance = module->Instantiate({});
      if (!instance.ok()) return;
      RawValue args[1] = {200};
      if ((*instance)->Call("nap", args, {}).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(ok.load(), kInstances);
  EXPECT_LT(seconds, 2.0) << kInstances << " naps of 200 ms ran one after another";
}

// An out-of-bounds access traps on both engines, whichever installed its
// SIGSEGV handler first: each handles its own faults and chains the rest.
void TrapsOnBothEngines(const char* first) {
  auto a = CreateEngine(first, {});
  auto b = CreateEngine(std::string_view(first) == "aot" ? "jit" : "aot", {});
  if (!a.ok() || !b.ok()) std::exit(10);
  auto ma = Load(**a), mb = Load(**b);
  if (!ma || !mb) std::exit(11);
  for (int round = 0; round < 3; ++round) {
    for (const auto* m : {ma.get(), mb.get()}) {
      auto instance = m->Instantiate({});
      if (!instance.ok()) std::exit(12);
      RawValue result[1];
      Status s = (*instance)->Call("oob", {}, result);
      if (s.code() != Code::kTrap || s.trap() != TrapKind::kOutOfBounds) std::exit(13);
    }
  }
  std::exit(0);
}

// Death tests re-run the binary: a forked child would inherit a JS thread
// pool without its threads.
TEST(JitEngineTest, AotAndJitTrapsInOneProcessAotFirst) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(TrapsOnBothEngines("aot"), ::testing::ExitedWithCode(0), "");
}

TEST(JitEngineTest, AotAndJitTrapsInOneProcessJitFirst) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(TrapsOnBothEngines("jit"), ::testing::ExitedWithCode(0), "");
}

// exit() with instances alive and a call with no deadline spinning on
// another thread: the process ends cleanly (no crash, no hang in the pool's
// teardown; SpiderMonkey's own statics abort if its threads still run).
TEST(JitEngineTest, ExitWithLiveInstancesIsClean) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto engine = Jit();
        auto module = Load(*engine);
        auto kept = module->Instantiate({});
        if (!kept.ok()) std::exit(20);
        std::thread([module] {
          auto instance = module->Instantiate({});
          if (instance.ok()) (void)(*instance)->Call("spin", {}, {});
        }).detach();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        (void)kept->release();  // never destroyed
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace wow::wasm
