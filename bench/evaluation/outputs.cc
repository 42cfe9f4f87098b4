#include "outputs.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "common/files.h"
#include "stats.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr double kMiB = 1024.0 * 1024.0;

const std::vector<Workload> kWorkloads = {Workload::kCpu, Workload::kIo, Workload::kMixed};

std::string Ms(double ms) {
  if (ms >= 100) return fmt::format("{:.0f}", ms);
  if (ms >= 10) return fmt::format("{:.1f}", ms);
  return fmt::format("{:.2f}", ms);
}

// "−97.3%": how much lower `ours` is than `theirs`.
std::string Reduction(double ours, double theirs) {
  if (theirs <= 0 || ours < 0) return "n/a";
  return fmt::format("{:+.1f}%", (ours - theirs) / theirs * 100.0);
}

// "80%", "6.5%", "0.27%": enough digits for the interpreter's speeds too.
std::string Percent(double fraction) {
  const double percent = fraction * 100;
  if (percent >= 10) return fmt::format("{:.0f}%", percent);
  if (percent >= 1) return fmt::format("{:.1f}%", percent);
  return fmt::format("{:.2f}%", percent);
}

std::string RatioText(double a, double b, int decimals = 1) { return FormatRatio(a, b, decimals).value_or("n/a"); }

bool Has(const RunInfo& info, PlatformKind kind) {
  return std::any_of(info.platforms.begin(), info.platforms.end(),
                     [&](const PlatformId& id) { return id.kind == kind; });
}

// Up to this many platforms (Docker, process and one wow of each kind), the
// ratios are columns of each experiment's table; beyond, a table of their own.
constexpr size_t kInlineRatioPlatforms = 4;

// Key columns, one column per platform and ratio columns: the ratios
// inline, or (split) in a second table after a caption.
struct RatioTable {
  struct Row {
    std::vector<std::string> key, values, ratios;
  };
  std::vector<std::string> key_header, value_header, ratio_header;
  std::vector<Row> rows;

