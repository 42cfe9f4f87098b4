// Micro figures of the AoT engine (Google Benchmark): per-request instance
// cost, artifact load, compile time, CPU speed against native builds, and
// memory per loaded module. BENCHMARKS.md says how to run and read them.
//
// The wabt stock runtime comparison is a separate program
// (stock_runtime_bench.cc): its libwasm-rt-impl.a defines the same wasm_rt_*
// symbols as our runtime, so the two never share an executable.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "abi/action_runner.h"
#include "bench_support.h"
#include "common/files.h"
#include "common/json.h"
#include "wasm/aot/memory_pool.h"
#include "wasm/engine_factory.h"

namespace wow::bench {
namespace {

using Clock = std::chrono::steady_clock;
using wasm::RawValue;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "engine_bench: %s\n", message.c_str());
  std::exit(2);
}

std::unique_ptr<wasm::Engine> NewEngine(const std::filesystem::path& data_dir) {
  wasm::EngineOptions options;
  options.data_dir = data_dir;
  auto engine = wasm::CreateEngine("aot", options);
  if (!engine.ok()) Die(engine.status().ToString());
  return std::move(engine).value();
}

// WASI preview1: what every example action imports.
const wasm::HostFunctions& Host() { return abi::HostFunctionsFor({}); }

// The engine most benchmarks share. Its cache is a fresh temporary directory,
// so every run measures artifacts built by the engine under test (the first
// use of a fixture compiles it, outside any timing). WOW_BENCH_DATA_DIR names
// a directory to use instead, kept afterwards: for profiling the artifacts
// (perf report needs the .so files) or to skip recompiling between runs.
class Shared {
 public:
  static Shared& Get() {
    static Shared shared;
    return shared;
  }

  wasm::Engine& engine() { return *engine_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }

  std::shared_ptr<const wasm::Module> Module(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = modules_.find(name);
    if (it != modules_.end()) return it->second;
    auto module = engine_->Load(FixtureBytes(name), Host());
    if (!module.ok()) Die(fmt::format("cannot load {}: {}", name, module.status().ToString()));
    modules_[name] = *module;
    return *module;
  }

 private:
  Shared() : data_dir_(DataDir(dir_)), engine_(NewEngine(data_dir_)) {}

  static std::filesystem::path DataDir(const TempDir& temp) {
    const char* env = std::getenv("WOW_BENCH_DATA_DIR");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env) : temp.path();
  }

  TempDir dir_{"wow-bench"};
  std::filesystem::path data_dir_;
  std::unique_ptr<wasm::Engine> engine_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const wasm::Module>> modules_;
};

// ---------------------------------------------------------------------------
// 1. Per-request instance: fresh instance + one call + destroy.

// The headline figure (goal <= 5 us): what a request pays for isolation.
void BM_InstantiateCallTrivial(benchmark::State& state) {
  auto module = Shared::Get().Module("trivial");
  RawValue args[2] = {20, 22};
  RawValue res[1] = {0};
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
}
BENCHMARK(BM_InstantiateCallTrivial)->Threads(1)->Threads(2)->UseRealTime();

// The pieces of BM_InstantiateCallTrivial, to see where its time goes.
void BM_InstantiateOnlyTrivial(benchmark::State& state) {
  auto module = Shared::Get().Module("trivial");
  for (auto _ : state) {
    auto instance = module->Instantiate({});
    benchmark::DoNotOptimize(instance);
  }
}
BENCHMARK(BM_InstantiateOnlyTrivial);

