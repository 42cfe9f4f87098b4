// The C compiler's limits (src/wasm/aot/compiler.h): a compiler past its time
// limit is killed with everything it started, one past its memory limit fails
// cleanly, a module too large to translate is refused first, Cancel kills a
// compile in progress, and a SIGKILLed wow leaves no compiler behind.

#include "wasm/aot/compiler.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "wasm/aot/aot_engine.h"
#include "wasm/testing/fake_compiler.h"
#include "wasm/testing/module_generator.h"

extern char** environ;

namespace wow::wasm::aot {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ProcessGroupOf;
using testing::SleepingCompilerRuns;
using testing::WaitForSleepingCompiler;
using testing::WaitUntilGroupIsGone;
using testing::WriteSleepingCompiler;

// Generous: these wait for things that take milliseconds, on a busy machine.
constexpr auto kPatience = 60s;

// The smallest valid module: the header alone.
const std::vector<uint8_t> kEmptyModule = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};

EngineOptions OptionsIn(const TempDir& dir, const std::string& cc) {
  EngineOptions options;
  options.data_dir = dir.path() / "data";
  options.cc = cc;
  return options;
}

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool Gone(pid_t pid) { return ProcessGroupOf(pid) == -1; }  // a zombie counts as gone

// Waits until every pid in `pids` is gone.
bool WaitUntilGone(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (pid_t pid : pids) all = all && Gone(pid);
    if (all) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

TEST(CompilerLimitsTest, ACompilerPastItsTimeLimitIsKilledWithWhatItStarted) {
  TempDir dir("wow-cc-time");
  EngineOptions options = OptionsIn(dir, WriteSleepingCompiler(dir.path()));
  options.compile_timeout = 1s;
  Compiler compiler(options);
  auto start = Clock::now();
  auto prepared = compiler.Prepare(kEmptyModule);
  double seconds = SecondsSince(start);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), Code::kCompileError);
  EXPECT_EQ(prepared.status().phase(), Phase::kCompilation);
  EXPECT_EQ(prepared.status().message(),
            "the C compiler exceeded its time limit of 1 s compiling this module; it was stopped");
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 60);
  auto [script, sleep] = WaitForSleepingCompiler(dir.path(), 1, 0ms);
  ASSERT_GT(script, 0) << "the fake compiler did not run";
  EXPECT_TRUE(WaitUntilGone({script, sleep}, kPatience)) << "left running: " << script << " " << sleep;
  EXPECT_FALSE(fs::exists(compiler.ArtifactPath(compiler.KeyFor(kEmptyModule))));
}

TEST(CompilerLimitsTest, ACompilerPastItsMemoryLimitFailsCleanly) {
  TempDir dir("wow-cc-memory");
  EngineOptions options = OptionsIn(dir, "cc");
  // gcc -O2 needs ~64 MB of address space for the smallest generated
  // modules; 48 MB is enough for the driver but not for cc1 on 100 KB.
  options.compile_memory_mb = 48;
  Compiler compiler(options);
  std::vector<uint8_t> wasm = testing::GenerateWasiModule(100'000, 7);
  auto prepared = compiler.Prepare(wasm);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), Code::kCompileError);
  // gcc says so ("exceeded its memory limit of 48 MB"), or cc1 crashes ("its memory limit is 48 MB").
  EXPECT_NE(prepared.status().message().find("memory limit"), std::string::npos) << prepared.status().ToString();
  EXPECT_NE(prepared.status().message().find("48 MB"), std::string::npos) << prepared.status().ToString();
  for (const auto& e : fs::directory_iterator(options.data_dir / "aot")) {
    EXPECT_EQ(e.path().string().find(".so"), std::string::npos) << "left behind: " << e.path();
  }
}

