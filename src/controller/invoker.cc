#include "controller/invoker.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "common/json.h"

namespace wow::controller {

namespace json = boost::json;
using SysClock = std::chrono::system_clock;
using Clock = std::chrono::steady_clock;

namespace {

int64_t EpochMs(SysClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

const json::value* Member(const json::object& o, std::string_view key) { return o.if_contains(key); }

// A whole number member of an object, if present and whole.
std::optional<uint64_t> WholeMember(const json::object* o, std::string_view key) {
  const json::value* v = o != nullptr ? o->if_contains(key) : nullptr;
  return v != nullptr ? WholeNumber(*v) : std::nullopt;
}

const char* StatusText(abi::ActivationStatus s) {
  switch (s) {
    case abi::ActivationStatus::kSuccess: return "success";
    case abi::ActivationStatus::kApplicationError: return "application error";
    case abi::ActivationStatus::kDeveloperError: return "action developer error";
  }
  return "whisk internal error";
}

int StatusCode(abi::ActivationStatus s) {
  switch (s) {
    case abi::ActivationStatus::kSuccess: return 0;
    case abi::ActivationStatus::kApplicationError: return 1;
    case abi::ActivationStatus::kDeveloperError: return 2;
  }
  return 3;
}

json::object Response(const char* status, int code, json::value result) {
  json::object r;
  r["status"] = status;
  r["statusCode"] = code;
  r["success"] = code == 0;
  r["size"] = ToJson(result).size();
  r["result"] = std::move(result);
  return r;
}

json::object Annotation(std::string key, json::value value) {
  json::object a;
  a["key"] = std::move(key);
  a["value"] = std::move(value);
  return a;
}

// The record's common fields; `annotations` gets path, kind and limits.
json::object RecordBase(const Invocation& inv, int64_t start_ms, int64_t end_ms) {
  const json::object& doc = inv.action.doc;
  json::object r;
  r["namespace"] = inv.action.namespace_;
  r["name"] = inv.action.name;
  r["version"] = doc.contains("version") ? doc.at("version") : json::value("0.0.1");
  r["subject"] = inv.subject;
  r["activationId"] = inv.activation_id;
  r["start"] = start_ms;
  r["end"] = end_ms;
  r["duration"] = end_ms - start_ms;
  r["publish"] = false;
  json::array annotations;
  annotations.push_back(Annotation("path", json::value(inv.action.namespace_ + "/" + inv.action.name)));
  const json::value* exec = Member(doc, "exec");
  const json::value* kind = exec && exec->is_object() ? exec->as_object().if_contains("kind") : nullptr;
  annotations.push_back(Annotation("kind", kind ? *kind : json::value("wasm")));
  if (const json::value* limits = Member(doc, "limits")) annotations.push_back(Annotation("limits", *limits));
  r["annotations"] = std::move(annotations);
  return r;
}

}  // namespace

// A container of one action version (warm_ is by container id). Erased only
// when no activation runs in it and none waits for it.
struct Invoker::Warm {
  std::string key;                                       // the action's (ActionKey)
  int64_t revision = 0;                                  // of the version it holds
  std::shared_ptr<const executor::Container> container;  // null while loading
  std::vector<Ready> waiters;                            // invocations waiting for the load
  int running = 0;
  uint64_t charge = 0;  // what it counts against the memory budget while loaded
  // Unloaded as soon as it is idle: a newer version of the action is
  // loaded, or the action was deleted.
  bool retired = false;
  Clock::time_point last_used = Clock::now();
};

executor::InitRequest InitRequestFor(const StoredAction& action) {
  executor::InitRequest r;
  r.name = action.name;
  r.owner = action.namespace_ + "/" + action.name;
  const json::object& doc = action.doc;
  if (const json::value* exec = Member(doc, "exec"); exec && exec->is_object()) {
    const json::object& e = exec->as_object();
    if (const auto* code = e.if_contains("code"); code && code->is_string()) r.code = std::string(code->as_string());
    if (const auto* binary = e.if_contains("binary"); binary && binary->is_bool()) r.binary = binary->get_bool();
    if (const auto* main = e.if_contains("main"); main && main->is_string()) r.main = std::string(main->as_string());
  }
  if (const json::value* annotations = Member(doc, "annotations"); annotations && annotations->is_array()) {
    for (const json::value& a : annotations->as_array()) {
      const json::object* o = a.if_object();
      if (o == nullptr || !o->contains("key") || !o->at("key").is_string()) continue;
      r.annotations[o->at("key").as_string()] = o->contains("value") ? o->at("value") : json::value();
    }
  }
  const json::value* limits = Member(doc, "limits");
  const json::object* l = limits ? limits->if_object() : nullptr;
  r.memory_mb = WholeMember(l, "memory");
  r.timeout_ms = WholeMember(l, "timeout");
  r.log_mb = WholeMember(l, "logs");
  return r;
}

Invoker::Invoker(executor::Executor& executor, Store& store, InvokerOptions options)
    : executor_(executor), store_(store), options_(options), sweeper_([this] { Sweep(); }) {}

Invoker::~Invoker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  sweeper_.join();
}

std::string Invoker::NewActivationId() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string ContainerId(const StoredAction& action) {
  const json::value* version = Member(action.doc, "version");
  std::string v = version && version->is_string() ? std::string(version->as_string()) : "0.0.1";
  std::string id = action.namespace_ + "/" + action.name + "@" + v;
  if (action.revision != 0) id += "#" + std::to_string(action.revision);
  return id;
}

size_t Invoker::warm_containers() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, w] : warm_) n += w->container != nullptr;
  return n;
}

