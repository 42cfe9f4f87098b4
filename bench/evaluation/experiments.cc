#include "experiments.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <latch>
#include <mutex>
#include <thread>

#include "abi/action_runner.h"
#include "bench_support.h"
#include "common/files.h"
#include "common/json.h"
#include "wasm/engine.h"
#include "wasm/engine_factory.h"
#include "wasm/testing/module_generator.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr PlatformKind kAllPlatforms[] = {PlatformKind::kDocker, PlatformKind::kProcess, PlatformKind::kWowExecutor,
                                          PlatformKind::kWowServe};

ActionSpec Action(const Environment& env, std::string name, std::string example) {
  ActionSpec a;
  a.name = std::move(name);
  a.net_access = example == "block";
  a.example = std::move(example);
  a.memory_mb = env.profile.action_memory_mb;
  return a;
}

// Fresh platform + deployed actions, or a note saying why not.
std::unique_ptr<Platform> Prepare(const Environment& env, const PlatformId& id, const std::string& tag,
                                  PlatformSettings settings, const std::vector<ActionSpec>& actions, Results& results) {
  auto platform = MakePlatform(env, id, tag, settings);
  if (!platform.ok()) {
    results.notes.push_back(fmt::format("{}: {} skipped: {}", tag, PlatformName(id), platform.status().ToString()));
    return nullptr;
  }
  for (const auto& a : actions) {
    Status s = (*platform)->Deploy(a);
    if (!s.ok()) {
      results.notes.push_back(
          fmt::format("{}: {} skipped: deploying {}: {}", tag, PlatformName(id), a.name, s.ToString()));
      return nullptr;
    }
  }
  return std::move(platform).value();
}

// Invoke with the experiment's clock filled in.
Invocation Timed(Platform& platform, Clock::time_point origin, const std::string& action, const std::string& params) {
  auto start = Clock::now();
  Invocation inv = platform.Invoke(action, params);
  auto end = Clock::now();
  inv.start_s = SecondsSince(origin, start);
  inv.end_s = SecondsSince(origin, end);
  return inv;
}

// Measures the machine's load around one step, from its construction (after
// the window before it) to its end of scope, into `results.load`.
class StepLoadRecorder {
 public:
  StepLoadRecorder(const Environment& env, Results& results, std::string experiment, std::optional<PlatformId> platform)
      : results_(results),
        experiment_(std::move(experiment)),
        platform_(std::move(platform)),
        monitor_(env.load, env.stop, [&env](std::string_view note) {
          if (env.progress != nullptr) env.progress->Note(note);
        }) {}
  ~StepLoadRecorder() { results_.load.push_back({experiment_, platform_, monitor_.Finish()}); }
  StepLoadRecorder(const StepLoadRecorder&) = delete;
  StepLoadRecorder& operator=(const StepLoadRecorder&) = delete;

 private:
  Results& results_;
  std::string experiment_;
  std::optional<PlatformId> platform_;
  LoadMonitor monitor_;
};

// Counts failed invocations into one note per experiment and platform.
void NoteFailures(Results& results, const std::string& what, const PlatformId& id,
                  const std::vector<Invocation>& invs) {
  size_t failed = 0;
  std::string first;
  for (const auto& inv : invs) {
    if (inv.ok) continue;
    if (failed++ == 0) first = inv.error;
  }
  if (failed > 0) {
    results.notes.push_back(fmt::format("{}: {}: {} of {} invocations failed (first: {})", what, PlatformName(id),
                                        failed, invs.size(), first));
  }
}

}  // namespace

std::string PlatformName(PlatformKind kind) {
  switch (kind) {
    case PlatformKind::kDocker: return "Docker";
    case PlatformKind::kProcess: return "process";
    case PlatformKind::kWowExecutor: return "wow executor";
    case PlatformKind::kWowServe: return "wow serve";
  }
  return "?";
}