void BM_CallTrivial(benchmark::State& state) {
  auto module = Shared::Get().Module("trivial");
  auto instance = module->Instantiate({});
  RawValue args[2] = {20, 22};
  RawValue res[1] = {0};
  for (auto _ : state) {
    Status s = (*instance)->Call("add", args, res);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_CallTrivial);

// The memory pool alone: take a slot of `pages` Wasm pages, dirty one byte,
// give it back (which zeroes what was accessible: the keep_resident memset).
void BM_PoolAcquireRelease(benchmark::State& state) {
  auto& pool = wasm::aot::MemoryPool::Instance();
  uint64_t bytes = static_cast<uint64_t>(state.range(0)) * wasm::kWasmPageSize;
  for (auto _ : state) {
    uint8_t* data = pool.Acquire(bytes);
    if (data == nullptr) {
      state.SkipWithError("pool exhausted");
      break;
    }
    data[0] = 1;
    pool.Release(data, bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_PoolAcquireRelease)->Arg(1)->Arg(2)->Arg(16);

// Instance cost against memory a guest dirties: a module of `pages` pages
// whose `touch` writes one byte per page. Above the pool's keep_resident
// threshold (1 MiB = 16 pages) pages are madvise'd away and fault back in.
void BM_InstantiateTouchPages(benchmark::State& state) {
  static std::mutex mu;
  static std::map<int64_t, std::shared_ptr<const wasm::Module>> modules;
  int64_t pages = state.range(0);
  std::shared_ptr<const wasm::Module> module;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& m = modules[pages];
    if (m == nullptr) {
      std::string wat = fmt::format(R"((module
        (memory (export "memory") {0})
        (func (export "touch")
          (local $i i32)
          (loop $top
            (i32.store8 (i32.mul (local.get $i) (i32.const 65536)) (i32.const 1))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $top (i32.lt_u (local.get $i) (i32.const {0})))))))",
                                    pages);
      auto loaded = Shared::Get().engine().Load(WatOrDie(wat), Host());
      if (!loaded.ok()) Die(loaded.status().ToString());
      m = *loaded;
    }
    module = m;
  }
  for (auto _ : state) {
    auto instance = module->Instantiate({});
    if (!instance.ok() || !(*instance)->Call("touch", {}, {}).ok()) {
      state.SkipWithError("touch failed");
      break;
    }
  }
}
BENCHMARK(BM_InstantiateTouchPages)->Arg(1)->Arg(2)->Arg(16)->Arg(32)->Arg(64);

// A real C action (examples/add.wasm: wasi-libc, 2 pages, ~54 KB) without
// running it: instance + a call of a trivial export + destroy.
void BM_InstantiateCallExampleAdd(benchmark::State& state) {
  auto module = Shared::Get().Module("add");
  RawValue res[1] = {0};
  for (auto _ : state) {
    auto instance = module->Instantiate({});
    if (!instance.ok() || !(*instance)->Call("get_wasm_memory_buffer_len", {}, res).ok()) {
      state.SkipWithError("instantiate/call failed");
      break;
    }
  }
}
BENCHMARK(BM_InstantiateCallExampleAdd);

// One whole activation of examples/add.wasm through the WOW ABI
// (abi::RunActivation: WASI context, instance, params in, _start, result
// parsed and classified): the engine-level cost of a request.
void BM_ActivationAdd(benchmark::State& state) {
  auto module = Shared::Get().Module("add");
  abi::ActivationRequest request;
  request.params_json = R"({"param1": 20, "param2": 22})";
  for (auto _ : state) {
    auto result = abi::RunActivation(*module, request);
    if (!result.ok() || result->status != abi::ActivationStatus::kSuccess) {
      state.SkipWithError(result.ok() ? ToJson(result->result).c_str() : result.status().ToString().c_str());
      break;
    }
  }
}
BENCHMARK(BM_ActivationAdd);

// ---------------------------------------------------------------------------
// 3. Artifact load: dlopen + init of an already-compiled module.

// Each artifact is a distinct file (a custom section makes its hash unique)
// that nothing else in the process has open, so every Load really dlopens
// it and dropping the Module really dlcloses it (dlopen of a file that is
// already open only bumps a reference count).
std::vector<uint8_t> ArtifactLoadBytes(const std::string& name) {
  return WithCustomSection(FixtureBytes(name), "wow-bench", "artifact-load " + name);
}

void BM_ArtifactLoad(benchmark::State& state, std::string name) {
  auto& engine = Shared::Get().engine();
  std::vector<uint8_t> wasm = ArtifactLoadBytes(name);
  auto prepared = engine.Prepare(wasm);  // compile once, outside the timing
  if (!prepared.ok()) Die(prepared.status().ToString());
  for (auto _ : state) {
    auto module = engine.Load(wasm, Host());
    if (!module.ok()) {
      state.SkipWithError(module.status().ToString().c_str());
      break;
    }
  }  // the last reference goes here: dlclose
  state.counters["wasm_bytes"] = static_cast<double>(wasm.size());
}
BENCHMARK_CAPTURE(BM_ArtifactLoad, trivial, std::string("trivial"));
BENCHMARK_CAPTURE(BM_ArtifactLoad, add, std::string("add"));
BENCHMARK_CAPTURE(BM_ArtifactLoad, hash, std::string("hash"));

// The cache lookup alone (sha256 of the module bytes + stat of the artifact),
// which every Load does first.
void BM_PrepareCacheHit(benchmark::State& state, std::string name) {
  auto& engine = Shared::Get().engine();
  std::vector<uint8_t> wasm = ArtifactLoadBytes(name);
  if (!engine.Prepare(wasm).ok()) Die("prepare failed");
  for (auto _ : state) {
    auto info = engine.Prepare(wasm);
    if (!info.ok() || !info->cache_hit) {
      state.SkipWithError("not a cache hit");
      break;
    }
  }
}
BENCHMARK_CAPTURE(BM_PrepareCacheHit, hash, std::string("hash"));