  std::string Render(bool split, const std::string& ratio_caption) const {
    auto join = [](std::vector<std::string> a, const std::vector<std::string>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    const bool apart = split && !ratio_header.empty();
    std::vector<std::vector<std::string>> main, ratios;
    for (const Row& r : rows) {
      main.push_back(apart ? join(r.key, r.values) : join(join(r.key, r.values), r.ratios));
      ratios.push_back(join(r.key, r.ratios));
    }
    std::string md = MarkdownTable(
        apart ? join(key_header, value_header) : join(join(key_header, value_header), ratio_header), main);
    if (apart) md += "\n" + ratio_caption + "\n\n" + MarkdownTable(join(key_header, ratio_header), ratios);
    return md;
  }
};

// What differs between the platforms' workloads: `hash`'s parameters (less
// work on the interpreter), and what tiered runs on here.
std::string WorkloadNote(const RunInfo& info, const Results& results) {
  std::string md;
  if (results.cold.empty() && results.throughput.empty() && results.skewed.empty() && results.memory.empty()) {
    return md;  // no experiment ran on the platforms
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> by_params;  // in the platforms' order
  for (const auto& [id, params] : info.hash_params) {
    auto it = std::find_if(by_params.begin(), by_params.end(), [&](const auto& p) { return p.first == params; });
    if (it == by_params.end()) it = by_params.insert(by_params.end(), {params, {}});
    it->second.push_back(PlatformName(id));
  }
  if (by_params.size() > 1) {
    md +=
        "**`hash` ran with different parameters** (the interpreter is hundreds of times slower than AoT; less work "
        "keeps its "
        "runs within the time budget): ";
    for (size_t i = 0; i < by_params.size(); ++i) {
      std::string who;
      for (const auto& n : by_params[i].second) who += (who.empty() ? "" : ", ") + n;
      md += fmt::format("{}`{}` on {}", i ? "; " : "", by_params[i].first, who);
    }
    md +=
        ". Figures of `hash` and `mixed` (rates, latencies) compare only between platforms with the same "
        "parameters; the CPU-speed table lists its own per engine.\n\n";
  }
  if (std::any_of(info.platforms.begin(), info.platforms.end(),
                  [](const PlatformId& id) { return id.engine == "tiered"; })) {
    md +=
        "`tiered`: as on `aot`, every action is built on AoT when it is deployed (compiling is deploy-time work "
        "in these experiments), so tiered runs on its AoT tier everywhere but in deploy to first result, where "
        "its first results come from its fast tier.\n\n";
  }
  return md;
}

// ---- cold start ---------------------------------------------------------------------

struct ColdLevel {
  Distribution cold_start, latency;
  size_t cold = 0, samples = 0;
};

using ColdLevels = std::map<PlatformId, std::map<int, ColdLevel>>;

ColdLevels ColdByLevel(const Results& r) {
  std::map<PlatformId, std::map<int, std::vector<double>>> starts, latencies;
  std::map<PlatformId, std::map<int, std::pair<size_t, size_t>>> counts;
  for (const auto& s : r.cold) {
    auto& c = counts[s.platform][s.concurrency];
    if (!s.inv.ok) continue;  // failures are in the notes, neither cold nor warm
    c.second++;
    if (s.inv.cold) {
      c.first++;
      starts[s.platform][s.concurrency].push_back(s.inv.cold_start_ms());
    }
    latencies[s.platform][s.concurrency].push_back(s.inv.latency_ms);
  }
  ColdLevels out;
  for (const auto& [kind, levels] : counts) {
    for (const auto& [level, c] : levels) {
      ColdLevel& l = out[kind][level];
      l.cold = c.first;
      l.samples = c.second;
      l.cold_start = Describe(starts[kind][level]);
      l.latency = Describe(latencies[kind][level]);
    }
  }
  return out;
}

// ---- skewed ----------------------------------------------------------------------------

struct SkewedSummary {
  Distribution latency;
  size_t requests = 0, cold = 0, failed = 0;
  std::vector<double> samples;
};

std::map<PlatformId, SkewedSummary> SkewedByPlatform(const Results& r) {
  std::map<PlatformId, SkewedSummary> out;
  for (const auto& s : r.skewed) {
    SkewedSummary& sum = out[s.platform];
    sum.requests++;
    if (!s.inv.ok) {
      sum.failed++;
      continue;
    }
    sum.cold += s.inv.cold;
    sum.samples.push_back(s.inv.latency_ms);
  }
  for (auto& [kind, sum] : out) sum.latency = Describe(sum.samples);
  return out;
}

// ---- deploy ----------------------------------------------------------------------------

struct DeployCell {
  Distribution total, init, run;
  size_t samples = 0, ok = 0;
  uint64_t module_bytes = 0;  // the largest of the samples'
  std::set<std::string> served_by;
};

// Per platform and size class (target bytes), in the order of the run.
std::map<PlatformId, std::map<size_t, DeployCell>> DeployBySize(const Results& r) {
  std::map<PlatformId, std::map<size_t, std::vector<const DeploySample*>>> samples;
  for (const auto& s : r.deploy) samples[s.platform][s.target_bytes].push_back(&s);
  std::map<PlatformId, std::map<size_t, DeployCell>> out;
  for (const auto& [id, sizes] : samples) {
    for (const auto& [bytes, list] : sizes) {
      DeployCell& c = out[id][bytes];
      std::vector<double> total, init, run;
      for (const DeploySample* s : list) {
        c.samples++;
        c.module_bytes = std::max<uint64_t>(c.module_bytes, s->module_bytes);
        if (!s->ok) continue;
        c.ok++;
        total.push_back(s->total_ms);
        init.push_back(s->init_ms);
        run.push_back(s->run_ms);
        if (!s->served_by.empty()) c.served_by.insert(s->served_by);
      }
      c.total = Describe(total);
      c.init = Describe(init);
      c.run = Describe(run);
    }
  }
  return out;
}

std::vector<size_t> DeploySizes(const Results& r) {
  std::set<size_t> sizes;
  for (const auto& s : r.deploy) sizes.insert(s.target_bytes);
  return {sizes.begin(), sizes.end()};
}

// Docker's create-to-first-result of `hash` in this run: the median
// client-seen latency of its cold invocations at i = 1.
std::optional<ColdLevel> DockerColdReference(const ColdLevels& cold) {
  auto d = cold.find(PlatformId(PlatformKind::kDocker));
  if (d == cold.end()) return std::nullopt;
  auto one = d->second.find(1);
  if (one == d->second.end() || one->second.cold_start.count == 0) return std::nullopt;
  return one->second;
}

std::string DeployMarkdown(const RunInfo& info, const Results& results, const ColdLevels& cold) {
  const auto by = DeployBySize(results);
  const std::vector<size_t> sizes = DeploySizes(results);
  std::string md =
      "## Deploy to first result (generated modules on `wow executor`)\n\n"
      "Time from sending /init with the module until the first /run's result arrived (`{\"sum\": S}` for "
      "`{\"n\": 5}`, checked), on a `wow executor` started on an empty data directory for each sample, each "
      "sample a module of its own: nothing was cached. Median (min-max) in ms, n samples. The modules are "
      "generated: many distinct functions of 64-bit integer work";
  std::string actual;
  for (size_t bytes : sizes) {
    uint64_t largest = 0;
    for (const auto& [id, cells] : by)
      if (auto it = cells.find(bytes); it != cells.end()) largest = std::max(largest, it->second.module_bytes);
    actual += fmt::format("{}{} KiB", actual.empty() ? "" : ", ", fmt::format("{:.1f}", largest / 1024.0));
  }
  md += " (actual sizes " + actual + ").\n\n";
  std::vector<std::string> header = {"platform"};
  for (size_t bytes : sizes) header.push_back(SizeLabel(bytes));
  header.push_back("first result from");
  std::vector<std::vector<std::string>> rows;
  for (const PlatformId& id : info.platforms) {
    auto it = by.find(id);
    if (it == by.end()) continue;
    std::vector<std::string> row = {PlatformName(id)};
    std::set<std::string> served;
    for (size_t bytes : sizes) {
      auto c = it->second.find(bytes);
      if (c == it->second.end()) {
        row.push_back("-");
        continue;
      }
      const DeployCell& d = c->second;
      served.insert(d.served_by.begin(), d.served_by.end());
      std::string cell = d.ok == 0 ? "-"
                         : d.ok == 1
                             ? Ms(d.total.p50) + ", n=1"
                             : fmt::format("{} ({}-{}), n={}", Ms(d.total.p50), Ms(d.total.min), Ms(d.total.max), d.ok);
      if (d.ok < d.samples) cell += fmt::format(" ({} of {} failed)", d.samples - d.ok, d.samples);
      row.push_back(cell);
    }
    std::string from;
    for (const auto& s : served) from += (from.empty() ? "" : ", ") + s;
    row.push_back(from.empty() ? "-" : from);
    rows.push_back(std::move(row));
  }
  md += MarkdownTable(header, rows) + "\n";
  if (auto docker = DockerColdReference(cold)) {
    md += fmt::format(
        "For context, Docker in this run: from creating a container to the first result of `hash` (its native "
        "build, the image built beforehand) took {} ms (median client-seen latency of a cold invocation at i = 1; "
        "OpenWhisk's cold start of it: {} ms).\n\n",
        Ms(docker->latency.p50), Ms(docker->cold_start.p50));
  } else {
    md += "No Docker cold start in this run to compare with (run the `cold` experiment with Docker for it).\n\n";
  }
  md += "![deploy to first result](deploy.png)\n\n";
  return md;
}

// ---- machine load ------------------------------------------------------------------------

std::string LoadPlatformName(const ExperimentLoad& e) {
  return e.platform ? PlatformName(*e.platform) : "(outside any platform)";
}

std::string Cores(double cores) { return fmt::format("{:.2f}", cores); }

// The warning at the top of summary.md: empty when every step was measured and quiet.
std::string LoadWarning(const RunInfo& info, const Results& results) {
  size_t loud = 0, unmeasured = 0;
  std::string first_error;
  for (const auto& e : results.load) {
    if (!e.load.measured()) {
      if (unmeasured++ == 0) first_error = e.load.error;
    } else if (!IsQuiet(e.load, info.quiet_others_cores)) {
      ++loud;
    }
  }
  std::string md;
  if (loud > 0) {
    md += fmt::format(
        "> **Warning: the machine was not quiet** during {} of {} experiment steps (\"no\" in the last column of "
        "\"Machine load\" below): other processes took more than {} cores ({:.0f}% of one core) on average while "
        "the step ran, or in the second before it. The figures of those steps are lower and noisier than on a "
        "quiet machine, for every platform alike; do not read them as a regression. Run again on a quiet "
        "machine, or with `--wait-quiet SECONDS`.\n\n",
        loud, results.load.size(), Cores(info.quiet_others_cores), info.quiet_others_cores * 100);
  }
  if (unmeasured > 0) {
    md += fmt::format("> Note: the machine's load could not be measured for {} of {} experiment steps ({}).\n\n",
                      unmeasured, results.load.size(), first_error);
  }
  return md;
}

std::string LoadMarkdown(const RunInfo& info, const Results& results) {
  if (results.load.empty()) return {};
  int cores = 0;
  for (const auto& e : results.load) cores = std::max(cores, e.load.cores);
  std::string md = fmt::format(
      "## Machine load\n\n"
      "Per experiment step: the 1-minute load average when it began (it still counts the previous step's own "
      "load, so it is not judged), the CPU other processes took in the second before the step and while it ran "
      "(mean over the step, and the busiest 1 s sample), in cores of {} (CPU seconds per second: busy time in "
      "/proc/stat minus the CPU of the harness's process tree, the platform it started and the private "
      "dockerd's shims and containers), and the experiment's own CPU for scale. A step is quiet when others "
      "took at most {} cores before and on average during it.\n\n",
      cores, Cores(info.quiet_others_cores));
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : results.load) {
    const StepLoad& l = e.load;
    if (!l.measured()) {
      rows.push_back({e.experiment, LoadPlatformName(e), "-", "-", "-", "-", "-", "not measured: " + l.error});
      continue;
    }
    rows.push_back({e.experiment, LoadPlatformName(e), fmt::format("{:.2f}", l.load1_before), Cores(l.others_before),
                    Cores(l.others_mean) + " / " + Cores(l.others_max), Cores(l.ours_mean),
                    l.waited_seconds > 0 ? fmt::format("{:.0f} s", l.waited_seconds) : "-",
                    IsQuiet(l, info.quiet_others_cores) ? "yes" : "**no**"});
  }
  md += MarkdownTable({"experiment", "platform", "load avg before", "others before", "others during (mean / max)",
                       "ours (mean)", "waited", "quiet"},
                      rows) +
        "\n";
  return md;
}

json::object InvocationJson(const Invocation& inv) {
  json::object o{{"ok", inv.ok},           {"cold", inv.cold},       {"latency_ms", inv.latency_ms},
                 {"wait_ms", inv.wait_ms}, {"init_ms", inv.init_ms}, {"start_s", inv.start_s},
                 {"end_s", inv.end_s}};
  if (!inv.ok) o["error"] = inv.error;
  return o;
}

json::object DistributionJson(const Distribution& d) {
  return {{"count", d.count}, {"min", d.min}, {"p50", d.p50},  {"p90", d.p90},
          {"p99", d.p99},     {"max", d.max}, {"mean", d.mean}};
}

json::object FootprintJson(const Footprint& f) {
  json::object parts;
  for (const auto& [name, bytes] : f.parts) parts[name] = bytes;
  return {{"total", f.total}, {"parts", std::move(parts)}};
}

CsvRow InvocationCells(const Invocation& inv) {
  return {inv.ok ? 1 : 0, inv.cold ? 1 : 0, inv.latency_ms, inv.wait_ms,
          inv.init_ms,    inv.start_s,      inv.end_s,      inv.ok ? std::string() : inv.error};
}
const std::vector<std::string> kInvocationHeader = {"ok",      "cold",    "latency_ms", "wait_ms",
                                                    "init_ms", "start_s", "end_s",      "error"};

std::vector<std::string> WithInvocationHeader(std::vector<std::string> head) {
  head.insert(head.end(), kInvocationHeader.begin(), kInvocationHeader.end());
  return head;
}

void Append(CsvRow& row, CsvRow more) {
  for (auto& c : more) row.push_back(std::move(c));
}

// Collects what went wrong while writing, and carries on.
struct Writer {
  fs::path out;
  std::vector<std::string>* written;
  std::vector<std::string> problems;

