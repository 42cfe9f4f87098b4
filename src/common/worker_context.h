#pragma once

// What the thread (or fiber) running an activation provides to the code
// below it, without that code knowing about schedulers: the native stack it
// runs on, and how to wait without holding a CPU worker.
//
// A fiber scheduler (src/executor/scheduler.h) installs both on its worker
// threads; everywhere else the thread's own stack and a plain sleep apply.

#include <chrono>
#include <cstdint>

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

// How a blocking host call waits. Installed per thread by a scheduler.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Returns once steady_clock reads `until` (or later). A fiber scheduler
  // suspends the calling fiber and runs others meanwhile.
  virtual void WaitUntil(std::chrono::steady_clock::time_point until) = 0;
};

// The calling thread's waiter; null means "sleep the thread".
Waiter* ThreadWaiter();
void SetThreadWaiter(Waiter* waiter);

// Waits until `until` through the thread's waiter, or sleeps the thread.
void WaitUntil(std::chrono::steady_clock::time_point until);

}  // namespace wow