// Load with a fresh Engine each time, as a new process would: includes the
// engine's one-time set-up (it runs `cc --version` once to key the cache).
void BM_ArtifactLoadFreshEngine(benchmark::State& state, std::string name) {
  std::vector<uint8_t> wasm = ArtifactLoadBytes(name);
  if (!Shared::Get().engine().Prepare(wasm).ok()) Die("prepare failed");
  for (auto _ : state) {
    auto engine = NewEngine(Shared::Get().data_dir());
    auto module = engine->Load(wasm, Host());
    if (!module.ok()) {
      state.SkipWithError(module.status().ToString().c_str());
      break;
    }
  }
}
BENCHMARK_CAPTURE(BM_ArtifactLoadFreshEngine, hash, std::string("hash"))->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// 4. Compile (cold cache): validate, wasm2c, cc -O2 into a shared object.

void BM_Compile(benchmark::State& state, std::string which) {
  std::vector<uint8_t> base;
  if (which == "small") {
    base = WatOrDie(SmallModuleWat(7));
  } else if (which == "medium") {
    base = FixtureBytes("hash");
  } else {
    base = FixtureBytes("hash_o0");
  }
  TempDir dir("wow-bench-compile");  // cold cache for this run
  auto engine = NewEngine(dir.path());
  // First Prepare does the engine's one-time set-up (cc --version); keep it
  // out of the timing.
  if (!engine->Prepare(WatOrDie("(module)")).ok()) Die("prepare failed");
  double compile_ms = 0;
  int64_t n = 0;
  for (auto _ : state) {
    // New bytes every time (same code, another hash): always a cache miss.
    state.PauseTiming();
    auto wasm = WithCustomSection(
        base, "wow-bench", fmt::format("compile {} {} {}", ::getpid(), n, Clock::now().time_since_epoch().count()));
    state.ResumeTiming();
    auto info = engine->Prepare(wasm);
    if (!info.ok() || info->cache_hit) {
      state.SkipWithError(info.ok() ? "unexpected cache hit" : info.status().ToString().c_str());
      break;
    }
    compile_ms += info->compile_ms;
    ++n;
  }
  state.counters["wasm_KB"] = base.size() / 1024.0;
  if (n > 0) state.counters["engine_compile_ms"] = compile_ms / n;
}
BENCHMARK_CAPTURE(BM_Compile, small, std::string("small"))->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Compile, medium, std::string("medium"))
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Compile, large, std::string("large"))->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// 5. CPU speed: an example action in Wasm against its native -O2 build.

// Each iteration runs the native build (posix_spawn, params on stdin) and the
// Wasm module (abi::RunActivation on a fresh instance) once each, alternating
// which goes first, and checks they return the same result. The reported
// time is the Wasm run's; counters hold both and their ratio (goal <= 1.15):
// wall clock (`ratio`, what a caller waits) and CPU time (`cpu_ratio`: the
// child's rusage against this thread's CPU clock, which leaves out the time
// other processes on a busy machine take from either run).
void BM_CpuSpeed(benchmark::State& state, std::string name, std::string params) {
  auto module = Shared::Get().Module(name);
  std::filesystem::path native = ExampleNative(name);
  Clock::duration wasm_total{}, native_total{};
  std::chrono::nanoseconds wasm_cpu_total{}, native_cpu_total{};
  double wasm_run_ms = 0;
  int64_t n = 0;
  for (auto _ : state) {
    auto round = WasmVsNativeRound(*module, native, params, n % 2 == 0, ThreadCpuTime);
    if (!round.ok()) {
      state.SkipWithError(round.status().message().c_str());
      break;
    }
    state.SetIterationTime(Seconds(round->wasm_time));
    wasm_total += round->wasm_time;
    native_total += round->native.elapsed;
    wasm_cpu_total += round->wasm_cpu;
    native_cpu_total += round->native.cpu;
    wasm_run_ms += round->wasm_run_ms;
    ++n;
  }
  if (n == 0) return;
  state.counters["native_ms"] = Ms(native_total) / n;
  state.counters["wasm_ms"] = Ms(wasm_total) / n;
  state.counters["wasm_run_ms"] = wasm_run_ms / n;  // without instantiation
  state.counters["ratio"] = Seconds(wasm_total) / Seconds(native_total);
  state.counters["native_cpu_ms"] = Ms(native_cpu_total) / n;
  state.counters["wasm_cpu_ms"] = Ms(wasm_cpu_total) / n;
  state.counters["cpu_ratio"] = Seconds(wasm_cpu_total) / Seconds(native_cpu_total);
}
BENCHMARK_CAPTURE(BM_CpuSpeed, hash, std::string("hash"), std::string("{}"))
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CpuSpeed, prime, std::string("prime"), std::string(R"({"n": 5000000})"))
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// What RunNative adds to every native figure: spawning a process that does
// (almost) nothing.
void BM_NativeSpawn(benchmark::State& state) {
  std::filesystem::path native = ExampleNative("add");
  for (auto _ : state) {
    auto run = RunNative(native, R"({"param1": 20, "param2": 22})");
    if (!run.ok() || run->exit_code != 0) {
      state.SkipWithError("native add failed");
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(run->elapsed).count());
  }
}
BENCHMARK(BM_NativeSpawn)->UseManualTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// 6. Resident memory per loaded module.