void Invoker::Acquire(const StoredAction& action, Ready ready) {
  std::string cid = ContainerId(action);
  std::shared_ptr<const executor::Container> warm;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& w = warm_[cid];
    if (!w) {
      w = std::make_shared<Warm>();
      w->key = ActionKey(action.namespace_, action.name);
      w->revision = action.revision;
    }
    if (w->container) {
      w->running++;
      warm = w->container;
    } else {
      bool loading = !w->waiters.empty();
      w->waiters.push_back(std::move(ready));
      if (loading) return;
    }
  }
  if (warm) return ready(std::move(warm), 0);
  auto start = Clock::now();
  auto init = LoadRequest(action);
  if (!init.ok()) return Loaded(cid, init.status(), 0);
  executor_.InitAsync(cid, std::move(init).value(),
                      [this, cid, start](Result<std::shared_ptr<const executor::Container>> result) {
                        // Loaded by an earlier invoker on this executor: the
                        // same id holds the same version.
                        if (!result.ok() && result.status().code() == Code::kAlreadyExists) {
                          if (auto existing = executor_.Find(cid)) result = existing;
                        }
                        double init_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
                        Loaded(cid, std::move(result), init_ms);
                      });
}

Result<executor::InitRequest> Invoker::LoadRequest(const StoredAction& action) {
  executor::InitRequest init = InitRequestFor(action);
  if (!init.code.empty()) return init;
  // Invocations carry the action without its code (callers cache it so): a
  // cold start loads the version the activation was admitted for, never
  // the current one.
  if (action.revision == 0) {
    return Status::Internal(
        fmt::format("invoker: action {}/{} has neither code nor a revision to load", action.namespace_, action.name));
  }
  auto stored = store_.GetActionRevision(action.namespace_, action.name, action.revision);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    const json::value* version = Member(action.doc, "version");
    return Status::NotFound(fmt::format(
        "The action changed while this activation waited: its version {} of /{}/{} was updated or deleted and is "
        "no longer stored. Invoke the action again.",
        version && version->is_string() ? std::string(version->as_string()) : "?", action.namespace_, action.name));
  }
  return InitRequestFor(**stored);
}