std::string PlatformSlug(PlatformKind kind) {
  switch (kind) {
    case PlatformKind::kDocker: return "docker";
    case PlatformKind::kProcess: return "process";
    case PlatformKind::kWowExecutor: return "wow-executor";
    case PlatformKind::kWowServe: return "wow-serve";
  }
  return "?";
}

std::optional<PlatformKind> ParsePlatform(std::string_view slug) {
  for (PlatformKind k : kAllPlatforms)
    if (PlatformSlug(k) == slug) return k;
  return std::nullopt;
}

bool IsWow(PlatformKind kind) { return kind == PlatformKind::kWowExecutor || kind == PlatformKind::kWowServe; }

std::string PlatformName(const PlatformId& id) {
  return id.engine.empty() ? PlatformName(id.kind) : PlatformName(id.kind) + " (" + id.engine + ")";
}

std::string PlatformSlug(const PlatformId& id) {
  return id.engine.empty() ? PlatformSlug(id.kind) : PlatformSlug(id.kind) + "-" + id.engine;
}

std::vector<PlatformId> ExpandPlatforms(const std::vector<PlatformKind>& kinds,
                                        const std::vector<std::string>& engines) {
  std::vector<PlatformId> out;
  for (PlatformKind kind : kinds) {
    if (!IsWow(kind) || engines.empty()) {
      out.emplace_back(kind);
      continue;
    }
    for (const auto& engine : engines) out.emplace_back(kind, engine);
  }
  return out;
}

namespace {

std::vector<std::string> SplitNames(std::string_view text, char separator) {
  std::vector<std::string> names;
  while (!text.empty()) {
    size_t end = text.find(separator);
    std::string_view name = text.substr(0, end);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) names.emplace_back(name);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return names;
}

bool IsEngineName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

std::vector<std::string> ParseEngineChoices(std::string_view help) {
  auto valid = [](const std::vector<std::string>& names) {
    return !names.empty() && std::all_of(names.begin(), names.end(), IsEngineName);
  };
  // The description: "Wasm engine: aot, interp, jit, tiered (default: ...)".
  constexpr std::string_view kDescription = "Wasm engine: ";
  if (size_t at = help.find(kDescription); at != std::string_view::npos) {
    std::string_view rest = help.substr(at + kDescription.size());
    rest = rest.substr(0, std::min(rest.find('('), rest.find('\n')));
    if (auto names = SplitNames(rest, ','); valid(names)) return names;
  }
  // CLI11's type hint on the option's line: "--engine TEXT:{aot,interp,...}".
  if (size_t at = help.find("--engine "); at != std::string_view::npos) {
    std::string_view line = help.substr(at, help.find('\n', at) - at);
    size_t open = line.find('{'), close = line.find('}');
    if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
      if (auto names = SplitNames(line.substr(open + 1, close - open - 1), ','); valid(names)) return names;
    }
  }
  return {};
}

Result<std::vector<std::string>> ResolveEngines(const std::vector<std::string>& requested,
                                                const std::vector<std::string>& choices) {
  auto listed = [&] {
    std::string text;
    for (const auto& c : choices) text += (text.empty() ? "" : ", ") + c;
    return text;
  };
  std::vector<std::string> engines;
  for (const auto& name : requested) {
    if (name == "all") {
      if (choices.empty()) {
        return Status::InvalidArgument(
            "--engines all: `wow executor --help` lists no engine choices; name the engines instead");
      }
      for (const auto& c : choices)
        if (std::find(engines.begin(), engines.end(), c) == engines.end()) engines.push_back(c);
      continue;
    }
    if (!choices.empty() && std::find(choices.begin(), choices.end(), name) == choices.end()) {
      return Status::InvalidArgument(
          fmt::format("--engines: this wow has no engine '{}' (it has: {})", name, listed()));
    }
    if (std::find(engines.begin(), engines.end(), name) == engines.end()) engines.push_back(name);
  }
  return engines;
}

