#include "wasm/jit/js_threads.h"

#include <js/Context.h>
#include <js/ContextOptions.h>
#include <js/GlobalObject.h>
#include <js/Initialization.h>
#include <js/Interrupt.h>
#include <js/PropertyAndElement.h>
#include <js/Stack.h>
#include <jsapi.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "common/worker_context.h"

namespace wow::wasm::jit {

// One thread of the pool: its context, realm and job queue.
class JsThread {
 public:
  JsThread(JsThreads* pool, bool root) : pool_(pool), root_(root) {}

  // Starts the thread and waits until its context is ready.
  Status Start(JSContext* parent, size_t stack_bytes);
  // False once the thread has ended (the pool shut down): the job is dropped.
  bool Push(JsJob job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_) return false;
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  void RequestExit() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_ = true;
    }
    cv_.notify_one();
  }
  bool root() const { return root_; }
  JSContext* cx() const { return realm_.cx; }
  void Join() {
    if (started_) pthread_join(tid_, nullptr);
    started_ = false;
  }

 private:
  friend class JsThreads;
  static void* Main(void* self);
  bool SetUp(JSContext* parent);
  void Loop();
  void TearDown();

  JsThreads* pool_;
  bool root_;
  pthread_t tid_{};
  bool started_ = false;
  JsRealm realm_;
  ThreadCache cache_;
  // Rooted for the thread's life; reset before the context is destroyed.
  std::unique_ptr<JS::PersistentRootedObject> global_, module_ctor_, instance_ctor_;
  std::unique_ptr<JSAutoRealm> in_realm_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JsJob> queue_;
  bool exit_ = false;
  bool ended_ = false;  // the loop has returned: no job will run
  // Start-up handshake.
  bool ready_ = false;
  Status start_status_;
  JSContext* parent_ = nullptr;
};

namespace {

thread_local JsThread* t_self = nullptr;
// Set when the process exits: running wasm code is stopped.
std::atomic<bool> g_terminating{false};
thread_local bool t_has_deadline = false;
thread_local Clock::time_point t_deadline;
thread_local bool t_timed_out = false;

// Requested by the watchdog from its thread; runs on the JS thread at the
// next interrupt check. False terminates the running wasm code, leaving no
// exception pending.
bool OnInterrupt(JSContext*) {
  if (g_terminating.load()) return false;
  if (!t_has_deadline || Clock::now() < t_deadline) return true;  // stale or early: go on
  t_timed_out = true;
  return false;
}

JSClass kGlobalClass = {"WowGlobal", JSCLASS_GLOBAL_FLAGS, &JS::DefaultGlobalClassOps, nullptr, nullptr, nullptr};

// How often an expired deadline is requested again, in case the request
// arrived between two checks of an unrelated job.
constexpr auto kRepoke = std::chrono::milliseconds(2);
// Stack kept for host functions below SpiderMonkey's quota.
constexpr size_t kHostStackReserve = 1ull << 20;

}  // namespace

// ------------------------------------------------------------------ ThreadCache

std::shared_ptr<void> ThreadCache::Find(uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second.second);
  return it->second.first;
}

void ThreadCache::Insert(uint64_t key, std::shared_ptr<void> value) {
  Erase(key);
  order_.push_front(key);
  entries_.emplace(key, std::make_pair(std::move(value), order_.begin()));
  if (entries_.size() > kMaxEntries) Erase(order_.back());
}

void ThreadCache::Erase(uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  order_.erase(it->second.second);
  entries_.erase(it);
}

void ThreadCache::Clear() {
  entries_.clear();
  order_.clear();
}

// ------------------------------------------------------------------ JsThread

Status JsThread::Start(JSContext* parent, size_t stack_bytes) {
  parent_ = parent;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes + kHostStackReserve);
  int rc = pthread_create(&tid_, &attr, &JsThread::Main, this);
  pthread_attr_destroy(&attr);
  if (rc != 0) return Status::Error(Code::kResourceExhausted, Phase::kInstantiation, "cannot start a JS thread");
  started_ = true;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return ready_; });
  return start_status_;
}

void* JsThread::Main(void* arg) {
  auto* self = static_cast<JsThread*>(arg);
  t_self = self;
  bool ok = self->SetUp(self->parent_);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->ready_ = true;
  }
  self->cv_.notify_all();
  if (ok) {
    self->Loop();
    self->TearDown();
  }
  t_self = nullptr;
  return nullptr;
}

