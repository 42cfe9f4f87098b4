#pragma once

// What the thread (or fiber) running an activation provides to the code
// below it, without that code knowing about schedulers: the native stack it
// runs on, and how to wait (for a time, or for another thread's work)
// without holding a CPU worker.
//
// A fiber scheduler (src/executor/scheduler.h) installs both on its worker
// threads; everywhere else the thread's own stack and plain blocking apply.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace wow {

// [lo, hi) of a native stack; {0, 0} means "the thread's own stack".
struct StackRange {
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  bool empty() const { return lo == hi; }
};

// The stack of the fiber now running on this thread, set by the scheduler
// around every switch into a fiber. The AoT runtime reads it to tell stack
// exhaustion from other faults.
StackRange CurrentFiberStack();
void SetCurrentFiberStack(StackRange stack);

class Completion;

// How a blocking host call waits. Installed per thread by a scheduler.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Returns once steady_clock reads `until` (or later). A fiber scheduler
  // suspends the calling fiber and runs others meanwhile.
  virtual void WaitUntil(std::chrono::steady_clock::time_point until) = 0;
  // Returns once `done` has been notified (at once if it already was). A
  // fiber scheduler suspends the calling fiber and runs others meanwhile,
  // typically through done.SetWaker(). Called by Completion::Wait.
  virtual void WaitFor(Completion& done) = 0;
};

// A one-shot event: Wait() returns once Notify() has been called (before or
// after Wait). Hands work to another thread (e.g. a JIT engine's own
// threads) and waits for it: on a fiber scheduler's worker the waiting
// fiber is suspended and the worker runs other tasks meanwhile; on any
// other thread Wait blocks the thread.
//
// Thread-safe. Notify may be called from any thread, once (later calls do
// nothing); one thread or fiber waits. The waiter owns the Completion and
// may destroy it as soon as Wait returns (or done() reads true): Notify
// touches nothing of it after releasing the waiter.
class Completion {
 public:
  Completion();
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion();

  // Marks the event done and releases the waiter, if any.
  void Notify();
  // Returns once Notify has been called, through ThreadWaiter()->WaitFor
  // when the thread has a waiter, else by blocking the thread.
  void Wait();
  // Notify has been called.
  bool done() const;

  // For Waiter::WaitFor implementations. If Notify has not been called,
  // stores `wake` and returns true: Notify will run it, once, on the
  // notifying thread, after it has let go of this Completion (so `wake`
  // must not touch it). Otherwise returns false and drops `wake`: the wait
  // is already over. One waker per Completion.
  bool SetWaker(std::function<void()> wake);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;  // blocking waiters
  bool done_ = false;
  std::function<void()> wake_;  // a suspended waiter's wake-up
};

// The calling thread's waiter; null means "sleep the thread".
Waiter* ThreadWaiter();
void SetThreadWaiter(Waiter* waiter);

// Waits until `until` through the thread's waiter, or sleeps the thread.
void WaitUntil(std::chrono::steady_clock::time_point until);

}  // namespace wow