std::string ParamsFor(const Profile& profile, const PlatformId& platform, const std::string& example) {
  if (example.rfind("hash", 0) != 0) return "{}";
  return IsWow(platform.kind) && platform.engine == "interp" ? profile.interp_hash_params : profile.hash_params;
}

int DeploySamples(const Profile& profile, const std::string& engine, size_t bytes) {
  return engine == "aot" && bytes >= 1'000'000 ? std::min(profile.deploy_slow_samples, profile.deploy_samples)
                                               : profile.deploy_samples;
}

std::string SizeLabel(size_t bytes) {
  if (bytes >= 1'000'000 && bytes % 1'000'000 == 0) return fmt::format("{} MB", bytes / 1'000'000);
  if (bytes >= 1'000 && bytes % 1'000 == 0) return fmt::format("{} KB", bytes / 1'000);
  return fmt::format("{} B", bytes);
}

std::string WorkloadSlug(Workload w) {
  switch (w) {
    case Workload::kCpu: return "hash";
    case Workload::kIo: return "block";
    case Workload::kMixed: return "mixed";
  }
  return "?";
}

Profile SmokeProfile() {
  Profile p;
  p.name = "smoke";
  p.cold_levels = {1, 2};
  p.cold_rounds = 1;
  p.rising = {.start_clients = 1, .max_clients = 2, .step_seconds = 1.0};
  p.settle_seconds = 0.1;
  p.skew = {.hot = 2, .rare = 4, .hot_share = 0.9};
  p.skew_clients = 2;
  p.skew_seconds = 2;
  p.memory_containers = 1;
  p.cpu_runs = 1;
  p.hash_params = R"({"iterations": 20000})";
  p.interp_hash_params = R"({"iterations": 100})";
  p.interp_cpu_hash_params = R"({"iterations": 1000})";
  p.interp_cpu_prime_params = R"({"n": 10000})";
  p.interp_cpu_runs = 1;
  p.prime_params = R"({"n": 100000})";
  p.deploy_sizes = {2'000};
  p.deploy_samples = 1;
  p.deploy_slow_samples = 1;
  return p;
}

Profile QuickProfile() {
  Profile p;
  p.name = "quick";
  p.cold_levels = {1, 2, 4, 8};
  p.cold_rounds = 2;
  p.rising = {.start_clients = 1, .max_clients = 6, .step_seconds = 2.5};
  p.settle_seconds = 0.5;
  p.skew_clients = 4;
  p.skew_seconds = 20;
  p.memory_containers = 4;
  p.cpu_runs = 5;
  p.deploy_samples = 3;
  p.deploy_slow_samples = 1;
  return p;
}

Profile FullProfile() {
  Profile p;
  p.name = "full";
  for (int i = 1; i <= 16; ++i) p.cold_levels.push_back(i);
  p.cold_rounds = 5;
  p.rising = {.start_clients = 1, .max_clients = 16, .step_seconds = 5};
  p.settle_seconds = 1;
  p.skew_clients = 8;
  p.skew_seconds = 120;
  p.memory_containers = 16;
  p.cpu_runs = 15;
  p.deploy_samples = 5;
  p.deploy_slow_samples = 3;
  return p;
}

Result<std::unique_ptr<Platform>> MakePlatform(const Environment& env, const PlatformId& id, const std::string& tag,
                                               PlatformSettings settings) {
  Workspace ws{env.work / tag / PlatformSlug(id), env.aot_cache};
  std::error_code ec;
  fs::create_directories(ws.dir, ec);
  PoolOptions pool;
  pool.memory_budget_mb = env.profile.memory_budget_mb;
  pool.keep_alive = settings.keep_alive;
  switch (id.kind) {
    case PlatformKind::kDocker:
      if (!env.docker) return Status::IoError("Docker is not running in this run");
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(
          MakeDockerBackend(env.artifacts, env.docker, env.docker_image, env.cgroup_parent), pool));
    case PlatformKind::kProcess:
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(MakeProcessBackend(env.artifacts, ws), pool));
    case PlatformKind::kWowExecutor: {
      auto backend = MakeExecutorBackend(env.artifacts, ws, WowEngine{id.engine});
      if (!backend.ok()) return backend.status();
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(std::move(backend).value(), pool));
    }
    case PlatformKind::kWowServe:
      return MakeServePlatform(env.artifacts, ws,
                               ServeOptions{.keep_alive = settings.keep_alive,
                                            .memory_budget_mb = env.profile.memory_budget_mb,
                                            .engine = WowEngine{id.engine}});
  }
  return Status::InvalidArgument("unknown platform");
}

