// The engines side by side (issue 6): the same figures for every engine
// compiled in, in one process, so that one run gives rows that compare
// directly. Benchmarks are registered at start-up for each engine of
// AvailableEngines() (in the order aot, jit, interp); names are
// BM_<figure>/<engine>/<case>:
//
//   1. BM_Compile/<engine>/<size>             Prepare of a module never seen before
//   2. BM_DeployToFirstResult/<engine>/<size> bytes -> first correct result (also "tiered")
//   3. BM_InstantiateCall/<engine>/trivial    fresh instance + one call + destroy
//      BM_Activation/<engine>/add             one whole WOW-ABI activation of add.wasm
//   4. BM_CpuSpeed/<engine>/<hash|prime>      an example against its native build
//   5. BM_Memory/<engine>/<small|hash>        RSS per loaded module and per live
//                                             instance, measured in a fresh process
//
// Each figure's comment says what an iteration does. The AoT engine's own
// micro figures (pool, artifact load, ...) are in engine_bench.cc.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "abi/action_runner.h"
#include "bench_support.h"
#include "common/files.h"
#include "common/json.h"
#include "evaluation/native_process.h"
#include "wasm/engine_factory.h"
#include "wasm/testing/module_generator.h"
#include "wasm/tiered/tiered_engine.h"

namespace wow::bench {
namespace {

using Clock = std::chrono::steady_clock;
using wasm::RawValue;
using wasm::testing::GeneratedModuleSum;
using wasm::testing::GenerateWasiModule;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "engines_bench: %s\n", message.c_str());
  std::exit(2);
}

// ProcessCpuTime (bench_support): the JIT runs instances on its own threads,
// so the calling thread's CPU clock (Google Benchmark's CPU column) misses it.

// Plus the CPU time of children waited for (the AoT engine's C compiler).
std::chrono::nanoseconds CpuTimeWithChildren() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto tv = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return ProcessCpuTime() + tv(usage.ru_utime) + tv(usage.ru_stime);
}

// "Threads:" of /proc/self/status; 0 when unreadable.
int ThreadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return 0;
}

std::unique_ptr<wasm::Engine> NewEngine(const std::string& name, const std::filesystem::path& data_dir) {
  wasm::EngineOptions options;
  options.data_dir = data_dir;
  auto engine = wasm::CreateEngine(name, options);
  if (!engine.ok()) Die(engine.status().ToString());
  return std::move(engine).value();
}

// The backends compared, in the order the rows are printed.
std::vector<std::string> Backends() {
  std::vector<std::string> available = wasm::AvailableEngines();
  std::vector<std::string> backends;
  for (const char* name : {"aot", "jit", "interp"}) {
    if (std::find(available.begin(), available.end(), name) != available.end()) backends.push_back(name);
  }
  return backends;
}

// WASI preview1: what every example and generated action imports.
const wasm::HostFunctions& Host() { return abi::HostFunctionsFor({}); }

// A seed no generated module of this process had: the JIT's and the
// interpreter's compile caches are process-wide and keyed by content.
uint32_t NextSeed() {
  static std::atomic<uint32_t> next{1};
  return next++;
}

// One engine of each kind for figures 3 and 4, with loaded fixtures. The AoT
// cache is a fresh temporary directory: fixtures compile on first use,
// outside any timing.
class Shared {
 public:
  static Shared& Get() {
    static Shared shared;
    return shared;
  }

  std::shared_ptr<const wasm::Module> Module(const std::string& engine_name, const std::string& fixture) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& engine = engines_[engine_name];
    if (engine == nullptr) engine = NewEngine(engine_name, dir_.path() / engine_name);
    auto& module = modules_[engine_name + "/" + fixture];
    if (module == nullptr) {
      auto loaded = engine->Load(FixtureBytes(fixture), Host());
      if (!loaded.ok()) Die(fmt::format("{}: cannot load {}: {}", engine_name, fixture, loaded.status().ToString()));
      module = *loaded;
    }
    return module;
  }

 private:
  TempDir dir_{"wow-engines-bench"};
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<wasm::Engine>> engines_;
  std::map<std::string, std::shared_ptr<const wasm::Module>> modules_;
};

// The generated module sizes of figures 1 and 2.
struct ModuleSize {
  const char* label;
  size_t bytes;
};
constexpr ModuleSize kSizes[] = {{"2KB", 2'000}, {"100KB", 100'000}, {"1MB", 1'000'000}};

