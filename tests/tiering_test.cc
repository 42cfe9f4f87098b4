// Tiered start (src/wasm/tiered): a large generated module runs on the fast
// tier (JIT, or the interpreter) as soon as it is loaded, while the C compiler
// builds its AoT artifact in the background; then it runs on AoT with
// identical results, without a failed activation at the switch. Engine level
// and end to end through `wow serve --engine tiered`.
//
// Sizes are chosen for 2 shared cores: gcc -O2 takes ~55 s for the 1 MB
// module (engine level) and ~10 s for the 200 KB one (serve); the cases hold
// a ctest resource lock, so CI never runs two of them at once.

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "abi/action_runner.h"
#include "common/sha256.h"
#include "serve_fixture.h"
#include "wasi/wasi_context.h"
#include "wasm/aot/aot_engine.h"
#include "wasm/engine_factory.h"
#include "wasm/module_limits.h"
#include "wasm/testing/fake_compiler.h"
#include "wasm/testing/module_generator.h"
#include "wasm/tiered/tiered_engine.h"

namespace wow::test {
namespace {

using wasm::testing::GeneratedModuleSum;
using wasm::testing::GenerateWasiModule;

constexpr size_t kLargeModule = 1'000'000;  // engine level
constexpr size_t kServeModule = 200'000;    // end to end
constexpr auto kUpgradeTimeout = milliseconds(8 * 60'000);

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string SumJson(uint64_t sum) { return "{\"sum\":" + std::to_string(sum) + "}"; }

// One activation of a generated module with params {"n": n}.
abi::ActivationResult RunN(const wasm::Module& module, uint64_t n) {
  abi::ActivationRequest request;
  request.action_name = "generated";
  request.params_json = "{\"n\":" + std::to_string(n) + "}";
  request.limits.time_limit_ms = 60'000;
  request.limits.deadline = Clock::now() + milliseconds(60'000);
  auto result = abi::RunActivation(module, request);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (result.ok()) return std::move(result).value();
  abi::ActivationResult failed;
  failed.status = abi::ActivationStatus::kDeveloperError;
  failed.result = json::object{{"error", result.status().ToString()}};
  return failed;
}

std::string Describe(const abi::ActivationResult& r) {
  return std::string(abi::ActivationStatusName(r.status)) + " on '" + r.engine + "': " + ToJson(r.result);
}

// The tiered engine's fast tier: the JIT when built, else the interpreter.
std::string FastTier() {
  auto engines = wasm::AvailableEngines();
  return std::find(engines.begin(), engines.end(), "jit") != engines.end() ? "jit" : "interp";
}

std::unique_ptr<wasm::Engine> MakeEngine(const std::string& name, const wasm::EngineOptions& options) {
  auto engine = wasm::CreateEngine(name, options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

std::shared_ptr<const wasm::Module> LoadOrFail(wasm::Engine& engine, std::span<const uint8_t> wasm,
                                               const abi::Capabilities& caps = {}) {
  auto module = engine.Load(wasm, abi::HostFunctionsFor(caps));
  EXPECT_TRUE(module.ok()) << module.status().ToString();
  return module.ok() ? std::move(module).value() : nullptr;
}

// Processes: this test's children and their command lines, from /proc.
pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  long ppid = -1;
  char state = 0;
  if (paren == std::string::npos || std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) != 2) return -1;
  return state == 'Z' ? -1 : static_cast<pid_t>(ppid);  // a zombie is as good as gone
}
std::string CommandLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}
std::vector<pid_t> Children(pid_t parent) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && ParentOf(static_cast<pid_t>(pid)) == parent) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

// ---------------------------------------------------------------------------
// The generator.

TEST(ModuleGeneratorTest, SizesAreAsAskedAndResultsMatchTheNativeModel) {
  auto interp = MakeEngine("interp", {});
  ASSERT_NE(interp, nullptr);
  for (size_t size : {2'000u, 100'000u, 1'000'000u}) {
    auto start = Clock::now();
    std::vector<uint8_t> wasm = GenerateWasiModule(size, 3);
    double ms = MsBetween(start, Clock::now());
    EXPECT_LT(ms, 1000) << size;
    EXPECT_GE(wasm.size(), size * 9 / 10) << size;
    EXPECT_LE(wasm.size(), size * 11 / 10 + 600) << size;
    EXPECT_EQ(GenerateWasiModule(size, 3), wasm) << "not deterministic";
    EXPECT_NE(GenerateWasiModule(size, 4), wasm) << "the seed changes nothing";
    auto module = LoadOrFail(*interp, wasm);
    ASSERT_NE(module, nullptr) << size;
    auto guest_abi = abi::DetectAbi(module->info());
    EXPECT_TRUE(guest_abi.ok() && *guest_abi == abi::GuestAbi::kWasiCommand) << size;
    for (uint64_t n : {0ull, 5ull, 123'456'789ull}) {
      abi::ActivationResult r = RunN(*module, n);
      ASSERT_EQ(r.status, abi::ActivationStatus::kSuccess) << Describe(r);
      EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(size, 3, n)))) << size << " n=" << n;
    }
    std::printf("generated %zu bytes (asked %zu) in %.1f ms\n", wasm.size(), size, ms);
  }
  EXPECT_NE(GeneratedModuleSum(2'000, 3, 1), GeneratedModuleSum(2'000, 3, 2)) << "the result ignores n";
}

