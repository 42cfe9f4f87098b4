#include "executor/executor.h"

#include <fmt/format.h>
#include <malloc.h>

#include <boost/asio/post.hpp>
#include <cmath>

#include "common/json.h"
#include "executor/deadline.h"
#include "wasm/engine_factory.h"

namespace wow::executor {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kNoCode[] = "Missing main/no code to execute.";
constexpr char kInitTwice[] = "Cannot initialize the action more than once.";

// The `dir` annotation: one absolute host path, or a list of them.
Result<std::vector<std::string>> ParseDirs(const boost::json::value& v) {
  std::vector<std::string> dirs;
  auto add = [&](const boost::json::value& d) -> Status {
    const auto* s = d.if_string();
    if (s == nullptr || s->empty() || s->front() != '/' || s->find('\0') != boost::json::string::npos) {
      return Status::InvalidArgument("the `dir` annotation must be an absolute host path (or a list of them)");
    }
    dirs.emplace_back(*s);
    return Status::Ok();
  };
  if (const auto* list = v.if_array()) {
    for (const auto& d : *list) WOW_RETURN_IF_ERROR(add(d));
  } else {
    WOW_RETURN_IF_ERROR(add(v));
  }
  return dirs;
}

// true / "true" turn a capability on; false, "false" and null leave it off.
Result<bool> ParseFlag(const boost::json::value& v, const char* name) {
  if (v.is_bool()) return v.get_bool();
  if (v.is_null()) return false;
  if (const auto* s = v.if_string(); s != nullptr && (*s == "true" || *s == "false")) return *s == "true";
  return Status::InvalidArgument(fmt::format("the `{}` annotation must be true or false", name));
}

// A size in MB from a JSON number (the `memory` annotation).
Result<uint64_t> ParseMegabytes(const boost::json::value& v, const char* what) {
  double mb = -1;
  if (v.is_int64()) mb = static_cast<double>(v.get_int64());
  if (v.is_uint64()) mb = static_cast<double>(v.get_uint64());
  if (v.is_double()) mb = v.get_double();
  if (!(mb >= 1 && mb < 4096) || std::floor(mb) != mb) {
    return Status::InvalidArgument(fmt::format("{} must be a whole number of MB between 1 and 4095", what));
  }
  return static_cast<uint64_t>(mb);
}

// The `engine` annotation: one of wasm::EngineChoices().
Result<std::string> ParseEngine(const boost::json::value& v) {
  if (const auto* s = v.if_string()) {
    for (const auto& choice : wasm::EngineChoices()) {
      if (*s == choice) return choice;
    }
  }
  return Status::InvalidArgument(
      fmt::format("the `engine` annotation must be one of {} (got {})", wasm::EngineChoicesText(), ToJson(v)));
}

// Which export an activation calls. "main" (OpenWhisk's default), "_start"
// and a zip entry name mean the ABI's own entry; any other name must be an
// exported function taking and returning nothing.
Result<std::string> EntryPoint(const std::string& main, const wasm::ModuleInfo& info) {
  if (main.empty() || main == "main" || main == "_start" ||
      (main.size() > 5 && main.compare(main.size() - 5, 5, ".wasm") == 0)) {
    return std::string("_start");
  }
  const wasm::ExportDesc* e = info.FindExport(main);
  if (e == nullptr || e->kind != wasm::ExternKind::kFunc || !e->sig.params.empty() || !e->sig.results.empty()) {
    return Status::Error(
        Code::kLinkError, Phase::kLinking,
        fmt::format("the action's main '{}' is not an exported function () -> () of the module", main));
  }
  return main;
}

}  // namespace

Executor::Executor(const ExecutorOptions& options) : options_(options) {}

Executor::~Executor() { Shutdown(); }

void Executor::Shutdown() {
  blocking_.join();
  if (scheduler_) scheduler_->Shutdown();
}

Result<std::unique_ptr<Executor>> Executor::Create(const ExecutorOptions& options) {
  if (options.max_time_limit.count() <= 0 || options.default_timeout.count() <= 0 ||
      options.default_timeout > options.max_time_limit) {
    return Status::InvalidArgument(
        fmt::format("the default time limit ({} ms) must be positive and at most the maximum time limit ({} ms)",
                    options.default_timeout.count(), options.max_time_limit.count()));
  }
  if (options.max_containers == 0 || options.max_code_bytes == 0) {
    return Status::InvalidArgument("the maximum number of containers and of code bytes must be positive");
  }
  std::unique_ptr<Executor> executor(new Executor(options));
  WOW_ASSIGN_OR_RETURN(executor->default_engine_, executor->EngineFor(options.engine));
  SchedulerOptions scheduler;
  scheduler.workers = options.workers;
  // The executor's own gate (in_flight_) is the real bound; the scheduler's
  // leaves room for tasks that answered but have not returned yet.
  scheduler.max_tasks = options.max_activations * 2 + 64;
  executor->scheduler_ = std::make_unique<Scheduler>(scheduler);
  return executor;
}

