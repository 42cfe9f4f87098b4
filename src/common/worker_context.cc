#include "common/worker_context.h"

#include <time.h>

#include <cerrno>

namespace wow {
namespace {

thread_local StackRange t_fiber_stack;
thread_local Waiter* t_waiter = nullptr;

}  // namespace

StackRange CurrentFiberStack() { return t_fiber_stack; }
void SetCurrentFiberStack(StackRange stack) { t_fiber_stack = stack; }

Waiter* ThreadWaiter() { return t_waiter; }
void SetThreadWaiter(Waiter* waiter) { t_waiter = waiter; }

void WaitUntil(std::chrono::steady_clock::time_point until) {
  if (t_waiter != nullptr) {
    t_waiter->WaitUntil(until);
    return;
  }
  // libstdc++'s steady_clock is CLOCK_MONOTONIC.
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count();
  if (ns <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace wow