constexpr int kRssModules = 100;

void CompileRssModules(const std::string& kind) {
  auto engine = NewEngine(PersistentCacheDir());
  PrepareRssModules(*engine, kind, kRssModules);  // one extra for warm-up
}

struct RssFigures {
  double rss_per_module = 0;
  double anon_per_module = 0;  // RSS minus resident file-backed pages
  double file_per_module = 0;
  double rss_per_instance = 0;  // one live instance of each module on top
  double vsz_per_instance = 0;
  double load_seconds = 0;  // all 100 Loads
  bool ok = false;
};

// Measures in a forked child, so each repetition starts from the same process
// state and the heap of earlier repetitions does not absorb the growth.
RssFigures MeasureRssInChild(const std::string& kind) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    RssFigures f;
    auto engine = NewEngine(PersistentCacheDir());
    std::vector<std::vector<uint8_t>> bytes;
    for (int i = 0; i <= kRssModules; ++i) bytes.push_back(RssModule(kind, i));
    // Warm up the engine's lazy state (compiler identity, dlopen machinery,
    // the WASI host table) with the extra module, kept loaded.
    auto warm = engine->Load(bytes[kRssModules], Host());
    auto warm_instance = warm.ok() ? (*warm)->Instantiate({}) : Status::Internal("no module");
    std::vector<std::shared_ptr<const wasm::Module>> modules;
    modules.reserve(kRssModules);
    std::vector<std::unique_ptr<wasm::Instance>> instances;
    instances.reserve(kRssModules);
    ProcessMemory m0 = ReadProcessMemory();
    auto t0 = Clock::now();
    bool ok = warm_instance.ok();
    for (int i = 0; i < kRssModules && ok; ++i) {
      auto module = engine->Load(bytes[i], Host());
      ok = module.ok();
      if (ok) modules.push_back(*module);
    }
    f.load_seconds = Seconds(Clock::now() - t0);
    ProcessMemory m1 = ReadProcessMemory();
    for (int i = 0; i < kRssModules && ok; ++i) {
      auto instance = modules[i]->Instantiate({});
      ok = instance.ok();
      if (ok) instances.push_back(std::move(instance).value());
    }
    ProcessMemory m2 = ReadProcessMemory();
    f.ok = ok;
    f.rss_per_module = double(m1.rss - m0.rss) / kRssModules;
    f.file_per_module = (double(m1.shared) - double(m0.shared)) / kRssModules;
    f.anon_per_module = f.rss_per_module - f.file_per_module;
    f.rss_per_instance = (double(m2.rss) - double(m1.rss)) / kRssModules;
    f.vsz_per_instance = (double(m2.vsz) - double(m1.vsz)) / kRssModules;
    (void)!::write(fds[1], &f, sizeof f);
    ::_exit(0);
  }
  ::close(fds[1]);
  RssFigures f;
  ssize_t r = pid > 0 ? ::read(fds[0], &f, sizeof f) : -1;
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  if (r != static_cast<ssize_t>(sizeof f)) f.ok = false;
  return f;
}

void BM_RssAfter100Modules(benchmark::State& state, std::string kind) {
  CompileRssModules(kind);  // no-op when cached
  RssFigures f;
  for (auto _ : state) {
    f = MeasureRssInChild(kind);
    if (!f.ok) {
      state.SkipWithError("measurement child failed");
      break;
    }
    state.SetIterationTime(f.load_seconds / kRssModules);  // time per Load
  }
  state.counters["rss_per_module"] = f.rss_per_module;
  state.counters["anon_per_module"] = f.anon_per_module;
  state.counters["file_per_module"] = f.file_per_module;
  state.counters["rss_per_instance"] = f.rss_per_instance;
  state.counters["vsz_per_instance"] = f.vsz_per_instance;
}
BENCHMARK_CAPTURE(BM_RssAfter100Modules, small, std::string("small"))
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RssAfter100Modules, hash, std::string("hash"))
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wow::bench

BENCHMARK_MAIN();
