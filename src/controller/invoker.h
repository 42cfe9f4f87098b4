#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/store.h"
#include "executor/executor.h"

namespace wow::controller {

struct InvokerOptions {
  // An idle warm container is unloaded after this long; 0 unloads it as
  // soon as its last activation ends (pure scale-to-zero). Default 10 min.
  std::chrono::milliseconds keep_alive{10 * 60 * 1000};
  // The memory the invoker may commit: every running activation counts its
  // action's memory limit (each has its own linear memory, whatever the
  // action's `limits.concurrency`), every warm container its artifact's
  // size. Idle warm containers are unloaded least recently used
  // first to make room; beyond that, invocations queue. Default 2 GiB.
  uint64_t memory_budget_bytes = 2ull << 30;
  // Invocations waiting for memory at once; beyond it they are refused as
  // overloaded (HTTP 503). Default 1024.
  size_t max_queued = 1024;
  // Activations of one action in flight at once; more wait in the queue
  // (first come, first served). 0 = bounded by the memory budget only.
  // Default 0.
  uint64_t max_per_action = 0;
};

// One invocation of an action.
struct Invocation {
  StoredAction action;
  std::string params_json = "{}";  // default parameters merged under the caller's
  std::string subject;             // the caller's subject name
  std::string activation_id;
  std::string api_host;  // for __OW_API_HOST
  // When the request arrived, for waitTime.
  std::chrono::system_clock::time_point arrival = std::chrono::system_clock::now();
};

// The invoker inside `wow serve`: warm containers per action (one executor
// container per action version, reused by every activation), deploy-time
// compilation, keep-alive unloading, and the activation records. Thread-safe.
//
// A container is named by the version it holds, `ns/name@version#revision`
// (ContainerId), and an activation runs only in the container of the version
// it was admitted for: invocations carry the action without its code, and a
// cold start loads that exact version from the store (Store::
// GetActionRevision) — or, when the store no longer keeps it, fails the
// activation saying the action changed while it waited. Revisions are never
// reused, so two codes never share a container, also across delete and
// re-create. An action keeps one version warm: once a version is loaded,
// the others of its action (older revisions) are unloaded when idle.
class Invoker {
 public:
  Invoker(executor::Executor& executor, Store& store, InvokerOptions options = {});
  ~Invoker();

  // Validates, compiles (or finds the artifact) and loads the action as its
  // warm container, off the caller's thread; `done` gets why it cannot run.
  // The action's doc has its code; its revision names the container.
  void Deploy(const StoredAction& action, std::function<void(Status)> done);
  // Unloads every container of the action; busy or loading ones when their
  // activations (admitted before) have finished.
  void Undeploy(const std::string& ns, const std::string& name);

  // Runs the invocation (loading the container first on a cold start),
  // completes its record in the store and hands it to `done` (on a worker
  // or blocking thread). `overloaded` says the executor was at capacity and
  // the activation did not run (its record says so too).
  // Returns false when it was refused at once as overloaded (`done` has then
  // already been called).
  using Done = std::function<void(boost::json::object record, bool overloaded)>;
  bool Invoke(Invocation invocation, Done done);

  // Waits until every admitted and queued invocation has finished.
  void Drain();

  size_t warm_containers() const;
  // Memory committed now (see InvokerOptions::memory_budget_bytes) and
  // invocations waiting for it.
  uint64_t committed_bytes() const;
  size_t queued() const;

  // A fresh OpenWhisk-style activation id: 32 lowercase hex digits.
  static std::string NewActivationId();

 private:
  struct Warm;
  using Ready = std::function<void(Result<std::shared_ptr<const executor::Container>>, double init_ms)>;

  static std::string ActionKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }
  // Gets the warm container of the action's version, loading it when there
  // is none.
  void Acquire(const StoredAction& action, Ready ready);
  // What a cold start of `action` loads: its own doc when it has the code,
  // else that revision's from the store.
  Result<executor::InitRequest> LoadRequest(const StoredAction& action);
  // A load of `container_id` ended: hands it to the waiters; unloads other
  // versions of the action. Locks mu_.
  void Loaded(const std::string& container_id, Result<std::shared_ptr<const executor::Container>> result,
              double init_ms);
  void Release(const std::string& container_id);
  void RunOn(Invocation invocation, std::shared_ptr<const executor::Container> container, double init_ms, Done done);
  boost::json::object FailedRecord(const Invocation& invocation, const Status& status, double init_ms);
  void Complete(boost::json::object record, bool overloaded, const Done& done);
  void Sweep();
  // Admission: reserves the memory one more activation of the action needs
  // (its memory limit), unloading idle containers least recently used first.
  // Returns the charge to give back to Finish, or nullopt when it does not
  // fit. Called with mu_ held; adds containers to unload to `unload`.
  std::optional<uint64_t> Admit(const std::string& key, uint64_t memory_bytes, std::vector<std::string>& unload);
  // Gives back exactly what Admit charged and starts queued invocations that
  // fit.
  void Finish(const std::string& key, uint64_t charge);
  void Start(Invocation invocation, uint64_t charge, Done done);

  executor::Executor& executor_;
  Store& store_;
  InvokerOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Warm>> warm_;  // by container id
  std::map<std::string, uint64_t> running_by_action_;  // admitted and not finished, by action key
  struct Queued {
    Invocation invocation;
    Done done;
  };
  std::deque<Queued> queue_;
  uint64_t committed_ = 0;  // running charges + warm containers' artifacts
  uint64_t running_ = 0;    // activations admitted and not finished
  std::condition_variable sweep_cv_;
  std::condition_variable idle_cv_;  // running_ == 0 and the queue is empty
  bool stopping_ = false;
  std::thread sweeper_;
};

// The OpenWhisk JSON of an action's exec/limits etc. as the invoker reads it.
executor::InitRequest InitRequestFor(const StoredAction& action);

// The executor container of the action's version: `ns/name@version#revision`
// (without `#revision` for revision 0, an action not from the store).
std::string ContainerId(const StoredAction& action);

}  // namespace wow::controller
