#include "executor/scheduler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <queue>
#include <vector>

#include "common/worker_context.h"

namespace wow::executor {

namespace ctx = boost::context;
using Clock = std::chrono::steady_clock;

// Fiber stacks with a PROT_NONE guard page below, kept for reuse: mmap,
// mprotect and munmap per activation would cost more than the activation.
class Scheduler::StackPool {
 public:
  // Stacks kept beyond this are unmapped when released.
  static constexpr size_t kMaxFree = 256;
  // On release, pages below the top this many bytes go back to the kernel,
  // so one deep recursion does not pin megabytes per pooled stack.
  static constexpr size_t kKeepTop = 256 * 1024;

  explicit StackPool(size_t stack_bytes) : page_(static_cast<size_t>(getpagesize())) {
    size_ = (stack_bytes + page_ - 1) / page_ * page_;
  }
  ~StackPool() {
    for (void* base : free_) ::munmap(base, size_ + page_);
  }

  // Null when the kernel refuses.
  void* Allocate() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        void* base = free_.back();
        free_.pop_back();
        return base;
      }
    }
    void* base = ::mmap(nullptr, size_ + page_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    if (::mprotect(base, page_, PROT_NONE) != 0) {
      ::munmap(base, size_ + page_);
      return nullptr;
    }
    return base;
  }

  void Release(void* base) {
    if (size_ > kKeepTop) ::madvise(static_cast<char*>(base) + page_, size_ - kKeepTop, MADV_DONTNEED);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_.size() < kMaxFree) {
        free_.push_back(base);
        return;
      }
    }
    ::munmap(base, size_ + page_);
  }

  size_t usable_bytes() const { return size_; }
  size_t guard_bytes() const { return page_; }

 private:
  size_t page_;
  size_t size_;
  std::mutex mu_;
  std::vector<void*> free_;
};

namespace {

struct Fiber {
  ctx::fiber self;  // the fiber while it is suspended
  ctx::fiber back;  // the worker loop while the fiber runs
  std::function<void()> task;
  StackRange stack;
  bool finished = false;
};

// Boost.Context's StackAllocator concept over the pool; records the range
// for the fiber so the AoT runtime can recognise its guard page.
struct PooledStack {
  Scheduler::StackPool* pool;
  Fiber* fiber;

  ctx::stack_context allocate() {
    void* base = pool->Allocate();
    if (base == nullptr) throw std::bad_alloc();
    ctx::stack_context sc;
    sc.size = pool->usable_bytes();
    sc.sp = static_cast<char*>(base) + pool->guard_bytes() + pool->usable_bytes();
    fiber->stack = {reinterpret_cast<uintptr_t>(base) + pool->guard_bytes(), reinterpret_cast<uintptr_t>(sc.sp)};
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    pool->Release(static_cast<char*>(sc.sp) - pool->usable_bytes() - pool->guard_bytes());
  }
};

}  // namespace

