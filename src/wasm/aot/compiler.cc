#include "wasm/aot/compiler.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "common/sha256.h"
#include "wabt/ir.h"
#include "wasm/aot/c_codegen.h"
#include "wasm/module_reader.h"

extern char** environ;

namespace wow::wasm::aot {
namespace {

constexpr char kEngineVersion[] = "wow-aot-4/wabt-1.0.32";

// What the supervisor reports on its pipe once the compiler has exited.
struct Report {
  int exec_errno = 0;   // non-zero: the compiler could not be started
  int wait_status = 0;  // the compiler's waitpid status
};

// Everything the forked processes need, prepared before the fork: a child of
// a multithreaded process may make async-signal-safe calls only (no malloc).
struct ChildSetup {
  const char* path = nullptr;  // absolute or relative, looked up already
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int null_fd = -1;      // the compiler's stdin
  int log_fd = -1;       // its stdout and stderr
  int lifeline_fd = -1;  // read end of a pipe whose write end only wow holds
  int report_fd = -1;    // write end of the pipe the Report goes to
  rlimit memory{};       // RLIMIT_AS of the compiler
  rlimit cpu{};          // RLIMIT_CPU of the compiler (a backstop)
};

void WriteReport(int fd, const Report& report) {
  while (::write(fd, &report, sizeof report) < 0 && errno == EINTR) {
  }
}

// The compiler itself, in the supervisor's process group: limits, standard
// fds and default signal handling (wow ignores SIGPIPE and blocks SIGINT and
// SIGTERM, which exec would pass on), then exec.
[[noreturn]] void ExecCompiler(const ChildSetup& setup, int exec_error_fd) {
  ::dup2(setup.null_fd, 0);
  ::dup2(setup.log_fd, 1);
  ::dup2(setup.log_fd, 2);
  for (int fd = 0; fd <= 2; ++fd) ::fcntl(fd, F_SETFD, 0);  // dup2 onto itself keeps FD_CLOEXEC
  ::setrlimit(RLIMIT_AS, &setup.memory);
  ::setrlimit(RLIMIT_CPU, &setup.cpu);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);  // fails harmlessly for some
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(setup.path, setup.argv, setup.envp);
  int error = errno;
  while (::write(exec_error_fd, &error, sizeof error) < 0 && errno == EINTR) {
  }
  ::_exit(127);
}

// The supervisor: leads the compiler's process group, waits for the compiler
// to exit and reports its status; if wow dies first (the lifeline pipe's
// write end closes with wow's last fd, whatever killed it), kills the whole
// group, itself included. A pipe rather than PR_SET_PDEATHSIG: the death
// signal would fire when the *thread* that forked exits, and it reaches only
// the direct child, not the cc1, as and ld the driver starts.
[[noreturn]] void Supervise(const ChildSetup& setup) {
  ::setpgid(0, 0);
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  // Keep only our fds: another compile's supervisor holding this one's
  // lifeline open (and vice versa) would hide wow's death from both.
  int keep[] = {setup.null_fd, setup.log_fd, setup.lifeline_fd, setup.report_fd};
  std::sort(std::begin(keep), std::end(keep));
  unsigned next = 3;
  for (int fd : keep) {
    if (fd > static_cast<int>(next)) ::close_range(next, static_cast<unsigned>(fd) - 1, 0);
    next = std::max(next, static_cast<unsigned>(fd) + 1);
  }
  ::close_range(next, ~0u, 0);

  int exec_error[2];
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    WriteReport(setup.report_fd, {errno, 0});
    ::_exit(1);
  }
  pid_t compiler = ::_Fork();
  if (compiler == 0) {
    ::close(exec_error[0]);
    ::close(setup.lifeline_fd);
    ::close(setup.report_fd);
    ExecCompiler(setup, exec_error[1]);
  }
  ::close(exec_error[1]);
  if (compiler < 0) {
    WriteReport(setup.report_fd, {errno, 0});
    ::_exit(1);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, compiler, 0));
  if (pidfd >= 0) {
    pollfd fds[2] = {{setup.lifeline_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) continue;         // EINTR
      if (fds[0].revents != 0) ::kill(0, SIGKILL);  // wow is gone: the whole group, this process too
      if (fds[1].revents != 0) break;
    }
  }  // else (a kernel before 5.3): wait without watching wow
  int status = 0;
  while (::waitpid(compiler, &status, 0) < 0 && errno == EINTR) {
  }
  Report report;
  report.wait_status = status;
  if (::read(exec_error[0], &report.exec_errno, sizeof report.exec_errno) != sizeof report.exec_errno) {
    report.exec_errno = 0;  // EOF: exec succeeded
  }
  WriteReport(setup.report_fd, report);
  ::_exit(0);
}

