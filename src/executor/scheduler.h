#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace wow::executor {

struct SchedulerOptions {
  // Worker threads that run tasks. 0: one per core.
  int workers = 0;
  // Native stack per task (a fiber), plus a guard page below it. Bounds the
  // guest's recursion like a thread's stack would. Reserved lazily and
  // reused; default 8 MiB.
  size_t stack_bytes = 8ull << 20;
  // Tasks accepted and not finished (queued, running or waiting); Submit
  // refuses more. Default 4096.
  size_t max_tasks = 4096;
};

// Runs tasks (activations) on fibers over a fixed pool of worker threads.
// A task that waits through wow::WaitUntil or wow::Completion::Wait
// (common/worker_context.h), as http.get, sleeping WASI calls and work handed
// to another thread do, suspends its fiber and the worker runs other tasks
// meanwhile: waiting activations hold no CPU worker.
// A fiber stays on the worker that started it: the wake-ups rely on it
// (WaitFor). The AoT runtime does not: a guest suspended in a host call may
// resume on any thread (wasm/aot/aot_runtime.h).
// Tasks are not preempted: a CPU-bound task keeps its worker until it ends
// or its deadline stops it. Thread-safe.
class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  // Shutdown(), then joins the workers.
  ~Scheduler();

  // Queues `task`. False when max_tasks are in flight or after Shutdown().
  // The task must not throw (an escaping exception is swallowed).
  bool Submit(std::function<void()> task);

  // Stops accepting tasks and waits until every accepted one has finished.
  void Shutdown();

  // Tasks accepted and not yet finished.
  size_t tasks() const;
  int workers() const { return static_cast<int>(workers_.size()); }
  const SchedulerOptions& options() const { return options_; }

  class StackPool;
  class Worker;

 private:
  friend class Worker;
  void TaskDone();

  SchedulerOptions options_;
  std::unique_ptr<StackPool> stacks_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait here for tasks
  std::condition_variable idle_cv_;  // Shutdown waits here for tasks == 0
  std::deque<std::function<void()>> queue_;
  size_t tasks_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace wow::executor
