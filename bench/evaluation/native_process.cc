#include "native_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

extern char** environ;

namespace wow::bench::eval {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After the process group is killed, how long pipes held open by a process
// that left the group may still be read before they are abandoned.
constexpr milliseconds kDrainGrace{1000};
// Without a pidfd, how often the child is checked for having exited.
constexpr milliseconds kExitPollTick{5};
constexpr size_t kReadChunk = 64 << 10;

Status Errno(std::string_view what, int err) {
  return Status::IoError(fmt::format("{}: {}", what, std::strerror(err)));
}

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Close(); }

  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe2", errno);
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// Blocks SIGPIPE in the calling thread while alive, so that writing to a child
// that closed its stdin is EPIPE rather than the end of this process. A
// SIGPIPE raised meanwhile is consumed before the old mask comes back.
class BlockSigpipe {
 public:
  BlockSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~BlockSigpipe() {
    if (sigismember(&old_, SIGPIPE)) return;  // the caller blocks it: not ours to consume
    timespec zero{};
    while (::sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  BlockSigpipe(const BlockSigpipe&) = delete;
  BlockSigpipe& operator=(const BlockSigpipe&) = delete;

 private:
  sigset_t pipe_, old_;
};

// A spawned child, leader of its own process group. Unless Reap() was called,
// the destructor kills the group and reaps the leader, so no path leaves a
// zombie or a running process.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (!reaped_) {
      KillGroup();
      Reap();
    }
  }

  pid_t pid() const { return pid_; }

  // The group is still reserved (the leader is not reaped), so the signal
  // cannot reach an unrelated process that reused the id.
  void KillGroup() const { ::kill(-pid_, SIGKILL); }

  // True once the leader has exited; it stays a zombie until Reap().
  bool Exited() const {
    siginfo_t info{};
    int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    return rc == 0 && info.si_pid == pid_;
  }

  // Waits for the leader (already dead or dying) and returns its wait status.
  int Reap(rusage* usage = nullptr) {
    int status = 0;
    rusage ignored{};
    while (::wait4(pid_, &status, 0, usage != nullptr ? usage : &ignored) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// This process's environment (when asked) with `extra` on top.
std::vector<std::string> Environment(const ProcessOptions& options) {
  auto key = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  if (options.inherit_environment) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      bool replaced = std::any_of(options.env.begin(), options.env.end(),
                                  [&](const std::string& x) { return key(x) == key(entry); });
      if (!replaced) env.emplace_back(entry);
    }
  }
  env.insert(env.end(), options.env.begin(), options.env.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn's attribute objects, destroyed on scope exit.
struct SpawnAttributes {
  SpawnAttributes() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttributes() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
};

// Starts the program on the given stdio ends, in a new process group, with
// every signal at its default and none blocked (an ignored SIGPIPE or a
// blocked SIGTERM of this process must not leak into the action).
Result<pid_t> Spawn(const ProcessOptions& options, int in, int out, int err) {
  SpawnAttributes s;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&s.attr, 0);
  posix_spawnattr_setsigdefault(&s.attr, &all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawn_file_actions_adddup2(&s.actions, in, 0);
  posix_spawn_file_actions_adddup2(&s.actions, out, 1);
  posix_spawn_file_actions_adddup2(&s.actions, err, 2);
  if (!options.working_dir.empty()) posix_spawn_file_actions_addchdir_np(&s.actions, options.working_dir.c_str());

  std::vector<std::string> args = options.argv;
  std::vector<std::string> env = Environment(options);
  std::vector<char*> argv = CStrings(args), envp = CStrings(env);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, argv[0], &s.actions, &s.attr, argv.data(), envp.data());
  if (rc == 0) return pid;
  std::string where = options.working_dir.empty() ? "" : fmt::format(" in {}", options.working_dir.string());
  std::string message = fmt::format("cannot run {}{}: {}", options.argv[0], where, std::strerror(rc));
  return rc == ENOENT ? Status::NotFound(std::move(message)) : Status::IoError(std::move(message));
}

// A pidfd polls readable when the child exits; not open where the kernel has none.
Fd OpenPidfd(pid_t pid) { return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

// One output pipe and where its bytes go.
struct Capture {
  Fd fd;
  std::string* text;
  bool* truncated;
  size_t limit;

  // Reads what is there; closes the pipe at EOF or on an error.
  void Read() {
    char buffer[kReadChunk];
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) return fd.Close();
    size_t keep = std::min(static_cast<size_t>(n), limit - std::min(limit, text->size()));
    text->append(buffer, keep);
    if (keep < static_cast<size_t>(n)) *truncated = true;
  }
};

// Feeds stdin_data without blocking; closes the pipe when done or refused.
struct Feed {
  Fd fd;
  std::string_view data;

  void Write() {
    ssize_t n = ::write(fd.get(), data.data(), std::min(data.size(), kReadChunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) return fd.Close();  // EPIPE: the child does not read its stdin
    data.remove_prefix(static_cast<size_t>(n));
    if (data.empty()) fd.Close();
  }
};

int PollTimeout(Clock::time_point until, Clock::time_point now) {
  if (until == Clock::time_point::max()) return -1;
  auto ms = std::chrono::ceil<milliseconds>(until - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 24 * 3600 * 1000));
}

std::chrono::nanoseconds CpuTime(const rusage& usage) {
  auto tv = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

}  // namespace

std::string ProcessResult::Describe() const {
  if (signal != 0) return fmt::format("was killed by signal {}", signal);
  return fmt::format("exited with status {}", exit_code);
}

Result<ProcessResult> RunProcess(ProcessOptions options) {
  if (options.argv.empty() || options.argv[0].empty()) return Status::InvalidArgument("no program to run");
  WOW_ASSIGN_OR_RETURN(Pipe in, MakePipe());
  WOW_ASSIGN_OR_RETURN(Pipe out, MakePipe());
  WOW_ASSIGN_OR_RETURN(Pipe err, MakePipe());
  if (::fcntl(in.write.get(), F_SETFL, O_NONBLOCK) != 0) return Errno("fcntl", errno);
  // A stop request wakes the poll below through this eventfd.
  Fd wake;
  auto notify = [&wake] {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof one);
  };
  std::optional<std::stop_callback<decltype(notify)>> on_stop;
  if (options.stop.stop_possible()) {
    wake = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake.open()) return Errno("eventfd", errno);
    on_stop.emplace(options.stop, notify);
  }
  BlockSigpipe block_sigpipe;

  ProcessResult result;
  auto start = Clock::now();
  WOW_ASSIGN_OR_RETURN(pid_t pid, Spawn(options, in.read.get(), out.write.get(), err.write.get()));
  Child child(pid);
  in.read.Close();
  out.write.Close();
  err.write.Close();
  Feed feed{std::move(in.write), options.stdin_data};
  if (feed.data.empty()) feed.fd.Close();  // empty stdin: EOF at once
  Capture outputs[2] = {{std::move(out.read), &result.out, &result.out_truncated, options.output_limit},
                        {std::move(err.read), &result.err, &result.err_truncated, options.output_limit}};
  Fd pidfd = OpenPidfd(pid);

  bool exited = false, group_killed = false;
  Clock::time_point drain_until = Clock::time_point::max();
  auto kill_group = [&](Clock::time_point now) {
    if (group_killed) return;
    child.KillGroup();
    group_killed = true;
    drain_until = now + kDrainGrace;
  };
  for (;;) {
    auto now = Clock::now();
    if (!group_killed && options.stop.stop_requested()) {
      result.cancelled = true;
      kill_group(now);
    } else if (!group_killed && now >= options.deadline) {
      result.timed_out = true;
      kill_group(now);
    }
    if (!exited && child.Exited()) {
      exited = true;
      feed.fd.Close();
      kill_group(now);  // leftovers of the group: a run leaves nothing behind
    }
    bool reading = outputs[0].fd.open() || outputs[1].fd.open();
    if ((exited && !reading) || now >= drain_until) break;

    // Negative descriptors are skipped by poll.
    pollfd fds[5] = {{outputs[0].fd.get(), POLLIN, 0},
                     {outputs[1].fd.get(), POLLIN, 0},
                     {feed.fd.get(), POLLOUT, 0},
                     {exited ? -1 : pidfd.get(), POLLIN, 0},
                     {group_killed ? -1 : wake.get(), POLLIN, 0}};
    int timeout = PollTimeout(group_killed ? drain_until : options.deadline, now);
    if (!exited && !pidfd.open()) {
      int tick = static_cast<int>(kExitPollTick.count());
      timeout = timeout < 0 ? tick : std::min(timeout, tick);
    }
    if (::poll(fds, 5, timeout) < 0 && errno != EINTR) return Errno("poll", errno);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents != 0) outputs[i].Read();
    }
    if (fds[2].revents != 0) feed.Write();
  }

  for (auto& capture : outputs) capture.fd.Close();
  feed.fd.Close();
  rusage usage{};
  int status = child.Reap(&usage);
  result.elapsed = Clock::now() - start;
  result.cpu = CpuTime(usage);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

std::string_view LastNonEmptyLine(std::string_view text) {
  constexpr std::string_view kBlank = " \t\r";
  while (!text.empty()) {
    size_t nl = text.rfind('\n');
    std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
    size_t first = line.find_first_not_of(kBlank);
    if (first != std::string_view::npos) return line.substr(first, line.find_last_not_of(kBlank) - first + 1);
    if (nl == std::string_view::npos) break;
    text = text.substr(0, nl);
  }
  return {};
}

}  // namespace wow::bench::eval
