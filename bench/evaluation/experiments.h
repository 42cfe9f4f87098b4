#pragma once

// The paper's experiments (PAPER.md, "WOW's evaluation"), scaled to a small
// machine, run on every platform of the run in turn, each on a fresh
// platform instance: cold start under concurrency, throughput under rising
// concurrency (CPU-bound, I/O-bound, mixed), the skewed 90/10 workload,
// memory per warm container for three module sizes, and CPU speed of Wasm
// against the native builds outside any platform.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends.h"
#include "platform.h"
#include "report.h"
#include "stats.h"
#include "workload.h"

namespace wow::bench::eval {

enum class PlatformKind { kDocker, kProcess, kWowExecutor, kWowServe };
std::string PlatformName(PlatformKind kind);  // "Docker", "process", "wow executor", "wow serve"
std::string PlatformSlug(PlatformKind kind);  // "docker", "process", "wow-executor", "wow-serve"
std::optional<PlatformKind> ParsePlatform(std::string_view slug);

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
  uint64_t action_memory_mb = 256;
  uint64_t memory_budget_mb = 16384;  // the pools' and wow serve's
};
Profile SmokeProfile();
Profile QuickProfile();
Profile FullProfile();

// What every experiment shares.
struct Environment {
  Artifacts artifacts;
  std::filesystem::path work;         // this run's scratch directory
  std::filesystem::path aot_cache;    // wow's artifacts, shared by its instances
  std::shared_ptr<DockerApi> docker;  // null: no Docker in this run
  std::string docker_image, cgroup_parent;
  std::vector<PlatformKind> platforms;
  Profile profile;
  Progress* progress = nullptr;
  uint64_t seed = 1;
  const std::atomic<bool>* stop = nullptr;  // set on SIGINT/SIGTERM: experiments end early
  bool stopping() const { return stop != nullptr && stop->load(); }
};

// A fresh platform for one experiment: pools start empty, wow starts anew.
struct PlatformSettings {
  std::chrono::milliseconds keep_alive{600'000};
};
Result<std::unique_ptr<Platform>> MakePlatform(const Environment& env, PlatformKind kind, const std::string& tag,
                                               PlatformSettings settings);

// ---- results ------------------------------------------------------------------

struct ColdSample {
  PlatformKind platform;
  int concurrency = 0, round = 0;
  std::string action;
  Invocation inv;
};

enum class Workload { kCpu, kIo, kMixed };
std::string WorkloadSlug(Workload w);  // "hash", "block", "mixed"

struct ThroughputRun {
  PlatformKind platform;
  Workload workload;
  std::vector<Invocation> invocations;
  std::vector<LevelThroughput> levels;
};

struct SkewedSample {
  PlatformKind platform;
  std::string action;
  bool hot = false, io_bound = false;
  Invocation inv;
};

// The memory experiment's three sizes of hash (examples/CMakeLists.txt).
inline constexpr const char* kMemoryModules[] = {"hash_oz", "hash", "hash_o0"};

struct MemoryRow {
  PlatformKind platform;
  std::string module;  // "hash_oz", "hash", "hash_o0"
  uint64_t wasm_bytes = 0, native_bytes = 0;
  int containers = 0;
  Footprint before, after;
  double per_container_bytes = 0;
};

struct CpuRow {
  std::string example, params;
  Distribution native_ms, wasm_ms;
  double wasm_speed = 0;  // median native time / median Wasm time (1 = native speed)
};

struct Results {
  std::vector<ColdSample> cold;
  std::vector<ThroughputRun> throughput;
  std::vector<SkewedSample> skewed;
  std::vector<MemoryRow> memory;
  std::vector<CpuRow> cpu;
  std::vector<std::string> notes;  // what was skipped or failed, in words
};

// Each runs its experiment on every platform of `env` and appends to
// `results` (a platform that fails adds a note and is skipped). The
// progress display gets one step per platform.
void RunColdStart(const Environment& env, Results& results);
void RunThroughput(const Environment& env, Workload workload, Results& results);
void RunSkewed(const Environment& env, Results& results);
void RunMemory(const Environment& env, Results& results);
void RunCpuSpeed(const Environment& env, Results& results);

// Progress steps each experiment takes in `env` (for the display's total).
int ColdStartSteps(const Environment& env);
int ThroughputSteps(const Environment& env);  // per workload
int SkewedSteps(const Environment& env);
int MemorySteps(const Environment& env);
int CpuSpeedSteps(const Environment& env);

}  // namespace wow::bench::eval
