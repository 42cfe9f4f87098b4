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

std::string RatioText(double a, double b, int decimals = 1) { return FormatRatio(a, b, decimals).value_or("n/a"); }

bool Has(const RunInfo& info, PlatformKind kind) {
  return std::find(info.platforms.begin(), info.platforms.end(), kind) != info.platforms.end();
}

// ---- cold start ---------------------------------------------------------------------

struct ColdLevel {
  Distribution cold_start, latency;
  size_t cold = 0, samples = 0;
};

std::map<PlatformKind, std::map<int, ColdLevel>> ColdByLevel(const Results& r) {
  std::map<PlatformKind, std::map<int, std::vector<double>>> starts, latencies;
  std::map<PlatformKind, std::map<int, std::pair<size_t, size_t>>> counts;
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
  std::map<PlatformKind, std::map<int, ColdLevel>> out;
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

std::map<PlatformKind, SkewedSummary> SkewedByPlatform(const Results& r) {
  std::map<PlatformKind, SkewedSummary> out;
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
  md += info.machine.ToMarkdown() + "\n";
  if (!info.versions.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [what, version] : info.versions) rows.push_back({what, version});
    md += MarkdownTable({"component", "version"}, rows) + "\n";
  }
  std::vector<PlatformKind> platforms = info.platforms;
  std::vector<std::string> names;
  for (PlatformKind k : platforms) names.push_back(PlatformName(k));
  const bool docker = Has(info, PlatformKind::kDocker);

  // Cold start.
  auto cold = ColdByLevel(results);
  if (!cold.empty()) {
    md +=
        "## Cold start under concurrency (`hash`)\n\n"
        "Median / p90 of OpenWhisk's cold start (waitTime + initTime: container or module ready and /init done), "
        "in ms, for i concurrent cold starts of i distinct actions; then the client-seen median latency of the "
        "same invocations (cold start + the ~100 ms run).\n\n";
    std::vector<std::string> header = {"i"};
    for (const auto& n : names) header.push_back(n);
    if (docker) {
      for (PlatformKind k : platforms)
        if (k != PlatformKind::kDocker) header.push_back(PlatformName(k) + " vs Docker");
    }
    std::set<int> levels;
    for (const auto& [k, l] : cold)
      for (const auto& [level, _] : l) levels.insert(level);
    std::vector<std::vector<std::string>> rows, latency_rows;
    for (int level : levels) {
      std::vector<std::string> row = {std::to_string(level)}, lrow = {std::to_string(level)};
      for (PlatformKind k : platforms) {
        auto it = cold[k].find(level);
        if (it == cold[k].end() || it->second.cold_start.count == 0) {
          row.push_back("-");
          lrow.push_back("-");
          continue;
        }
        const ColdLevel& l = it->second;
        std::string cell = Ms(l.cold_start.p50) + " / " + Ms(l.cold_start.p90);
        if (l.cold < l.samples) cell += fmt::format(" ({} of {} cold)", l.cold, l.samples);
        row.push_back(cell);
        lrow.push_back(Ms(l.latency.p50));
      }
      if (docker) {
        for (PlatformKind k : platforms) {
          if (k == PlatformKind::kDocker) continue;
          auto a = cold[k].find(level);
          auto d = cold[PlatformKind::kDocker].find(level);
          bool both = a != cold[k].end() && d != cold[PlatformKind::kDocker].end() && a->second.cold_start.count &&
                      d->second.cold_start.count;
          row.push_back(both ? Reduction(a->second.cold_start.p50, d->second.cold_start.p50) : "n/a");
          lrow.push_back(both ? Reduction(a->second.latency.p50, d->second.latency.p50) : "n/a");
        }
      }
      rows.push_back(std::move(row));
      latency_rows.push_back(std::move(lrow));
    }
    md += MarkdownTable(header, rows) + "\n";
    md += "Client-seen latency of the cold invocations (median, ms):\n\n" + MarkdownTable(header, latency_rows) +
          "\n![cold start](cold_start.png)\n\n";
  }

  // Throughput.
  if (!results.throughput.empty()) {
    md +=
        "## Throughput under rising concurrency (closed loop)\n\n"
        "Completed activations per second at each number of clients (one more client every step); `hash` is "
        "CPU-bound (~100 ms), `block` waits 300 ms in `http.get`, `mixed` is 50/50.\n\n";
    std::vector<std::string> header = {"workload", "clients"};
    for (const auto& n : names) header.push_back(n);
    if (docker && Has(info, PlatformKind::kWowServe)) header.push_back("wow serve / Docker");
    std::vector<std::vector<std::string>> rows;
    for (Workload w : kWorkloads) {
      std::map<PlatformKind, const ThroughputRun*> runs;
      for (const auto& run : results.throughput)
        if (run.workload == w) runs[run.platform] = &run;
      if (runs.empty()) continue;
      size_t levels = 0;
      for (const auto& [k, run] : runs) levels = std::max(levels, run->levels.size());
      for (size_t i = 0; i < levels; ++i) {
        std::vector<std::string> row = {WorkloadSlug(w)};
        std::map<PlatformKind, double> rps;
        int clients = 0;
        for (PlatformKind k : platforms) {
          auto it = runs.find(k);
          if (it == runs.end() || i >= it->second->levels.size()) {
            row.push_back("-");
            continue;
          }
          clients = it->second->levels[i].clients;
          rps[k] = it->second->levels[i].rps;
          row.push_back(fmt::format("{:.1f}", rps[k]));
        }
        row.insert(row.begin() + 1, std::to_string(clients));
        if (docker && Has(info, PlatformKind::kWowServe)) {
          row.push_back(rps.count(PlatformKind::kDocker) && rps.count(PlatformKind::kWowServe)
                            ? RatioText(rps[PlatformKind::kWowServe], rps[PlatformKind::kDocker], 2)
                            : "n/a");
        }
        rows.push_back(std::move(row));
      }
    }
    md += MarkdownTable(header, rows) + "\n";
    for (Workload w : kWorkloads)
      md += "![throughput " + WorkloadSlug(w) + "](throughput_" + WorkloadSlug(w) + ".png)\n";
    md += "\n";
  }

  // Skewed.
  auto skewed = SkewedByPlatform(results);
  if (!skewed.empty()) {
    md += "## Skewed workload (90% of requests to 2 hot actions, 10% to 60 rare ones; half CPU-, half I/O-bound)\n\n";
    std::vector<std::vector<std::string>> rows;
    for (PlatformKind k : platforms) {
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
    std::vector<std::string> header = {"module", "Wasm KiB", "native KiB"};
    for (const auto& n : names) header.push_back(n);
    if (docker) {
      for (PlatformKind k : {PlatformKind::kWowExecutor, PlatformKind::kWowServe})
        if (Has(info, k)) header.push_back("Docker / " + PlatformName(k));
    }
    std::vector<std::vector<std::string>> rows;
    for (const char* module : kMemoryModules) {
      std::map<PlatformKind, const MemoryRow*> by;
      for (const auto& m : results.memory)
        if (m.module == module) by[m.platform] = &m;
      if (by.empty()) continue;
      const MemoryRow* any = by.begin()->second;
      std::vector<std::string> row = {module, fmt::format("{:.0f}", any->wasm_bytes / 1024.0),
                                      fmt::format("{:.0f}", any->native_bytes / 1024.0)};
      for (PlatformKind k : platforms)
        row.push_back(by.count(k) ? fmt::format("{:.2f}", by[k]->per_container_bytes / kMiB) : "-");
      if (docker) {
        for (PlatformKind k : {PlatformKind::kWowExecutor, PlatformKind::kWowServe}) {
          if (!Has(info, k)) continue;
          row.push_back(by.count(k) && by.count(PlatformKind::kDocker)
                            ? RatioText(by[PlatformKind::kDocker]->per_container_bytes, by[k]->per_container_bytes)
                            : "n/a");
        }
      }
      rows.push_back(std::move(row));
    }
    md += MarkdownTable(header, rows) + "\n![memory per warm container](memory.png)\n\n";
  }

  // CPU.
  if (!results.cpu.empty()) {
    md +=
        "## CPU speed outside any platform\n\n"
        "Median wall time of one run: the native build (spawned) and the Wasm module through wow's AoT engine in "
        "process (a fresh instance per run).\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : results.cpu) {
      rows.push_back(
          {c.example, c.params, Ms(c.native_ms.p50), Ms(c.wasm_ms.p50), fmt::format("{:.0f}%", c.wasm_speed * 100)});
    }
    md += MarkdownTable({"action", "params", "native ms", "Wasm ms", "Wasm speed (% of native)"}, rows) + "\n";
  }

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
  std::vector<PlatformKind> platforms = info.platforms;

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
    auto by = ColdByLevel(results);
    PlotSpec plot{.xlabel = "concurrent cold starts",
                  .ylabel = "cold start (ms, median; band to p90)",
                  .output = "cold_start.png",
                  .kind = PlotKind::kLinesPoints,
                  .logscale_y = true};
    PlotSpec latency{.xlabel = "concurrent cold starts",
                     .ylabel = "client-seen latency of a cold invocation (ms, median)",
                     .output = "cold_start_latency.png",
                     .kind = PlotKind::kLinesPoints,
                     .logscale_y = true};
    for (PlatformKind k : platforms) {
      if (!by.count(k)) continue;
      std::vector<CsvRow> sum;
      for (const auto& [level, l] : by[k]) {
        if (l.cold_start.count == 0) continue;
        sum.push_back({level, l.cold_start.p50, l.cold_start.p90, l.latency.p50, l.latency.p90, l.cold, l.samples});
      }
      std::string file = "cold_start_" + PlatformSlug(k) + ".csv";
      w.Csv(file, {"concurrency", "p50_ms", "p90_ms", "latency_p50_ms", "latency_p90_ms", "cold", "samples"}, sum);
      if (sum.empty()) continue;
      plot.series.push_back({.label = PlatformName(k),
                             .csv = file,
                             .x = 1,
                             .y = 2,
                             .y_low = 2,
                             .y_high = 3,
                             .error_style = ErrorStyle::kBand});
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
    for (PlatformKind k : platforms) {
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
      rows.push_back({c.example, c.params, c.native_ms.p50, c.wasm_ms.p50, c.native_ms.count, c.wasm_speed});
    }
    w.Csv("cpu_speed.csv", {"action", "params", "native_p50_ms", "wasm_p50_ms", "runs", "wasm_speed"}, rows);
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
    for (PlatformKind k : platforms) names.push_back(json::value(PlatformName(k)));
    doc["platforms"] = std::move(names);
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
      cpu.push_back(json::object{{"action", c.example},
                                 {"params", c.params},
                                 {"native_ms", DistributionJson(c.native_ms)},
                                 {"wasm_ms", DistributionJson(c.wasm_ms)},
                                 {"wasm_speed", c.wasm_speed}});
    }
    doc["cpu_speed"] = std::move(cpu);
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