bool JsThread::SetUp(JSContext* parent) {
  pthread_attr_t attr;
  size_t stack = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, &stack);
    pthread_attr_destroy(&attr);
  }
  JSContext* cx = JS_NewContext(JS::DefaultHeapMaxBytes, parent ? JS_GetRuntime(parent) : nullptr);
  if (cx == nullptr) {
    start_status_ = Status::Error(Code::kResourceExhausted, Phase::kInstantiation, "cannot create a JS context");
    return false;
  }
  realm_.cx = cx;
  if (stack > kHostStackReserve) JS_SetNativeStackQuota(cx, stack - kHostStackReserve);
  JS::ContextOptionsRef(cx).setWasm(true).setWasmBaseline(true).setWasmIon(true);
  if (!JS::InitSelfHostedCode(cx)) {
    start_status_ = Status::Internal("SpiderMonkey's self-hosted code failed to initialise");
    JS_DestroyContext(cx);
    realm_.cx = nullptr;
    return false;
  }
  JS_AddInterruptCallback(cx, &OnInterrupt);
  global_ = std::make_unique<JS::PersistentRootedObject>(
      cx, JS_NewGlobalObject(cx, &kGlobalClass, nullptr, JS::FireOnNewGlobalHook, JS::RealmOptions()));
  in_realm_ = std::make_unique<JSAutoRealm>(cx, *global_);
  JS::RootedValue wasm(cx), module_ctor(cx), instance_ctor(cx);
  if (!*global_ || !JS_GetProperty(cx, *global_, "WebAssembly", &wasm) || !wasm.isObject()) {
    start_status_ = Status::Internal("SpiderMonkey has no WebAssembly object");
    TearDown();
    return false;
  }
  JS::RootedObject wasm_object(cx, &wasm.toObject());
  if (!JS_GetProperty(cx, wasm_object, "Module", &module_ctor) ||
      !JS_GetProperty(cx, wasm_object, "Instance", &instance_ctor) || !module_ctor.isObject() ||
      !instance_ctor.isObject()) {
    start_status_ = Status::Internal("SpiderMonkey's WebAssembly object lacks Module or Instance");
    TearDown();
    return false;
  }
  module_ctor_ = std::make_unique<JS::PersistentRootedObject>(cx, &module_ctor.toObject());
  instance_ctor_ = std::make_unique<JS::PersistentRootedObject>(cx, &instance_ctor.toObject());
  realm_.global = *global_;
  realm_.module_ctor = *module_ctor_;
  realm_.instance_ctor = *instance_ctor_;
  return true;
}

void JsThread::Loop() {
  for (;;) {
    JsJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty()) {
        if (exit_) {
          ended_ = true;
          return;
        }
        if (!cv_.wait_for(lock, pool_->options_.idle_exit, [this] { return !queue_.empty() || exit_; })) {
          lock.unlock();
          if (pool_->RetireIfIdle(this)) {  // no job can arrive: it is out of the pool
            std::lock_guard<std::mutex> relock(mu_);
            ended_ = true;
            return;
          }
        }
        continue;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job(realm_, cache_);
  }
}

void JsThread::TearDown() {
  JSContext* cx = realm_.cx;
  if (cx == nullptr) return;
  cache_.Clear();  // engine objects rooted on this thread
  realm_ = JsRealm{.cx = cx};
  instance_ctor_.reset();
  module_ctor_.reset();
  in_realm_.reset();
  global_.reset();
  JS_DestroyContext(cx);
  realm_.cx = nullptr;
}

// ------------------------------------------------------------------ JsThreads

Result<std::shared_ptr<JsThreads>> JsThreads::Get() {
  static std::mutex mu;
  static std::shared_ptr<JsThreads> pool;  // lives until exit: SpiderMonkey starts once per process
  static Status failed;
  std::lock_guard<std::mutex> lock(mu);
  if (pool) return pool;
  if (!failed.ok()) return failed;
  if (!JS_Init()) {
    failed = Status::Internal("SpiderMonkey failed to initialise (JS_Init)");
    return failed;
  }
  // Huge memory reserves 6 GiB of address space per wasm memory (and mmaps
  // it: 33 instead of 17 µs per instance); with a fresh instance per
  // activation, dead ones (freed only by GC) pile up reservations. Bounds
  // checks are explicit instead. After JS_Init, which sets the default.
  (void)JS::DisableWasmHugeMemory();
  pool = std::make_shared<JsThreads>(JsThreadsOptions{});
  if (pool->threads() == 0) {
    failed = Status::Internal("SpiderMonkey could not create its first context");
    pool.reset();
    return failed;
  }
  // At exit, before SpiderMonkey's own static objects go (which abort when
  // its threads still hold their locks), even if instances were leaked.
  std::atexit([] {
    std::lock_guard<std::mutex> lock(mu);
    if (pool) pool->Shutdown();
  });
  return pool;
}

JsThreads::JsThreads(JsThreadsOptions options) : options_(options) {
  if (options_.min_threads <= 0)
    options_.min_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  options_.max_threads = std::max(options_.max_threads, options_.min_threads);
  // The first context alone (SpiderMonkey's rule), on the root thread.
  auto root = std::make_unique<JsThread>(this, /*root=*/true);
  if (!root->Start(nullptr, options_.stack_bytes).ok()) {
    root->Join();
    return;
  }
  parent_ = root->cx();
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(root.get());
    threads_.push_back(std::move(root));
  }
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

