#pragma once

// What the end-to-end tests of an OpenWhisk action-runtime server run as a
// child process share, whichever server it is: `wow proxy` / `wow executor`
// (service_fixture.h) or the evaluation's wow-action-proxy
// (bench/evaluation/action_proxy_test.cc). No gtest here: failures are the
// callers' to report.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "common/json.h"

namespace wow::test {

// The line an action runtime writes to stdout and stderr after each activation.
inline constexpr std::string_view kSentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

// The file's content, or "" when it cannot be read.
inline std::string ReadText(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  return text.ok() ? std::move(text).value() : std::string();
}

inline std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// {"value":<params>, ...extra}
inline std::string RunBody(boost::json::value params = boost::json::object(), boost::json::object extra = {}) {
  boost::json::object body = std::move(extra);
  body["value"] = std::move(params);
  return ToJson(body);
}

// An OpenWhisk deadline: epoch milliseconds, as a string, `ms` from now.
inline std::string DeadlineIn(std::chrono::milliseconds ms) {
  auto t = std::chrono::system_clock::now() + ms;
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

// Starts argv[0] with stdin from /dev/null and stdout and stderr into (truncated)
// files. fork + exec rather than posix_spawn: the child asks to be killed when
// the test dies, so a crashed test leaves no server behind. Returns the pid, or
// -1 with errno set.
inline pid_t SpawnCaptured(char* const argv[], char* const envp[], const std::filesystem::path& out_file,
                           const std::filesystem::path& err_file) {
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t parent = ::getpid();
  pid_t pid = (in < 0 || out < 0 || err < 0) ? -1 : ::fork();
  if (pid == 0) {
    // Between fork and exec only async-signal-safe calls.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before prctl
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(argv[0], argv, envp);
    ::_exit(127);
  }
  int saved_errno = errno;
  for (int fd : {in, out, err}) {
    if (fd >= 0) ::close(fd);
  }
  errno = saved_errno;
  return pid;
}

}  // namespace wow::test
