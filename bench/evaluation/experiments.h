#pragma once

// The paper's experiments (PAPER.md, "WOW's evaluation"), scaled to a small
// machine, run on every platform of the run in turn, each on a fresh
// platform instance: cold start under concurrency, throughput under rising
// concurrency (CPU-bound, I/O-bound, mixed), the skewed 90/10 workload,
// memory per warm container for three module sizes, and CPU speed of Wasm
// against the native builds outside any platform. wow's platforms may run
// once per Wasm engine (`--engines`); deploy-to-first-result of generated
// modules of three sizes compares the engines on `wow executor`.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends.h"
#include "machine_load.h"
#include "platform.h"
#include "report.h"
#include "stats.h"
#include "workload.h"

namespace wow::bench::eval {

enum class PlatformKind { kDocker, kProcess, kWowExecutor, kWowServe };
std::string PlatformName(PlatformKind kind);  // "Docker", "process", "wow executor", "wow serve"
std::string PlatformSlug(PlatformKind kind);  // "docker", "process", "wow-executor", "wow-serve"
std::optional<PlatformKind> ParsePlatform(std::string_view slug);

// One platform of a run. wow's platforms run once per engine of the run
// (`wow executor --engine <engine>`); the baselines have none.
struct PlatformId {
  PlatformId() = default;
  // A kind alone is that platform as the node starts it by default.
  PlatformId(PlatformKind kind, std::string engine = {})  // NOLINT: implicit by design
      : kind(kind), engine(std::move(engine)) {}
  PlatformKind kind = PlatformKind::kDocker;
  std::string engine;  // "aot", "jit", "interp", "tiered"; empty: the node's default engine
  friend auto operator<=>(const PlatformId&, const PlatformId&) = default;
};
bool IsWow(PlatformKind kind);                   // wow executor or wow serve
std::string PlatformName(const PlatformId& id);  // "wow executor (jit)"; "wow executor" for the default engine
std::string PlatformSlug(const PlatformId& id);  // "wow-executor-jit"; "wow-executor" for the default engine

// The run's platforms: the baselines once each, wow's once per engine
// (`engines` empty: once, on the node's default engine), in the order of
// `kinds`, then of `engines`.
std::vector<PlatformId> ExpandPlatforms(const std::vector<PlatformKind>& kinds,
                                        const std::vector<std::string>& engines);

// The engines `--engine` accepts, from `wow executor --help`: the choices in
// the option's description ("Wasm engine: aot, interp, jit, tiered (default:
// ...)") or CLI11's "{aot,interp,...}" after "--engine". Empty when the text
// has neither (a wow without the flag).
std::vector<std::string> ParseEngineChoices(std::string_view help);

// `--engines` as given: "all" is every choice in `choices`; otherwise each
// name must be one of them (when `choices` is empty, any name passes: the
// binary will refuse what it does not know). Duplicates are dropped; an
// empty list is the node's default engine.
Result<std::vector<std::string>> ResolveEngines(const std::vector<std::string>& requested,
                                                const std::vector<std::string>& choices);

// How much of each experiment a run does.
struct Profile {
  std::string name;  // "smoke", "quick", "full"
  // Cold start: rounds of i concurrent cold starts of i distinct actions.
  std::vector<int> cold_levels;
  int cold_rounds = 2;
  // Throughput: closed-loop clients rising by one every step.
  RisingSchedule rising;
  double settle_seconds = 0.5;  // ignored at the start of every level
  // Skewed workload.
  SkewedOptions skew;
  int skew_clients = 4;
  double skew_seconds = 20;
  // The idle timeout of the paper's OpenWhisk set-up: rare actions go cold again.
  std::chrono::milliseconds skew_keep_alive{10'000};
  // Memory per warm container.
  int memory_containers = 4;
  // CPU speed: runs of each build.
  int cpu_runs = 5;
  // Action settings.
  std::string hash_params = "{}";  // hash's default: 400,000 SHA-256 rounds, ~100 ms natively
  std::string prime_params = R"({"n": 5000000})";
  // The interpreter runs `hash` and `prime` hundreds of times slower than
  // AoT (hash's default: ~1 min a run): on it, less work keeps every
  // experiment within the time budget. The outputs say which parameters ran
  // where. On the platforms (cold start, throughput, skewed, memory):
  std::string interp_hash_params = R"({"iterations": 1000})";
  // In the CPU-speed experiment, for the native build too (which still runs
  // ~10 ms, well above its spawn time), with fewer runs:
  std::string interp_cpu_hash_params = R"({"iterations": 40000})";
  std::string interp_cpu_prime_params = R"({"n": 500000})";
  int interp_cpu_runs = 3;
  // Deploy to first result: generated modules of about these sizes, k
  // samples each, fewer where one takes a minute (AoT at 1 MB and more).
  std::vector<size_t> deploy_sizes = {2'000, 100'000, 1'000'000};
  int deploy_samples = 3;
  int deploy_slow_samples = 1;
  uint64_t action_memory_mb = 256;
  uint64_t memory_budget_mb = 16384;  // the pools' and wow serve's
};
Profile SmokeProfile();
Profile QuickProfile();
Profile FullProfile();

// The params of `example` on `platform`: hash_params (interp_hash_params on
// the interpreter) for the hash variants, "{}" for the others.
std::string ParamsFor(const Profile& profile, const PlatformId& platform, const std::string& example);

// Samples of the deploy experiment for `engine` at `bytes`.
int DeploySamples(const Profile& profile, const std::string& engine, size_t bytes);

// What every experiment shares.
struct Environment {
  Artifacts artifacts;
  std::filesystem::path work;         // this run's scratch directory
  std::filesystem::path aot_cache;    // wow's artifacts, shared by its instances
  std::shared_ptr<DockerApi> docker;  // null: no Docker in this run
  std::string docker_image, cgroup_parent;
  std::vector<PlatformId> platforms;
  Profile profile;
  Progress* progress = nullptr;
  uint64_t seed = 1;
  const std::atomic<bool>* stop = nullptr;  // set on SIGINT/SIGTERM: experiments end early
  // How the machine's load is measured around each step (`--wait-quiet`;
  // the private dockerd's root as a marker of its shims).
  LoadMonitorOptions load;
  bool stopping() const { return stop != nullptr && stop->load(); }
};

// A fresh platform for one experiment: pools start empty, wow starts anew.
struct PlatformSettings {
  std::chrono::milliseconds keep_alive{600'000};
};
Result<std::unique_ptr<Platform>> MakePlatform(const Environment& env, const PlatformId& platform,
                                               const std::string& tag, PlatformSettings settings);

// ---- results ------------------------------------------------------------------

struct ColdSample {
  PlatformId platform;
  int concurrency = 0, round = 0;
  std::string action;
  Invocation inv;
};

enum class Workload { kCpu, kIo, kMixed };
std::string WorkloadSlug(Workload w);  // "hash", "block", "mixed"

struct ThroughputRun {
  PlatformId platform;
  Workload workload;
  std::vector<Invocation> invocations;
  std::vector<LevelThroughput> levels;
};

struct SkewedSample {
  PlatformId platform;
  std::string action;
  bool hot = false, io_bound = false;
  Invocation inv;
};

// The memory experiment's three sizes of hash (examples/CMakeLists.txt).
inline constexpr const char* kMemoryModules[] = {"hash_oz", "hash", "hash_o0"};

struct MemoryRow {
  PlatformId platform;
  std::string module;  // "hash_oz", "hash", "hash_o0"
  uint64_t wasm_bytes = 0, native_bytes = 0;
  int containers = 0;
  Footprint before, after;
  double per_container_bytes = 0;
};

struct CpuRow {
  std::string engine = "aot";  // the Wasm engine, in the harness's process
  std::string example, params;
  Distribution native_ms, wasm_ms;
  double wasm_speed = 0;  // median native time / median Wasm time (1 = native speed)
};

// One deploy to first result: a generated module (GenerateWasiModule) sent
// with /init to a `wow executor` started on an empty data directory, then
// one /run; nothing was cached before (fresh process, fresh directory,
// distinct seed).
struct DeploySample {
  PlatformId platform;      // wow executor and its engine
  size_t target_bytes = 0;  // the size asked of the generator (the size class)
  size_t module_bytes = 0;  // the module's actual size
  int sample = 0;
  uint32_t seed = 0;
  bool ok = false;        // the first result arrived and was the expected sum
  std::string error;      // when !ok
  double total_ms = 0;    // /init sent until the first /run's result arrived
  double init_ms = 0;     // /init sent until its answer (validate, compile or load)
  double run_ms = 0;      // /run sent until its answer
  std::string served_by;  // the backend that ran it (x-wow-engine), e.g. "jit" under tiered
};

// "2 KB", "100 KB", "1 MB": a deploy size class as the outputs name it.
std::string SizeLabel(size_t bytes);

// The machine around one experiment step: one experiment on one platform.
struct ExperimentLoad {
  std::string experiment;              // "cold start", "throughput hash", ... as the progress line names it
  std::optional<PlatformId> platform;  // none: the CPU-speed experiment (outside any platform)
  StepLoad load;
};

struct Results {
  std::vector<ColdSample> cold;
  std::vector<ThroughputRun> throughput;
  std::vector<SkewedSample> skewed;
  std::vector<MemoryRow> memory;
  std::vector<CpuRow> cpu;
  std::vector<DeploySample> deploy;
  std::vector<ExperimentLoad> load;  // one per step, in the order they ran
  std::vector<std::string> notes;    // what was skipped or failed, in words
};

// Each runs its experiment on every platform of `env` and appends to
// `results` (a platform that fails adds a note and is skipped). The
// progress display gets one step per platform, and `results.load` the
// machine's load around each step (env.load; the step starts after the
// window before it, and after --wait-quiet's wait).
void RunColdStart(const Environment& env, Results& results);
void RunThroughput(const Environment& env, Workload workload, Results& results);
void RunSkewed(const Environment& env, Results& results);
void RunMemory(const Environment& env, Results& results);
void RunCpuSpeed(const Environment& env, Results& results);
// On the run's wow executor platforms only (one per engine).
void RunDeploy(const Environment& env, Results& results);

// Progress steps each experiment takes in `env` (for the display's total).
int ColdStartSteps(const Environment& env);
int ThroughputSteps(const Environment& env);  // per workload
int SkewedSteps(const Environment& env);
int MemorySteps(const Environment& env);
int CpuSpeedSteps(const Environment& env);
int DeploySteps(const Environment& env);

// The engines the CPU-speed experiment runs in the harness's process: those
// of the run's wow platforms that are concrete backends compiled into the
// harness ("aot" when the run uses the node's default engine). Tiered is a
// mix of two of them and is left out.
std::vector<std::string> CpuSpeedEngines(const Environment& env);

}  // namespace wow::bench::eval