Result<wasm::Engine*> Executor::EngineFor(const std::string& name) {
  std::lock_guard<std::mutex> lock(engines_mu_);
  std::unique_ptr<wasm::Engine>& engine = engines_[name];
  if (!engine) {
    auto created = wasm::CreateEngine(name, options_.engine_options);
    if (!created.ok()) {
      engines_.erase(name);
      return created.status();
    }
    engine = std::move(created).value();
  }
  return engine.get();
}

Status Executor::ChargeCode(uint64_t bytes, const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > options_.max_code_bytes - code_bytes_) {
    return Status::Error(Code::kResourceExhausted, Phase::kNone,
                         fmt::format("The executor cannot hold this action's {} ({} bytes): its containers hold {} of "
                                     "at most {} bytes of code. Destroy containers first.",
                                     what, bytes, code_bytes_, options_.max_code_bytes));
  }
  code_bytes_ += bytes;
  return Status::Ok();
}

void Executor::ReleaseCodeLocked(uint64_t bytes) { code_bytes_ -= std::min(bytes, code_bytes_); }

Result<std::shared_ptr<const Container>> Executor::Init(const std::string& id, const InitRequest& request) {
  if (request.code.empty()) return Status::InvalidArgument(kNoCode);
  const uint64_t max_time_limit_ms = static_cast<uint64_t>(options_.max_time_limit.count());
  if (request.timeout_ms && *request.timeout_ms > max_time_limit_ms) {
    return Status::InvalidArgument(fmt::format("limits.timeout ({} ms) exceeds this executor's maximum of {} ms.",
                                               *request.timeout_ms, max_time_limit_ms));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (containers_.contains(id)) return Status::Error(Code::kAlreadyExists, Phase::kNone, kInitTwice);
    if (containers_.size() >= options_.max_containers) {
      return Status::Error(
          Code::kResourceExhausted, Phase::kNone,
          fmt::format("The executor holds its maximum of {} containers; destroy one before initialising another.",
                      options_.max_containers));
    }
    containers_.emplace(id, nullptr);
  }
  uint64_t charged = 0;  // against max_code_bytes, released unless the container is kept
  auto start = Clock::now();
  auto build = [&]() -> Result<std::shared_ptr<Container>> {
    auto c = std::make_shared<Container>();
    c->id = id;
    c->name = request.name.empty() ? id : request.name;
    c->memory_bytes = (request.memory_mb ? *request.memory_mb : options_.default_memory_mb) << 20;
    c->timeout_ms = request.timeout_ms;
    if (request.log_mb) c->log_bytes = *request.log_mb << 20;
    c->engine = options_.engine;
    for (const auto& [key, value] : request.annotations) {
      if (key == "dir") {
        WOW_ASSIGN_OR_RETURN(std::vector<std::string> dirs, ParseDirs(value));
        DirPolicy policy{options_.allowed_dirs, options_.engine_options.data_dir};
        WOW_ASSIGN_OR_RETURN(c->capabilities.dirs, GrantDirs(policy, request.owner.empty() ? c->name : request.owner, dirs));
      } else if (key == "net_access") {
        WOW_ASSIGN_OR_RETURN(c->capabilities.net_access, ParseFlag(value, "net_access"));
      } else if (key == "memory") {
        // WOW's way to ask for memory; the action's limits.memory, when
        // sent, is the cap (it is what the platform budgets for).
        WOW_ASSIGN_OR_RETURN(uint64_t mb, ParseMegabytes(value, "the `memory` annotation"));
        if (request.memory_mb && mb > *request.memory_mb) {
          return Status::InvalidArgument(fmt::format(
              "the `memory` annotation ({} MB) exceeds the action's limits.memory ({} MB); raise limits.memory "
              "instead",
              mb, *request.memory_mb));
        }
        c->memory_bytes = mb << 20;
      } else if (key == "engine") {
        WOW_ASSIGN_OR_RETURN(c->engine, ParseEngine(value));
      }
    }
    for (const auto& [key, value] : request.env) {
      if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos ||
          value.find('\0') != std::string::npos) {
        return Status::InvalidArgument(fmt::format("invalid environment variable name '{}'", key));
      }
      c->env.push_back(key + "=" + value);
    }
    WOW_ASSIGN_OR_RETURN(ActionCode code,
                         DecodeActionCode(request.code, request.binary, request.main, options_.code_limits));
    c->code_source = code.source;
    WOW_RETURN_IF_ERROR(ChargeCode(code.wasm.size(), "module"));
    charged += code.wasm.size();
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(code.wasm.data()), code.wasm.size());
    WOW_ASSIGN_OR_RETURN(wasm::Engine * engine, EngineFor(c->engine));
    WOW_ASSIGN_OR_RETURN(wasm::PrepareInfo prepared, engine->Prepare(bytes));
    c->compiled = !prepared.cache_hit;
    std::error_code size_error;
    c->artifact_bytes = std::filesystem::file_size(prepared.artifact, size_error);
    if (size_error) c->artifact_bytes = 0;
    WOW_RETURN_IF_ERROR(ChargeCode(c->artifact_bytes, "compiled artifact"));
    charged += c->artifact_bytes;
    c->code_bytes = charged;
    WOW_ASSIGN_OR_RETURN(c->module, engine->Load(bytes, abi::HostFunctionsFor(c->capabilities)));
    WOW_ASSIGN_OR_RETURN(c->abi, abi::DetectAbi(c->module->info()));
    WOW_ASSIGN_OR_RETURN(c->entry_point, EntryPoint(request.main, c->module->info()));
    c->init_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return c;
  };
  auto built = build();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (!built.ok() || it == containers_.end()) ReleaseCodeLocked(charged);
  if (!built.ok()) {
    if (it != containers_.end() && it->second == nullptr) containers_.erase(it);
    return built.status();
  }
  if (it == containers_.end()) {
    return Status::Error(Code::kNotFound, Phase::kNone, "the container was destroyed while it was initialising");
  }
  it->second = *built;
  return std::shared_ptr<const Container>(*built);
}

