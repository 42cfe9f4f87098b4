#include "common/worker_context.h"

#include <time.h>

#include <cerrno>
#include <utility>

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

Completion::Completion() = default;
Completion::~Completion() = default;

void Completion::Notify() {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    wake = std::move(wake_);
    // Under the lock: a blocking waiter cannot see done_, return and destroy
    // the Completion before this call is over.
    cv_.notify_all();
  }
  // The Completion may be gone from here on; `wake` is ours.
  if (wake) wake();
}

void Completion::Wait() {
  if (Waiter* waiter = t_waiter) {
    waiter->WaitFor(*this);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
}

bool Completion::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

bool Completion::SetWaker(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return false;
  wake_ = std::move(wake);
  return true;
}

}  // namespace wow
