#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi/action_runner.h"
#include "common/status.h"
#include "executor/action_code.h"
#include "executor/capability_policy.h"
#include "executor/scheduler.h"
#include "wasm/engine.h"

namespace wow::executor {

// Node-wide settings of an executor. Every field states its default.
struct ExecutorOptions {
  // The node's engine, one of wasm::EngineChoices(); an action's `engine`
  // annotation may choose another. Default "aot" (the CLI's default is
  // wasm::DefaultEngine()).
  std::string engine = "aot";
  // Where artifacts are cached (default "./.wow"), the C compiler and -O.
  wasm::EngineOptions engine_options;
  // Worker threads running activations; 0 = one per core.
  int workers = 0;
  // Activations accepted at once (running, waiting or queued); beyond it Run
  // answers kResourceExhausted. Default 4096.
  size_t max_activations = 4096;
  // Linear memory per activation when the action names none. Default 256 MB.
  uint64_t default_memory_mb = 256;
  // Time limit when a run carries no deadline. Default 60 s (OpenWhisk's).
  // At most max_time_limit (Create refuses more).
  std::chrono::milliseconds default_timeout{60'000};
  // The longest time limit an activation may have. An /init whose
  // limits.timeout exceeds it is refused; a run whose deadline lies further
  // ahead is stopped after it. Default 300 s (OpenWhisk's maximum).
  std::chrono::milliseconds max_time_limit{300'000};
  // Containers held at once, those initialising included; beyond it /init is
  // refused (kResourceExhausted). Default 1024.
  size_t max_containers = 1024;
  // Bytes of loaded code held at once: each container counts its module's
  // bytes plus its compiled artifact's. An /init that would pass it is
  // refused (kResourceExhausted) until containers are destroyed. Default 1 GiB.
  uint64_t max_code_bytes = 1ull << 30;
  uint64_t log_bytes = 10ull << 20;    // per activation
  uint64_t result_bytes = 1ull << 20;  // per activation
  CodeLimits code_limits;
  // Host roots the `dir` annotation may grant (`--allow-dir`, resolved by
  // ResolveAllowedRoots); other requested paths get private directories under
  // engine_options.data_dir (see DirPolicy). Default: none.
  std::vector<std::filesystem::path> allowed_dirs;
};

// What /init carries, for both protocols.
struct InitRequest {
  std::string name;
  std::string main;  // "main", "_start", a .wasm zip entry, or another exported () -> () function
  bool binary = false;
  std::string code;
  std::vector<std::pair<std::string, std::string>> env;  // init.value.env
  // Every action annotation (`dir`, `net_access`, `memory`, `engine`, ...)
  // as JSON.
  boost::json::object annotations;
  // Whose private directories a `dir` request maps to (DirPolicy):
  // "<namespace>/<action>" in wow serve. Default: `name`, else the id.
  std::string owner;
  // value.limits.memory, when sent. The `memory` annotation may lower it,
  // never raise it.
  std::optional<uint64_t> memory_mb;
  std::optional<uint64_t> timeout_ms;  // value.limits.timeout, when sent
  std::optional<uint64_t> log_mb;      // value.limits.logs, when sent (0 keeps no logs)
};

// One initialised action: its loaded module and fixed configuration. Shared
// by every activation of it; immutable.
struct Container {
  std::string id;
  std::string name;
  std::shared_ptr<const wasm::Module> module;
  abi::GuestAbi abi = abi::GuestAbi::kWasiCommand;
  std::string entry_point = "_start";
  std::vector<std::string> env;  // "KEY=VALUE" from init
  abi::Capabilities capabilities;
  uint64_t memory_bytes = 0;
  std::optional<uint64_t> timeout_ms;
  std::optional<uint64_t> log_bytes;  // else the executor's default
  std::string code_source;            // "wasm", "wat", "zip:<entry>"
  std::string engine;                 // the engine that loaded it (the `engine` annotation or the node's)
  double init_ms = 0;                 // decode + compile or cache hit + load
  bool compiled = false;              // this init ran the compiler (no cached artifact)
  uint64_t artifact_bytes = 0;        // the loaded artifact's size: what a warm container maps
  uint64_t code_bytes = 0;            // module + artifact bytes: its charge against max_code_bytes
};

// What /run carries.
struct RunRequest {
  std::string params_json = "{}";  // a JSON object or array
  std::vector<std::string> env;    // "__OW_*=..." for this activation
  // OpenWhisk's absolute deadline; none = the executor's default timeout.
  // Any time point is safe (see deadline.h, EpochMsToTimePoint); one beyond
  // ExecutorOptions::max_time_limit counts as that limit.
  std::optional<std::chrono::system_clock::time_point> deadline;
  std::string activation_id;
};

using RunCallback = std::function<void(Result<abi::ActivationResult>)>;

// The executor shared by `wow executor`, `wow proxy` and `wow serve`: its
// engines (the node's, and those actions choose, each made on first use), a
// table of containers, and the scheduler running activations on fibers.
// Thread-safe.
class Executor {
 public:
  static Result<std::unique_ptr<Executor>> Create(const ExecutorOptions& options);
  ~Executor();  // Shutdown()

  // Finishes pending inits and every accepted activation (their callbacks
  // run), then refuses new ones. Idempotent. Unbounded: an activation ends
  // by its deadline at the latest (max_time_limit), a compile when the
  // compiler does. A caller that must stop sooner runs it on another thread
  // and gives up waiting (see `wow executor`'s --shutdown-grace-ms).
  void Shutdown();

  // Decodes, validates, compiles (or finds the cached artifact) and loads
  // the action as container `id`. Blocks for a compile: call it off I/O
  // threads (InitAsync does). kAlreadyExists when `id` is initialised or
  // initialising; kInvalidArgument / kInvalidModule / kLinkError for code
  // that cannot become an action (also an unknown `engine` annotation, or a
  // limits.timeout above max_time_limit), with the reason; kResourceExhausted
  // when max_containers or max_code_bytes would be passed.
  Result<std::shared_ptr<const Container>> Init(const std::string& id, const InitRequest& request);
  // Init on the executor's blocking pool; `done` runs there.
  void InitAsync(std::string id, InitRequest request,
                 std::function<void(Result<std::shared_ptr<const Container>>)> done);

  std::shared_ptr<const Container> Find(const std::string& id) const;
  // Removes the container; running activations finish. False if unknown.
  bool Destroy(const std::string& id);
  size_t containers() const;
  // Bytes of code the containers hold (their code_bytes, and the charges of
  // those initialising).
  uint64_t code_bytes() const;
  // Activations accepted and not yet answered.
  size_t activations() const { return in_flight_.load(); }
  // InitAsync calls not finished (queued or compiling): what Shutdown waits
  // for besides activations.
  size_t initialising() const { return inits_pending_.load(); }

  // Runs one activation on a fresh instance, on a worker fiber. `done` is
  // called exactly once, on a worker: with the activation's outcome, or with
  // kResourceExhausted when the executor is at capacity.
  void Run(std::shared_ptr<const Container> container, RunRequest request, RunCallback done);

  // The time limit that applies to `request` for `container`, in ms: the
  // earlier of the run's deadline and the container's timeout, else the
  // executor's default; never above max_time_limit.
  uint64_t TimeLimitMs(const Container& container, const RunRequest& request) const;

  const ExecutorOptions& options() const { return options_; }
  // The node's engine (ExecutorOptions::engine).
  wasm::Engine& engine() { return *default_engine_; }

 private:
  explicit Executor(const ExecutorOptions& options);
  // The engine called `name`, created on first use.
  Result<wasm::Engine*> EngineFor(const std::string& name);
  // Adds `bytes` to code_bytes_, or kResourceExhausted when that would pass
  // max_code_bytes. `what` names them for the message.
  Status ChargeCode(uint64_t bytes, const char* what);
  // Takes `bytes` off code_bytes_; mu_ must be held.
  void ReleaseCodeLocked(uint64_t bytes);

  ExecutorOptions options_;
  std::mutex engines_mu_;
  std::map<std::string, std::unique_ptr<wasm::Engine>> engines_;  // by name
  wasm::Engine* default_engine_ = nullptr;
  mutable std::mutex mu_;
  // Null while the id is being initialised.
  std::unordered_map<std::string, std::shared_ptr<const Container>> containers_;
  uint64_t code_bytes_ = 0;  // charged against max_code_bytes; guarded by mu_
  // Activations accepted and not yet answered; the capacity gate. (The
  // scheduler's own count drops only after `done` returned.)
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> inits_pending_{0};
  std::unique_ptr<Scheduler> scheduler_;
  boost::asio::thread_pool blocking_{2};  // compiles for /init
};

}  // namespace wow::executor