// ---- cold start ---------------------------------------------------------------------

int ColdStartSteps(const Environment& env) { return static_cast<int>(env.platforms.size()); }

void RunColdStart(const Environment& env, Results& results) {
  const Profile& p = env.profile;
  int max_level = 0;
  for (int i : p.cold_levels) max_level = std::max(max_level, i);
  std::vector<ActionSpec> actions;
  for (int i = 0; i < max_level; ++i) actions.push_back(Action(env, fmt::format("cold-{}", i), "hash"));

  for (const PlatformId& id : env.platforms) {
    env.progress->Begin("cold start · " + PlatformName(id), "round",
                        static_cast<int64_t>(p.cold_levels.size()) * p.cold_rounds);
    StepLoadRecorder load(env, results, "cold start", id);
    // wow serve has no "remove idle containers" call: a keep-alive of 0
    // unloads every action as its activation ends. The pools remove theirs
    // between rounds.
    PlatformSettings settings;
    if (id.kind == PlatformKind::kWowServe) settings.keep_alive = milliseconds(0);
    auto platform = Prepare(env, id, "cold", settings, actions, results);
    const std::string params = ParamsFor(p, id, "hash");
    if (!platform) continue;
    std::vector<Invocation> all;
    auto origin = Clock::now();
    for (int level : p.cold_levels) {
      for (int round = 0; round < p.cold_rounds && !env.stopping(); ++round) {
        platform->DropIdle();
        std::this_thread::sleep_for(milliseconds(100));  // let removals settle
        std::vector<Invocation> invs(level);
        std::latch ready(level + 1);
        std::vector<std::thread> clients;
        for (int i = 0; i < level; ++i) {
          clients.emplace_back([&, i] {
            ready.arrive_and_wait();
            invs[i] = Timed(*platform, origin, actions[i].name, params);
          });
        }
        ready.arrive_and_wait();
        for (auto& t : clients) t.join();
        for (int i = 0; i < level; ++i) {
          results.cold.push_back({id, level, round, actions[i].name, invs[i]});
          all.push_back(invs[i]);
        }
        env.progress->Advance();
      }
    }
    platform->DropIdle();
    NoteFailures(results, "cold start", id, all);
  }
}

// ---- throughput -----------------------------------------------------------------------

int ThroughputSteps(const Environment& env) { return static_cast<int>(env.platforms.size()); }

