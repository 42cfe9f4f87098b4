#include "executor/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/worker_context.h"

namespace wow::executor {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Turns a hang into a failure: aborts the test binary unless destroyed
// within `limit` (a fiber that is never woken hangs Shutdown forever).
class Watchdog {
 public:
  explicit Watchdog(Clock::duration limit)
      : name_(::testing::UnitTest::GetInstance()->current_test_info()->name()), thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return disarmed_; })) {
            std::fprintf(stderr, "watchdog: %s hung\n", name_.c_str());
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// Storage for Completions that is never reused, and filled with a pattern
// once its Completion is destroyed: a write to a Completion after its waiter
// was released (and destroyed it) shows as a changed byte, even without a
// sanitizer (ASan does not see writes made inside libc, like a late unlock).
class Graveyard {
 public:
  explicit Graveyard(int n) : slots_(n) {}
  Completion* Make(int i) { return new (slots_[i].bytes) Completion; }
  void Bury(int i) {
    std::launder(reinterpret_cast<Completion*>(slots_[i].bytes))->~Completion();
    std::memset(slots_[i].bytes, kPattern, sizeof(slots_[i].bytes));
  }
  // Slots written to after Bury.
  int Disturbed() const {
    int n = 0;
    for (const Slot& slot : slots_) {
      for (unsigned char b : slot.bytes) {
        if (b != kPattern) {
          n++;
          break;
        }
      }
    }
    return n;
  }

 private:
  static constexpr unsigned char kPattern = 0xA5;
  struct Slot {
    alignas(Completion) unsigned char bytes[sizeof(Completion)];
  };
  std::vector<Slot> slots_;
};

// Notifies the Completions pushed to it, on `threads` threads of its own.
class Notifier {
 public:
  explicit Notifier(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~Notifier() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Push(Completion* c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(c);
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    for (;;) {
      Completion* c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        c = queue_.front();
        queue_.pop_front();
      }
      c->Notify();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion*> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

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

// Completion without a scheduler: Wait blocks the thread.

TEST(CompletionTest, WaitBlocksAPlainThreadUntilNotified) {
  Watchdog watchdog(60s);
  ASSERT_EQ(ThreadWaiter(), nullptr);
  Completion done;
  EXPECT_FALSE(done.done());
  auto start = Clock::now();
  std::thread notifier([&] {
    std::this_thread::sleep_for(50ms);
    done.Notify();
  });
  done.Wait();
  auto took = Clock::now() - start;
  notifier.join();
  EXPECT_TRUE(done.done());
  EXPECT_GE(took, 45ms) << "Wait returned before Notify";
}

TEST(CompletionTest, NotifyBeforeWaitReturnsAtOnceOnAPlainThread) {
  Watchdog watchdog(60s);
  Completion done;
  done.Notify();
  done.Notify();  // later calls do nothing
  EXPECT_TRUE(done.done());
  auto start = Clock::now();
  done.Wait();
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(CompletionTest, WakerRunsOnceOnNotifyAndNotAfterIt) {
  int woken = 0;
  Completion a;
  EXPECT_TRUE(a.SetWaker([&] { woken++; }));
  EXPECT_EQ(woken, 0);
  a.Notify();
  EXPECT_EQ(woken, 1);
  a.Notify();
  EXPECT_EQ(woken, 1);
  EXPECT_FALSE(a.SetWaker([&] { woken++; }));  // already done: not stored
  a.Notify();
  EXPECT_EQ(woken, 1);
}

// Wait goes through the thread's waiter when one is installed.
TEST(CompletionTest, WaitUsesTheThreadWaiter) {
  struct CountingWaiter : Waiter {
    int calls = 0;
    void WaitUntil(Clock::time_point) override {}
    void WaitFor(Completion& done) override {
      calls++;
      SetThreadWaiter(nullptr);
      done.Wait();
      SetThreadWaiter(this);
    }
  } waiter;
  SetThreadWaiter(&waiter);
  Completion done;
  done.Notify();
  done.Wait();
  SetThreadWaiter(nullptr);
  EXPECT_EQ(waiter.calls, 1);
}

// Destroying the Completion as soon as Wait returns is allowed: Notify must
// not touch it after releasing the waiter. Best run under ASan/TSan.
TEST(CompletionTest, DestroyedRightAfterWaitOnAPlainThread) {
  Watchdog watchdog(300s);
  constexpr int kRounds = 10000;
  Graveyard graveyard(kRounds);
  {
    Notifier notifier(2);
    for (int i = 0; i < kRounds; ++i) {
      Completion* done = graveyard.Make(i);
      notifier.Push(done);
      done->Wait();
      graveyard.Bury(i);
    }
  }
  EXPECT_EQ(graveyard.Disturbed(), 0) << "Notify wrote to a destroyed Completion";
}

// The same through the waker a Waiter registers (as the scheduler does, but
// parking the thread instead of a fiber), so TSan can watch it.
TEST(CompletionTest, DestroyedRightAfterWaitThroughAWaker) {
  struct ParkingWaiter : Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    int parked = 0;
    void WaitUntil(Clock::time_point) override {}
    void WaitFor(Completion& done) override {
      {
        std::lock_guard<std::mutex> lock(mu);
        woken = false;
      }
      if (!done.SetWaker([this] {
            std::lock_guard<std::mutex> lock(mu);
            woken = true;
            cv.notify_one();  // under the lock: this waiter outlives the call
          })) {
        return;
      }
      parked++;
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [this] { return woken; });
    }
  } waiter;
  Watchdog watchdog(300s);
  constexpr int kRounds = 10000;
  Graveyard graveyard(kRounds);
  {
    Notifier notifier(2);
    SetThreadWaiter(&waiter);
    for (int i = 0; i < kRounds; ++i) {
      Completion* done = graveyard.Make(i);
      notifier.Push(done);
      done->Wait();
      graveyard.Bury(i);
    }
    SetThreadWaiter(nullptr);
  }
  EXPECT_GT(waiter.parked, 0);
  EXPECT_EQ(graveyard.Disturbed(), 0) << "Notify wrote to a destroyed Completion";
}

// Completion on the scheduler: a waiting fiber gives its worker up.

// One worker, 20 fibers waiting on Completions that another thread notifies
// (50 ms on, and only once the CPU task is done if it can be), and a CPU task
// queued behind them: the CPU task runs while they all wait.
TEST(SchedulerTest, FibersWaitingOnCompletionsDoNotHoldTheirWorker) {
  Watchdog watchdog(120s);
  constexpr int kWaiters = 20;
  Completion done[kWaiters];
  std::atomic<int> waiting{0};
  std::atomic<int> finished{0};
  std::atomic<int> moved{0};
  std::atomic<bool> cpu_done{false};
  int waiting_seen_by_cpu = -1;
  int finished_seen_by_cpu = -1;
  Clock::time_point notified_at;
  std::mutex mu;
  Clock::time_point first_wait_end = Clock::time_point::max();
  Clock::time_point cpu_end;
  auto start = Clock::now();
  {
    Scheduler s(SchedulerOptions{.workers = 1});
    for (int i = 0; i < kWaiters; ++i) {
      ASSERT_TRUE(s.Submit([&, i] {
        auto before = std::this_thread::get_id();
        waiting++;
        done[i].Wait();
        auto now = Clock::now();
        if (std::this_thread::get_id() != before) moved++;
        {
          std::lock_guard<std::mutex> lock(mu);
          first_wait_end = std::min(first_wait_end, now);
        }
        finished++;
      }));
    }
    ASSERT_TRUE(s.Submit([&] {
      volatile uint64_t x = 0;
      for (int j = 0; j < 100000; ++j) x = x + j;
      waiting_seen_by_cpu = waiting.load();
      finished_seen_by_cpu = finished.load();
      cpu_end = Clock::now();
      cpu_done = true;
    }));
    std::thread notifier([&] {
      std::this_thread::sleep_for(50ms);
      auto until = Clock::now() + 10s;  // a held worker never runs the CPU task
      while (!cpu_done && Clock::now() < until) std::this_thread::sleep_for(1ms);
      notified_at = Clock::now();
      for (auto& d : done) d.Notify();
    });
    s.Shutdown();
    notifier.join();
  }
  EXPECT_EQ(finished.load(), kWaiters);
  EXPECT_EQ(moved.load(), 0);
  EXPECT_EQ(waiting_seen_by_cpu, kWaiters) << "a waiting fiber held the worker";
  EXPECT_EQ(finished_seen_by_cpu, 0);
  EXPECT_LT(cpu_end, first_wait_end) << "the CPU task did not run while the fibers waited";
  EXPECT_GE(first_wait_end, notified_at) << "a Wait returned before Notify";
  EXPECT_GE(first_wait_end - start, 45ms);
}

TEST(SchedulerTest, CompletionNotifiedBeforeWaitReturnsAtOnce) {
  Watchdog watchdog(60s);
  Scheduler s(SchedulerOptions{.workers = 1});
  Completion own;
  Completion earlier;
  earlier.Notify();  // by another thread, before the fiber exists
  Clock::duration own_took{};
  Clock::duration earlier_took{};
  ASSERT_TRUE(s.Submit([&] {
    own.Notify();
    auto start = Clock::now();
    own.Wait();
    own_took = Clock::now() - start;
    start = Clock::now();
    earlier.Wait();
    earlier_took = Clock::now() - start;
  }));
  s.Shutdown();
  EXPECT_LT(own_took, 1s);
  EXPECT_LT(earlier_took, 1s);
}

// A task notifies a fiber of its own worker: the fiber resumes once the task
// has given the worker back.
TEST(SchedulerTest, CompletionNotifiedFromAFiberOfTheSameWorker) {
  Watchdog watchdog(60s);
  Scheduler s(SchedulerOptions{.workers = 1});
  Completion done;
  std::mutex mu;
  std::vector<std::string> order;
  auto log = [&](const char* event) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(event);
  };
  std::thread::id waiter_thread;
  std::thread::id notifier_thread;
  ASSERT_TRUE(s.Submit([&] {
    log("wait");
    done.Wait();
    log("woken");
    waiter_thread = std::this_thread::get_id();
  }));
  ASSERT_TRUE(s.Submit([&] {
    log("notify");
    done.Notify();
    log("notified");
    notifier_thread = std::this_thread::get_id();
  }));
  s.Shutdown();
  EXPECT_EQ(order, (std::vector<std::string>{"wait", "notify", "notified", "woken"}));
  EXPECT_EQ(waiter_thread, notifier_thread);
}

// Two fibers on one worker take turns through Completions, 200 times each.
TEST(SchedulerTest, FibersOfOneWorkerPingPongThroughCompletions) {
  Watchdog watchdog(60s);
  constexpr int kRounds = 200;
  Scheduler s(SchedulerOptions{.workers = 1});
  std::vector<std::unique_ptr<Completion>> ping;
  std::vector<std::unique_ptr<Completion>> pong;
  for (int r = 0; r < kRounds; ++r) {
    ping.push_back(std::make_unique<Completion>());
    pong.push_back(std::make_unique<Completion>());
  }
  std::vector<int> trace;  // one worker: no lock needed
  ASSERT_TRUE(s.Submit([&] {
    for (int r = 0; r < kRounds; ++r) {
      trace.push_back(2 * r);
      ping[r]->Notify();
      pong[r]->Wait();
    }
  }));
  ASSERT_TRUE(s.Submit([&] {
    for (int r = 0; r < kRounds; ++r) {
      ping[r]->Wait();
      trace.push_back(2 * r + 1);
      pong[r]->Notify();
    }
  }));
  s.Shutdown();
  ASSERT_EQ(trace.size(), size_t{2 * kRounds});
  for (int i = 0; i < 2 * kRounds; ++i) ASSERT_EQ(trace[i], i);
}

// 1000 fibers on 2 workers, each waiting on its own Completion, notified by
// 4 threads in random order while the fibers start (so some Notify calls
// come before the Wait, some while the fiber is suspending, some after).
TEST(SchedulerTest, ManyFibersWaitOnCompletionsNotifiedInRandomOrder) {
  Watchdog watchdog(120s);
  constexpr int kFibers = 1000;
  constexpr int kNotifiers = 4;
  std::vector<std::unique_ptr<Completion>> done;
  for (int i = 0; i < kFibers; ++i) done.push_back(std::make_unique<Completion>());
  std::vector<int> order(kFibers);
  for (int i = 0; i < kFibers; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::atomic<int> finished{0};
  std::atomic<int> moved{0};
  std::atomic<int> not_done_after_wait{0};
  std::atomic<bool> go{false};
  {
    Scheduler s(SchedulerOptions{.workers = 2});
    std::vector<std::thread> notifiers;
    for (int n = 0; n < kNotifiers; ++n) {
      notifiers.emplace_back([&, n] {
        while (!go) std::this_thread::yield();
        for (int k = n; k < kFibers; k += kNotifiers) {
          done[order[k]]->Notify();
          if (k % 64 == 0) std::this_thread::yield();
        }
      });
    }
    for (int i = 0; i < kFibers; ++i) {
      ASSERT_TRUE(s.Submit([&, i] {
        auto before = std::this_thread::get_id();
        done[i]->Wait();
        if (!done[i]->done()) not_done_after_wait++;
        if (std::this_thread::get_id() != before) moved++;
        finished++;
      }));
      if (i == kFibers / 4) go = true;
    }
    go = true;
    s.Shutdown();
    for (auto& t : notifiers) t.join();
  }
  EXPECT_EQ(finished.load(), kFibers);
  EXPECT_EQ(not_done_after_wait.load(), 0);
  EXPECT_EQ(moved.load(), 0);
}

// Shutdown (and the destructor, which calls it) waits for fibers suspended on
// Completions, and they finish.
TEST(SchedulerTest, ShutdownWaitsForFibersWaitingOnCompletions) {
  Watchdog watchdog(120s);
  constexpr int kWaiters = 10;
  for (bool explicit_shutdown : {true, false}) {
    SCOPED_TRACE(explicit_shutdown ? "Shutdown()" : "~Scheduler()");
    Completion done[kWaiters];
    std::atomic<int> finished{0};
    std::atomic<int64_t> notified_at_ns{0};
    std::thread notifier;
    Clock::time_point stopped;
    // Outlives the scheduler: with ~Scheduler() a fiber may start only after the block's end (ASan found it
    // declared after `s`, destroyed before the fibers ran).
    std::atomic<int> waiting{0};
    {
      Scheduler s(SchedulerOptions{.workers = 2});
      for (int i = 0; i < kWaiters; ++i) {
        ASSERT_TRUE(s.Submit([&, i] {
          waiting++;
          done[i].Wait();
          finished++;
        }));
      }
      notifier = std::thread([&] {
        // Once they all wait (or 10 s), so the workers idle meanwhile.
        auto until = Clock::now() + 10s;
        while (waiting < kWaiters && Clock::now() < until) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(200ms);
        notified_at_ns = Clock::now().time_since_epoch().count();
        for (auto& d : done) d.Notify();
      });
      if (explicit_shutdown) {
        s.Shutdown();
        stopped = Clock::now();
        EXPECT_EQ(finished.load(), kWaiters);
        EXPECT_EQ(s.tasks(), 0u);
      }
    }
    if (!explicit_shutdown) stopped = Clock::now();
    notifier.join();
    EXPECT_EQ(finished.load(), kWaiters);
    EXPECT_GE(stopped.time_since_epoch().count(), notified_at_ns.load()) << "stopped before the waits ended";
  }
}

// The fiber destroys its Completion as soon as Wait returns, 10000 times,
// notified from 2 threads and from fibers of both workers: no crash, no hang.
// Best run under ASan/TSan.
TEST(SchedulerTest, CompletionDestroyedRightAfterWaitReturns) {
  Watchdog watchdog(300s);
  constexpr int kRounds = 10000;
  std::atomic<int> finished{0};
  Graveyard graveyard(kRounds);
  {
    Notifier notifier(2);
    // Room for every task: a fiber must not spin on a full scheduler.
    Scheduler s(SchedulerOptions{.workers = 2, .max_tasks = 2 * kRounds});
    std::atomic<int> refused{0};
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_TRUE(s.Submit([&, i] {
        Completion* done = graveyard.Make(i);
        if (i % 4 == 0) {
          if (!s.Submit([done] { done->Notify(); })) {  // a fiber notifies
            refused++;
            done->Notify();
          }
        } else {
          notifier.Push(done);
        }
        done->Wait();
        graveyard.Bury(i);
        finished++;
      }));
    }
    // Shutdown refuses the fibers' own submissions: let them all run first.
    while (finished < kRounds) std::this_thread::sleep_for(1ms);
    s.Shutdown();
    EXPECT_EQ(refused.load(), 0);
  }
  EXPECT_EQ(finished.load(), kRounds);
  EXPECT_EQ(graveyard.Disturbed(), 0) << "Notify wrote to a destroyed Completion";
}

}  // namespace
}  // namespace wow::executor
