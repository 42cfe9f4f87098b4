#include "wasm/aot/compiler.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "common/files.h"
#include "common/sha256.h"
#include "wasm/aot/c_codegen.h"
#include "wasm/module_reader.h"

extern char** environ;

namespace wow::wasm::aot {
namespace {

constexpr char kEngineVersion[] = "wow-aot-4/wabt-1.0.32";

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs argv[0] (looked up in PATH) with output captured to a file.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("cannot run the C compiler '{}': {}", argv[0], std::strerror(rc)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::IoError("waitpid failed");
  }
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto text = ReadFile(log);
  if (text.ok()) result.output = std::move(text).value();
  return result;
}

// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Compiler::Compiler(EngineOptions options) : options_(std::move(options)), dir_(options_.data_dir / "aot") {}

const std::string& Compiler::CompilerIdentity() {
  std::call_once(identity_once_, [this] {
    // The compiler's version line, so an upgraded compiler gets new artifacts.
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    // Unique per engine: several engines in one process may ask at once.
    auto log = dir_ / fmt::format(".cc-version.{}.{:x}", ::getpid(), reinterpret_cast<uintptr_t>(this));
    auto r = RunProcess({options_.cc, "--version"}, log);
    std::filesystem::remove(log, ec);
    identity_ = options_.cc + "|";
    if (r.ok()) identity_ += r->output.substr(0, r->output.find('\n'));
  });
  return identity_;
}

std::string Compiler::KeyFor(std::span<const uint8_t> wasm) {
  std::string material =
      fmt::format("{}|glue{}|{}|-O{}|", kEngineVersion, kGlueAbiVersion, CompilerIdentity(), options_.opt_level);
  material += Sha256Hex(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()));
  return Sha256Hex(material);
}

std::filesystem::path Compiler::ArtifactPath(const std::string& key) const { return dir_ / (key + ".so"); }

Result<PrepareInfo> Compiler::Prepare(std::span<const uint8_t> wasm) {
  std::string key = KeyFor(wasm);
  std::filesystem::path artifact = ArtifactPath(key);
  std::error_code ec;
  if (std::filesystem::exists(artifact, ec)) {
    PrepareInfo info;
    info.artifact = artifact;
    info.cache_hit = true;
    return info;
  }
  std::shared_future<Result<PrepareInfo>> future;
  bool owner = false;
  std::promise<Result<PrepareInfo>> promise;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      future = it->second;
    } else {
      future = promise.get_future().share();
      in_flight_.emplace(key, future);
      owner = true;
    }
  }
  if (!owner) {
    Result<PrepareInfo> shared = future.get();
    if (shared.ok()) shared->cache_hit = true;  // this caller did no work
    return shared;
  }
  Result<PrepareInfo> result = CompileUncached(wasm, key);
  promise.set_value(result);
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(key);
  return result;
}

Result<PrepareInfo> Compiler::CompileUncached(std::span<const uint8_t> wasm, const std::string& key) {
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IoError(fmt::format("cannot create {}: {}", dir_.string(), ec.message()));
  std::filesystem::path artifact = ArtifactPath(key);

  // Another process may be compiling the same module: wait for it.
  FileLock lock(dir_ / (key + ".lock"));
  if (!lock.ok()) return Status::IoError(fmt::format("cannot create a lock file in {}", dir_.string()));
  if (std::filesystem::exists(artifact, ec)) {
    PrepareInfo info;
    info.artifact = artifact;
    info.cache_hit = true;
    return info;
  }

  WOW_ASSIGN_OR_RETURN(ParsedModule parsed, ParseModule(wasm));
  WOW_ASSIGN_OR_RETURN(GeneratedC generated, GenerateC(parsed));

  TempDir work("wow-cc");
  WOW_RETURN_IF_ERROR(WriteFileAtomically(work.path() / "module.h", generated.header));
  WOW_RETURN_IF_ERROR(WriteFileAtomically(work.path() / "module.c", generated.source));
  std::filesystem::path tmp_so = dir_ / fmt::format("{}.so.tmp.{}", key, ::getpid());
  std::vector<std::string> argv = {options_.cc, "-shared", "-fPIC", "-O" + options_.opt_level, "-fvisibility=hidden",
                                   "-w",
                                   // Kept although wasm2c's output is strict-aliasing clean (linear memory
                                   // through memcpy, everything else typed fields): dropping it changed no
                                   // hot loop of hash or prime. -O3, -funroll-loops and -march=native
                                   // (which would also need the CPU model in the cache key) measured no
                                   // faster (BENCHMARKS.md).
                                   "-fno-strict-aliasing",
                                   // wasm2c relies on these for Wasm semantics (NaN bits, traps).
                                   "-fno-fast-math", "-ffp-contract=off",
                                   // Guest frames larger than the guard page must still touch it first,
                                   // so deep recursion traps instead of writing past the stack.
                                   "-fstack-clash-protection", "-I" + work.path().string(), "-o", tmp_so.string(),
                                   (work.path() / "module.c").string()};
  WOW_ASSIGN_OR_RETURN(ProcessResult cc, RunProcess(argv, work.path() / "cc.log"));
  if (cc.exit_code != 0) {
    std::filesystem::remove(tmp_so, ec);
    std::string output = cc.output.size() > 4000 ? cc.output.substr(0, 4000) + "..." : cc.output;
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("the C compiler '{}' failed (exit {}): {}", options_.cc, cc.exit_code, output));
  }
  std::filesystem::rename(tmp_so, artifact, ec);
  if (ec) return Status::IoError(fmt::format("cannot store the artifact {}: {}", artifact.string(), ec.message()));
  PrepareInfo info;
  info.artifact = artifact;
  info.cache_hit = false;
  info.compile_ms = MsSince(start);
  return info;
}

}  // namespace wow::wasm::aot