// ---------------------------------------------------------------------------
// 1. Compile: Engine::Prepare of a module no cache has seen.

// Each iteration generates a module with a new seed (untimed) and times
// Prepare of it on an engine with an empty AoT data dir: AoT = validate +
// wasm2c + cc -O2 (a child process, hence wall time); JIT = SpiderMonkey's
// compile (baseline tier; the optimizing tier continues in the background);
// interp = wabt's decode, validation and compile to its internal code.
// Counters: cpu_ms = CPU of this process and of its compiler children per
// Prepare; engine_ms = PrepareInfo::compile_ms.
void BM_Compile(benchmark::State& state, const std::string& engine_name, size_t bytes) {
  TempDir dir("wow-engines-compile");
  auto engine = NewEngine(engine_name, dir.path());
  // One-time set-up (AoT: `cc --version`; JIT: the JS threads) untimed.
  if (!engine->Prepare(GenerateWasiModule(300, NextSeed())).ok()) Die("warm-up prepare failed");
  std::chrono::nanoseconds cpu{};
  double engine_ms = 0;
  size_t wasm_bytes = 0;
  int64_t n = 0;
  for (auto _ : state) {
    std::vector<uint8_t> wasm = GenerateWasiModule(bytes, NextSeed());
    wasm_bytes = wasm.size();
    auto c0 = CpuTimeWithChildren();
    auto t0 = Clock::now();
    auto info = engine->Prepare(wasm);
    auto elapsed = Clock::now() - t0;
    cpu += CpuTimeWithChildren() - c0;
    if (!info.ok() || info->cache_hit) {
      state.SkipWithError(info.ok() ? "unexpected cache hit" : info.status().ToString().c_str());
      break;
    }
    state.SetIterationTime(Seconds(elapsed));
    engine_ms += info->compile_ms;
    ++n;
  }
  if (n == 0) return;
  state.counters["wasm_KB"] = wasm_bytes / 1000.0;
  state.counters["cpu_ms"] = std::chrono::duration<double, std::milli>(cpu).count() / n;
  state.counters["engine_ms"] = engine_ms / n;
}

// Iterations per (engine, size): AoT takes ~0.1 s at 2 KB, seconds at
// 100 KB and minutes at 1 MB on 2 busy cores.
int CompileIterations(const std::string& engine_name, size_t bytes) {
  if (engine_name == "aot") return bytes <= 2'000 ? 5 : bytes <= 100'000 ? 2 : 1;
  return bytes <= 2'000 ? 20 : bytes <= 100'000 ? 10 : 5;
}

// ---------------------------------------------------------------------------
// 2. Deploy to first result: module bytes -> the first activation's result.

constexpr char kDeployParams[] = R"({"n": 5})";
constexpr uint64_t kDeployN = 5;

// An empty string when `result` is the generated module's correct answer
// {"sum": GeneratedModuleSum(bytes, seed, 5)}, else what is wrong.
std::string CheckSum(const Result<abi::ActivationResult>& result, size_t bytes, uint32_t seed) {
  if (!result.ok()) return result.status().ToString();
  if (result->status != abi::ActivationStatus::kSuccess) return ToJson(result->result);
  uint64_t expected = GeneratedModuleSum(bytes, seed, kDeployN);
  const auto* object = result->result.if_object();
  const auto* sum = object != nullptr ? object->if_contains("sum") : nullptr;
  if (sum == nullptr || WholeNumber(*sum) != expected) {
    return fmt::format("wrong result {} (expected sum {})", ToJson(result->result), expected);
  }
  return {};
}

Result<abi::ActivationResult> RunDeployActivation(const wasm::Module& module) {
  abi::ActivationRequest request;
  request.params_json = kDeployParams;
  return abi::RunActivation(module, request);
}

// An engine for one deploy iteration (tiered) or one benchmark (the rest),
// its set-up done: a small generated module was loaded and run once (and,
// for tiered, has reached the AoT tier), so `cc --version`, the JS threads
// and the WASI host table are not in the timing.
struct DeployEngine {
  explicit DeployEngine(const std::string& name) : dir("wow-engines-deploy"), engine(NewEngine(name, dir.path())) {
    uint32_t seed = NextSeed();
    auto module = engine->Load(GenerateWasiModule(300, seed), Host());
    if (!module.ok()) Die("warm-up load failed: " + module.status().ToString());
    std::string wrong = CheckSum(RunDeployActivation(**module), 300, seed);
    if (!wrong.empty()) Die("warm-up activation failed: " + wrong);
    if (name == "tiered" && !wasm::tiered::WaitForAotTier(**module, std::chrono::minutes(5))) {
      Die("warm-up module did not reach the AoT tier");
    }
  }
  TempDir dir;
  std::unique_ptr<wasm::Engine> engine;
};