void RunThroughput(const Environment& env, Workload workload, Results& results) {
  const Profile& p = env.profile;
  std::vector<ActionSpec> actions;
  if (workload != Workload::kIo) actions.push_back(Action(env, "tp-hash", "hash"));
  if (workload != Workload::kCpu) actions.push_back(Action(env, "tp-block", "block"));
  LevelSchedule schedule = p.rising.Levels();

  for (const PlatformId& id : env.platforms) {
    std::string tag = "throughput-" + WorkloadSlug(workload);
    env.progress->Begin("throughput " + WorkloadSlug(workload) + " · " + PlatformName(id), "clients",
                        p.rising.max_clients);
    StepLoadRecorder load(env, results, "throughput " + WorkloadSlug(workload), id);
    auto platform = Prepare(env, id, tag, {}, actions, results);
    if (!platform) continue;
    // One warm container per action, as on a platform that has served it before.
    for (const auto& a : actions) (void)platform->Invoke(a.name, ParamsFor(p, id, a.example));

    ThroughputRun run{id, workload, {}, {}};
    std::mutex mu;
    auto origin = Clock::now();
    double end = schedule.end_seconds;
    std::vector<std::thread> clients;
    for (int c = 0; c < p.rising.max_clients; ++c) {
      // Client c joins with the first level that has more than c clients.
      double join_at = end;
      for (const auto& level : schedule.levels) {
        if (level.clients > c) {
          join_at = level.start_seconds;
          break;
        }
      }
      clients.emplace_back([&, c, join_at] {
        std::this_thread::sleep_until(
            origin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(join_at)));
        env.progress->Set(c + 1);
        auto mix = MixedWorkload::Create(0.5, env.seed * 1000 + c);
        while (!env.stopping() && SecondsSince(origin, Clock::now()) < end) {
          bool io = workload == Workload::kIo || (workload == Workload::kMixed && mix->Next());
          const ActionSpec& a = actions[io && actions.size() > 1 ? 1 : 0];
          Invocation inv = Timed(*platform, origin, a.name, ParamsFor(p, id, a.example));
          std::lock_guard<std::mutex> lock(mu);
          run.invocations.push_back(std::move(inv));
        }
      });
    }
    for (auto& t : clients) t.join();
    std::vector<double> completed;
    for (const auto& inv : run.invocations)
      if (inv.ok) completed.push_back(inv.end_s);
    auto levels = ThroughputPerLevel(completed, schedule, p.settle_seconds);
    if (levels.ok()) run.levels = std::move(levels).value();
    NoteFailures(results, "throughput " + WorkloadSlug(workload), id, run.invocations);
    results.throughput.push_back(std::move(run));
  }
}

// ---- skewed workload --------------------------------------------------------------------

int SkewedSteps(const Environment& env) { return static_cast<int>(env.platforms.size()); }

void RunSkewed(const Environment& env, Results& results) {
  const Profile& p = env.profile;
  auto names = SkewedWorkload::Create(p.skew, env.seed);
  if (!names.ok()) {
    results.notes.push_back("skewed workload: " + names.status().ToString());
    return;
  }
  std::vector<ActionSpec> actions;
  for (int i = 0; i < names->action_count(); ++i)
    actions.push_back(Action(env, names->ActionName(i), names->IsIoBound(i) ? "block" : "hash"));

  for (const PlatformId& id : env.platforms) {
    env.progress->Begin("skewed workload · " + PlatformName(id), "s", static_cast<int64_t>(p.skew_seconds));
    StepLoadRecorder load(env, results, "skewed workload", id);
    auto platform = Prepare(env, id, "skewed", {.keep_alive = p.skew_keep_alive}, actions, results);
    if (!platform) continue;
    platform->DropIdle();  // every platform starts with nothing warm (wow serve loads at deploy time)
    std::mutex mu;
    std::vector<Invocation> all;
    auto origin = Clock::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < p.skew_clients; ++c) {
      clients.emplace_back([&, c] {
        auto workload = SkewedWorkload::Create(p.skew, env.seed * 1000 + c);
        while (!env.stopping() && SecondsSince(origin, Clock::now()) < p.skew_seconds) {
          ActionPick pick = workload->Next();
          const ActionSpec& a = actions[pick.index];
          Invocation inv = Timed(*platform, origin, a.name, ParamsFor(p, id, a.example));
          std::lock_guard<std::mutex> lock(mu);
          results.skewed.push_back({id, a.name, pick.hot, pick.io_bound, inv});
          all.push_back(inv);
          if (c == 0) env.progress->Set(static_cast<int64_t>(inv.end_s));
        }
      });
    }
    for (auto& t : clients) t.join();
    NoteFailures(results, "skewed workload", id, all);
  }
}

// ---- memory per warm container ------------------------------------------------------------

int MemorySteps(const Environment& env) { return static_cast<int>(env.platforms.size()); }