TEST(ModuleGeneratorTest, SmallModuleRunsOnEveryEngine) {
  TempDir data("wow-tiering-gen");
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 9);
  for (const auto& name : wasm::AvailableEngines()) {
    wasm::EngineOptions options;
    options.data_dir = data.path();
    auto engine = MakeEngine(name, options);
    ASSERT_NE(engine, nullptr) << name;
    auto module = LoadOrFail(*engine, wasm);
    ASSERT_NE(module, nullptr) << name;
    abi::ActivationResult r = RunN(*module, 42);
    EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 9, 42)))) << name << ": " << Describe(r);
    EXPECT_EQ(r.engine, name);
  }
}

// ---------------------------------------------------------------------------
// The tiered engine.

// Runs activations one after another on another thread until stopped,
// checking each result, and notes which tier served them in order.
class Invoker {
 public:
  Invoker(const wasm::Module& module, std::map<uint64_t, uint64_t> expected)
      : module_(module), expected_(std::move(expected)), thread_([this] { Loop(); }) {}
  ~Invoker() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t CountOn(const std::string& engine) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::count(engines_.begin(), engines_.end(), engine);
  }
  std::vector<std::string> engines() {
    std::lock_guard<std::mutex> lock(mu_);
    return engines_;
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Loop() {
    auto it = expected_.begin();
    while (!stop_) {
      abi::ActivationResult r = RunN(module_, it->first);
      std::lock_guard<std::mutex> lock(mu_);
      engines_.push_back(r.engine);
      if (r.status != abi::ActivationStatus::kSuccess || r.result != Json(SumJson(it->second))) {
        failures_.push_back("n=" + std::to_string(it->first) + ": " + Describe(r));
      }
      if (++it == expected_.end()) it = expected_.begin();
    }
  }

  const wasm::Module& module_;
  const std::map<uint64_t, uint64_t> expected_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> engines_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

TEST(TieredEngineTest, LargeModuleRunsAtOnceThenOnAotWithIdenticalResults) {
  TempDir data("wow-tiering-large");  // nothing cached
  wasm::EngineOptions options;
  options.data_dir = data.path();
  // ~55 s on 2 quiet cores, but minutes beside other tests: past the default limit.
  options.compile_timeout = kUpgradeTimeout;
  constexpr uint32_t kSeed = 61;
  std::vector<uint8_t> wasm = GenerateWasiModule(kLargeModule, kSeed);
  std::map<uint64_t, uint64_t> expected;
  for (uint64_t n : {0, 1, 5, 7, 1000, 99'999}) expected[n] = GeneratedModuleSum(kLargeModule, kSeed, n);

  auto deploy = Clock::now();
  // The factory's "tiered", but with the compile at normal priority: this
  // test's own invoker thread, and other tests that CI runs beside it, would
  // otherwise leave it a tenth of a core (the serve test keeps the default).
  auto fast = MakeEngine(FastTier(), options);
  auto aot_tier = MakeEngine("aot", options);
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(aot_tier, nullptr);
  std::unique_ptr<wasm::Engine> engine =
      wasm::tiered::CreateTieredEngine(std::move(fast), std::move(aot_tier), {.compile_nice = 0});
  ASSERT_TRUE(engine->Prepare(wasm).ok());  // as the executor does
  auto module = LoadOrFail(*engine, wasm);
  ASSERT_NE(module, nullptr);
  abi::ActivationResult first = RunN(*module, 5);
  double first_result_ms = MsBetween(deploy, Clock::now());
  ASSERT_EQ(first.status, abi::ActivationStatus::kSuccess) << Describe(first);
  EXPECT_EQ(first.result, Json(SumJson(expected[5])));
  EXPECT_EQ(first.engine, FastTier());
  const std::string fast_tier = first.engine;
  // The artifact does not exist yet: this ran before the AoT tier could.
  auto aot = MakeEngine("aot", options);
  ASSERT_NE(aot, nullptr);
  EXPECT_FALSE(wasm::aot::LookUpArtifact(*aot, wasm)->cached);

  // An instance made before the switch, called after it.
  wasi::WasiOptions early_wasi;
  early_wasi.args = {"early"};
  early_wasi.stdin_data = R"({"n": 7})";
  auto early_ctx = wasi::WasiContext::Create(early_wasi);
  ASSERT_TRUE(early_ctx.ok()) << early_ctx.status().ToString();
  wasm::InstanceOptions early_options;
  early_options.host_data = early_ctx->get();
  auto early = module->Instantiate(early_options);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_EQ((*early)->engine_name(), fast_tier);

  // Activations run continuously across the switch.
  Invoker invoker(*module, expected);
  auto wait_start = Clock::now();
  ASSERT_TRUE(wasm::tiered::WaitForAotTier(*module, kUpgradeTimeout)) << "no AoT tier after the timeout";
  double upgrade_ms = MsBetween(deploy, Clock::now());
  auto more = Clock::now() + milliseconds(30'000);
  while (invoker.CountOn("aot") < 3 && Clock::now() < more) std::this_thread::sleep_for(milliseconds(5));
  invoker.Stop();
  EXPECT_TRUE(invoker.failures().empty()) << testing::PrintToString(invoker.failures());
  std::vector<std::string> served = invoker.engines();
  EXPECT_GE(invoker.CountOn(fast_tier), 1u) << "no activation ran during the compile";
  EXPECT_GE(invoker.CountOn("aot"), 3u);
  // Once on AoT, never back.
  auto first_aot = std::find(served.begin(), served.end(), "aot");
  EXPECT_TRUE(std::all_of(first_aot, served.end(), [](const std::string& e) { return e == "aot"; }))
      << testing::PrintToString(served);
  EXPECT_TRUE(wasm::aot::LookUpArtifact(*aot, wasm)->cached);

  // Identical results on AoT.
  for (const auto& [n, sum] : expected) {
    abi::ActivationResult r = RunN(*module, n);
    EXPECT_EQ(r.engine, "aot");
    EXPECT_EQ(r.result, Json(SumJson(sum))) << "n=" << n << ": " << Describe(r);
  }
  // The instance from before the switch still runs, on its own tier.
  ASSERT_TRUE((*early)->Call("_start", {}, {}).ok());
  EXPECT_EQ((*early_ctx)->stdout_text(), SumJson(expected[7]) + "\n");
  EXPECT_EQ((*early)->engine_name(), fast_tier);
  early->reset();

  // The module outlives its engine, on AoT.
  engine.reset();
  EXPECT_EQ(RunN(*module, 1).engine, "aot");
  // A new engine finds the artifact: AoT from the first instance.
  auto again = MakeEngine("tiered", options);
  ASSERT_NE(again, nullptr);
  auto reloaded = LoadOrFail(*again, wasm);
  ASSERT_NE(reloaded, nullptr);
  EXPECT_TRUE(wasm::tiered::WaitForAotTier(*reloaded, milliseconds(0)));
  abi::ActivationResult cached = RunN(*reloaded, 1000);
  EXPECT_EQ(cached.engine, "aot");
  EXPECT_EQ(cached.result, Json(SumJson(expected[1000])));
  std::printf(
      "%zu-byte module: first result on %s after %.1f ms; AoT after %.1f s (waited %.1f s); %zu activations "
      "on %s and %zu on aot meanwhile\n",
      wasm.size(), fast_tier.c_str(), first_result_ms, upgrade_ms / 1000, MsBetween(wait_start, Clock::now()) / 1000,
      invoker.CountOn(fast_tier), fast_tier.c_str(), invoker.CountOn("aot"));
}

TEST(TieredEngineTest, TheSameModuleLoadedTwiceSwitchesTwice) {
  TempDir data("wow-tiering-twice");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  std::vector<uint8_t> wasm = GenerateWasiModule(20'000, 5);
  auto engine = MakeEngine("tiered", options);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Prepare(wasm).ok());
  auto plain = LoadOrFail(*engine, wasm);
  auto with_net = LoadOrFail(*engine, wasm, abi::Capabilities{{}, true});
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(with_net, nullptr);
  EXPECT_TRUE(wasm::tiered::WaitForAotTier(*plain, kUpgradeTimeout));
  EXPECT_TRUE(wasm::tiered::WaitForAotTier(*with_net, kUpgradeTimeout));
  EXPECT_EQ(RunN(*plain, 3).engine, "aot");
  EXPECT_EQ(RunN(*with_net, 3).result, Json(SumJson(GeneratedModuleSum(20'000, 5, 3))));
  // One artifact for both.
  size_t artifacts = 0;
  for (const auto& e : fs::directory_iterator(data.path() / "aot")) artifacts += e.path().extension() == ".so";
  EXPECT_EQ(artifacts, 1u);
}

// Issue 12: a deeply nested module crashed the background AoT compile. The
// tiered engine refuses it at once with the same message as the others,
// and compiles nothing in the background.
TEST(TieredEngineTest, DeepNestingIsRefusedBeforeAnyTier) {
  TempDir data("wow-tiering-deep");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  auto engine = MakeEngine("tiered", options);
  ASSERT_NE(engine, nullptr);
  const std::vector<uint8_t> wasm = wasm::testing::NestedBlocksModule(20000);
  auto prepared = engine->Prepare(wasm);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().message(), "function 0 nests blocks 20000 deep; at most 1024 are allowed");
  auto loaded = engine->Load(wasm, wasm::HostFunctions{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kInvalidModule);
  EXPECT_EQ(loaded.status().message(), prepared.status().message());
  EXPECT_TRUE(Children(::getpid()).empty()) << "a compiler was started for a refused module";
  // At the cap it loads and serves.
  auto at_cap = LoadOrFail(*engine, wasm::testing::NestedBlocksModule(wasm::ModuleLimits{}.max_nesting_depth));
  ASSERT_NE(at_cap, nullptr);
  auto instance = at_cap->Instantiate({});
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  wasm::RawValue result[1] = {0};
  ASSERT_TRUE((*instance)->Call("answer", {}, result).ok());
  EXPECT_EQ(static_cast<uint32_t>(result[0]), 42u);
}

TEST(TieredEngineTest, CachedArtifactIsAotFromTheFirstInstance) {
  TempDir data("wow-tiering-cached");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 11);
  auto aot = MakeEngine("aot", options);
  ASSERT_NE(aot, nullptr);
  ASSERT_TRUE(aot->Prepare(wasm).ok());
  auto engine = MakeEngine("tiered", options);
  ASSERT_NE(engine, nullptr);
  auto prepared = engine->Prepare(wasm);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_TRUE(prepared->cache_hit);
  EXPECT_TRUE(fs::is_regular_file(prepared->artifact)) << prepared->artifact;
  auto module = LoadOrFail(*engine, wasm);
  ASSERT_NE(module, nullptr);
  abi::ActivationResult r = RunN(*module, 8);
  EXPECT_EQ(r.engine, "aot");
  EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 11, 8))));
  EXPECT_TRUE(wasm::tiered::WaitForAotTier(*module, milliseconds(0)));
}

TEST(TieredEngineTest, AotFailureIsLoggedOnceAndTheModuleStaysOnTheFastTier) {
  TempDir data("wow-tiering-nocc");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  wasm::EngineOptions no_cc = options;
  no_cc.cc = (data.path() / "no-such-cc").string();
  auto fast = MakeEngine("interp", options);
  auto aot = MakeEngine("aot", no_cc);
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(aot, nullptr);
  auto engine = wasm::tiered::CreateTieredEngine(std::move(fast), std::move(aot));
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 13);

  ::testing::internal::CaptureStderr();
  auto first = LoadOrFail(*engine, wasm);
  ASSERT_NE(first, nullptr);
  auto start = Clock::now();
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*first, milliseconds(60'000)));
  EXPECT_LT(MsBetween(start, Clock::now()), 30'000) << "the failure was not reported to the waiter";
  ASSERT_TRUE(engine->Prepare(wasm).ok());
  auto second = LoadOrFail(*engine, wasm);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*second, milliseconds(5'000)));
  for (const auto* m : {first.get(), second.get()}) {
    abi::ActivationResult r = RunN(*m, 21);
    EXPECT_EQ(r.engine, "interp");
    EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 13, 21)))) << Describe(r);
  }
  engine.reset();
  std::string err = ::testing::internal::GetCapturedStderr();
  size_t first_log = err.find("stays on the interp engine");
  EXPECT_NE(first_log, std::string::npos) << err;
  EXPECT_EQ(err.find("stays on the interp engine", first_log + 1), std::string::npos) << "logged twice:\n" << err;
  EXPECT_NE(err.find("no-such-cc"), std::string::npos) << err;
}

TEST(TieredEngineTest, BrokenCachedArtifactFallsBackToTheFastTier) {
  TempDir data("wow-tiering-broken");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 19);
  auto aot = MakeEngine("aot", options);
  ASSERT_NE(aot, nullptr);
  auto lookup = wasm::aot::LookUpArtifact(*aot, wasm);
  ASSERT_TRUE(lookup.has_value());
  EXPECT_FALSE(lookup->cached);
  fs::create_directories(lookup->path.parent_path());
  // Not a shared object, yet with the digest of its bytes: it passes the
  // integrity check and fails in dlopen.
  std::ofstream(lookup->path) << "not a shared object";
  std::ofstream(lookup->path.string() + ".sha256") << wow::Sha256Hex("not a shared object") << "\n";
  ASSERT_TRUE(wasm::aot::LookUpArtifact(*aot, wasm)->cached);

  auto engine = MakeEngine("tiered", options);
  ASSERT_NE(engine, nullptr);
  ::testing::internal::CaptureStderr();
  auto module = LoadOrFail(*engine, wasm);
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_NE(module, nullptr);
  EXPECT_NE(err.find("its AoT artifact failed"), std::string::npos) << err;
  abi::ActivationResult r = RunN(*module, 4);
  EXPECT_EQ(r.engine, FastTier());
  EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 19, 4)))) << Describe(r);
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*module, milliseconds(0)));
  // A module that cannot link fails as on any engine, and is not "an AoT failure".
  auto unlinkable = engine->Load(wasm, wasm::HostFunctions());
  EXPECT_EQ(unlinkable.status().code(), Code::kLinkError) << unlinkable.status().ToString();
}