// `name` as execvp would find it: with a slash as is, else the first
// executable regular file of that name in PATH. Empty when there is none.
std::string FindInPath(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) return {};
    path.remove_prefix(colon + 1);
  }
}

// gcc's and clang's words when an allocation fails ("virtual memory
// exhausted: Cannot allocate memory", "cc1: out of memory allocating ...",
// "cannot execute 'cc1': execv: Cannot allocate memory").
bool RanOutOfMemory(std::string_view output) {
  for (std::string_view words : {"virtual memory exhausted", "out of memory", "Cannot allocate memory"}) {
    if (output.find(words) != std::string_view::npos) return true;
  }
  return false;
}

std::string Seconds(std::chrono::milliseconds d) { return fmt::format("{:g}", static_cast<double>(d.count()) / 1000); }

// Closes the fds it holds on destruction.
class Fds {
 public:
  ~Fds() {
    for (int fd : fds_) ::close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void Close(int fd) {
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
    ::close(fd);
  }

 private:
  std::vector<int> fds_;
};

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

Compiler::~Compiler() {
  Cancel();
  std::unique_lock<std::mutex> lock(children_mu_);
  children_cv_.wait(lock, [&] { return children_.empty(); });
}

void Compiler::Cancel() {
  std::lock_guard<std::mutex> lock(children_mu_);
  cancelled_ = true;
  for (const auto& [pid, reaping] : children_) {
    if (!reaping) ::kill(-pid, SIGKILL);
  }
}

Result<Compiler::ProcessResult> Compiler::RunProcess(const std::vector<std::string>& argv,
                                                     const std::filesystem::path& log) {
  std::string path = FindInPath(argv[0]);
  if (path.empty()) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("cannot run the C compiler '{}': {}", argv[0], std::strerror(ENOENT)));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  Fds fds;
  ChildSetup setup;
  setup.path = path.c_str();
  setup.argv = args.data();
  setup.envp = environ;
  setup.log_fd = fds.Add(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  setup.null_fd = fds.Add(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int lifeline[2] = {-1, -1};
  int report[2] = {-1, -1};
  bool files_ok = setup.log_fd >= 0 && setup.null_fd >= 0 && ::pipe2(lifeline, O_CLOEXEC) == 0;
  if (files_ok) {
    fds.Add(lifeline[0]);
    fds.Add(lifeline[1]);
    files_ok = ::pipe2(report, O_CLOEXEC) == 0;
  }
  if (!files_ok) {
    return Status::IoError(fmt::format("cannot set up the C compiler's files: {}", std::strerror(errno)));
  }
  fds.Add(report[0]);
  fds.Add(report[1]);
  setup.lifeline_fd = lifeline[0];
  setup.report_fd = report[1];
  uint64_t memory_bytes = options_.compile_memory_mb << 20;
  setup.memory = {memory_bytes, memory_bytes};
  auto cpu_s = static_cast<rlim_t>(std::chrono::ceil<std::chrono::seconds>(options_.compile_timeout).count() + 5);
  setup.cpu = {cpu_s, cpu_s + 5};  // SIGXCPU, then SIGKILL

  std::unique_lock<std::mutex> lock(children_mu_);
  if (cancelled_) {
    return Status::Error(Code::kCompileError, Phase::kCompilation, "the compile was cancelled (shutting down)");
  }
  pid_t pid = ::_Fork();
  if (pid == 0) Supervise(setup);
  if (pid < 0) return Status::IoError(fmt::format("cannot start the C compiler: {}", std::strerror(errno)));
  // Also here, so that the group exists before Cancel can see the pid.
  ::setpgid(pid, pid);
  children_.emplace(pid, false);
  lock.unlock();
  fds.Close(lifeline[0]);
  fds.Close(report[1]);
  fds.Close(setup.log_fd);
  fds.Close(setup.null_fd);

  Report result;
  size_t got = 0;
  bool timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + options_.compile_timeout;
  while (got < sizeof result) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{report[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000))) <= 0) continue;  // EINTR, timeout
    ssize_t n = ::read(report[0], reinterpret_cast<char*>(&result) + got, sizeof result - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the supervisor died without a report: killed
    got += static_cast<size_t>(n);
  }
  bool cancelled = false;
  {
    std::lock_guard<std::mutex> guard(children_mu_);
    children_[pid] = true;  // Cancel leaves it to us now
    cancelled = cancelled_;
  }
  // Whatever is left of the group (all of it on expiry), then the supervisor.
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> guard(children_mu_);
    children_.erase(pid);
    children_cv_.notify_all();
  }

  if (timed_out) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("the C compiler exceeded its time limit of {} s compiling this module; it "
                                     "was stopped",
                                     Seconds(options_.compile_timeout)));
  }
  if (got < sizeof result) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         cancelled ? "the compile was cancelled (shutting down); the C compiler was stopped"
                                   : "the C compiler was killed (its supervisor process died)");
  }
  if (result.exec_errno != 0) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("cannot run the C compiler '{}': {}", argv[0], std::strerror(result.exec_errno)));
  }
  ProcessResult process;
  process.exit_code =
      WIFEXITED(result.wait_status) ? WEXITSTATUS(result.wait_status) : 128 + WTERMSIG(result.wait_status);
  auto text = ReadFile(log);
  if (text.ok()) process.output = std::move(text).value();
  return process;
}

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

