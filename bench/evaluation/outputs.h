#pragma once

// Everything a run leaves in its results directory: raw samples (CSV), the
// whole run as JSON, per-platform summaries, the figures (PNG, with their
// gnuplot scripts) and summary.md, the tables of ratios that BENCHMARKS.md
// quotes.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "experiments.h"
#include "machine_load.h"
#include "report.h"

namespace wow::bench::eval {

struct RunInfo {
  MachineInfo machine;
  std::string profile;
  std::string command;                                          // how the run was started
  std::vector<std::pair<std::string, std::string>> versions;    // {"docker", "20.10.24"}, ...
  std::vector<PlatformId> platforms;                            // those that ran
  std::vector<std::pair<PlatformId, std::string>> hash_params;  // hash's params on each platform (interp's differ)
  double seconds = 0;                                           // the run's wall time
  double quiet_others_cores = kQuietOthersCores;                // machine_load.h: a step's quiet threshold
};

// The files written, relative to `out`, in `written`. Plots that cannot be
// drawn (gnuplot missing) leave a note in summary.md and an error status,
// after everything else was written.
Status WriteOutputs(const std::filesystem::path& out, const RunInfo& info, const Results& results,
                    std::vector<std::string>* written);

// The summary (Markdown): machine, versions, one table per experiment with
// the ratios between platforms, notes. Also printed at the end of a run. Runs
// of more than four platforms (wow's once per engine) get their ratios in a
// table of their own after each experiment's table.
std::string SummaryMarkdown(const RunInfo& info, const Results& results);

}  // namespace wow::bench::eval
