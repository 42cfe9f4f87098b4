#include "experiments.h"

#include <fmt/format.h>

#include <latch>
#include <mutex>
#include <thread>

#include "abi/action_runner.h"
#include "bench_support.h"
#include "common/files.h"
#include "wasm/engine.h"
#include "wasm/engine_factory.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr PlatformKind kAllPlatforms[] = {PlatformKind::kDocker, PlatformKind::kProcess, PlatformKind::kWowExecutor,
                                          PlatformKind::kWowServe};

std::string ParamsFor(const Environment& env, const std::string& example) {
  return example.rfind("hash", 0) == 0 ? env.profile.hash_params : std::string("{}");
}

ActionSpec Action(const Environment& env, std::string name, std::string example) {
  ActionSpec a;
  a.name = std::move(name);
  a.net_access = example == "block";
  a.example = std::move(example);
  a.memory_mb = env.profile.action_memory_mb;
  return a;
}

// Fresh platform + deployed actions, or a note saying why not.
std::unique_ptr<Platform> Prepare(const Environment& env, PlatformKind kind, const std::string& tag,
                                  PlatformSettings settings, const std::vector<ActionSpec>& actions, Results& results) {
  auto platform = MakePlatform(env, kind, tag, settings);
  if (!platform.ok()) {
    results.notes.push_back(fmt::format("{}: {} skipped: {}", tag, PlatformName(kind), platform.status().ToString()));
    return nullptr;
  }
  for (const auto& a : actions) {
    Status s = (*platform)->Deploy(a);
    if (!s.ok()) {
      results.notes.push_back(
          fmt::format("{}: {} skipped: deploying {}: {}", tag, PlatformName(kind), a.name, s.ToString()));
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

// Counts failed invocations into one note per experiment and platform.
void NoteFailures(Results& results, const std::string& what, PlatformKind kind, const std::vector<Invocation>& invs) {
  size_t failed = 0;
  std::string first;
  for (const auto& inv : invs) {
    if (inv.ok) continue;
    if (failed++ == 0) first = inv.error;
  }
  if (failed > 0) {
    results.notes.push_back(fmt::format("{}: {}: {} of {} invocations failed (first: {})", what, PlatformName(kind),
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
  p.prime_params = R"({"n": 100000})";
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
  return p;
}

Result<std::unique_ptr<Platform>> MakePlatform(const Environment& env, PlatformKind kind, const std::string& tag,
                                               PlatformSettings settings) {
  Workspace ws{env.work / tag / PlatformSlug(kind), env.aot_cache};
  std::error_code ec;
  fs::create_directories(ws.dir, ec);
  PoolOptions pool;
  pool.memory_budget_mb = env.profile.memory_budget_mb;
  pool.keep_alive = settings.keep_alive;
  switch (kind) {
    case PlatformKind::kDocker:
      if (!env.docker) return Status::IoError("Docker is not running in this run");
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(
          MakeDockerBackend(env.artifacts, env.docker, env.docker_image, env.cgroup_parent), pool));
    case PlatformKind::kProcess:
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(MakeProcessBackend(env.artifacts, ws), pool));
    case PlatformKind::kWowExecutor: {
      auto backend = MakeExecutorBackend(env.artifacts, ws);
      if (!backend.ok()) return backend.status();
      return std::unique_ptr<Platform>(std::make_unique<ContainerPool>(std::move(backend).value(), pool));
    }
    case PlatformKind::kWowServe:
      return MakeServePlatform(
          env.artifacts, ws,
          ServeOptions{.keep_alive = settings.keep_alive, .memory_budget_mb = env.profile.memory_budget_mb});
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

  for (PlatformKind kind : env.platforms) {
    env.progress->Begin("cold start · " + PlatformName(kind), "round",
                        static_cast<int64_t>(p.cold_levels.size()) * p.cold_rounds);
    // wow serve has no "remove idle containers" call: a keep-alive of 0
    // unloads every action as its activation ends. The pools remove theirs
    // between rounds.
    PlatformSettings settings;
    if (kind == PlatformKind::kWowServe) settings.keep_alive = milliseconds(0);
    auto platform = Prepare(env, kind, "cold", settings, actions, results);
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
            invs[i] = Timed(*platform, origin, actions[i].name, ParamsFor(env, "hash"));
          });
        }
        ready.arrive_and_wait();
        for (auto& t : clients) t.join();
        for (int i = 0; i < level; ++i) {
          results.cold.push_back({kind, level, round, actions[i].name, invs[i]});
          all.push_back(invs[i]);
        }
        env.progress->Advance();
      }
    }
    platform->DropIdle();
    NoteFailures(results, "cold start", kind, all);
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

  for (PlatformKind kind : env.platforms) {
    std::string tag = "throughput-" + WorkloadSlug(workload);
    env.progress->Begin("throughput " + WorkloadSlug(workload) + " · " + PlatformName(kind), "clients",
                        p.rising.max_clients);
    auto platform = Prepare(env, kind, tag, {}, actions, results);
    if (!platform) continue;
    // One warm container per action, as on a platform that has served it before.
    for (const auto& a : actions) (void)platform->Invoke(a.name, ParamsFor(env, a.example));

    ThroughputRun run{kind, workload, {}, {}};
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
          Invocation inv = Timed(*platform, origin, a.name, ParamsFor(env, a.example));
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
    NoteFailures(results, "throughput " + WorkloadSlug(workload), kind, run.invocations);
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

  for (PlatformKind kind : env.platforms) {
    env.progress->Begin("skewed workload · " + PlatformName(kind), "s", static_cast<int64_t>(p.skew_seconds));
    auto platform = Prepare(env, kind, "skewed", {.keep_alive = p.skew_keep_alive}, actions, results);
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
          Invocation inv = Timed(*platform, origin, a.name, ParamsFor(env, a.example));
          std::lock_guard<std::mutex> lock(mu);
          results.skewed.push_back({kind, a.name, pick.hot, pick.io_bound, inv});
          all.push_back(inv);
          if (c == 0) env.progress->Set(static_cast<int64_t>(inv.end_s));
        }
      });
    }
    for (auto& t : clients) t.join();
    NoteFailures(results, "skewed workload", kind, all);
  }
}