TEST(TieredEngineTest, DestroyingTheEngineStopsACompileInProgress) {
  TempDir data("wow-tiering-destroy");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  std::vector<uint8_t> wasm = GenerateWasiModule(kServeModule, 17);
  auto engine = MakeEngine("tiered", options);
  ASSERT_NE(engine, nullptr);
  auto module = LoadOrFail(*engine, wasm);
  ASSERT_NE(module, nullptr);
  // Wait for the C compiler (after wasm2c's translation; a child of its
  // supervisor, which is this process's child) and its children.
  std::vector<pid_t> compilers;
  auto deadline = Clock::now() + milliseconds(120'000);
  while (Clock::now() < deadline) {
    for (pid_t supervisor : Children(::getpid())) {
      for (pid_t child : Children(supervisor)) {
        if (CommandLine(child).find(data.path().string()) == std::string::npos) continue;
        compilers = {child};
        for (pid_t grandchild : Children(child)) compilers.push_back(grandchild);
      }
    }
    if (compilers.size() >= 2) break;  // the driver and cc1
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_GE(compilers.size(), 2u) << "the C compiler did not start";
  std::map<pid_t, std::string> command_lines;
  for (pid_t pid : compilers) command_lines[pid] = CommandLine(pid);

  auto start = Clock::now();
  engine.reset();
  double destroy_ms = MsBetween(start, Clock::now());
  EXPECT_LT(destroy_ms, 10'000);
  // None of the compiler's processes is left (a reused pid runs something else).
  std::this_thread::sleep_for(milliseconds(200));
  for (const auto& [pid, cmd] : command_lines) {
    bool alive = ParentOf(pid) != -1 && CommandLine(pid) == cmd;
    EXPECT_FALSE(alive) << "left running: " << pid << " " << cmd;
  }
  for (const auto& e : fs::directory_iterator(data.path() / "aot")) {
    EXPECT_EQ(e.path().string().find(".so"), std::string::npos) << "left behind: " << e.path();
  }
  // The module lives on, on the fast tier.
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*module, milliseconds(0)));
  abi::ActivationResult r = RunN(*module, 2);
  EXPECT_NE(r.engine, "aot");
  EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(kServeModule, 17, 2)))) << Describe(r);
  std::printf("destroyed the engine in %.1f ms with the C compiler running\n", destroy_ms);
}