bool Compiler::Runs() {
  if (options_.cc.empty()) return false;
  auto r = RunProcess({options_.cc, "--version"}, "/dev/null");
  return r.ok() && r->exit_code == 0;
}

std::string Compiler::KeyFor(std::span<const uint8_t> wasm) {
  std::string material =
      fmt::format("{}|glue{}|{}|-O{}|", kEngineVersion, kGlueAbiVersion, CompilerIdentity(), options_.opt_level);
  material += Sha256Hex(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()));
  return Sha256Hex(material);
}

std::filesystem::path Compiler::ArtifactPath(const std::string& key) const { return dir_ / (key + ".so"); }

namespace {

std::filesystem::path DigestPath(const std::filesystem::path& artifact) {
  return std::filesystem::path(artifact.string() + ".sha256");
}

}  // namespace

bool Compiler::IsCached(const std::filesystem::path& artifact) {
  std::error_code ec;
  return std::filesystem::exists(artifact, ec) && std::filesystem::exists(DigestPath(artifact), ec);
}

void Compiler::RemoveArtifact(const std::filesystem::path& artifact) {
  std::error_code ec;
  std::filesystem::remove(artifact, ec);
  std::filesystem::remove(DigestPath(artifact), ec);
}

Status Compiler::VerifyArtifact(const std::filesystem::path& artifact) {
  auto refuse = [&](std::string_view why) {
    return Status::Error(Code::kLinkError, Phase::kLinking,
                         fmt::format("the artifact {} is not the one this node compiled: {}", artifact.string(), why));
  };
  int fd = ::open(artifact.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return refuse(fmt::format("cannot open it ({})", std::strerror(errno)));
  struct stat st {};
  std::string bytes;
  bool readable = ::fstat(fd, &st) == 0;
  if (readable && S_ISREG(st.st_mode)) {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    readable = done == bytes.size();
  }
  ::close(fd);
  if (!readable || !S_ISREG(st.st_mode)) return refuse("not a readable regular file");
  if (st.st_uid != ::geteuid()) return refuse("owned by another user");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return refuse("writable by other users");
  auto recorded = ReadFile(DigestPath(artifact));
  if (!recorded.ok()) return refuse("its digest file is missing");
  std::string expected = recorded->substr(0, recorded->find_first_of(" \n"));
  if (expected != Sha256Hex(bytes)) return refuse("its content does not match the digest recorded when it was compiled");
  return Status::Ok();
}

Result<PrepareInfo> Compiler::Prepare(std::span<const uint8_t> wasm) {
  std::string key = KeyFor(wasm);
  std::filesystem::path artifact = ArtifactPath(key);
  if (IsCached(artifact)) {
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
  if (IsCached(artifact)) {
    PrepareInfo info;
    info.artifact = artifact;
    info.cache_hit = true;
    return info;
  }

  WOW_ASSIGN_OR_RETURN(ParsedModule parsed, ParseModule(wasm));
  const wabt::Module& ir = *parsed.ir;
  uint64_t items = ir.funcs.size() + ir.globals.size() + ir.types.size() + ir.tables.size() + ir.memories.size() +
                   ir.tags.size() + ir.exports.size();
  if (items > options_.compile_max_items) {
    return Status::Error(Code::kCompileError, Phase::kCompilation,
                         fmt::format("the module has {} functions, globals, types and other items; the AoT engine "
                                     "compiles at most {} (the translation to C takes time growing with the square "
                                     "of their number)",
                                     items, options_.compile_max_items));
  }
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
  Result<ProcessResult> run = RunProcess(argv, work.path() / "cc.log");
  if (!run.ok() || run->exit_code != 0) std::filesystem::remove(tmp_so, ec);  // killed or failed mid-write
  if (!run.ok()) return run.status();
  const ProcessResult& cc = *run;
  if (cc.exit_code != 0) {
    std::string output = cc.output.size() > 4000 ? cc.output.substr(0, 4000) + "..." : cc.output;
    if (RanOutOfMemory(cc.output)) {
      return Status::Error(Code::kCompileError, Phase::kCompilation,
                           fmt::format("the C compiler exceeded its memory limit of {} MB compiling this module: {}",
                                       options_.compile_memory_mb, output));
    }
    // Past RLIMIT_AS, cc1 sometimes crashes instead of saying so.
    std::string hint = cc.exit_code >= 128 || cc.output.find("signal terminated program") != std::string::npos
                           ? fmt::format(" (a compiler process died of a signal: its memory limit is {} MB)",
                                         options_.compile_memory_mb)
                           : "";
    return Status::Error(
        Code::kCompileError, Phase::kCompilation,
        fmt::format("the C compiler '{}' failed (exit {}){}: {}", options_.cc, cc.exit_code, hint, output));
  }
  // The digest goes first: an artifact without one is not cached.
  auto built = ReadFile(tmp_so);
  if (!built.ok()) return built.status();
  WOW_RETURN_IF_ERROR(WriteFileAtomically(DigestPath(artifact), Sha256Hex(*built) + "\n"));
  std::filesystem::rename(tmp_so, artifact, ec);
  if (ec) return Status::IoError(fmt::format("cannot store the artifact {}: {}", artifact.string(), ec.message()));
  PrepareInfo info;
  info.artifact = artifact;
  info.cache_hit = false;
  info.compile_ms = MsSince(start);
  return info;
}

}  // namespace wow::wasm::aot