// ---- memory per warm container ------------------------------------------------------------

int MemorySteps(const Environment& env) { return static_cast<int>(env.platforms.size()); }

void RunMemory(const Environment& env, Results& results) {
  const int k = env.profile.memory_containers;
  for (PlatformKind kind : env.platforms) {
    env.progress->Begin("memory per warm container · " + PlatformName(kind), "modules", std::size(kMemoryModules));
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
      if (kind == PlatformKind::kWowExecutor || kind == PlatformKind::kWowServe) {
        std::vector<ActionSpec> all = actions;
        all.push_back(warmup);
        if (!Prepare(env, kind, std::string("memory-compile-") + module, {}, all, results)) {
          env.progress->Advance();
          continue;
        }
      }
      auto platform = Prepare(env, kind, std::string("memory-") + module, {}, {warmup}, results);
      if (!platform) break;
      if (Invocation inv = platform->Invoke(warmup.name, ParamsFor(env, module)); !inv.ok) {
        results.notes.push_back(
            fmt::format("memory: {} {}: warm-up failed: {}", PlatformName(kind), module, inv.error));
        env.progress->Advance();
        continue;
      }
      MemoryRow row;
      row.platform = kind;
      row.module = module;
      row.containers = k;
      if (auto bytes = ReadFile(env.artifacts.Wasm(module)); bytes.ok()) row.wasm_bytes = bytes->size();
      if (auto bytes = ReadFile(env.artifacts.Native(module)); bytes.ok()) row.native_bytes = bytes->size();
      std::this_thread::sleep_for(milliseconds(200));
      auto before = platform->MeasureFootprint();
      Status failed = Status::Ok();
      for (const auto& a : actions) {
        if (failed = platform->Deploy(a); !failed.ok()) break;
        Invocation inv = platform->Invoke(a.name, ParamsFor(env, module));
        if (!inv.ok) failed = Status::Internal(inv.error);
        if (!failed.ok()) break;
      }
      std::this_thread::sleep_for(milliseconds(200));  // let page-cache and RSS figures settle
      auto after = platform->MeasureFootprint();
      if (!failed.ok() || !before.ok() || !after.ok()) {
        results.notes.push_back(fmt::format(
            "memory: {} {}: not measured: {}", PlatformName(kind), module,
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

int CpuSpeedSteps(const Environment&) { return 1; }

void RunCpuSpeed(const Environment& env, Results& results) {
  const std::pair<std::string, std::string> cases[] = {{"hash", env.profile.hash_params},
                                                       {"prime", env.profile.prime_params}};
  env.progress->Begin("CPU speed · Wasm (AoT) vs native, outside any platform", "runs",
                      static_cast<int64_t>(std::size(cases)) * env.profile.cpu_runs);
  Workspace ws{env.work / "cpu", env.aot_cache};
  std::error_code ec;
  fs::create_directories(ws.dir, ec);
  fs::create_directory_symlink(env.aot_cache, ws.dir / "aot", ec);
  wasm::EngineOptions options;
  options.data_dir = ws.dir;
  auto engine = wasm::CreateEngine("aot", options);
  if (!engine.ok()) {
    results.notes.push_back("CPU speed: " + engine.status().ToString());
    return;
  }
  for (const auto& [example, params] : cases) {
    auto bytes = ReadFile(env.artifacts.Wasm(example));
    if (!bytes.ok()) {
      results.notes.push_back("CPU speed: " + bytes.status().ToString());
      continue;
    }
    auto module = (*engine)->Load(std::vector<uint8_t>(bytes->begin(), bytes->end()), abi::HostFunctionsFor({}));
    if (!module.ok()) {
      results.notes.push_back("CPU speed: loading " + example + ": " + module.status().ToString());
      continue;
    }
    abi::ActivationRequest request;
    request.params_json = params;
    std::vector<double> native_ms, wasm_ms;
    std::string failure;
    for (int i = 0; i < env.profile.cpu_runs && failure.empty() && !env.stopping(); ++i) {
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
      results.notes.push_back("CPU speed: " + example + ": " + failure);
      continue;
    }
    CpuRow row{example, params, Describe(native_ms), Describe(wasm_ms), 0};
    row.wasm_speed = Ratio(row.native_ms.p50, row.wasm_ms.p50).value_or(0);
    results.cpu.push_back(std::move(row));
  }
}

}  // namespace wow::bench::eval
