#pragma once

// How quiet the machine was around each experiment (issue 13, item 7): a run
// started beside other load halved every platform's throughput, Docker's too,
// and looked like a wow regression. Each experiment step (one experiment on
// one platform) records the 1-minute load average when it began and the CPU
// that *other* processes took in a window before it and, sampled once per
// interval, while it ran; summary.md warns when a step ran on a machine that
// was not quiet (IsQuiet).
//
// "Others" = the machine's busy CPU time (/proc/stat: user, nice, system,
// irq, softirq and steal; steal is CPU the hypervisor gave another guest)
// minus the CPU time of the experiment's own processes:
//   - the harness's process tree: the harness itself (its client threads and
//     this sampler included), every platform it starts (wow serve, wow
//     executor, the action proxies and the native runs they spawn, the
//     private dockerd and its containerd), and the children they reaped;
//   - processes whose command line contains one of `markers` and their
//     descendants: the containerd shims of the private dockerd (they re-parent
//     to init) and, below them, the containers' processes.
// A process of ours that ends between two samples is counted through its
// parent's cutime/cstime when a process of ours reaps it; when one outside
// reaps it (a shim, reaped by init), its last slice counts as others.
// Everything is in clock ticks of all CPUs, so shares need no wall clock:
// cores = ticks / all ticks of the interval x online cores.
//
// The parsers and the accounting are pure functions (machine_load_test.cc on
// fixed /proc texts); LoadMonitor reads /proc.

#include <sys/types.h>

#include <atomic>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

// A step ran on a quiet machine when other processes took at most this many
// cores (CPU seconds per second) on average while it ran, and in the window
// before it: 10% of one core. The 1-minute load average is recorded but not
// judged: right after another step it still counts the harness's own load.
inline constexpr double kQuietOthersCores = 0.10;

// ---- /proc texts (pure) -------------------------------------------------------

// The "cpu" line of /proc/stat, in clock ticks summed over all CPUs.
struct CpuTicks {
  uint64_t busy = 0;   // user + nice + system + irq + softirq + steal (guest time is inside user/nice)
  uint64_t total = 0;  // busy + idle + iowait
  int cores = 0;       // "cpuN" lines
};
// InvalidArgument when the "cpu" line is missing or malformed.
Result<CpuTicks> ParseProcStat(std::string_view text);

// The 1-minute load average: the first field of /proc/loadavg.
Result<double> ParseLoadAverage1(std::string_view text);

// One process from /proc/<pid>/stat.
struct ProcessTicks {
  pid_t pid = 0, ppid = 0;
  uint64_t start = 0;  // starttime: tells a reused pid from the process it replaces
  uint64_t ticks = 0;  // utime + stime + cutime + cstime (own threads and reaped children)
};
// The command name may hold spaces and parentheses: fields are read after its last ')'.
Result<ProcessTicks> ParseProcessStat(std::string_view text);

// ---- accounting (pure) -----------------------------------------------------------

struct ProcessInfo {
  ProcessTicks stat;
  std::string cmdline;  // arguments joined by spaces; read only when there are markers
};

// The experiment's processes at one instant, by pid.
using OurProcesses = std::map<pid_t, ProcessTicks>;

// `self` and every process whose cmdline contains one of `markers`, with all
// their descendants (by ppid).
OurProcesses SelectOurs(const std::vector<ProcessInfo>& all, pid_t self, const std::vector<std::string>& markers);

// One sample of the machine.
struct LoadSnapshot {
  CpuTicks cpu;
  OurProcesses ours;
};

// Ticks our processes took from `a` to `b`: what ours hold in `b` minus what
// they held in `a`, where a process gone by `b` whose parent (in `a`) is
// still ours is already inside that parent's cutime/cstime, and one whose
// parent is not is left out of both (its last slice is lost). A pid reused by
// a new process counts as a new process.
uint64_t OurTicksBetween(const LoadSnapshot& a, const LoadSnapshot& b);

// What the machine did between two snapshots, in cores (CPU seconds per second).
struct LoadInterval {
  uint64_t total_ticks = 0, ours_ticks = 0, others_ticks = 0;
  double busy_cores = 0;
  double ours_cores = 0;
  double others_cores = 0;  // busy - ours, never negative (samples are not atomic)
  int cores = 0;
  double others_share() const { return cores > 0 ? others_cores / cores : 0; }  // of the whole machine
};
LoadInterval Between(const LoadSnapshot& a, const LoadSnapshot& b);

// ---- per step ---------------------------------------------------------------------

// The machine around one experiment step.
struct StepLoad {
  std::string error;          // non-empty: /proc could not be read; the figures are not measured
  int cores = 0;              // online CPUs
  double load1_before = 0;    // 1-minute load average when the step began
  double others_before = 0;   // others' cores in the window just before the step
  double waited_seconds = 0;  // --wait-quiet: how long the step waited for a quiet window
  double others_mean = 0;     // others' cores while it ran: mean of the samples (weighted by their ticks)
  double others_max = 0;      // and the highest sample
  double ours_mean = 0;       // the experiment's own cores, for scale
  int samples = 0;            // intervals sampled while it ran (a step shorter than one has 1)
  bool measured() const { return error.empty(); }
};

// Measured and both figures of others at most `threshold` cores.
bool IsQuiet(const StepLoad& load, double threshold = kQuietOthersCores);

// Aggregates the intervals of a step (empty: zeros).
void AddIntervals(StepLoad& load, const std::vector<LoadInterval>& during);

boost::json::value StepLoadJson(const StepLoad& load, double threshold = kQuietOthersCores);

// ---- sampling /proc ----------------------------------------------------------------

struct LoadMonitorOptions {
  // One sample per interval while a step runs (default 1 s).
  std::chrono::milliseconds interval{1000};
  // Others' CPU is measured over this window before each step (default 1 s).
  std::chrono::milliseconds before_window{1000};
  // `--wait-quiet`: before each step, repeat the window until it is quiet,
  // for at most this long (default 0: measure once, never wait).
  std::chrono::seconds wait_quiet{0};
  double quiet_others_cores = kQuietOthersCores;  // the threshold IsQuiet uses
  // Command-line substrings of processes that are the experiment's though not
  // descendants of the harness (default none; the harness adds the private
  // dockerd's root directory, which its containerd shims name).
  std::vector<std::string> markers;
};

// The experiment's processes and the machine's CPU now, from /proc.
Result<LoadSnapshot> TakeSnapshot(pid_t self, const std::vector<std::string>& markers);

// Measures one step: the constructor measures the window before it (waiting
// for a quiet one when asked; `stop` ends the wait early, `note` hears about
// it), then samples on a thread of its own until Finish(). Not thread-safe;
// one per step.
class LoadMonitor {
 public:
  explicit LoadMonitor(LoadMonitorOptions options, const std::atomic<bool>* stop = nullptr,
                       std::function<void(std::string_view)> note = {});
  ~LoadMonitor();  // Finish()es if not done
  LoadMonitor(const LoadMonitor&) = delete;
  LoadMonitor& operator=(const LoadMonitor&) = delete;

  // Stops sampling (the last, partial interval included) and answers the step's figures.
  StepLoad Finish();

 private:
  void Sample();  // the sampling thread

  const LoadMonitorOptions options_;
  const pid_t self_;
  StepLoad load_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool finished_ = false;
  LoadSnapshot last_;
  std::vector<LoadInterval> during_;
  std::thread thread_;
};

}  // namespace wow::bench::eval