TEST(TieredEngineTest, ACompileTimeLimitKeepsTheModuleOnTheFastTierWithoutRetries) {
  TempDir data("wow-tiering-timeout");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  wasm::EngineOptions slow_cc = options;
  slow_cc.cc = wasm::testing::WriteSleepingCompiler(data.path()).string();
  slow_cc.compile_timeout = milliseconds(1'000);
  auto fast = MakeEngine("interp", options);
  auto aot = MakeEngine("aot", slow_cc);
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(aot, nullptr);
  auto engine = wasm::tiered::CreateTieredEngine(std::move(fast), std::move(aot));
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 23);

  ::testing::internal::CaptureStderr();
  auto first = LoadOrFail(*engine, wasm);
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*first, milliseconds(60'000)));
  // The failure is remembered: neither Prepare nor Load compiles again.
  ASSERT_TRUE(engine->Prepare(wasm).ok());
  auto second = LoadOrFail(*engine, wasm);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(wasm::tiered::WaitForAotTier(*second, milliseconds(0)));
  for (const auto* m : {first.get(), second.get()}) {
    abi::ActivationResult r = RunN(*m, 6);
    EXPECT_EQ(r.engine, "interp");
    EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 23, 6)))) << Describe(r);
  }
  engine.reset();
  std::string err = ::testing::internal::GetCapturedStderr();
  const std::string message = "the C compiler exceeded its time limit of 1 s compiling this module; it was stopped";
  size_t first_log = err.find(message);
  EXPECT_NE(first_log, std::string::npos) << err;
  EXPECT_EQ(err.find(message, first_log + 1), std::string::npos) << "logged twice:\n" << err;
  EXPECT_NE(err.find("stays on the interp engine"), std::string::npos) << err;
  EXPECT_EQ(wasm::testing::SleepingCompilerRuns(data.path()), 1u);
}