  void Csv(const std::string& name, const std::vector<std::string>& header, const std::vector<CsvRow>& rows) {
    Status s = WriteCsv(out / name, header, rows);
    if (s.ok()) {
      written->push_back(name);
    } else {
      problems.push_back(name + ": " + s.ToString());
    }
  }
  void Plot(PlotSpec spec) {
    std::string name = spec.output.filename().string();
    spec.output = out / spec.output;
    for (auto& s : spec.series) s.csv = out / s.csv;
    Status s = RenderPlot(spec);
    if (s.ok()) {
      written->push_back(name);
      written->push_back(fs::path(name).replace_extension(".gp").string());
    } else {
      problems.push_back(name + ": " + s.ToString());
    }
  }
};

}  // namespace

std::string SummaryMarkdown(const RunInfo& info, const Results& results) {
  std::string md = fmt::format("# wow vs Docker: the paper's evaluation ({} profile)\n\n", info.profile);
  md += "Measured " + info.machine.date_utc + fmt::format(" in {:.0f} s with `{}`.\n\n", info.seconds, info.command);
  md += LoadWarning(info, results);
  md += info.machine.ToMarkdown() + "\n";
  if (!info.versions.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [what, version] : info.versions) rows.push_back({what, version});
    md += MarkdownTable({"component", "version"}, rows) + "\n";
  }
  const std::vector<PlatformId>& platforms = info.platforms;
  std::vector<std::string> names;
  for (const PlatformId& id : platforms) names.push_back(PlatformName(id));
  const bool docker = Has(info, PlatformKind::kDocker);
  const PlatformId kDockerId = PlatformKind::kDocker;
  const bool split = platforms.size() > kInlineRatioPlatforms;
  md += WorkloadNote(info, results);

  // Cold start.
  auto cold = ColdByLevel(results);
  if (!cold.empty()) {
    md +=
        "## Cold start under concurrency (`hash`)\n\n"
        "Median / p90 of OpenWhisk's cold start (waitTime + initTime: container or module ready and /init done), "
        "in ms, for i concurrent cold starts of i distinct actions; then the client-seen median latency of the "
        "same invocations (cold start + the ~100 ms run).\n\n";
    RatioTable starts, latencies;
    starts.key_header = latencies.key_header = {"i"};
    starts.value_header = latencies.value_header = names;
    if (docker) {
      for (const PlatformId& k : platforms)
        if (k != kDockerId) starts.ratio_header.push_back(PlatformName(k) + " vs Docker");
    }
    latencies.ratio_header = starts.ratio_header;
    std::set<int> levels;
    for (const auto& [k, l] : cold)
      for (const auto& [level, _] : l) levels.insert(level);
    for (int level : levels) {
      RatioTable::Row row{{std::to_string(level)}, {}, {}}, lrow{{std::to_string(level)}, {}, {}};
      for (const PlatformId& k : platforms) {
        auto it = cold[k].find(level);
        if (it == cold[k].end() || it->second.cold_start.count == 0) {
          row.values.push_back("-");
          lrow.values.push_back("-");
          continue;
        }
        const ColdLevel& l = it->second;
        std::string cell = Ms(l.cold_start.p50) + " / " + Ms(l.cold_start.p90);
        if (l.cold < l.samples) cell += fmt::format(" ({} of {} cold)", l.cold, l.samples);
        row.values.push_back(cell);
        lrow.values.push_back(Ms(l.latency.p50));
      }
      if (docker) {
        for (const PlatformId& k : platforms) {
          if (k == kDockerId) continue;
          auto a = cold[k].find(level);
          auto d = cold[kDockerId].find(level);
          bool both = a != cold[k].end() && d != cold[kDockerId].end() && a->second.cold_start.count &&
                      d->second.cold_start.count;
          row.ratios.push_back(both ? Reduction(a->second.cold_start.p50, d->second.cold_start.p50) : "n/a");
          lrow.ratios.push_back(both ? Reduction(a->second.latency.p50, d->second.latency.p50) : "n/a");
        }
      }
      starts.rows.push_back(std::move(row));
      latencies.rows.push_back(std::move(lrow));
    }
    md += starts.Render(split, "Cold start vs Docker (medians; negative: below Docker's):") + "\n";
    md += "Client-seen latency of the cold invocations (median, ms):\n\n" +
          latencies.Render(split, "Client-seen latency of the cold invocations vs Docker (medians):") +
          "\n![cold start](cold_start.png)\n\n";
  }

  // Throughput.
  if (!results.throughput.empty()) {
    md +=
        "## Throughput under rising concurrency (closed loop)\n\n"
        "Completed activations per second at each number of clients (one more client every step); `hash` is "
        "CPU-bound (~100 ms), `block` waits 300 ms in `http.get`, `mixed` is 50/50.\n\n";
    RatioTable table;
    table.key_header = {"workload", "clients"};
    table.value_header = names;
    std::vector<PlatformId> serves;
    if (docker) {
      for (const PlatformId& k : platforms) {
        if (k.kind != PlatformKind::kWowServe) continue;
        serves.push_back(k);
        table.ratio_header.push_back(PlatformName(k) + " / Docker");
      }
    }
    for (Workload w : kWorkloads) {
      std::map<PlatformId, const ThroughputRun*> runs;
      for (const auto& run : results.throughput)
        if (run.workload == w) runs[run.platform] = &run;
      if (runs.empty()) continue;
      size_t levels = 0;
      for (const auto& [k, run] : runs) levels = std::max(levels, run->levels.size());
      for (size_t i = 0; i < levels; ++i) {
        RatioTable::Row row;
        std::map<PlatformId, double> rps;
        int clients = 0;
        for (const PlatformId& k : platforms) {
          auto it = runs.find(k);
          if (it == runs.end() || i >= it->second->levels.size()) {
            row.values.push_back("-");
            continue;
          }
          clients = it->second->levels[i].clients;
          rps[k] = it->second->levels[i].rps;
          row.values.push_back(fmt::format("{:.1f}", rps[k]));
        }
        row.key = {WorkloadSlug(w), std::to_string(clients)};
        for (const PlatformId& k : serves) {
          row.ratios.push_back(rps.count(kDockerId) && rps.count(k) ? RatioText(rps[k], rps[kDockerId], 2) : "n/a");
        }
        table.rows.push_back(std::move(row));
      }
    }
    md += table.Render(split, "Throughput of wow serve / Docker's at the same number of clients:") + "\n";
    for (Workload w : kWorkloads)
      md += "![throughput " + WorkloadSlug(w) + "](throughput_" + WorkloadSlug(w) + ".png)\n";
    md += "\n";
  }

  // Skewed.
  auto skewed = SkewedByPlatform(results);
  if (!skewed.empty()) {
    md += "## Skewed workload (90% of requests to 2 hot actions, 10% to 60 rare ones; half CPU-, half I/O-bound)\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const PlatformId& k : platforms) {
      auto it = skewed.find(k);
      if (it == skewed.end()) continue;
      const SkewedSummary& s = it->second;
      rows.push_back({PlatformName(k), std::to_string(s.requests),
                      fmt::format("{:.1f}%", s.requests ? 100.0 * s.cold / s.requests : 0.0), std::to_string(s.failed),
                      Ms(s.latency.p50), Ms(s.latency.p90), Ms(s.latency.p99), Ms(s.latency.max)});
    }
    md += MarkdownTable({"platform", "requests", "cold", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms"}, rows) +
          "\n![skewed workload ECDF](skewed_ecdf.png)\n\n";
  }

  // Memory.
  if (!results.memory.empty()) {
    md +=
        "## Memory per warm container\n\n"
        "Growth of the platform's memory per warm container (MiB), for `hash` built at three optimisation "
        "levels; each of the k containers has its own copy of the code (wow: distinct modules). Docker: the "
        "containers' cgroup usage without inactive page cache (what `docker stats` shows) plus their "
        "containerd shims' PSS; process: the proxies' PSS; wow: the PSS growth of the one wow process.\n\n";
    RatioTable table;
    table.key_header = {"module", "Wasm KiB", "native KiB"};
    table.value_header = names;
    std::vector<PlatformId> wows;
    bool no_growth = false;
    if (docker) {
      for (const PlatformId& k : platforms) {
        if (!IsWow(k.kind)) continue;
        wows.push_back(k);
        table.ratio_header.push_back("Docker / " + PlatformName(k));
      }
    }
    for (const char* module : kMemoryModules) {
      std::map<PlatformId, const MemoryRow*> by;
      for (const auto& m : results.memory)
        if (m.module == module) by[m.platform] = &m;
      if (by.empty()) continue;
      const MemoryRow* any = by.begin()->second;
      RatioTable::Row row;
      row.key = {module, fmt::format("{:.0f}", any->wasm_bytes / 1024.0),
                 fmt::format("{:.0f}", any->native_bytes / 1024.0)};
      for (const PlatformId& k : platforms)
        row.values.push_back(by.count(k) ? fmt::format("{:.2f}", by[k]->per_container_bytes / kMiB) : "-");
      for (const PlatformId& k : wows) {
        bool grew = by.count(k) && by[k]->per_container_bytes > 0;
        no_growth |= by.count(k) && !grew;
        row.ratios.push_back(grew && by.count(kDockerId)
                                 ? RatioText(by[kDockerId]->per_container_bytes, by[k]->per_container_bytes)
                                 : "n/a");
      }
      table.rows.push_back(std::move(row));
    }
    md += table.Render(split, "Docker's memory per warm container / wow's:") + "\n";
    if (no_growth) {
      md +=
          "Where wow's memory did not grow (0 or less: memory freed during the measurement, e.g. by the JIT's "
          "garbage collector), there is no ratio (n/a).\n\n";
    }
    md += "![memory per warm container](memory.png)\n\n";
  }

  // CPU.
  if (!results.cpu.empty()) {
    md +=
        "## CPU speed outside any platform\n\n"
        "Median wall time of one run: the native build (spawned) and the Wasm module through each of wow's engines "
        "in the harness's process (a fresh instance per run; compiling is not timed); on `interp` with less work "
        "(both builds: see params) and fewer runs. `tiered` is left out: it runs on `jit` until its AoT artifact "
        "is loaded, then on `aot`.\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : results.cpu) {
      rows.push_back({c.example, c.params, c.engine, Ms(c.native_ms.p50), Ms(c.wasm_ms.p50), Percent(c.wasm_speed)});
    }
    md +=
        MarkdownTable({"action", "params", "engine", "native ms", "Wasm ms", "Wasm speed (% of native)"}, rows) + "\n";
  }

  // Deploy.
  if (!results.deploy.empty()) md += DeployMarkdown(info, results, cold);

  md += LoadMarkdown(info, results);

  if (!results.notes.empty()) {
    md += "## Notes\n\n";
    for (const auto& n : results.notes) md += "- " + n + "\n";
    md += "\n";
  }
  return md;
}