// Each iteration generates a module with a new seed (untimed), then times
// Engine::Load (which compiles: Prepare + link) and abi::RunActivation with
// {"n": 5} on a fresh instance, and checks the result. Counters: the parts
// (load_ms; instantiate_us and run_us as RunActivation reports them) and
// first_on_fast = share of first results not served by AoT.
//
// tiered: the first result comes from the fast tier while the AoT compile
// runs in the background (at nice 10) during the timed part, as on a real
// deploy. So that one iteration's compile does not slow the next, every
// iteration gets a fresh tiered engine (untimed, with its own empty data
// dir) and, after the timed part: up to 100 KB, waits for the AoT tier
// (WaitForAotTier; counter aot_tier_s = from the start of Load until the AoT
// instance is ready) and checks that the AoT tier gives the same result; at
// 1 MB it does not wait: destroying the engine kills the compile.
void BM_DeployToFirstResult(benchmark::State& state, const std::string& engine_name, size_t bytes) {
  const bool tiered = engine_name == "tiered";
  const bool wait_for_aot = tiered && bytes <= 100'000;
  std::unique_ptr<DeployEngine> deploy;
  if (!tiered) deploy = std::make_unique<DeployEngine>(engine_name);
  Clock::duration load_total{}, aot_tier_total{};
  double instantiate_us = 0, run_us = 0;
  int64_t n = 0, on_fast = 0;
  size_t wasm_bytes = 0;
  for (auto _ : state) {
    if (tiered) {
      deploy.reset();  // stops a compile still running
      deploy = std::make_unique<DeployEngine>(engine_name);
    }
    uint32_t seed = NextSeed();
    std::vector<uint8_t> wasm = GenerateWasiModule(bytes, seed);
    wasm_bytes = wasm.size();
    auto t0 = Clock::now();
    auto module = deploy->engine->Load(wasm, Host());
    auto t1 = Clock::now();
    Result<abi::ActivationResult> result = Status::Internal("not run");
    if (module.ok()) result = RunDeployActivation(**module);
    auto t2 = Clock::now();
    std::string wrong = module.ok() ? CheckSum(result, bytes, seed) : module.status().ToString();
    if (!wrong.empty()) {
      state.SkipWithError(wrong.c_str());
      break;
    }
    state.SetIterationTime(Seconds(t2 - t0));
    load_total += t1 - t0;
    instantiate_us += result->instantiate_ms * 1000;
    run_us += result->run_ms * 1000;
    if (result->engine != "aot") ++on_fast;
    ++n;
    if (wait_for_aot) {
      if (!wasm::tiered::WaitForAotTier(**module, std::chrono::minutes(10))) {
        state.SkipWithError("the module did not reach the AoT tier");
        break;
      }
      aot_tier_total += Clock::now() - t0;
      auto on_aot = RunDeployActivation(**module);
      std::string aot_wrong = CheckSum(on_aot, bytes, seed);
      if (aot_wrong.empty() && on_aot->engine != "aot") aot_wrong = "ran on " + on_aot->engine + ", not aot";
      if (!aot_wrong.empty()) {
        state.SkipWithError(("after the switch: " + aot_wrong).c_str());
        break;
      }
    }
  }
  deploy.reset();
  if (n == 0) return;
  state.counters["wasm_KB"] = wasm_bytes / 1000.0;
  state.counters["load_ms"] = Ms(load_total) / n;
  state.counters["instantiate_us"] = instantiate_us / n;
  state.counters["run_us"] = run_us / n;
  state.counters["first_on_fast"] = static_cast<double>(on_fast) / n;
  if (wait_for_aot) state.counters["aot_tier_s"] = Seconds(aot_tier_total) / n;
}

int DeployIterations(const std::string& engine_name, size_t bytes) {
  if (engine_name == "aot") return bytes <= 2'000 ? 5 : bytes <= 100'000 ? 2 : 1;
  if (engine_name == "tiered") return bytes <= 2'000 ? 5 : 3;
  return bytes <= 2'000 ? 10 : bytes <= 100'000 ? 5 : 3;
}