void Invoker::Loaded(const std::string& cid, Result<std::shared_ptr<const executor::Container>> result,
                     double init_ms) {
  std::vector<Ready> waiters;
  std::vector<std::string> unload;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = warm_.find(cid);
    if (it != warm_.end()) {  // always: an entry with waiters is not erased
      Warm& w = *it->second;
      waiters = std::move(w.waiters);
      w.waiters.clear();
      if (!result.ok()) {
        warm_.erase(it);
      } else {
        w.container = *result;
        w.charge = (*result)->artifact_bytes;
        committed_ += w.charge;
        w.running += static_cast<int>(waiters.size());
        // One version of an action stays warm, the latest revision loaded:
        // the others go when idle (an activation admitted for an older
        // version still runs in its own). One still loading decides when
        // it is loaded.
        for (auto other = warm_.begin(); other != warm_.end();) {
          Warm& o = *other->second;
          if (other == it || o.key != w.key || !o.container) {
            ++other;
          } else if (o.revision > w.revision) {
            w.retired = true;
            ++other;
          } else if (o.running == 0) {
            committed_ -= o.charge;
            unload.push_back(other->first);
            other = warm_.erase(other);
          } else {
            o.retired = true;
            ++other;
          }
        }
      }
    }
  }
  for (const auto& id : unload) executor_.Destroy(id);  // running activations keep theirs
  for (auto& w : waiters) w(result, init_ms);
}

void Invoker::Release(const std::string& container_id) {
  bool unload = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = warm_.find(container_id);
    if (it == warm_.end()) return;
    Warm& w = *it->second;
    w.running--;
    w.last_used = Clock::now();
    if ((options_.keep_alive.count() == 0 || w.retired) && w.running == 0 && w.waiters.empty()) {
      committed_ -= w.charge;
      warm_.erase(it);
      unload = true;
    }
  }
  if (unload) executor_.Destroy(container_id);
}

void Invoker::Deploy(const StoredAction& action, std::function<void(Status)> done) {
  std::string cid = ContainerId(action);
  // Loads it like a cold start with no activation waiting; released at once.
  Acquire(action, [this, cid, done = std::move(done)](Result<std::shared_ptr<const executor::Container>> c, double) {
    if (!c.ok()) return done(c.status());
    Release(cid);
    done(Status::Ok());
  });
}

void Invoker::Undeploy(const std::string& ns, const std::string& name) {
  std::string key = ActionKey(ns, name);
  std::vector<std::string> unload;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = warm_.begin(); it != warm_.end();) {
      Warm& w = *it->second;
      if (w.key != key) {
        ++it;
      } else if (w.container && w.running == 0 && w.waiters.empty()) {
        committed_ -= w.charge;
        unload.push_back(it->first);
        it = warm_.erase(it);
      } else {
        w.retired = true;  // its activations were admitted before the delete
        ++it;
      }
    }
  }
  for (const auto& cid : unload) executor_.Destroy(cid);
}

namespace {

// The action's memory limit, OpenWhisk's default if unset.
uint64_t MemoryLimitBytes(const StoredAction& action) {
  const json::value* limits = Member(action.doc, "limits");
  const json::object* l = limits ? limits->if_object() : nullptr;
  return WholeMember(l, "memory").value_or(256) << 20;
}

}  // namespace

std::optional<uint64_t> Invoker::Admit(const std::string& key, uint64_t memory_bytes,
                                       std::vector<std::string>& unload) {
  uint64_t& running = running_by_action_[key];
  auto refuse = [&]() -> std::optional<uint64_t> {
    if (running == 0) running_by_action_.erase(key);
    return std::nullopt;
  };
  if (options_.max_per_action != 0 && running >= options_.max_per_action) return refuse();
  // Every activation has its own linear memory, up to its limit: charge it
  // in full, also when the action allows concurrent activations.
  while (committed_ + memory_bytes > options_.memory_budget_bytes) {
    auto victim = warm_.end();
    for (auto it = warm_.begin(); it != warm_.end(); ++it) {
      const Warm& w = *it->second;
      if (!w.container || w.running > 0 || !w.waiters.empty()) continue;
      if (victim == warm_.end() || w.last_used < victim->second->last_used) victim = it;
    }
    if (victim == warm_.end()) break;
    committed_ -= victim->second->charge;
    unload.push_back(victim->first);
    warm_.erase(victim);
  }
  // An activation always runs when nothing else does, even one whose limit
  // alone exceeds the budget.
  if (committed_ + memory_bytes > options_.memory_budget_bytes && running_ > 0) return refuse();
  committed_ += memory_bytes;
  running++;
  running_++;
  return memory_bytes;
}

