#pragma once

// Runs a program to completion as the evaluation's baselines do (one process
// per activation): argv, extra environment, bytes on stdin, stdout and stderr
// captured up to a cap, and a deadline after which the program's whole process
// group is killed. Thread-safe: any number of runs may go on concurrently from
// different threads. Every run reaps its child and closes its pipes, whatever
// happens; the pipes are O_CLOEXEC so concurrent spawns never inherit them.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

struct ProcessOptions {
  // argv[0] is the program's path (no PATH search); must not be empty.
  std::vector<std::string> argv;
  // "KEY=VALUE" entries added to the environment, replacing the same keys.
  std::vector<std::string> env;
  // With false, the environment is `env` alone instead of this process's plus `env`.
  bool inherit_environment = true;
  // The child's working directory; empty: this process's.
  std::filesystem::path working_dir;
  // Written to the child's stdin, which is then closed (empty: closed at once).
  std::string stdin_data;
  // Bytes of stdout and of stderr kept; the rest is read and dropped.
  size_t output_limit = 4u << 20;
  // When it passes, the child's process group gets SIGKILL (timed_out).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // A stop request kills the process group as well (cancelled).
  std::stop_token stop;
};

struct ProcessResult {
  int exit_code = -1;      // the exit status when the child exited, else -1
  int signal = 0;          // the signal that terminated it, else 0
  bool timed_out = false;  // killed because the deadline passed
  bool cancelled = false;  // killed because a stop was requested
  std::string out;         // stdout (at most output_limit bytes)
  std::string err;         // stderr (at most output_limit bytes)
  bool out_truncated = false;
  bool err_truncated = false;
  std::chrono::nanoseconds elapsed{};  // spawned to reaped, wall clock
  std::chrono::nanoseconds cpu{};      // the child's user + system CPU (rusage)

  // Exited with status 0.
  bool Succeeded() const { return exit_code == 0; }
  // "exited with status 3" or "was killed by signal 9".
  std::string Describe() const;
};

// Spawns options.argv[0] in a process group of its own, with signal
// dispositions reset and no signal blocked, feeds stdin while capturing
// stdout and stderr, and waits for it. When the program exits, whatever is
// left of its process group is killed too, so no run leaves processes behind.
// A program that cannot be started (missing, not executable, bad format) is
// kNotFound or kIoError; a program that starts and fails is a ProcessResult.
Result<ProcessResult> RunProcess(ProcessOptions options);

// The last line of `text` that is not blank, without its surrounding spaces,
// tabs and '\r', as a view into `text` (empty when every line is blank): the
// result line of the WASI-command protocol.
std::string_view LastNonEmptyLine(std::string_view text);

}  // namespace wow::bench::eval
