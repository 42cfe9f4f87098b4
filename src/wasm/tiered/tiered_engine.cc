#include "wasm/tiered/tiered_engine.h"

#include <malloc.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "wasm/aot/aot_engine.h"

namespace wow::wasm::tiered {
namespace {

spdlog::logger& Log() {
  // Never destroyed: a background thread may log while the process exits.
  static auto* logger = new spdlog::logger("wow", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  return *logger;
}

// One AoT compile at a time in the process, whichever tiered engine asks:
// on an edge node the compile must not take every core from requests.
class CompileSlot {
 public:
  static CompileSlot& Get() {
    static auto* slot = new CompileSlot();  // never destroyed: used at exit
    return *slot;
  }
  // Waits for the slot; false (without it) once `stop` returns true.
  bool Acquire(const std::function<bool()>& stop) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_ || stop(); });
    if (stop()) return false;
    busy_ = true;
    return true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    cv_.notify_all();
  }
  // Lets waiters re-check their stop condition.
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;
};

// A module on two tiers: the fast module until the AoT one is published.
// The tier is read under a mutex held only to copy a shared_ptr (GCC 12's
// std::atomic<std::shared_ptr> unlocks with relaxed order after a load,
// which ThreadSanitizer reports as a race with the publishing store).
class TieredModule : public Module {
 public:
  enum class State { kPending, kAot, kFailed, kAbandoned };

  TieredModule(std::shared_ptr<const Module> fast, const HostFunctions& host)
      : info_(fast->info()), host_(host), tier_(std::move(fast)) {}
  explicit TieredModule(std::shared_ptr<const Module> aot)
      : info_(aot->info()), tier_(std::move(aot)), state_(State::kAot) {}

  const ModuleInfo& info() const override { return info_; }

  Result<std::unique_ptr<Instance>> Instantiate(const InstanceOptions& options) const override {
    std::shared_ptr<const Module> tier;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tier = tier_;
    }
    return tier->Instantiate(options);  // the instance keeps its tier, whatever happens next
  }

  // Host functions for the AoT load; valid until the module is published.
  const HostFunctions& host() const { return host_; }

  // Switches new instances to `aot` and lets the fast module go (running
  // fast instances keep what they use).
  void Publish(std::shared_ptr<const Module> aot) {
    std::shared_ptr<const Module> fast;
    std::lock_guard<std::mutex> lock(mu_);
    fast = std::exchange(tier_, std::move(aot));
    state_ = State::kAot;
    cv_.notify_all();
  }
  // Ends the wait for the AoT tier without one.
  void Settle(State state) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kPending) return;
    state_ = state;
    cv_.notify_all();
  }
  bool WaitUpgraded(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return state_ != State::kPending; });
    return state_ == State::kAot;
  }

 private:
  const ModuleInfo info_;
  const HostFunctions host_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const Module> tier_;  // the fast module, then the AoT one
  State state_ = State::kPending;
};

class TieredEngine : public Engine {
 public:
  TieredEngine(std::unique_ptr<Engine> fast, std::unique_ptr<Engine> aot, TieredOptions options)
      : fast_(std::move(fast)), aot_(std::move(aot)), options_(options), worker_([this] { Work(); }) {}