void Invoker::Finish(const std::string& key, uint64_t charge) {
  std::vector<std::pair<Queued, uint64_t>> start;
  std::vector<std::string> unload;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_by_action_.find(key);
    if (it != running_by_action_.end()) {
      if (--it->second == 0) running_by_action_.erase(it);
      running_--;
      committed_ -= charge;
    }
    if (running_ == 0 && queue_.empty()) idle_cv_.notify_all();
    // First come, first served: the head waits until it fits.
    while (!queue_.empty()) {
      const StoredAction& a = queue_.front().invocation.action;
      auto admitted = Admit(ActionKey(a.namespace_, a.name), MemoryLimitBytes(a), unload);
      if (!admitted) break;
      start.emplace_back(std::move(queue_.front()), *admitted);
      queue_.pop_front();
    }
  }
  for (const auto& cid : unload) executor_.Destroy(cid);
  for (auto& [q, charge] : start) Start(std::move(q.invocation), charge, std::move(q.done));
}

bool Invoker::Invoke(Invocation invocation, Done done) {
  uint64_t memory = MemoryLimitBytes(invocation.action);
  std::string key = ActionKey(invocation.action.namespace_, invocation.action.name);
  std::vector<std::string> unload;
  std::optional<uint64_t> admitted;
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) admitted = Admit(key, memory, unload);
    if (!admitted && queue_.size() < options_.max_queued) {
      queue_.push_back({std::move(invocation), std::move(done)});
      return true;
    }
    queued = queue_.size();
  }
  for (const auto& cid : unload) executor_.Destroy(cid);
  if (!admitted) {
    Status full = Status::Error(
        Code::kResourceExhausted, Phase::kNone,
        fmt::format("The platform is at capacity: its memory budget is committed and {} invocations wait.", queued));
    Complete(FailedRecord(invocation, full, 0), true, done);
    return false;
  }
  Start(std::move(invocation), *admitted, std::move(done));
  return true;
}

void Invoker::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return running_ == 0 && queue_.empty(); });
}

void Invoker::Start(Invocation invocation, uint64_t charge, Done done) {
  StoredAction action = invocation.action;
  std::string key = ActionKey(action.namespace_, action.name);
  // Whatever happens, the admission is given back before the caller hears.
  Done finish = [this, key, charge, done = std::move(done)](json::object record, bool overloaded) {
    Finish(key, charge);
    done(std::move(record), overloaded);
  };
  Acquire(action, [this, invocation = std::move(invocation), finish = std::move(finish)](
                      Result<std::shared_ptr<const executor::Container>> c, double init_ms) mutable {
    if (!c.ok()) {
      // The code no longer becomes an action (e.g. a host without the
      // compiler that built it): the developer's error, as OpenWhisk's init.
      return Complete(FailedRecord(invocation, c.status(), init_ms), false, finish);
    }
    RunOn(std::move(invocation), std::move(*c), init_ms, std::move(finish));
  });
}

uint64_t Invoker::committed_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

