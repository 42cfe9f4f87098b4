#include "native_process.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"

namespace wow::bench::eval {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ProcessOptions Shell(std::string script) {
  ProcessOptions options;
  options.argv = {"/bin/sh", "-c", std::move(script)};
  return options;
}

ProcessResult RunOk(ProcessOptions options) {
  auto result = RunProcess(std::move(options));
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(result).value() : ProcessResult();
}

// True once `pid` is gone or a zombie (an orphan waits for init to reap it).
bool Dead(pid_t pid, std::chrono::milliseconds wait = 3s) {
  auto deadline = Clock::now() + wait;
  for (;;) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');
    if (!stat || paren == std::string::npos || text.substr(paren + 2, 1) == "Z") return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

size_t OpenFds() {
  size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dir != nullptr && ::readdir(dir) != nullptr) ++n;
  if (dir != nullptr) ::closedir(dir);
  return n;
}

TEST(NativeProcessTest, PassesStdinAndCapturesStdout) {
  ProcessOptions options;
  options.argv = {"/bin/cat"};
  options.stdin_data = R"({"param1":2})";
  ProcessResult r = RunOk(std::move(options));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.Succeeded());
  EXPECT_EQ(r.out, R"({"param1":2})");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.elapsed.count(), 0);
}

TEST(NativeProcessTest, EmptyStdinIsEndOfFile) {
  ProcessResult r = RunOk(Shell("wc -c"));
  EXPECT_EQ(r.out, "0\n");
}

TEST(NativeProcessTest, LargeStdinAndStdoutDoNotDeadlock) {
  ProcessOptions options;
  options.argv = {"/bin/cat"};
  options.stdin_data.assign(3 << 20, 'x');
  ProcessResult r = RunOk(options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), options.stdin_data.size());
  EXPECT_FALSE(r.out_truncated);
}

TEST(NativeProcessTest, ChildThatIgnoresStdinIsNoSigpipe) {
  ProcessOptions options = Shell("exec 0<&-; echo done");
  options.stdin_data.assign(1 << 20, 'x');
  ProcessResult r = RunOk(std::move(options));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "done\n");
}

TEST(NativeProcessTest, SeparatesStreamsAndReportsExitCode) {
  ProcessResult r = RunOk(Shell("echo out; echo err >&2; exit 7"));
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.Describe(), "exited with status 7");
}

TEST(NativeProcessTest, ReportsTerminatingSignal) {
  ProcessResult r = RunOk(Shell("kill -SEGV $$"));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGSEGV);
  EXPECT_EQ(r.Describe(), "was killed by signal 11");
}

TEST(NativeProcessTest, TruncatesOutputAtTheLimit) {
  ProcessOptions options = Shell("head -c 100000 /dev/zero; echo small >&2");
  options.output_limit = 1000;
  ProcessResult r = RunOk(std::move(options));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.err, "small\n");
  EXPECT_FALSE(r.err_truncated);
}

TEST(NativeProcessTest, DeadlineKillsTheWholeProcessGroup) {
  // The shell forks a grandchild that would outlive a kill of the shell alone.
  ProcessOptions options = Shell("sleep 30 & echo $!; wait");
  options.deadline = Clock::now() + 300ms;
  auto start = Clock::now();
  ProcessResult r = RunOk(std::move(options));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(r.elapsed, 300ms);
  ASSERT_FALSE(r.out.empty());
  EXPECT_TRUE(Dead(std::stoi(r.out)));
}

TEST(NativeProcessTest, ExitKillsLeftoversOfTheGroup) {
  // The background sleep keeps stdout open: without the group kill the run
  // would last as long as the sleep.
  auto start = Clock::now();
  ProcessResult r = RunOk(Shell("sleep 30 & echo $!"));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  ASSERT_FALSE(r.out.empty());
  EXPECT_TRUE(Dead(std::stoi(r.out)));
}

TEST(NativeProcessTest, PastDeadlineKillsAtOnce) {
  ProcessOptions options = Shell("sleep 30");
  options.deadline = Clock::now() - 1s;
  ProcessResult r = RunOk(std::move(options));
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(r.elapsed, 1s);
}