// ---------------------------------------------------------------------------
// 3. Per-request instance: the paper's cold start inside one process.

// Counter proc_cpu_us: CPU time of the whole process per iteration (the JIT
// instantiates and calls on its own threads while this one waits).
void ReportProcessCpu(benchmark::State& state, std::chrono::nanoseconds cpu) {
  if (state.iterations() == 0) return;
  state.counters["proc_cpu_us"] =
      std::chrono::duration<double, std::micro>(cpu).count() / static_cast<double>(state.iterations());
}

// Module::Instantiate of trivial.wat + Call("add", 20, 22) checked = 42 +
// destroy.
void BM_InstantiateCall(benchmark::State& state, const std::string& engine_name) {
  auto module = Shared::Get().Module(engine_name, "trivial");
  RawValue args[2] = {20, 22};
  RawValue res[1] = {0};
  auto c0 = ProcessCpuTime();
  for (auto _ : state) {
    auto instance = module->Instantiate({});
    if (!instance.ok()) {
      state.SkipWithError(instance.status().ToString().c_str());
      break;
    }
    Status s = (*instance)->Call("add", args, res);
    if (!s.ok() || res[0] != 42) {
      state.SkipWithError(("call failed: " + s.ToString()).c_str());
      break;
    }
  }
  ReportProcessCpu(state, ProcessCpuTime() - c0);
}

// One whole activation of examples/add.wasm through abi::RunActivation
// (WASI context, fresh instance, params in, _start, result parsed).
void BM_Activation(benchmark::State& state, const std::string& engine_name) {
  auto module = Shared::Get().Module(engine_name, "add");
  abi::ActivationRequest request;
  request.params_json = R"({"param1": 20, "param2": 22})";
  auto c0 = ProcessCpuTime();
  for (auto _ : state) {
    auto result = abi::RunActivation(*module, request);
    if (!result.ok() || result->status != abi::ActivationStatus::kSuccess) {
      state.SkipWithError(result.ok() ? ToJson(result->result).c_str() : result.status().ToString().c_str());
      break;
    }
  }
  ReportProcessCpu(state, ProcessCpuTime() - c0);
}

// ---------------------------------------------------------------------------
// 4. CPU speed: an example action against its native -O2 build.

// The work of one run. The interpreter gets a fraction of it (`fraction`
// < 1; the row's label says so): at the full size it takes minutes.
struct CpuWork {
  std::string params;
  double fraction = 1;  // of the work the compiled engines do
  std::string label;
};

CpuWork CpuWorkFor(const std::string& engine_name, const std::string& example) {
  bool interp = engine_name == "interp";
  if (example == "hash") {
    // Default 400,000 SHA-256 iterations (~100 ms native).
    if (interp) return {R"({"iterations": 20000})", 0.05, "iterations=20000 (1/20 of the others')"};
    return {"{}", 1, "iterations=400000"};
  }
  // The 5,000,000th prime: a 5.4 MB sieve (~70 ms native).
  if (interp) return {R"({"n": 500000})", 0.1, "n=500000 (1/10 of the others' n)"};
  return {R"({"n": 5000000})", 1, "n=5000000"};
}