TEST(CompilerLimitsTest, CancelKillsTheCompilersProcessGroupAndLaterCompilesFail) {
  TempDir dir("wow-cc-cancel");
  EngineOptions options = OptionsIn(dir, WriteSleepingCompiler(dir.path()));
  Compiler compiler(options);
  std::optional<Result<PrepareInfo>> result;
  std::thread compile([&] { result = compiler.Prepare(kEmptyModule); });
  auto [script, sleep] = WaitForSleepingCompiler(dir.path(), 1, kPatience);
  pid_t group = ProcessGroupOf(script);
  EXPECT_GT(script, 0) << "the fake compiler did not start";
  EXPECT_NE(group, ::getpgrp()) << "the compiler runs in wow's own process group";
  EXPECT_EQ(ProcessGroupOf(sleep), group);
  compiler.Cancel();
  compile.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().code(), Code::kCompileError);
  EXPECT_NE(result->status().message().find("cancelled"), std::string::npos) << result->status().ToString();
  if (group > 0) {
    EXPECT_TRUE(WaitUntilGroupIsGone(group, kPatience)) << "process group " << group << " left";
  }
  // Later compiles fail at once, without a compiler.
  auto later = compiler.Prepare(kEmptyModule);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("cancelled"), std::string::npos) << later.status().ToString();
  EXPECT_EQ(SleepingCompilerRuns(dir.path()), 1u);
}

// A module of `count` empty functions of type () -> ().
std::vector<uint8_t> EmptyFunctions(uint32_t count) {
  auto leb = [](std::vector<uint8_t>& out, uint32_t n) {
    do {
      uint8_t byte = n & 0x7f;
      n >>= 7;
      out.push_back(n != 0 ? (byte | 0x80) : byte);
    } while (n != 0);
  };
  auto section = [&](std::vector<uint8_t>& module, uint8_t id, const std::vector<uint8_t>& payload) {
    module.push_back(id);
    leb(module, static_cast<uint32_t>(payload.size()));
    module.insert(module.end(), payload.begin(), payload.end());
  };
  std::vector<uint8_t> module = kEmptyModule;
  section(module, 1, {0x01, 0x60, 0x00, 0x00});  // one type
  std::vector<uint8_t> funcs;
  leb(funcs, count);
  funcs.insert(funcs.end(), count, 0x00);
  section(module, 3, funcs);
  std::vector<uint8_t> code;
  leb(code, count);
  for (uint32_t i = 0; i < count; ++i) code.insert(code.end(), {0x02, 0x00, 0x0b});  // size, no locals, end
  section(module, 10, code);
  return module;
}

// The audit's module: 400 KB of 100,000 empty functions kept the AoT engine
// busy for over an hour (wasm2c's translation, before the C compiler).
TEST(CompilerLimitsTest, AModuleWithTooManyItemsIsRefusedBeforeTranslation) {
  TempDir dir("wow-cc-items");
  Compiler compiler(OptionsIn(dir, "cc"));
  std::vector<uint8_t> wasm = EmptyFunctions(100'000);
  auto start = Clock::now();
  auto prepared = compiler.Prepare(wasm);
  double seconds = SecondsSince(start);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), Code::kCompileError);
  EXPECT_NE(prepared.status().message().find("the module has 100001 functions, globals, types and other items; the "
                                             "AoT engine compiles at most 20000"),
            std::string::npos)
      << prepared.status().ToString();
  EXPECT_LT(seconds, 60);

  // At the limit it compiles.
  EngineOptions options = OptionsIn(dir, "cc");
  options.compile_max_items = 11;
  EXPECT_TRUE(Compiler(options).Prepare(EmptyFunctions(10)).ok());
  auto over = Compiler(options).Prepare(EmptyFunctions(11));
  EXPECT_NE(over.status().message().find("the module has 12 functions"), std::string::npos) << over.status().ToString();
}

// DefaultEngine asks the compiler for its version at start-up: one that hangs
// must not hang wow.
TEST(CompilerLimitsTest, ACompilerThatHangsOnVersionDoesNotRun) {
  TempDir dir("wow-cc-version");
  fs::path hung = dir.path() / "hung-cc";
  std::ofstream(hung) << "#!/bin/sh\nexec sleep 1000\n";
  fs::permissions(hung, fs::perms::owner_all);
  EngineOptions options = OptionsIn(dir, hung.string());
  options.compile_timeout = 1s;
  auto start = Clock::now();
  EXPECT_FALSE(CompilerRuns(options));
  EXPECT_LT(SecondsSince(start), 60);
  EXPECT_TRUE(CompilerRuns(OptionsIn(dir, WriteSleepingCompiler(dir.path()).string())));
  EXPECT_FALSE(CompilerRuns(OptionsIn(dir, (dir.path() / "no-such-cc").string())));
}

