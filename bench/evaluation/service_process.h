#pragma once

// A long-running child process of the harness: `wow serve`, `wow executor`
// or one action proxy of the process baseline. Its stdout and stderr go to
// files (so a chatty child never blocks on a full pipe); the services print
// their bound address as the first stdout line, which Start waits for.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

struct ServiceOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path
  std::filesystem::path log_dir;  // gets <log_name>.out and <log_name>.err
  std::string log_name = "service";
  // Kill the child when the thread that started it ends (PR_SET_PDEATHSIG
  // acts per thread): right for services started by the main thread, wrong
  // for children started by short-lived client threads.
  bool die_with_thread = false;
  std::chrono::milliseconds start_timeout{30'000};
};

class ServiceProcess {
 public:
  // Spawns the child and waits until it has printed its first stdout line
  // (its bound address) or exited or timed out; the error quotes its stderr.
  static Result<ServiceProcess> Start(ServiceOptions options);

  ServiceProcess(ServiceProcess&& other) noexcept;
  ServiceProcess& operator=(ServiceProcess&& other) noexcept;
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;
  ~ServiceProcess();  // Stop()

  // SIGTERM, then SIGKILL after `grace`; reaps the child. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10'000));

  pid_t pid() const { return pid_; }
  const std::string& first_line() const { return first_line_; }
  std::string host() const;  // of first_line "host:port"
  uint16_t port() const;
  std::filesystem::path stdout_path() const { return out_; }
  std::filesystem::path stderr_path() const { return err_; }
  // The line of stdout after the first `skip` lines, or "" (e.g. serve's
  // second line: the wsk command with the credential).
  std::string StdoutLine(size_t index) const;

 private:
  ServiceProcess() = default;
  pid_t pid_ = -1;
  std::string first_line_;
  std::filesystem::path out_, err_;
};

}  // namespace wow::bench::eval