// Each iteration runs the native build (posix_spawn, params on stdin) and
// the Wasm module (abi::RunActivation on a fresh instance) once each with the
// same params, alternating which goes first, and checks that they return the
// same result. The time is the Wasm run's (wall). Counters: native_ms,
// wasm_ms, ratio = Wasm / native wall time; the same in CPU time (cpu_ratio:
// this process's CPU, all threads, against the child's rusage), which leaves
// out the time other tenants of a busy machine take; first_run_ms = the
// untimed first run (the JIT's baseline code before its optimizing tier).
void BM_CpuSpeed(benchmark::State& state, const std::string& engine_name, const std::string& example) {
  CpuWork work = CpuWorkFor(engine_name, example);
  auto module = Shared::Get().Module(engine_name, example);
  std::filesystem::path native = ExampleNative(example);
  abi::ActivationRequest request;
  request.params_json = work.params;
  auto first_start = Clock::now();
  auto first = abi::RunActivation(*module, request);
  double first_run_ms = Ms(Clock::now() - first_start);
  if (!first.ok() || first->status != abi::ActivationStatus::kSuccess) Die(example + " failed on " + engine_name);
  Clock::duration wasm_total{}, native_total{};
  std::chrono::nanoseconds wasm_cpu_total{}, native_cpu_total{};
  int64_t n = 0;
  for (auto _ : state) {
    auto round = WasmVsNativeRound(*module, native, work.params, n % 2 == 0, ProcessCpuTime);
    if (!round.ok()) {
      state.SkipWithError(round.status().message().c_str());
      break;
    }
    state.SetIterationTime(Seconds(round->wasm_time));
    wasm_total += round->wasm_time;
    native_total += round->native.elapsed;
    wasm_cpu_total += round->wasm_cpu;
    native_cpu_total += round->native.cpu;
    ++n;
  }
  if (n == 0) return;
  state.SetLabel(work.label);
  state.counters["work"] = work.fraction;
  state.counters["first_run_ms"] = first_run_ms;
  state.counters["native_ms"] = Ms(native_total) / n;
  state.counters["wasm_ms"] = Ms(wasm_total) / n;
  state.counters["ratio"] = Seconds(wasm_total) / Seconds(native_total);
  state.counters["native_cpu_ms"] = Ms(native_cpu_total) / n;
  state.counters["wasm_cpu_ms"] = Ms(wasm_cpu_total) / n;
  state.counters["cpu_ratio"] = Seconds(wasm_cpu_total) / Seconds(native_cpu_total);
}

// ---------------------------------------------------------------------------
// 5. Memory: RSS per loaded module and per live instance.

constexpr int kRssModules = 100;
constexpr int kRssInstances = 100;

void CompileRssModules(const std::string& kind) {
  auto engine = NewEngine("aot", PersistentCacheDir());
  PrepareRssModules(*engine, kind, kRssModules);  // one extra for warm-up
  if (!engine->Prepare(FixtureBytes("add")).ok()) Die("compiling add.wasm failed");
}

// The child process of BM_Memory (`engines_bench --rss-child <engine>
// <kind>`): loads 100 distinct modules of `kind`, then holds 100 live
// instances of add.wasm, and prints the growth of /proc/self/statm as one
// JSON line. A fresh process, so that nothing earlier (heap, the JIT's JS
// threads, caches) absorbs or adds to the growth.
int RssChildMain(const std::string& engine_name, const std::string& kind) {
  auto engine = NewEngine(engine_name, PersistentCacheDir());
  std::vector<std::vector<uint8_t>> bytes;
  for (int i = 0; i <= kRssModules; ++i) bytes.push_back(RssModule(kind, i));
  // Warm up the engine's lazy state (compiler identity, dlopen, JS threads,
  // the WASI host table) with the extra module and the add module, each with
  // one instance kept alive.
  auto warm = engine->Load(bytes[kRssModules], Host());
  auto add = engine->Load(FixtureBytes("add"), Host());
  if (!warm.ok() || !add.ok()) Die("warm-up load failed");
  auto warm_instance = (*warm)->Instantiate({});
  auto warm_add = (*add)->Instantiate({});
  if (!warm_instance.ok() || !warm_add.ok()) Die("warm-up instantiate failed");

  std::vector<std::shared_ptr<const wasm::Module>> modules;
  modules.reserve(kRssModules);
  std::vector<std::unique_ptr<wasm::Instance>> instances;
  instances.reserve(kRssInstances);
  // Freed heap (the module bytes' temporaries, the warm-up) would otherwise
  // absorb the growth: give it back first, and after the loads their
  // temporaries, so that each figure counts what is held.
  ::malloc_trim(0);
  ProcessMemory m0 = ReadProcessMemory();
  auto t0 = Clock::now();
  for (int i = 0; i < kRssModules; ++i) {
    auto module = engine->Load(bytes[i], Host());
    if (!module.ok()) Die(module.status().ToString());
    modules.push_back(*module);
  }
  double load_seconds = Seconds(Clock::now() - t0);
  ::malloc_trim(0);
  ProcessMemory m1 = ReadProcessMemory();
  int threads1 = ThreadCount();
  for (int i = 0; i < kRssInstances; ++i) {
    auto instance = (*add)->Instantiate({});
    if (!instance.ok()) Die(instance.status().ToString());
    instances.push_back(std::move(instance).value());
  }
  ProcessMemory m2 = ReadProcessMemory();
  int threads2 = ThreadCount();

  boost::json::object out;
  out["load_seconds"] = load_seconds;
  out["rss_per_module"] = (double(m1.rss) - double(m0.rss)) / kRssModules;
  out["file_per_module"] = (double(m1.shared) - double(m0.shared)) / kRssModules;
  out["anon_per_module"] = ((double(m1.rss) - double(m1.shared)) - (double(m0.rss) - double(m0.shared))) / kRssModules;
  out["rss_per_instance"] = (double(m2.rss) - double(m1.rss)) / kRssInstances;
  out["vsz_per_instance"] = (double(m2.vsz) - double(m1.vsz)) / kRssInstances;
  out["threads_per_instance"] = double(threads2 - threads1) / kRssInstances;
  std::printf("%s\n", ToJson(out).c_str());
  std::fflush(stdout);
  ::_exit(0);  // no teardown: the figures are out
}