size_t Invoker::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Invoker::RunOn(Invocation inv, std::shared_ptr<const executor::Container> container, double init_ms, Done done) {
  executor::RunRequest run;
  run.params_json = inv.params_json;
  run.activation_id = inv.activation_id;
  uint64_t timeout_ms = container->timeout_ms.value_or(60'000);
  auto deadline = SysClock::now() + std::chrono::milliseconds(timeout_ms);
  run.deadline = deadline;
  run.env = {
      "__OW_NAMESPACE=" + inv.action.namespace_,
      "__OW_ACTION_NAME=/" + inv.action.namespace_ + "/" + inv.action.name,
      "__OW_ACTIVATION_ID=" + inv.activation_id,
      "__OW_TRANSACTION_ID=" + inv.activation_id,
      "__OW_DEADLINE=" + std::to_string(EpochMs(deadline)),
  };
  if (const json::value* v = Member(inv.action.doc, "version"); v && v->is_string()) {
    run.env.push_back("__OW_ACTION_VERSION=" + std::string(v->as_string()));
  }
  if (!inv.api_host.empty()) run.env.push_back("__OW_API_HOST=" + inv.api_host);
  std::string cid = container->id;
  executor_.Run(
      container, std::move(run),
      [this, inv = std::move(inv), init_ms, cid, done = std::move(done)](Result<abi::ActivationResult> result) {
        Release(cid);
        if (!result.ok()) {
          bool overloaded = result.status().code() == Code::kResourceExhausted;
          return Complete(FailedRecord(inv, result.status(), init_ms), overloaded, done);
        }
        const abi::ActivationResult& r = *result;
        auto init = std::chrono::microseconds(static_cast<int64_t>(init_ms * 1000));
        // A cold start's record begins with the load (OpenWhisk's
        // duration includes initTime).
        int64_t init_whole_ms = std::llround(init_ms);
        int64_t start_ms = EpochMs(r.start) - init_whole_ms;
        json::object record = RecordBase(inv, start_ms, EpochMs(r.end));
        record["response"] = Response(StatusText(r.status), StatusCode(r.status), r.result);
        json::array logs;
        for (const auto& line : r.logs) logs.push_back(json::value(abi::FormatLogLine(line)));
        record["logs"] = std::move(logs);
        auto& annotations = record["annotations"].as_array();
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(r.start - inv.arrival - init);
        int64_t wait_ms = std::max<int64_t>(0, wait.count());
        annotations.push_back(Annotation("waitTime", wait_ms));
        annotations.push_back(Annotation("timeout", r.timed_out));
        if (!r.engine.empty()) annotations.push_back(Annotation("engine", json::value(r.engine)));
        if (init_ms > 0) annotations.push_back(Annotation("initTime", init_whole_ms));
        Complete(std::move(record), false, done);
      });
}

json::object Invoker::FailedRecord(const Invocation& inv, const Status& status, double init_ms) {
  int64_t now = EpochMs(SysClock::now());
  json::object record = RecordBase(inv, EpochMs(inv.arrival), now);
  bool capacity = status.code() == Code::kResourceExhausted;
  bool developer = !capacity && status.code() != Code::kInternal && status.code() != Code::kIoError;
  json::object error;
  error["error"] = status.message();
  record["response"] = developer ? Response("action developer error", 2, std::move(error))
                                 : Response("whisk internal error", 3, std::move(error));
  record["logs"] = json::array();
  record["annotations"].as_array().push_back(Annotation("waitTime", now - EpochMs(inv.arrival)));
  if (init_ms > 0) record["annotations"].as_array().push_back(Annotation("initTime", std::llround(init_ms)));
  return record;
}

void Invoker::Complete(json::object record, bool overloaded, const Done& done) {
  // The store keeps its own copy; a failure to journal must not lose the
  // answer to the caller.
  (void)store_.CompleteActivation(record);
  done(std::move(record), overloaded);
}

void Invoker::Sweep() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    auto period = std::clamp(options_.keep_alive / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    sweep_cv_.wait_for(lock, period);
    if (stopping_ || options_.keep_alive.count() == 0) continue;
    auto now = Clock::now();
    std::vector<std::string> unload;
    for (auto it = warm_.begin(); it != warm_.end();) {
      Warm& w = *it->second;
      if (w.container && w.running == 0 && w.waiters.empty() && now - w.last_used >= options_.keep_alive) {
        committed_ -= w.charge;
        unload.push_back(it->first);
        it = warm_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (const auto& cid : unload) executor_.Destroy(cid);
    lock.lock();
  }
}

}  // namespace wow::controller
