#pragma once

#include <signal.h>

namespace wow::cli {

// How the long-running commands (serve, executor, proxy) end: SIGINT or
// SIGTERM, taken with sigwait. Construct it before any thread starts, so
// every thread inherits the blocked mask (the AoT deadline timer's signal
// stays open). Also ignores SIGPIPE: a closed client socket is an error
// value, not a reason to die.
class StopSignals {
 public:
  StopSignals();
  // Waits for SIGINT or SIGTERM; returns its name.
  const char* Wait();

 private:
  sigset_t set_;
};

}  // namespace wow::cli