Status WriteOutputs(const fs::path& out, const RunInfo& info, const Results& results,
                    std::vector<std::string>* written) {
  Writer w{out, written, {}};
  std::error_code ec;
  fs::create_directories(out, ec);
  const auto skewed = SkewedByPlatform(results);  // for the ECDFs and the JSON
  const std::vector<PlatformId>& platforms = info.platforms;
  const auto cold_levels = ColdByLevel(results);

  // Cold start: raw samples, per-platform summaries, figure.
  {
    std::vector<CsvRow> rows;
    for (const auto& s : results.cold) {
      CsvRow row = {PlatformName(s.platform), s.concurrency, s.round, s.action, s.inv.cold_start_ms()};
      Append(row, InvocationCells(s.inv));
      rows.push_back(std::move(row));
    }
    w.Csv("cold_start.csv", WithInvocationHeader({"platform", "concurrency", "round", "action", "cold_start_ms"}),
          rows);
    const auto& by = cold_levels;
    // Bands of more platforms than Docker, process and one wow each hide the lines.
    const bool bands = platforms.size() <= kInlineRatioPlatforms;
    PlotSpec plot{.xlabel = "concurrent cold starts",
                  .ylabel = bands ? "cold start (ms, median; band to p90)" : "cold start (ms, median)",
                  .output = "cold_start.png",
                  .kind = PlotKind::kLinesPoints,
                  .logscale_y = true};
    PlotSpec latency{.xlabel = "concurrent cold starts",
                     .ylabel = "client-seen latency of a cold invocation (ms, median)",
                     .output = "cold_start_latency.png",
                     .kind = PlotKind::kLinesPoints,
                     .logscale_y = true};
    for (const PlatformId& k : platforms) {
      if (!by.count(k)) continue;
      std::vector<CsvRow> sum;
      for (const auto& [level, l] : by.at(k)) {
        if (l.cold_start.count == 0) continue;
        sum.push_back({level, l.cold_start.p50, l.cold_start.p90, l.latency.p50, l.latency.p90, l.cold, l.samples});
      }
      std::string file = "cold_start_" + PlatformSlug(k) + ".csv";
      w.Csv(file, {"concurrency", "p50_ms", "p90_ms", "latency_p50_ms", "latency_p90_ms", "cold", "samples"}, sum);
      if (sum.empty()) continue;
      plot.series.push_back({.label = PlatformName(k), .csv = file, .x = 1, .y = 2});
      if (bands) {
        plot.series.back().y_low = 2;
        plot.series.back().y_high = 3;
        plot.series.back().error_style = ErrorStyle::kBand;
      }
      latency.series.push_back({.label = PlatformName(k), .csv = file, .x = 1, .y = 4});
    }
    if (!plot.series.empty()) {
      w.Plot(plot);
      w.Plot(latency);
    }
  }

  // Throughput.
  {
    std::vector<CsvRow> rows;
    for (const auto& run : results.throughput) {
      for (const auto& inv : run.invocations) {
        CsvRow row = {PlatformName(run.platform), WorkloadSlug(run.workload)};
        Append(row, InvocationCells(inv));
        rows.push_back(std::move(row));
      }
    }
    if (!results.throughput.empty()) w.Csv("throughput.csv", WithInvocationHeader({"platform", "workload"}), rows);
    for (Workload wl : kWorkloads) {
      PlotSpec plot{.xlabel = "closed-loop clients",
                    .ylabel = "activations per second (" + WorkloadSlug(wl) + ")",
                    .output = "throughput_" + WorkloadSlug(wl) + ".png",
                    .kind = PlotKind::kLinesPoints};
      for (const auto& run : results.throughput) {
        if (run.workload != wl || run.levels.empty()) continue;
        std::vector<CsvRow> sum;
        for (const auto& l : run.levels) sum.push_back({l.clients, l.rps, l.completed, l.window_seconds});
        std::string file = "throughput_" + WorkloadSlug(wl) + "_" + PlatformSlug(run.platform) + ".csv";
        w.Csv(file, {"clients", "rps", "completed", "window_s"}, sum);
        plot.series.push_back({.label = PlatformName(run.platform), .csv = file, .x = 1, .y = 2});
      }
      if (!plot.series.empty()) w.Plot(plot);
    }
  }

  // Skewed.
  {
    std::vector<CsvRow> rows;
    for (const auto& s : results.skewed) {
      CsvRow row = {PlatformName(s.platform), s.action, s.hot ? 1 : 0, s.io_bound ? 1 : 0};
      Append(row, InvocationCells(s.inv));
      rows.push_back(std::move(row));
    }
    if (!results.skewed.empty()) w.Csv("skewed.csv", WithInvocationHeader({"platform", "action", "hot", "io"}), rows);
    PlotSpec plot{.xlabel = "latency (ms)",
                  .ylabel = "fraction of requests",
                  .output = "skewed_ecdf.png",
                  .kind = PlotKind::kSteps,
                  .logscale_x = true,
                  .yrange = PlotRange{0, 1}};
    for (const auto& [k, s] : skewed) {
      std::vector<CsvRow> ecdf;
      for (const auto& [x, f] : Ecdf(s.samples)) ecdf.push_back({x, f});
      std::string file = "skewed_ecdf_" + PlatformSlug(k) + ".csv";
      w.Csv(file, {"latency_ms", "fraction"}, ecdf);
      if (!ecdf.empty()) plot.series.push_back({.label = PlatformName(k), .csv = file, .x = 1, .y = 2});
    }
    if (!plot.series.empty()) w.Plot(plot);
  }

  // Memory.
  {
    std::vector<CsvRow> rows;
    for (const auto& m : results.memory) {
      rows.push_back({PlatformName(m.platform), m.module, m.wasm_bytes, m.native_bytes, m.containers, m.before.total,
                      m.after.total, m.per_container_bytes / kMiB});
    }
    if (!results.memory.empty()) {
      w.Csv("memory.csv",
            {"platform", "module", "wasm_bytes", "native_bytes", "containers", "before_bytes", "after_bytes",
             "per_container_mib"},
            rows);
    }
    PlotSpec plot{
        .xlabel = "module", .ylabel = "MiB per warm container", .output = "memory.png", .kind = PlotKind::kBars};
    for (const PlatformId& k : platforms) {
      // Every module on every platform's rows, empty where not measured: the
      // figure's clusters line up by row.
      std::vector<CsvRow> bars;
      bool any = false;
      for (const char* module : kMemoryModules) {
        double mib = std::numeric_limits<double>::quiet_NaN();
        for (const auto& m : results.memory) {
          if (m.platform == k && m.module == module) {
            mib = m.per_container_bytes / kMiB;
            any = true;
          }
        }
        bars.push_back({module, mib});
      }
      if (!any) continue;
      std::string file = "memory_" + PlatformSlug(k) + ".csv";
      w.Csv(file, {"module", "mib"}, bars);
      plot.series.push_back({.label = PlatformName(k), .csv = file, .x = 1, .y = 2});
    }
    if (!plot.series.empty()) w.Plot(plot);
  }

  // CPU.
  if (!results.cpu.empty()) {
    std::vector<CsvRow> rows;
    for (const auto& c : results.cpu) {
      rows.push_back({c.example, c.params, c.native_ms.p50, c.wasm_ms.p50, c.native_ms.count, c.wasm_speed, c.engine});
    }
    w.Csv("cpu_speed.csv", {"action", "params", "native_p50_ms", "wasm_p50_ms", "runs", "wasm_speed", "engine"}, rows);
  }

  // Deploy: raw samples, per-platform summaries, figure (Docker's create to
  // first result of hash as a flat reference line).
  if (!results.deploy.empty()) {
    std::vector<CsvRow> rows;
    for (const auto& d : results.deploy) {
      rows.push_back({PlatformName(d.platform), d.platform.engine, SizeLabel(d.target_bytes), d.target_bytes,
                      d.module_bytes, d.sample, d.seed, d.ok ? 1 : 0, d.total_ms, d.init_ms, d.run_ms, d.served_by,
                      d.ok ? std::string() : d.error});
    }
    w.Csv("deploy.csv",
          {"platform", "engine", "size", "target_bytes", "module_bytes", "sample", "seed", "ok", "total_ms", "init_ms",
           "run_ms", "served_by", "error"},
          rows);
    const auto by = DeployBySize(results);
    PlotSpec plot{.xlabel = "module size class (KB, log scale; actual sizes in summary.md)",
                  .ylabel = "deploy to first result (ms, median; bars min-max)",
                  .output = "deploy.png",
                  .kind = PlotKind::kLinesPoints,
                  .logscale_x = true,
                  .logscale_y = true};
    for (const PlatformId& k : platforms) {
      auto it = by.find(k);
      if (it == by.end()) continue;
      std::vector<CsvRow> sum;
      for (const auto& [bytes, c] : it->second) {
        if (c.ok == 0) continue;
        sum.push_back({SizeLabel(bytes), bytes / 1000.0, c.module_bytes / 1024.0, c.total.p50, c.total.min, c.total.max,
                       c.init.p50, c.run.p50, c.ok});
      }
      std::string file = "deploy_" + PlatformSlug(k) + ".csv";
      w.Csv(file,
            {"size", "size_kb", "module_kib", "p50_ms", "min_ms", "max_ms", "init_p50_ms", "run_p50_ms", "samples"},
            sum);
      if (sum.empty()) continue;
      plot.series.push_back({.label = PlatformName(k),
                             .csv = file,
                             .x = "size_kb",
                             .y = "p50_ms",
                             .y_low = "min_ms",
                             .y_high = "max_ms"});
    }
    if (auto docker = DockerColdReference(cold_levels); docker && !plot.series.empty()) {
      std::vector<CsvRow> flat;
      for (size_t bytes : DeploySizes(results)) flat.push_back({SizeLabel(bytes), bytes / 1000.0, docker->latency.p50});
      w.Csv("deploy_docker_reference.csv", {"size", "size_kb", "latency_p50_ms"}, flat);
      plot.series.push_back(
          {.label = "Docker", .csv = "deploy_docker_reference.csv", .x = "size_kb", .y = "latency_p50_ms"});
    }
    if (!plot.series.empty()) w.Plot(plot);
  }

  // Machine load around each step.
  if (!results.load.empty()) {
    std::vector<CsvRow> rows;
    for (const auto& e : results.load) {
      const StepLoad& l = e.load;
      rows.push_back({e.experiment, e.platform ? PlatformName(*e.platform) : std::string(),
                      IsQuiet(l, info.quiet_others_cores) ? 1 : 0, l.cores, l.load1_before, l.others_before,
                      l.others_mean, l.others_max, l.ours_mean, l.samples, l.waited_seconds, l.error});
    }
    w.Csv("machine_load.csv",
          {"experiment", "platform", "quiet", "cores", "load1_before", "others_before_cores", "others_mean_cores",
           "others_max_cores", "ours_mean_cores", "samples", "waited_s", "error"},
          rows);
  }

  // Everything as JSON.
  {
    json::object doc;
    doc["profile"] = info.profile;
    doc["command"] = info.command;
    doc["seconds"] = info.seconds;
    doc["machine"] = info.machine.ToJson();
    json::object versions;
    for (const auto& [what, v] : info.versions) versions[what] = v;
    doc["versions"] = std::move(versions);
    json::array names;
    for (const PlatformId& k : platforms) names.push_back(json::value(PlatformName(k)));
    doc["platforms"] = std::move(names);
    json::object hash_params;
    for (const auto& [id, params] : info.hash_params) hash_params[PlatformName(id)] = params;
    doc["hash_params"] = std::move(hash_params);
    json::array cold;
    for (const auto& s : results.cold) {
      json::object o = InvocationJson(s.inv);
      o["platform"] = PlatformName(s.platform);
      o["concurrency"] = s.concurrency;
      o["round"] = s.round;
      o["action"] = s.action;
      cold.push_back(std::move(o));
    }
    doc["cold_start"] = std::move(cold);
    json::array tp;
    for (const auto& run : results.throughput) {
      json::array levels;
      for (const auto& l : run.levels) {
        levels.push_back(json::object{
            {"clients", l.clients}, {"rps", l.rps}, {"completed", l.completed}, {"window_s", l.window_seconds}});
      }
      size_t failed = std::count_if(run.invocations.begin(), run.invocations.end(), [](auto& i) { return !i.ok; });
      tp.push_back(json::object{{"platform", PlatformName(run.platform)},
                                {"workload", WorkloadSlug(run.workload)},
                                {"invocations", run.invocations.size()},
                                {"failed", failed},
                                {"levels", std::move(levels)}});
    }
    doc["throughput"] = std::move(tp);
    json::array sk;
    for (const auto& [k, s] : skewed) {
      sk.push_back(json::object{{"platform", PlatformName(k)},
                                {"requests", s.requests},
                                {"cold", s.cold},
                                {"failed", s.failed},
                                {"latency_ms", DistributionJson(s.latency)}});
    }
    doc["skewed"] = std::move(sk);
    json::array mem;
    for (const auto& m : results.memory) {
      mem.push_back(json::object{{"platform", PlatformName(m.platform)},
                                 {"module", m.module},
                                 {"wasm_bytes", m.wasm_bytes},
                                 {"native_bytes", m.native_bytes},
                                 {"containers", m.containers},
                                 {"before", FootprintJson(m.before)},
                                 {"after", FootprintJson(m.after)},
                                 {"per_container_bytes", m.per_container_bytes}});
    }
    doc["memory"] = std::move(mem);
    json::array cpu;
    for (const auto& c : results.cpu) {
      cpu.push_back(json::object{{"engine", c.engine},
                                 {"action", c.example},
                                 {"params", c.params},
                                 {"native_ms", DistributionJson(c.native_ms)},
                                 {"wasm_ms", DistributionJson(c.wasm_ms)},
                                 {"wasm_speed", c.wasm_speed}});
    }
    doc["cpu_speed"] = std::move(cpu);
    json::array deploy;
    for (const auto& d : results.deploy) {
      json::object o{{"platform", PlatformName(d.platform)},
                     {"engine", d.platform.engine},
                     {"size", SizeLabel(d.target_bytes)},
                     {"target_bytes", d.target_bytes},
                     {"module_bytes", d.module_bytes},
                     {"sample", d.sample},
                     {"seed", d.seed},
                     {"ok", d.ok},
                     {"total_ms", d.total_ms},
                     {"init_ms", d.init_ms},
                     {"run_ms", d.run_ms},
                     {"served_by", d.served_by}};
      if (!d.ok) o["error"] = d.error;
      deploy.push_back(std::move(o));
    }
    doc["deploy"] = std::move(deploy);
    json::array load;
    for (const auto& e : results.load) {
      json::object o = StepLoadJson(e.load, info.quiet_others_cores).as_object();
      o["experiment"] = e.experiment;
      if (e.platform) o["platform"] = PlatformName(*e.platform);
      load.push_back(std::move(o));
    }
    doc["machine_load"] = std::move(load);
    json::array notes;
    for (const auto& n : results.notes) notes.push_back(json::value(n));
    doc["notes"] = std::move(notes);
    Status s = WriteJson(out / "results.json", doc);
    if (s.ok()) {
      written->push_back("results.json");
    } else {
      w.problems.push_back("results.json: " + s.ToString());
    }
  }

  std::string md = SummaryMarkdown(info, results);
  if (!w.problems.empty()) {
    md += "## Output problems\n\n";
    for (const auto& p : w.problems) md += "- " + p + "\n";
  }
  Status s = WriteFileAtomically(out / "summary.md", md);
  if (s.ok()) written->push_back("summary.md");
  if (!s.ok()) return s;
  if (!w.problems.empty())
    return Status::Internal(fmt::format("{} output problems, first: {}", w.problems.size(), w.problems.front()));
  return Status::Ok();
}

}  // namespace wow::bench::eval