  ~TieredEngine() override {
    std::vector<std::weak_ptr<TieredModule>> abandoned;
    {
      std::unique_lock<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto& [key, job] : jobs_) {
        abandoned.insert(abandoned.end(), job->waiters.begin(), job->waiters.end());
        job->waiters.clear();
      }
      queue_.clear();
      cv_.notify_all();
    }
    Settle(abandoned, TieredModule::State::kAbandoned);
    CompileSlot::Get().Wake();
    // A compile in progress: its C compiler is killed, and one the thread
    // was about to start fails at once.
    aot::CancelCompiles(*aot_);
    worker_.join();
  }

  std::string_view name() const override { return "tiered"; }

  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm) override {
    Lookup lookup = LookUp(wasm);
    if (lookup.cached) {
      PrepareInfo info;  // Load will take the artifact
      info.artifact = lookup.artifact;
      info.cache_hit = true;
      return info;
    }
    WOW_ASSIGN_OR_RETURN(PrepareInfo info, fast_->Prepare(wasm));
    Enqueue(lookup.key, wasm, nullptr);
    return info;
  }

  Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t> wasm, const HostFunctions& host) override {
    Lookup lookup = LookUp(wasm);
    std::optional<Status> aot_failure;
    if (lookup.cached) {
      // dlopen of a cached artifact: as fast as the fast tier's load.
      auto aot = aot_->Load(wasm, host);
      if (aot.ok()) return std::shared_ptr<const Module>(std::make_shared<TieredModule>(std::move(aot).value()));
      aot_failure = aot.status();
    }
    // Fails as the AoT load did when the module cannot link: nothing to report.
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<const Module> fast, fast_->Load(wasm, host));
    auto module = std::make_shared<TieredModule>(std::move(fast), host);
    if (aot_failure) {
      ReportFailure(lookup.key, *aot_failure);
      module->Settle(TieredModule::State::kFailed);
    } else {
      Enqueue(lookup.key, wasm, module);
    }
    return std::shared_ptr<const Module>(std::move(module));
  }

 private:
  struct Lookup {
    std::string key;  // the artifact's cache key, else the module's sha256
    std::filesystem::path artifact;
    bool cached = false;
  };
  struct Job {
    std::string key;
    std::vector<uint8_t> wasm;
    std::vector<std::weak_ptr<TieredModule>> waiters;
  };

  Lookup LookUp(std::span<const uint8_t> wasm) {
    if (auto found = aot::LookUpArtifact(*aot_, wasm)) return {found->path.stem().string(), found->path, found->cached};
    return {Sha256Hex(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size())), {}, false};
  }

  // Queues the AoT compile of `wasm` unless it is queued or running;
  // `module` (if any) gets the AoT module when it is ready.
  void Enqueue(const std::string& key, std::span<const uint8_t> wasm, const std::shared_ptr<TieredModule>& module) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || failed_.count(key) > 0) {
      if (module) module->Settle(stopping_ ? TieredModule::State::kAbandoned : TieredModule::State::kFailed);
      return;
    }
    std::shared_ptr<Job>& job = jobs_[key];
    if (!job) {
      job = std::make_shared<Job>();
      job->key = key;
      job->wasm.assign(wasm.begin(), wasm.end());
      queue_.push_back(job);
      cv_.notify_all();
    }
    if (module) job->waiters.push_back(module);
  }

  void Work() {
    // Linux: a thread's nice value is its own, and processes it starts
    // inherit it. The compile takes what the request path leaves.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.compile_nice);
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        job = queue_.front();
        queue_.pop_front();
      }
      if (!CompileSlot::Get().Acquire([this] { return stopping_.load(); })) break;
      auto prepared = aot_->Prepare(job->wasm);
      CompileSlot::Get().Release();
      if (prepared.ok() && !prepared->cache_hit) malloc_trim(0);  // the generated C is freed: give it back
      std::vector<std::weak_ptr<TieredModule>> waiters;
      {
        std::lock_guard<std::mutex> lock(mu_);
        waiters.swap(job->waiters);
        jobs_.erase(job->key);
      }
      if (stopping_) {
        Settle(waiters, TieredModule::State::kAbandoned);
        break;
      }
      if (!prepared.ok()) {
        ReportFailure(job->key, prepared.status());
        Settle(waiters, TieredModule::State::kFailed);
        continue;
      }
      for (const auto& waiter : waiters) {
        auto module = waiter.lock();
        if (!module) continue;  // unloaded meanwhile; the artifact stays cached
        auto aot = aot_->Load(job->wasm, module->host());
        if (aot.ok()) {
          module->Publish(std::move(aot).value());
        } else {
          ReportFailure(job->key, aot.status());
          module->Settle(TieredModule::State::kFailed);
        }
      }
    }
  }

  static void Settle(const std::vector<std::weak_ptr<TieredModule>>& modules, TieredModule::State state) {
    for (const auto& m : modules) {
      if (auto module = m.lock()) module->Settle(state);
    }
  }

  // Logs the first failure of each module; later loads of it stay fast.
  void ReportFailure(const std::string& key, const Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_.insert(key).second) return;
    }
    Log().warn("tiered engine: module {}... stays on the {} engine, its AoT artifact failed: {}", key.substr(0, 12),
               fast_->name(), status.ToString());
  }

  const std::unique_ptr<Engine> fast_;
  const std::unique_ptr<Engine> aot_;
  const TieredOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // queued or compiling, by key
  std::set<std::string> failed_;
  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace

std::unique_ptr<Engine> CreateTieredEngine(std::unique_ptr<Engine> fast, std::unique_ptr<Engine> aot,
                                           TieredOptions options) {
  return std::make_unique<TieredEngine>(std::move(fast), std::move(aot), options);
}

bool WaitForAotTier(const Module& module, std::chrono::milliseconds timeout) {
  const auto* tiered = dynamic_cast<const TieredModule*>(&module);
  return tiered != nullptr && tiered->WaitUpgraded(timeout);
}

}  // namespace wow::wasm::tiered