void RunMemory(const Environment& env, Results& results) {
  const int k = env.profile.memory_containers;
  for (const PlatformId& id : env.platforms) {
    env.progress->Begin("memory per warm container · " + PlatformName(id), "modules", std::size(kMemoryModules));
    StepLoadRecorder load(env, results, "memory per warm container", id);
    for (const char* module : kMemoryModules) {
      if (env.stopping()) break;
      std::vector<ActionSpec> actions;
      for (int i = 0; i < k; ++i) {
        ActionSpec a = Action(env, fmt::format("mem-{}-{}", module, i), module);
        a.distinct_module = true;  // no sharing of code between the k actions
        actions.push_back(std::move(a));
      }
      // One warm container before the baseline: the first container of a
      // module size pays one-time costs (the loader's code pages, a first
      // proxy's libraries), so the k measured give the marginal cost.
      ActionSpec warmup = Action(env, fmt::format("mem-{}-warmup", module), module);
      warmup.distinct_module = true;
      // wow compiles at deploy time (once per distinct module, cached for
      // the run): a first instance deploys them all, the measured one loads.
      if (IsWow(id.kind)) {
        std::vector<ActionSpec> all = actions;
        all.push_back(warmup);
        if (!Prepare(env, id, std::string("memory-compile-") + module, {}, all, results)) {
          env.progress->Advance();
          continue;
        }
      }
      auto platform = Prepare(env, id, std::string("memory-") + module, {}, {warmup}, results);
      if (!platform) break;
      const std::string params = ParamsFor(env.profile, id, module);
      if (Invocation inv = platform->Invoke(warmup.name, params); !inv.ok) {
        results.notes.push_back(fmt::format("memory: {} {}: warm-up failed: {}", PlatformName(id), module, inv.error));
        env.progress->Advance();
        continue;
      }
      MemoryRow row;
      row.platform = id;
      row.module = module;
      row.containers = k;
      if (auto bytes = ReadFile(env.artifacts.Wasm(module)); bytes.ok()) row.wasm_bytes = bytes->size();
      if (auto bytes = ReadFile(env.artifacts.Native(module)); bytes.ok()) row.native_bytes = bytes->size();
      std::this_thread::sleep_for(milliseconds(200));
      auto before = platform->MeasureFootprint();
      Status failed = Status::Ok();
      for (const auto& a : actions) {
        if (failed = platform->Deploy(a); !failed.ok()) break;
        Invocation inv = platform->Invoke(a.name, params);
        if (!inv.ok) failed = Status::Internal(inv.error);
        if (!failed.ok()) break;
      }
      std::this_thread::sleep_for(milliseconds(200));  // let page-cache and RSS figures settle
      auto after = platform->MeasureFootprint();
      if (!failed.ok() || !before.ok() || !after.ok()) {
        results.notes.push_back(fmt::format(
            "memory: {} {}: not measured: {}", PlatformName(id), module,
            !failed.ok() ? failed.ToString() : (!before.ok() ? before.status() : after.status()).ToString()));
        env.progress->Advance();
        continue;
      }
      row.before = *before;
      row.after = *after;
      row.per_container_bytes =
          (static_cast<double>(after->total) - static_cast<double>(before->total)) / static_cast<double>(k);
      results.memory.push_back(std::move(row));
      env.progress->Advance();
    }
  }
}

// ---- CPU speed ------------------------------------------------------------------------------

std::vector<std::string> CpuSpeedEngines(const Environment& env) {
  const std::vector<std::string> here = wasm::AvailableEngines();
  std::vector<std::string> engines;
  for (const PlatformId& id : env.platforms) {
    if (!IsWow(id.kind)) continue;
    std::string engine = id.engine.empty() ? "aot" : id.engine;
    if (std::find(here.begin(), here.end(), engine) == here.end()) continue;  // tiered, or not in this build
    if (std::find(engines.begin(), engines.end(), engine) == engines.end()) engines.push_back(engine);
  }
  if (engines.empty()) engines.push_back("aot");  // only baselines in the run: the figure of issue 5
  return engines;
}

int CpuSpeedSteps(const Environment&) { return 1; }