void Executor::InitAsync(std::string id, InitRequest request,
                         std::function<void(Result<std::shared_ptr<const Container>>)> done) {
  inits_pending_.fetch_add(1);
  boost::asio::post(blocking_, [this, id = std::move(id), request = std::move(request), done = std::move(done)] {
    auto result = Init(id, request);
    // A compile leaves megabytes of generated C freed in this thread's malloc
    // arena; hand them back, an edge node's RSS is precious. Rare, so cheap.
    if (result.ok() && (*result)->compiled) malloc_trim(0);
    done(std::move(result));
    inits_pending_.fetch_sub(1);
  });
}

std::shared_ptr<const Container> Executor::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  return it == containers_.end() ? nullptr : it->second;
}

bool Executor::Destroy(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return false;
  // One still initialising releases its own charge when it finds itself gone.
  if (it->second != nullptr) ReleaseCodeLocked(it->second->code_bytes);
  containers_.erase(it);
  return true;
}

size_t Executor::containers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return containers_.size();
}

uint64_t Executor::code_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return code_bytes_;
}

uint64_t Executor::TimeLimitMs(const Container& container, const RunRequest& request) const {
  std::optional<uint64_t> limit = container.timeout_ms;
  if (request.deadline) {
    uint64_t ms = MillisUntil(*request.deadline, std::chrono::system_clock::now());
    if (!limit || ms < *limit) limit = ms;
  }
  uint64_t ms = limit ? *limit : static_cast<uint64_t>(options_.default_timeout.count());
  return std::min(ms, static_cast<uint64_t>(options_.max_time_limit.count()));
}

namespace {

std::string_view EnvKey(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// The container's environment with the run's variables over it: a run's
// __OW_* values win over same-named init env entries.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base, const std::vector<std::string>& over) {
  std::vector<std::string> env;
  env.reserve(base.size() + over.size());
  for (const std::string& entry : base) {
    bool replaced = false;
    for (const std::string& o : over) replaced |= EnvKey(o) == EnvKey(entry);
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), over.begin(), over.end());
  return env;
}

}  // namespace

void Executor::Run(std::shared_ptr<const Container> container, RunRequest request, RunCallback done) {
  if (in_flight_.fetch_add(1) >= options_.max_activations) {
    in_flight_.fetch_sub(1);
    done(Status::Error(Code::kResourceExhausted, Phase::kNone,
                       fmt::format("The executor is at capacity ({} activations in flight); try again later.",
                                   options_.max_activations)));
    return;
  }
  // The limit and deadline are fixed when the request arrives: queueing counts.
  uint64_t limit_ms = TimeLimitMs(*container, request);
  Clock::time_point deadline = SaturatingAdd(Clock::now(), limit_ms);
  auto task = [this, container, request = std::move(request), done, limit_ms, deadline]() mutable {
    abi::ActivationRequest a;
    a.action_name = container->name;
    a.params_json = std::move(request.params_json);
    a.env = MergeEnv(container->env, request.env);
    a.capabilities = container->capabilities;
    a.entry_point = container->entry_point;
    a.limits.memory_bytes = container->memory_bytes;
    a.limits.log_bytes = container->log_bytes.value_or(options_.log_bytes);
    a.limits.result_bytes = options_.result_bytes;
    a.limits.deadline = deadline;
    a.limits.time_limit_ms = limit_ms;
    auto result = abi::RunActivation(*container->module, a);
    in_flight_.fetch_sub(1);  // before answering: the client may send its next run at once
    done(std::move(result));
  };
  if (!scheduler_->Submit(std::move(task))) {
    in_flight_.fetch_sub(1);
    done(Status::Error(Code::kResourceExhausted, Phase::kNone, "The executor is shutting down."));
  }
}

}  // namespace wow::executor