JsThreads::~JsThreads() { Shutdown(); }

void JsThreads::Shutdown() {
  std::vector<std::unique_ptr<JsThread>> threads;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    ReapRetired(lock);
    threads = std::move(threads_);
    idle_.clear();
  }
  released_cv_.notify_all();
  // Wasm code still running (a call with no deadline) is stopped.
  g_terminating = true;
  for (auto& t : threads) JS_RequestInterruptCallback(t->cx());
  // Children first: the root's runtime is their parent. Each drains its
  // queue (pending destroy jobs) before it tears down.
  for (auto& t : threads) {
    if (!t->root()) t->RequestExit();
  }
  for (auto& t : threads) {
    if (!t->root()) t->Join();
  }
  for (auto& t : threads) {
    if (t->root()) {
      t->RequestExit();
      t->Join();
    }
  }
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (parent_ != nullptr) JS_ShutDown();
  // The threads' objects stay allocated: a caller racing with exit may
  // still hold one (its jobs are dropped).
  for (auto& t : threads) (void)t.release();
}

size_t JsThreads::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

Result<JsThread*> JsThreads::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_) return Status::Error(Code::kResourceExhausted, Phase::kInstantiation, "the JIT is shutting down");
    ReapRetired(lock);
    if (!idle_.empty()) {
      JsThread* t = idle_.back();  // the most recently used: its caches are warm
      idle_.pop_back();
      return t;
    }
    if (static_cast<int>(threads_.size()) + starting_ < options_.max_threads) break;
    released_cv_.wait(lock);
  }
  ++starting_;
  lock.unlock();
  auto thread = std::make_unique<JsThread>(this, /*root=*/false);
  Status started = thread->Start(parent_, options_.stack_bytes);
  lock.lock();
  --starting_;
  if (!started.ok()) {
    lock.unlock();
    thread->Join();
    released_cv_.notify_one();
    return started;
  }
  JsThread* t = thread.get();
  threads_.push_back(std::move(thread));
  return t;
}

void JsThreads::Release(JsThread* thread) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(thread);
  }
  released_cv_.notify_one();
}

bool JsThreads::RetireIfIdle(JsThread* thread) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || thread->root() || static_cast<int>(threads_.size()) <= options_.min_threads) return false;
  auto idle = std::find(idle_.begin(), idle_.end(), thread);
  if (idle == idle_.end()) return false;  // reserved: an instance lives on it
  idle_.erase(idle);
  auto it = std::find_if(threads_.begin(), threads_.end(), [thread](const auto& t) { return t.get() == thread; });
  retired_.push_back(std::move(*it));
  threads_.erase(it);
  return true;
}

void JsThreads::ReapRetired(std::unique_lock<std::mutex>&) {
  // A retired thread only tears down its context: joining is short.
  for (auto& t : retired_) t->Join();
  retired_.clear();
}

bool JsThreads::Run(JsThread* thread, const JsJob& job) {
  if (t_self == thread) {
    job(thread->realm_, thread->cache_);
    return true;
  }
  Completion done;
  bool queued = thread->Push([&job, &done](const JsRealm& realm, ThreadCache& cache) {
    job(realm, cache);
    done.Notify();
  });
  if (!queued) return false;
  done.Wait();
  return true;
}

void JsThreads::Post(JsThread* thread, JsJob job) { (void)thread->Push(std::move(job)); }

void JsThreads::PostAll(const JsJob& job) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& t : threads_) t->Push(job);
}

void JsThreads::ArmDeadline(Clock::time_point deadline) {
  t_has_deadline = true;
  t_deadline = deadline;
  t_timed_out = false;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    deadlines_[t_self] = deadline;
  }
  watch_cv_.notify_one();  // it may be the earliest
}

void JsThreads::DisarmDeadline() {
  t_has_deadline = false;
  std::lock_guard<std::mutex> lock(watch_mu_);
  deadlines_.erase(t_self);
}

bool JsThreads::TimedOut() { return t_timed_out; }

void JsThreads::WatchdogLoop() {
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!watch_stop_) {
    if (deadlines_.empty()) {
      watch_cv_.wait(lock);
      continue;
    }
    auto next = std::min_element(deadlines_.begin(), deadlines_.end(), [](const auto& a, const auto& b) {
                  return a.second < b.second;
                })->second;
    if (Clock::now() < next) {
      watch_cv_.wait_until(lock, next);
      continue;
    }
    // Due: interrupt each late thread, and again every kRepoke until its
    // job disarms (a request can land between two checks of another job).
    auto now = Clock::now();
    for (auto& [t, when] : deadlines_) {
      if (when <= now) {
        JS_RequestInterruptCallback(t->cx());
        when = now + kRepoke;
      }
    }
  }
}

}  // namespace wow::wasm::jit
