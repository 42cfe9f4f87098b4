#include "executor/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "common/worker_context.h"

namespace wow::executor {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(SchedulerTest, RunsEveryTask) {
  std::atomic<int> done{0};
  {
    Scheduler s(SchedulerOptions{.workers = 2});
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.Submit([&] { done++; }));
    s.Shutdown();
    EXPECT_EQ(done.load(), 1000);
    EXPECT_EQ(s.tasks(), 0u);
  }
}

// The property the executor relies on: tasks waiting in WaitUntil hold no
// worker. 200 tasks that each wait 300 ms on 2 workers would take 30 s if
// they did; overlapped they take about 300 ms (bound generous for CI).
TEST(SchedulerTest, WaitingTasksDoNotHoldWorkers) {
  Scheduler s(SchedulerOptions{.workers = 2});
  std::atomic<int> done{0};
  auto start = Clock::now();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(s.Submit([&] {
      WaitUntil(Clock::now() + 300ms);
      done++;
    }));
  }
  s.Shutdown();
  auto took = Clock::now() - start;
  EXPECT_EQ(done.load(), 200);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 5s) << "waits did not overlap";
}

TEST(SchedulerTest, CpuTasksRunWhileOthersWait) {
  Scheduler s(SchedulerOptions{.workers = 2});
  std::atomic<int> cpu_done{0};
  std::atomic<bool> waiter_done{false};
  ASSERT_TRUE(s.Submit([&] {
    WaitUntil(Clock::now() + 500ms);
    waiter_done = true;
  }));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(s.Submit([&] {
      volatile uint64_t x = 0;
      for (int j = 0; j < 100000; ++j) x = x + j;
      cpu_done++;
    }));
  }
  // The CPU tasks finish while the waiter still waits.
  auto until = Clock::now() + 400ms;
  while (cpu_done.load() < 20 && Clock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(cpu_done.load(), 20);
  EXPECT_FALSE(waiter_done.load());
  s.Shutdown();
  EXPECT_TRUE(waiter_done.load());
}

TEST(SchedulerTest, WakesInDeadlineOrderAndStaysOnItsThread) {
  Scheduler s(SchedulerOptions{.workers = 1});
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> moved{0};
  for (int i = 5; i >= 1; --i) {
    ASSERT_TRUE(s.Submit([&, i] {
      auto before = std::this_thread::get_id();
      WaitUntil(Clock::now() + std::chrono::milliseconds(20 * i));
      if (std::this_thread::get_id() != before) moved++;
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    }));
  }
  s.Shutdown();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(moved.load(), 0);
}

TEST(SchedulerTest, FiberStackIsPublishedAndUsable) {
  Scheduler s(SchedulerOptions{.workers = 1, .stack_bytes = 1 << 20});
  StackRange seen;
  uintptr_t probe = 0;
  ASSERT_TRUE(s.Submit([&] {
    seen = CurrentFiberStack();
    probe = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    // Use most of the stack.
    volatile char big[512 * 1024];
    big[0] = 1;
    big[sizeof(big) - 1] = 1;
  }));
  s.Shutdown();
  EXPECT_FALSE(seen.empty());
  EXPECT_GE(seen.hi - seen.lo, size_t{1} << 20);
  EXPECT_GT(probe, seen.lo);
  EXPECT_LE(probe, seen.hi);
  EXPECT_TRUE(CurrentFiberStack().empty());  // not on a fiber here
}

TEST(SchedulerTest, RefusesBeyondMaxTasksAndAfterShutdown) {
  Scheduler s(SchedulerOptions{.workers = 1, .max_tasks = 3});
  std::atomic<bool> release{false};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Submit([&] {
      while (!release) WaitUntil(Clock::now() + 1ms);
    }));
  }
  EXPECT_FALSE(s.Submit([] {}));
  release = true;
  s.Shutdown();
  EXPECT_FALSE(s.Submit([] {}));
}

TEST(SchedulerTest, ThrowingTaskDoesNotStopTheWorker) {
  Scheduler s(SchedulerOptions{.workers = 1});
  std::atomic<int> done{0};
  ASSERT_TRUE(s.Submit([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(s.Submit([&] { done++; }));
  s.Shutdown();
  EXPECT_EQ(done.load(), 1);
}

}  // namespace
}  // namespace wow::executor