TEST(NativeProcessTest, StopRequestCancels) {
  std::stop_source stop;
  ProcessOptions options = Shell("sleep 30");
  options.stop = stop.get_token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  ProcessResult r = RunOk(std::move(options));
  stopper.join();
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_LT(r.elapsed, 2s);
}

TEST(NativeProcessTest, EnvironmentIsInheritedWithExtrasOnTop) {
  ::setenv("WOW_NATIVE_PROCESS_TEST", "inherited", 1);
  ::setenv("WOW_NATIVE_PROCESS_OVERRIDE", "old", 1);
  ProcessOptions options = Shell("echo $WOW_NATIVE_PROCESS_TEST $WOW_NATIVE_PROCESS_OVERRIDE $EXTRA");
  options.env = {"WOW_NATIVE_PROCESS_OVERRIDE=new", "EXTRA=x y"};
  EXPECT_EQ(RunOk(options).out, "inherited new x y\n");

  options.inherit_environment = false;
  EXPECT_EQ(RunOk(options).out, "new x y\n");
}

TEST(NativeProcessTest, RunsInTheWorkingDirectory) {
  TempDir dir("wow-native-process");
  ProcessOptions options = Shell("pwd");
  options.working_dir = dir.path();
  EXPECT_EQ(RunOk(options).out, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(NativeProcessTest, ChildGetsDefaultSignalsAndAnEmptyMask) {
  // An ignored SIGTERM and a blocked SIGINT here must not reach the child.
  auto old_term = ::signal(SIGTERM, SIG_IGN);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  ProcessResult term = RunOk(Shell("kill -TERM $$; sleep 5"));
  ProcessResult mask = RunOk(Shell("grep -E '^Sig(Blk|Ign)' /proc/self/status"));
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::signal(SIGTERM, old_term);
  EXPECT_EQ(term.signal, SIGTERM);
  EXPECT_NE(mask.out.find("SigBlk:\t0000000000000000"), std::string::npos) << mask.out;
}

TEST(NativeProcessTest, MissingProgramIsNotFound) {
  ProcessOptions options;
  options.argv = {"/nonexistent/program"};
  auto r = RunProcess(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/program"), std::string::npos);

  EXPECT_EQ(RunProcess(ProcessOptions()).status().code(), Code::kInvalidArgument);
}

TEST(NativeProcessTest, NonExecutableIsAnError) {
  TempDir dir("wow-native-process");
  auto path = dir.path() / "script";
  ASSERT_TRUE(WriteFileAtomically(path, "#!/bin/sh\necho hi\n").ok());  // mode 0644
  ProcessOptions options;
  options.argv = {path.string()};
  auto r = RunProcess(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIoError);
}

TEST(NativeProcessTest, ConcurrentRunsOverlapAndLeakNothing) {
  size_t fds_before = OpenFds();
  constexpr int kRuns = 6;
  std::vector<ProcessResult> results(kRuns);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&results, i] {
      ProcessOptions options = Shell("sleep 0.3; cat");
      options.stdin_data = std::to_string(i);
      results[i] = RunOk(std::move(options));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(Clock::now() - start, 1500ms);
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(results[i].out, std::to_string(i));
    EXPECT_GE(results[i].elapsed, 300ms);
  }
  EXPECT_EQ(OpenFds(), fds_before);
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // no child left, zombie or not
  EXPECT_EQ(errno, ECHILD);
}

TEST(NativeProcessTest, MeasuresChildCpu) {
  ProcessResult r = RunOk(Shell("i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_GT(r.cpu, 10ms);
  EXPECT_LE(r.cpu, r.elapsed + 10ms);
}

TEST(NativeProcessTest, LastNonEmptyLine) {
  EXPECT_EQ(LastNonEmptyLine(""), "");
  EXPECT_EQ(LastNonEmptyLine("\n \r\n\t\n"), "");
  EXPECT_EQ(LastNonEmptyLine("{}"), "{}");
  EXPECT_EQ(LastNonEmptyLine("log\n{\"a\":1}\r\n\n  \n"), "{\"a\":1}");
  EXPECT_EQ(LastNonEmptyLine("a\n  b  \n"), "b");
  std::string_view text = "log line\nresult\n";
  EXPECT_EQ(LastNonEmptyLine(text).data(), text.data() + 9);  // a view into the text
}

}  // namespace
}  // namespace wow::bench::eval