TEST(TieredEngineTest, DestroyingTheEngineKillsTheCompilersWholeProcessGroup) {
  TempDir data("wow-tiering-destroy-group");
  wasm::EngineOptions options;
  options.data_dir = data.path();
  wasm::EngineOptions slow_cc = options;
  slow_cc.cc = wasm::testing::WriteSleepingCompiler(data.path()).string();
  auto fast = MakeEngine("interp", options);
  auto aot = MakeEngine("aot", slow_cc);
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(aot, nullptr);
  auto engine = wasm::tiered::CreateTieredEngine(std::move(fast), std::move(aot));
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 29);
  auto module = LoadOrFail(*engine, wasm);
  ASSERT_NE(module, nullptr);
  auto [script, sleep] = wasm::testing::WaitForSleepingCompiler(data.path(), 1, milliseconds(60'000));
  ASSERT_GT(script, 0) << "the compiler did not start";
  pid_t group = wasm::testing::ProcessGroupOf(script);
  EXPECT_NE(group, ::getpgrp()) << "the compiler runs in the engine's process group";
  EXPECT_EQ(wasm::testing::ProcessGroupOf(sleep), group);

  auto start = Clock::now();
  engine.reset();
  EXPECT_LT(MsBetween(start, Clock::now()), 10'000);
  if (group > 0 && group != ::getpgrp()) {
    EXPECT_TRUE(wasm::testing::WaitUntilGroupIsGone(group, milliseconds(60'000))) << "group " << group << " left";
  }
  EXPECT_EQ(wasm::testing::ProcessGroupOf(sleep), -1) << "the compiler's child outlived the engine";
  abi::ActivationResult r = RunN(*module, 9);
  EXPECT_EQ(r.engine, "interp");
  EXPECT_EQ(r.result, Json(SumJson(GeneratedModuleSum(2'000, 29, 9)))) << Describe(r);
}

// ---------------------------------------------------------------------------
// End to end: `wow serve --engine tiered`.

TEST(TieringServeTest, DeployedModuleServesAtOnceThenSwitchesToAotWithoutAFailure) {
  TempDir data("wow-tiering-serve");
  // A cache of its own (not the suites' shared one): the module must compile here.
  fs::create_directories(data.path() / "aot");
  // The compile runs at nice 10: beside other tests it may need more than the default limit.
  auto server = Serve::Start(
      {data.path(), {"--engine", "tiered", "--compile-timeout-s", std::to_string(kUpgradeTimeout.count() / 1000)}});
  ASSERT_NE(server, nullptr);
  constexpr uint32_t kSeed = 73;
  std::vector<uint8_t> wasm = GenerateWasiModule(kServeModule, kSeed);
  std::map<uint64_t, uint64_t> expected;
  for (uint64_t n : {0, 3, 64, 4096}) expected[n] = GeneratedModuleSum(kServeModule, kSeed, n);
  json::object exec{{"kind", "wasm"},
                    {"code", Base64Encode(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()))},
                    {"binary", true}};

  auto deploy = Clock::now();
  ApiReply put = server->CreateAction("tiered-big", exec);
  ASSERT_EQ(put.status, 200u) << put << "\n" << server->Describe();
  double deploy_ms = MsBetween(deploy, Clock::now());
  ApiReply first = server->Invoke("tiered-big", json::object{{"n", 3}});
  double first_ms = MsBetween(deploy, Clock::now());
  ASSERT_EQ(first.status, 200u) << first;
  EXPECT_EQ(At(first.json, "response.result"), Json(SumJson(expected[3]))) << first;
  auto first_engine = Annotation(first.json, "engine");
  ASSERT_TRUE(first_engine.has_value()) << first;
  EXPECT_NE(*first_engine, json::value("aot")) << "the artifact was ready at once?";

  // Two clients invoke continuously until both have seen a few AoT answers.
  struct Seen {
    std::mutex mu;
    std::vector<std::string> failures;
    std::map<std::string, size_t> engines;
    std::atomic<size_t> aot{0};
  } seen;
  auto timeout = Clock::now() + kUpgradeTimeout;
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      auto it = expected.begin();
      std::advance(it, c);
      bool on_aot = false;
      while (Clock::now() < timeout && seen.aot < 6) {
        std::this_thread::sleep_for(milliseconds(5));  // leaves the compile some CPU at nice 10
        ApiReply r = server->Invoke("tiered-big", json::object{{"n", it->first}});
        std::string engine = Str(Annotation(r.json, "engine").value_or(json::value()));
        std::lock_guard<std::mutex> lock(seen.mu);
        seen.engines[engine]++;
        if (r.status != 200 || At(r.json, "response.result") != Json(SumJson(it->second))) {
          seen.failures.push_back(testing::PrintToString(r));
        }
        if (on_aot && engine != "aot") seen.failures.push_back("back from aot to " + engine);
        if (engine == "aot") {
          on_aot = true;
          seen.aot++;
        }
        if (++it == expected.end()) it = expected.begin();
      }
    });
  }
  for (auto& t : clients) t.join();
  double switch_s = MsBetween(deploy, Clock::now()) / 1000;
  EXPECT_TRUE(seen.failures.empty()) << testing::PrintToString(seen.failures);
  ASSERT_GE(seen.aot.load(), 6u) << "no AoT answer in time: " << testing::PrintToString(seen.engines) << "\n"
                                 << server->Describe();
  // Once switched, every answer is AoT's, with the same results.
  for (const auto& [n, sum] : expected) {
    ApiReply r = server->Invoke("tiered-big", json::object{{"n", n}}, "blocking=true");
    EXPECT_EQ(Annotation(r.json, "engine"), json::value("aot")) << r;
    EXPECT_EQ(At(r.json, "response.result"), Json(SumJson(sum))) << r;
  }
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
  std::printf("%zu-byte module: deployed in %.0f ms, first result (%s) after %.0f ms, AoT within %.1f s; served %s\n",
              wasm.size(), deploy_ms, Str(*first_engine).c_str(), first_ms, switch_s,
              testing::PrintToString(seen.engines).c_str());
}

// `--engine aot`: no fast tier to fall back on, the action is refused with
// the limit's message.
TEST(TieringServeTest, OnTheAotEngineAModulePastTheCompileTimeLimitIsRefused) {
  TempDir data("wow-aot-timeout");
  fs::create_directories(data.path() / "aot");  // a cache of its own: the module must compile here
  fs::path cc = wasm::testing::WriteSleepingCompiler(data.path());
  auto server = Serve::Start({data.path(), {"--engine", "aot", "--cc", cc.string(), "--compile-timeout-s", "1"}});
  ASSERT_NE(server, nullptr);
  std::vector<uint8_t> wasm = GenerateWasiModule(2'000, 31);
  json::object exec{{"kind", "wasm"},
                    {"code", Base64Encode(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()))},
                    {"binary", true}};
  ApiReply put = server->CreateAction("slow-cc", exec);
  EXPECT_EQ(put.status, 400u) << put;
  EXPECT_NE(put.Error().find("the C compiler exceeded its time limit of 1 s compiling this module; it was stopped"),
            std::string::npos)
      << put;
  EXPECT_EQ(wasm::testing::SleepingCompilerRuns(data.path()), 1u);
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

}  // namespace
}  // namespace wow::test