namespace {

// The CPU-speed experiment's actions and runs on `engine`.
struct CpuCases {
  std::vector<std::pair<std::string, std::string>> cases;  // {example, params}
  int runs = 0;
};
CpuCases CpuCasesFor(const Profile& p, const std::string& engine) {
  if (engine == "interp") {
    return {{{"hash", p.interp_cpu_hash_params}, {"prime", p.interp_cpu_prime_params}},
            std::min(p.cpu_runs, p.interp_cpu_runs)};
  }
  return {{{"hash", p.hash_params}, {"prime", p.prime_params}}, p.cpu_runs};
}

}  // namespace

void RunCpuSpeed(const Environment& env, Results& results) {
  const std::vector<std::string> engines = CpuSpeedEngines(env);
  std::string engine_list;
  int64_t total = 0;
  for (const auto& e : engines) {
    engine_list += (engine_list.empty() ? "" : ", ") + e;
    CpuCases c = CpuCasesFor(env.profile, e);
    total += static_cast<int64_t>(c.cases.size()) * c.runs;
  }
  env.progress->Begin("CPU speed · Wasm (" + engine_list + ") vs native, outside any platform", "runs", total);
  StepLoadRecorder load(env, results, "CPU speed", std::nullopt);
  Workspace ws{env.work / "cpu", env.aot_cache};
  std::error_code ec;
  fs::create_directories(ws.dir, ec);
  fs::create_directories(env.aot_cache, ec);  // no wow platform may have run before
  fs::create_directory_symlink(env.aot_cache, ws.dir / "aot", ec);
  wasm::EngineOptions options;
  options.data_dir = ws.dir;
  for (const std::string& engine_name : engines) {
    const CpuCases cpu = CpuCasesFor(env.profile, engine_name);
    auto engine = wasm::CreateEngine(engine_name, options);
    if (!engine.ok()) {
      results.notes.push_back("CPU speed: " + engine_name + ": " + engine.status().ToString());
      continue;
    }
    for (const auto& [example, params] : cpu.cases) {
      if (env.stopping()) break;
      auto bytes = ReadFile(env.artifacts.Wasm(example));
      if (!bytes.ok()) {
        results.notes.push_back("CPU speed: " + bytes.status().ToString());
        continue;
      }
      auto module = (*engine)->Load(std::vector<uint8_t>(bytes->begin(), bytes->end()), abi::HostFunctionsFor({}));
      if (!module.ok()) {
        results.notes.push_back("CPU speed: " + engine_name + ": loading " + example + ": " +
                                module.status().ToString());
        continue;
      }
      abi::ActivationRequest request;
      request.params_json = params;
      std::vector<double> native_ms, wasm_ms;
      std::string failure;
      for (int i = 0; i < cpu.runs && failure.empty() && !env.stopping(); ++i) {
        auto run_wasm = [&] {
          auto t0 = Clock::now();
          auto r = abi::RunActivation(**module, request);
          wasm_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (!r.ok() || r->status != abi::ActivationStatus::kSuccess) failure = "the Wasm run failed";
        };
        auto run_native = [&] {
          auto r = RunNative(env.artifacts.Native(example), params);
          if (!r.ok() || r->exit_code != 0) failure = "the native run failed";
          if (r.ok()) native_ms.push_back(std::chrono::duration<double, std::milli>(r->elapsed).count());
        };
        // Alternate the order so neither build always runs on a warmer machine.
        if (i % 2 == 0) {
          run_wasm();
          run_native();
        } else {
          run_native();
          run_wasm();
        }
        env.progress->Advance();
      }
      if (!failure.empty()) {
        results.notes.push_back("CPU speed: " + engine_name + ": " + example + ": " + failure);
        continue;
      }
      if (wasm_ms.empty() || native_ms.empty()) continue;  // interrupted
      CpuRow row{engine_name, example, params, Describe(native_ms), Describe(wasm_ms), 0};
      row.wasm_speed = Ratio(row.native_ms.p50, row.wasm_ms.p50).value_or(0);
      results.cpu.push_back(std::move(row));
    }
  }
}