TEST(CompilerLimitsTest, ASigkilledWowLeavesNoCompilerRunning) {
  TempDir dir("wow-cc-sigkill");
  fs::path module = dir.path() / "empty.wasm";
  ASSERT_TRUE(WriteFileAtomically(module, std::string(kEmptyModule.begin(), kEmptyModule.end())).ok());
  std::vector<std::string> argv = {WOW_BINARY_DIR "/wow",
                                   "compile",
                                   module.string(),
                                   "--engine",
                                   "aot",
                                   "--cc",
                                   WriteSleepingCompiler(dir.path()).string(),
                                   "--data-dir",
                                   (dir.path() / "data").string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, (dir.path() / "wow.log").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t wow = 0;
  ASSERT_EQ(posix_spawn(&wow, args[0], &actions, nullptr, args.data(), environ), 0) << args[0];
  posix_spawn_file_actions_destroy(&actions);

  auto [script, sleep] = WaitForSleepingCompiler(dir.path(), 1, kPatience);
  pid_t group = ProcessGroupOf(script);
  ::kill(wow, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(wow, &status, 0), wow);
  auto log = ReadFile(dir.path() / "wow.log");
  ASSERT_GT(script, 0) << "the fake compiler did not start: " << (log.ok() ? *log : "");
  EXPECT_TRUE(WIFSIGNALED(status)) << "wow ended before it was killed";
  EXPECT_NE(group, ::getpgrp()) << "the compiler runs in wow's own process group";
  EXPECT_TRUE(WaitUntilGone({script, sleep}, kPatience)) << "the compiler outlived wow: " << script << " " << sleep;
  if (group > 0 && group != ::getpgrp()) {
    EXPECT_TRUE(WaitUntilGroupIsGone(group, kPatience)) << "process group " << group << " left";
  }
}

}  // namespace
}  // namespace wow::wasm::aot

namespace wow::wasm::aot {
namespace {

// Regression (issue 12): an artifact in the cache is dlopen'ed (its
// constructors run as the server's user) only when it is the one this node's
// compiler wrote: a regular file of this user's, writable by no one else,
// with the digest its compile recorded. A damaged or replaced one is compiled
// anew instead of loaded.
TEST(ArtifactIntegrityTest, OnlyVerifiedArtifactsAreLoaded) {
  TempDir dir("wow-artifact-integrity");
  EngineOptions options = OptionsIn(dir, "cc");
  Compiler compiler(options);
  auto prepared = compiler.Prepare(kEmptyModule);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  const fs::path artifact = prepared->artifact;
  const fs::path digest = artifact.string() + ".sha256";
  ASSERT_TRUE(Compiler::IsCached(artifact));
  EXPECT_TRUE(Compiler::VerifyArtifact(artifact).ok());

  // Tampered content: refused, and a load compiles it anew.
  { std::ofstream(artifact, std::ios::app) << "tampered"; }
  Status tampered = Compiler::VerifyArtifact(artifact);
  EXPECT_EQ(tampered.code(), Code::kLinkError);
  EXPECT_NE(tampered.message().find("does not match"), std::string::npos) << tampered.ToString();
  {
    auto engine = CreateAotEngine(options);
    auto module = engine->Load(kEmptyModule, HostFunctions{});
    ASSERT_TRUE(module.ok()) << module.status().ToString();
  }
  EXPECT_TRUE(Compiler::VerifyArtifact(artifact).ok());
  // Compiled anew (a compile's bytes are not reproducible: only the tamper
  // is gone).
  EXPECT_EQ(ReadFile(artifact).value().find("tampered"), std::string::npos);

  // Writable by others, a symlink, or without its digest: refused.
  fs::permissions(artifact, fs::perms::others_write, fs::perm_options::add);
  EXPECT_NE(Compiler::VerifyArtifact(artifact).message().find("writable by other users"), std::string::npos);
  fs::permissions(artifact, fs::perms::others_write, fs::perm_options::remove);
  fs::path elsewhere = dir.path() / "elsewhere.so";
  fs::rename(artifact, elsewhere);
  fs::create_symlink(elsewhere, artifact);
  EXPECT_FALSE(Compiler::VerifyArtifact(artifact).ok());
  fs::remove(artifact);
  fs::rename(elsewhere, artifact);
  EXPECT_TRUE(Compiler::VerifyArtifact(artifact).ok());
  fs::remove(digest);
  EXPECT_FALSE(Compiler::IsCached(artifact)) << "an artifact without its digest is not a cache hit";
  EXPECT_NE(Compiler::VerifyArtifact(artifact).message().find("digest file is missing"), std::string::npos);
}

}  // namespace
}  // namespace wow::wasm::aot
