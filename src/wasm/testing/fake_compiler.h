#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <utility>
#include <vector>

namespace wow::wasm::testing {

// A stand-in C compiler for tests of the compiler's limits: a shell script
// that answers --version at once; any other call starts a `sleep 1000` (a
// grandchild of the caller, as cc1 is), appends "<its pid> <sleep's pid>" to
// <dir>/fake-cc.pids and waits for the sleep. Returns the script's path.
std::filesystem::path WriteSleepingCompiler(const std::filesystem::path& dir);

// The pids of the sleeping compiler's `runs`-th run (1-based): the script's
// and its sleep's, once written; {-1, -1} after `timeout`.
std::pair<pid_t, pid_t> WaitForSleepingCompiler(const std::filesystem::path& dir, size_t run,
                                                std::chrono::milliseconds timeout);

// How many times the sleeping compiler was run (other than for --version).
size_t SleepingCompilerRuns(const std::filesystem::path& dir);

// The process group of `pid`; -1 when it is gone or a zombie.
pid_t ProcessGroupOf(pid_t pid);

// Waits until no live process (zombies do not count) is left in process
// group `pgid`; true once none is, false after `timeout`.
bool WaitUntilGroupIsGone(pid_t pgid, std::chrono::milliseconds timeout);

}  // namespace wow::wasm::testing