// ---- deploy to first result -------------------------------------------------------------------

namespace {

constexpr char kDeployParams[] = R"({"n": 5})";
constexpr uint64_t kDeployN = 5;

std::vector<PlatformId> DeployPlatforms(const Environment& env) {
  std::vector<PlatformId> out;
  for (const PlatformId& id : env.platforms)
    if (id.kind == PlatformKind::kWowExecutor) out.push_back(id);
  return out;
}

// Empty when `body` is {"sum": expected}, else what is wrong with it.
std::string CheckSum(const std::string& body, uint64_t expected) {
  auto v = ParseJson(body);
  const boost::json::object* o = v.ok() ? v->if_object() : nullptr;
  const boost::json::value* sum = o ? o->if_contains("sum") : nullptr;
  if (sum == nullptr || !sum->is_number()) return "the first result has no \"sum\": " + body.substr(0, 200);
  boost::system::error_code ec;
  auto got = sum->to_number<uint64_t>(ec);
  if (ec || got != expected) return fmt::format("wrong sum {} (expected {})", ToJson(*sum), expected);
  return {};
}

}  // namespace

int DeploySteps(const Environment& env) { return static_cast<int>(DeployPlatforms(env).size()); }

void RunDeploy(const Environment& env, Results& results) {
  const Profile& p = env.profile;
  const std::vector<PlatformId> platforms = DeployPlatforms(env);
  if (platforms.empty()) {
    results.notes.push_back("deploy to first result: runs on wow executor, which is not among this run's platforms");
    return;
  }
  for (size_t pi = 0; pi < platforms.size(); ++pi) {
    const PlatformId& id = platforms[pi];
    int64_t total = 0;
    for (size_t bytes : p.deploy_sizes) total += DeploySamples(p, id.engine, bytes);
    env.progress->Begin("deploy to first result · " + PlatformName(id), "samples", total);
    StepLoadRecorder load(env, results, "deploy to first result", id);
    size_t failed = 0;
    std::string first_error;
    for (size_t si = 0; si < p.deploy_sizes.size() && !env.stopping(); ++si) {
      const size_t bytes = p.deploy_sizes[si];
      for (int k = 0; k < DeploySamples(p, id.engine, bytes) && !env.stopping(); ++k) {
        DeploySample sample;
        sample.platform = id;
        sample.target_bytes = bytes;
        sample.sample = k;
        // A module of its own per sample, engine and size: no cache anywhere can know it.
        sample.seed = static_cast<uint32_t>(env.seed * 1'000'003 + pi * 10'007 + si * 101 + k);
        std::vector<uint8_t> module = wasm::testing::GenerateWasiModule(bytes, sample.seed);
        sample.module_bytes = module.size();
        const uint64_t expected = wasm::testing::GeneratedModuleSum(bytes, sample.seed, kDeployN);
        fs::path dir = env.work / "deploy" / PlatformSlug(id) / fmt::format("{}-{}", bytes, k);
        auto r = DeployToFirstResult(env.artifacts, dir, id.engine, std::string(module.begin(), module.end()),
                                     kDeployParams, milliseconds(1'800'000));
        if (r.ok()) {
          sample.init_ms = r->init_ms;
          sample.run_ms = r->run_ms;
          sample.total_ms = r->total_ms;
          sample.served_by = r->served_by;
          sample.error = CheckSum(r->body, expected);
          sample.ok = sample.error.empty();
        } else {
          sample.error = r.status().ToString();
        }
        if (!sample.ok && failed++ == 0) first_error = sample.error;
        results.deploy.push_back(std::move(sample));
        env.progress->Advance();
      }
    }
    if (failed > 0) {
      results.notes.push_back(fmt::format("deploy to first result: {}: {} samples failed (first: {})", PlatformName(id),
                                          failed, first_error));
    }
  }
}

}  // namespace wow::bench::eval