// One iteration runs the child above and reports its figures as counters
// (bytes): rss_per_module, split into anon_per_module (heap, compiled code
// of the JIT) and file_per_module (resident file-backed pages: AoT's .so);
// rss_per_instance and vsz_per_instance for 100 live instances of add.wasm;
// threads_per_instance (the JIT pins every live instance to a JS thread).
// The time column is Engine::Load time per module. For AoT, the artifacts
// are compiled first (untimed, persistent cache).
void BM_Memory(benchmark::State& state, const std::string& engine_name, const std::string& kind) {
  if (engine_name == "aot") CompileRssModules(kind);
  boost::json::object figures;
  for (auto _ : state) {
    eval::ProcessOptions options;
    options.argv = {std::filesystem::read_symlink("/proc/self/exe").string(), "--rss-child", engine_name, kind};
    auto child = eval::RunProcess(std::move(options));
    std::string error = !child.ok()             ? child.status().ToString()
                        : child->exit_code != 0 ? fmt::format("child exited {}: {}", child->exit_code, child->err)
                                                : "";
    if (error.empty()) {
      auto parsed = ParseJson(eval::LastNonEmptyLine(child->out));
      if (parsed.ok() && parsed->is_object()) {
        figures = parsed->as_object();
      } else {
        error = "unreadable child output: " + child->out;
      }
    }
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(figures["load_seconds"].to_number<double>() / kRssModules);
  }
  for (const char* name : {"rss_per_module", "anon_per_module", "file_per_module", "rss_per_instance",
                           "vsz_per_instance", "threads_per_instance"}) {
    if (const auto* v = figures.if_contains(name)) state.counters[name] = v->to_number<double>();
  }
}

// ---------------------------------------------------------------------------

void RegisterAll() {
  const std::vector<std::string> backends = Backends();
  for (const auto& size : kSizes) {
    for (const auto& engine : backends) {
      benchmark::RegisterBenchmark(fmt::format("BM_Compile/{}/{}", engine, size.label).c_str(), BM_Compile, engine,
                                   size.bytes)
          ->Iterations(CompileIterations(engine, size.bytes))
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  std::vector<std::string> deployers = backends;
  deployers.push_back("tiered");
  for (const auto& size : kSizes) {
    for (const auto& engine : deployers) {
      benchmark::RegisterBenchmark(fmt::format("BM_DeployToFirstResult/{}/{}", engine, size.label).c_str(),
                                   BM_DeployToFirstResult, engine, size.bytes)
          ->Iterations(DeployIterations(engine, size.bytes))
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const auto& engine : backends) {
    benchmark::RegisterBenchmark(fmt::format("BM_InstantiateCall/{}/trivial", engine).c_str(), BM_InstantiateCall,
                                 engine)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const auto& engine : backends) {
    benchmark::RegisterBenchmark(fmt::format("BM_Activation/{}/add", engine).c_str(), BM_Activation, engine)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const char* example : {"hash", "prime"}) {
    for (const auto& engine : backends) {
      benchmark::RegisterBenchmark(fmt::format("BM_CpuSpeed/{}/{}", engine, example).c_str(), BM_CpuSpeed, engine,
                                   std::string(example))
          ->Iterations(engine == "interp" ? 3 : 5)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const char* kind : {"small", "hash"}) {
    for (const auto& engine : backends) {
      benchmark::RegisterBenchmark(fmt::format("BM_Memory/{}/{}", engine, kind).c_str(), BM_Memory, engine,
                                   std::string(kind))
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace
}  // namespace wow::bench

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "--rss-child") return wow::bench::RssChildMain(argv[2], argv[3]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  wow::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