class Scheduler::Worker : public Waiter {
 public:
  explicit Worker(Scheduler* scheduler) : s_(scheduler), thread_([this] { Loop(); }) {}
  ~Worker() override {
    if (thread_.joinable()) thread_.join();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // Suspends the running fiber until `until`; other tasks run meanwhile.
  void WaitUntil(Clock::time_point until) override {
    if (current_ == nullptr) {  // not on a fiber (a task without a stack)
      SetThreadWaiter(nullptr);
      wow::WaitUntil(until);
      SetThreadWaiter(this);
      return;
    }
    Fiber* f = current_;
    sleepers_.push(Sleeper{until, next_seq_++, f});
    f->back = std::move(f->back).resume();
  }

  // Suspends the running fiber until `done` is notified; other tasks run
  // meanwhile. Notify (from any thread, this one included) puts the fiber
  // on ready_; only this worker resumes it, and only after it has yielded
  // below, so a Notify that comes before the switch is harmless.
  void WaitFor(Completion& done) override {
    if (current_ == nullptr) {  // not on a fiber: block the thread
      SetThreadWaiter(nullptr);
      done.Wait();
      SetThreadWaiter(this);
      return;
    }
    Fiber* f = current_;
    if (!done.SetWaker([this, f] { MakeReady(f); })) return;  // already done
    ++waiting_;
    f->back = std::move(f->back).resume();
  }

 private:
  struct Sleeper {
    Clock::time_point when;
    uint64_t seq;  // FIFO among equal times
    Fiber* fiber;
    bool operator>(const Sleeper& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  // Called by Completion::Notify, on any thread, once per WaitFor that
  // suspended `f`. Notifies under the lock: once it is released the fiber may
  // run to its end and the scheduler be destroyed.
  void MakeReady(Fiber* f) {
    std::lock_guard<std::mutex> lock(s_->mu_);
    ready_.push_back(f);
    s_->work_cv_.notify_all();  // the cv is shared: wake this worker for sure
  }

  void Loop() {
    SetThreadWaiter(this);
    std::vector<Fiber*> ready;
    for (;;) {
      // Fibers whose wait is over (a time, or a Completion) go before one
      // new task.
      auto now = Clock::now();
      while (!sleepers_.empty() && sleepers_.top().when <= now) {
        Fiber* f = sleepers_.top().fiber;
        sleepers_.pop();
        Resume(f);
      }
      {
        std::lock_guard<std::mutex> lock(s_->mu_);
        ready.swap(ready_);
      }
      for (Fiber* f : ready) {
        --waiting_;
        Resume(f);
      }
      ready.clear();
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(s_->mu_);
        if (s_->queue_.empty()) {
          // Suspended fibers are tasks not yet finished: Shutdown waits for
          // them before stopping_ is set, so this only guards the invariant.
          bool idle = sleepers_.empty() && waiting_ == 0;
          if (s_->stopping_ && idle) break;
          auto has_work = [this, idle] { return !s_->queue_.empty() || !ready_.empty() || (s_->stopping_ && idle); };
          if (sleepers_.empty()) {
            s_->work_cv_.wait(lock, has_work);
          } else {
            s_->work_cv_.wait_until(lock, sleepers_.top().when, has_work);
          }
          continue;
        }
        task = std::move(s_->queue_.front());
        s_->queue_.pop_front();
      }
      Start(std::move(task));
    }
    SetThreadWaiter(nullptr);
  }

  void Start(std::function<void()> task) {
    auto* f = new Fiber;
    f->task = std::move(task);
    try {
      f->self = ctx::fiber(std::allocator_arg, PooledStack{s_->stacks_.get(), f}, [f](ctx::fiber&& back) {
        f->back = std::move(back);
        try {
          f->task();
        } catch (const ctx::detail::forced_unwind&) {
          throw;  // Boost.Context unwinding the fiber: not ours to stop
        } catch (...) {
        }
        f->task = nullptr;  // captured state dies on its own stack
        f->finished = true;
        return std::move(f->back);
      });
    } catch (const std::bad_alloc&) {
      // No stack to be had: run on the worker's own stack; waits then
      // sleep the thread instead of suspending.
      try {
        f->task();
      } catch (...) {
      }
      delete f;
      s_->TaskDone();
      return;
    }
    Resume(f);
  }

  void Resume(Fiber* f) {
    current_ = f;
    SetCurrentFiberStack(f->stack);
    f->self = std::move(f->self).resume();
    SetCurrentFiberStack({});
    current_ = nullptr;
    if (f->finished) {
      delete f;
      s_->TaskDone();
    }
  }

  Scheduler* s_;
  Fiber* current_ = nullptr;
  uint64_t next_seq_ = 0;
  std::priority_queue<Sleeper, std::vector<Sleeper>, std::greater<Sleeper>> sleepers_;
  size_t waiting_ = 0;         // fibers suspended in WaitFor, ready or not
  std::vector<Fiber*> ready_;  // notified, to be resumed; guarded by s_->mu_
  std::thread thread_;         // last: starts after the members above exist
};

Scheduler::Scheduler(SchedulerOptions options)
    : options_(options), stacks_(std::make_unique<StackPool>(options.stack_bytes)) {
  int n = options_.workers > 0 ? options_.workers : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  options_.workers = n;
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(this));
}

Scheduler::~Scheduler() {
  Shutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w->Join();
}

bool Scheduler::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_ || tasks_ >= options_.max_tasks) return false;
    queue_.push_back(std::move(task));
    ++tasks_;
  }
  work_cv_.notify_one();
  return true;
}

void Scheduler::Shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  accepting_ = false;
  idle_cv_.wait(lock, [this] { return tasks_ == 0; });
}

size_t Scheduler::tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_;
}

void Scheduler::TaskDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--tasks_ == 0) idle_cv_.notify_all();
}

}  // namespace wow::executor
