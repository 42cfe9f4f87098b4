#pragma once

// The threads SpiderMonkey runs on. A JSContext belongs to the thread that
// created it and its activations must nest (LIFO), so JIT instances cannot
// run on the executor's fiber workers, where suspended activations
// interleave on one thread and fiber stacks lie outside the thread's stack.
// Instead every instance is pinned to one JS thread of this pool for its
// whole life; callers hand it jobs and wait (a fiber waits without holding
// its worker, common/worker_context.h).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"

struct JSContext;
class JSObject;

namespace wow::wasm::jit {

using Clock = std::chrono::steady_clock;

class JsThread;

// Per-thread JSAPI handles for jobs (valid on that thread only).
struct JsRealm {
  JSContext* cx = nullptr;
  JSObject* global = nullptr;
  JSObject* module_ctor = nullptr;    // WebAssembly.Module
  JSObject* instance_ctor = nullptr;  // WebAssembly.Instance
};

// Engine state kept per JS thread (e.g. a module's JS objects there),
// destroyed on that thread before its context.
class ThreadCache {
 public:
  std::shared_ptr<void> Find(uint64_t key);
  void Insert(uint64_t key, std::shared_ptr<void> value);
  void Erase(uint64_t key);
  void Clear();

 private:
  static constexpr size_t kMaxEntries = 64;
  std::list<uint64_t> order_;  // most recently used first
  std::unordered_map<uint64_t, std::pair<std::shared_ptr<void>, std::list<uint64_t>::iterator>> entries_;
};

using JsJob = std::function<void(const JsRealm&, ThreadCache&)>;

struct JsThreadsOptions {
  // Threads kept even when idle. 0: one per core.
  int min_threads = 0;
  // Threads at most; beyond that Acquire waits for a release. One thread
  // serves one instance at a time, so this bounds concurrent JIT
  // activations (waiting ones included). Default 256.
  int max_threads = 256;
  // A thread above min_threads idle this long exits. Default 30 s.
  std::chrono::milliseconds idle_exit{30'000};
  // Native stack of each JS thread; wasm recursion deeper than it allows
  // traps as stack exhaustion. Default 8 MiB, as a fiber's.
  size_t stack_bytes = 8ull << 20;
};

class JsThreads : public std::enable_shared_from_this<JsThreads> {
 public:
  // The process-wide pool (SpiderMonkey is initialised once per process).
  // Engines, modules and instances hold it; when the last holder lets go
  // (at the latest at exit) every context is destroyed on its own thread
  // and SpiderMonkey is shut down.
  static Result<std::shared_ptr<JsThreads>> Get();

  explicit JsThreads(JsThreadsOptions options);
  JsThreads(const JsThreads&) = delete;
  JsThreads& operator=(const JsThreads&) = delete;
  ~JsThreads();

  // Stops every thread (running wasm code is interrupted, queued jobs run),
  // destroys the contexts and shuts SpiderMonkey down; later jobs are
  // dropped. Called at exit. Idempotent.
  void Shutdown();

  // Reserves an idle thread for one instance, starting one when every
  // thread is busy; waits when max_threads are reserved.
  Result<JsThread*> Acquire();
  // Returns a thread reserved by Acquire. Any thread.
  void Release(JsThread* thread);

  // Runs `job` on `thread` and returns when it has finished (true). When
  // called on that thread, runs it at once. False when the pool has shut
  // down (the process is exiting): the job did not run.
  [[nodiscard]] bool Run(JsThread* thread, const JsJob& job);
  // Queues `job` on `thread` without waiting.
  void Post(JsThread* thread, JsJob job);
  // Queues `job` on every running thread, e.g. to drop a module's cache
  // entries.
  void PostAll(const JsJob& job);

  // Time limits. On a JS thread, during a job: from now until Disarm, the
  // running wasm code is interrupted once `deadline` passes (at loop heads
  // and function entries); TimedOut() then says so.
  void ArmDeadline(Clock::time_point deadline);
  void DisarmDeadline();
  static bool TimedOut();

  // Threads now running (for tests and metrics).
  size_t threads() const;

 private:
  friend class JsThread;
  // Called by an idle thread after idle_exit: true when it may exit (it
  // then left the pool; it is joined later).
  bool RetireIfIdle(JsThread* thread);
  void ReapRetired(std::unique_lock<std::mutex>& lock);
  void WatchdogLoop();

  JsThreadsOptions options_;
  mutable std::mutex mu_;
  std::condition_variable released_cv_;  // Acquire waits here at max_threads
  std::condition_variable exited_cv_;    // the destructor waits here
  std::vector<std::unique_ptr<JsThread>> threads_;
  std::vector<JsThread*> idle_;                     // started, not reserved
  std::vector<std::unique_ptr<JsThread>> retired_;  // exiting, to be joined
  int starting_ = 0;                                // threads being created
  bool stopping_ = false;
  JSContext* parent_ = nullptr;  // the first context; the others share its runtime's immutable data

  // Deadlines of running jobs, watched by one thread.
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  std::unordered_map<JsThread*, Clock::time_point> deadlines_;
  bool watch_stop_ = false;
  std::thread watchdog_;
};

}  // namespace wow::wasm::jit
