#include "outputs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.h"

// SummaryMarkdown and WriteOutputs on hand-made Results: the numbers in the
// tables are chosen so every cell can be worked out by hand (nearest-rank
// percentiles: p50 of 4 samples is the 2nd smallest, p90 the 4th).

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr double kMiB = 1024.0 * 1024.0;

const std::vector<PlatformId> kAllFour = {PlatformKind::kDocker, PlatformKind::kProcess, PlatformKind::kWowExecutor,
                                          PlatformKind::kWowServe};

// ---- building results ----------------------------------------------------------------

Invocation Ok(double latency_ms, bool cold = false, double wait_ms = 0, double init_ms = 0) {
  Invocation inv;
  inv.ok = true;
  inv.cold = cold;
  inv.latency_ms = latency_ms;
  inv.wait_ms = wait_ms;
  inv.init_ms = init_ms;
  inv.start_s = 1.0;
  inv.end_s = 1.0 + latency_ms / 1000;
  return inv;
}

// A cold invocation whose OpenWhisk cold start (wait + init) is `cold_start_ms`.
Invocation Cold(double cold_start_ms, double latency_ms) {
  return Ok(latency_ms, /*cold=*/true, cold_start_ms * 0.75, cold_start_ms * 0.25);
}

Invocation Failed(std::string error) {
  Invocation inv;
  inv.error = std::move(error);
  inv.latency_ms = 5;
  return inv;
}

RunInfo Info(std::vector<PlatformId> platforms) {
  RunInfo info;
  info.machine = {.date_utc = "2024-05-01T12:00:00Z",
                  .hostname = "bench-host",
                  .kernel = "Linux 6.1.0 x86_64",
                  .os = "Debian GNU/Linux 12 (bookworm)",
                  .cpu_model = "Test CPU",
                  .online_cores = 2,
                  .memory_bytes = 8ull << 30};
  info.profile = "quick";
  info.command = "evaluate --profile quick";
  info.versions = {{"docker", "20.10.24"}, {"wow", "0.1.0"}};
  info.platforms = std::move(platforms);
  info.seconds = 123;
  return info;
}

void AddCold(Results& r, const PlatformId& k, int concurrency, std::vector<Invocation> invs) {
  int i = 0;
  for (auto& inv : invs) {
    r.cold.push_back({.platform = k,
                      .concurrency = concurrency,
                      .round = i / concurrency,
                      .action = "hash-" + std::to_string(i % concurrency),
                      .inv = std::move(inv)});
    ++i;
  }
}

ThroughputRun Throughput(const PlatformId& k, Workload w, std::vector<std::pair<int, double>> clients_rps,
                         int failed = 0) {
  ThroughputRun run;
  run.platform = k;
  run.workload = w;
  for (auto [clients, rps] : clients_rps) {
    run.levels.push_back(
        {.clients = clients, .window_seconds = 2, .completed = static_cast<uint64_t>(rps * 2), .rps = rps});
    for (int i = 0; i < 3; ++i) run.invocations.push_back(Ok(100 + i));
  }
  for (int i = 0; i < failed; ++i) run.invocations.push_back(Failed("HTTP 502: overloaded"));
  return run;
}

void AddSkewed(Results& r, const PlatformId& k, int requests, int cold, int failed) {
  for (int i = 0; i < requests; ++i) {
    SkewedSample s;
    s.platform = k;
    s.hot = i % 2 == 1;
    s.action = s.hot ? "hot-0" : "rare-3";
    s.io_bound = i % 4 == 0;
    s.inv = i < failed ? Failed("timeout") : Ok(10.0 + i, /*cold=*/i - failed < cold, 1, 1);
    r.skewed.push_back(std::move(s));
  }
}

MemoryRow Memory(const PlatformId& k, std::string module, double per_container_mib) {
  MemoryRow m;
  m.platform = k;
  m.module = std::move(module);
  m.wasm_bytes = 40 * 1024;
  m.native_bytes = 800 * 1024;
  m.containers = 4;
  m.before = {.total = 100 << 20, .parts = {{"base", 100 << 20}}};
  m.per_container_bytes = per_container_mib * kMiB;
  m.after = {.total = m.before.total + static_cast<uint64_t>(4 * m.per_container_bytes), .parts = {{"grown", 1}}};
  return m;
}

CpuRow Cpu(std::string example, double native_ms, double wasm_ms, std::string engine = "aot") {
  CpuRow c;
  c.engine = std::move(engine);
  c.example = std::move(example);
  c.params = "{}";
  c.native_ms = {.count = 5, .min = native_ms, .p50 = native_ms, .p90 = native_ms, .max = native_ms};
  c.wasm_ms = {.count = 5, .min = wasm_ms, .p50 = wasm_ms, .p90 = wasm_ms, .max = wasm_ms};
  c.wasm_speed = native_ms / wasm_ms;
  return c;
}

// Deploy samples of one platform and size: one per total, `failed` more that failed.
void AddDeploy(Results& r, const PlatformId& k, size_t bytes, std::vector<double> totals, std::string served_by,
               int failed = 0) {
  for (size_t i = 0; i < totals.size() + failed; ++i) {
    DeploySample d;
    d.platform = k;
    d.target_bytes = bytes;
    d.module_bytes = bytes + 100;
    d.sample = static_cast<int>(i);
    if (i >= totals.size()) {
      d.error = "/init: HTTP 502: the C compiler failed";
      r.deploy.push_back(std::move(d));
      continue;
    }
    d.seed = static_cast<uint32_t>(100 + i);
    d.ok = true;
    d.total_ms = totals[i];
    d.init_ms = totals[i] * 0.75;
    d.run_ms = totals[i] * 0.25;
    d.served_by = served_by;
    r.deploy.push_back(std::move(d));
  }
}

// Every experiment on all four platforms.
Results FullResults() {
  Results r;
  // Cold start, i = 1: two rounds each.
  AddCold(r, PlatformKind::kDocker, 1, {Cold(200, 300), Cold(200, 300)});
  AddCold(r, PlatformKind::kProcess, 1, {Cold(20, 120), Cold(20, 120)});
  AddCold(r, PlatformKind::kWowExecutor, 1, {Cold(1, 101), Cold(1, 101)});
  AddCold(r, PlatformKind::kWowServe, 1, {Cold(2, 102), Cold(2, 102)});
  // i = 2: two rounds of two.
  AddCold(r, PlatformKind::kDocker, 2, {Cold(220, 320), Cold(180, 280), Cold(400, 500), Cold(200, 300)});
  AddCold(r, PlatformKind::kProcess, 2, {Cold(30, 130), Cold(20, 120), Cold(25, 125), Cold(40, 140)});
  AddCold(r, PlatformKind::kWowExecutor, 2, {Cold(1, 101), Cold(2, 102), Cold(1, 101), Cold(2, 102)});
  // wow serve: one of the four found its module loaded already (warm).
  AddCold(r, PlatformKind::kWowServe, 2, {Cold(3, 103), Cold(2, 102), Ok(100.5), Cold(4, 104)});

  r.throughput.push_back(Throughput(PlatformKind::kDocker, Workload::kCpu, {{1, 8}, {2, 9}}));
  r.throughput.push_back(Throughput(PlatformKind::kProcess, Workload::kCpu, {{1, 9}, {2, 17}}));
  r.throughput.push_back(Throughput(PlatformKind::kWowExecutor, Workload::kCpu, {{1, 9.25}, {2, 18.5}}));
  r.throughput.push_back(Throughput(PlatformKind::kWowServe, Workload::kCpu, {{1, 9.5}, {2, 19}}, /*failed=*/1));
  r.throughput.push_back(Throughput(PlatformKind::kDocker, Workload::kIo, {{1, 3.2}}));
  r.throughput.push_back(Throughput(PlatformKind::kWowServe, Workload::kIo, {{1, 3.3}}));

  AddSkewed(r, PlatformKind::kDocker, 10, /*cold=*/3, /*failed=*/1);
  AddSkewed(r, PlatformKind::kProcess, 10, 2, 0);
  AddSkewed(r, PlatformKind::kWowExecutor, 10, 1, 0);
  AddSkewed(r, PlatformKind::kWowServe, 20, 1, 0);

  for (const char* module : {"hash_oz", "hash"}) {
    r.memory.push_back(Memory(PlatformKind::kDocker, module, 12));
    r.memory.push_back(Memory(PlatformKind::kProcess, module, 3));
    r.memory.push_back(Memory(PlatformKind::kWowExecutor, module, 0.5));
    r.memory.push_back(Memory(PlatformKind::kWowServe, module, 0.75));
  }

  r.cpu.push_back(Cpu("hash", 100, 125));
  r.cpu.push_back(Cpu("prime", 50, 50));

  r.notes = {"skewed: Docker: 1 of 10 invocations failed (first: timeout)", "memory: hash_o0 skipped"};
  return r;
}

// ---- reading the Markdown ---------------------------------------------------------------

// A Markdown table as cells, without the |---| line.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // The column named `name`, or -1.
  int Column(std::string_view name) const {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  }
  // The cell in column `name` of the first row whose leading cells are `key`.
  std::optional<std::string> Cell(const std::vector<std::string>& key, std::string_view name) const {
    const int c = Column(name);
    if (c < 0) return std::nullopt;
    for (const auto& row : rows) {
      if (row.size() >= key.size() && std::equal(key.begin(), key.end(), row.begin())) return row[c];
    }
    return std::nullopt;
  }
};

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> SplitRow(std::string_view line) {
  line.remove_prefix(1);  // "|"
  if (line.ends_with('|')) line.remove_suffix(1);
  std::vector<std::string> cells;
  for (;;) {
    const size_t bar = line.find('|');
    cells.push_back(Trim(line.substr(0, bar)));
    if (bar == std::string_view::npos) break;
    line.remove_prefix(bar + 1);
  }
  return cells;
}

// The first table after the first occurrence of `marker` in `md`; an empty
// table when there is none.
Table TableAfter(const std::string& md, std::string_view marker) {
  Table t;
  size_t pos = md.find(marker);
  if (pos == std::string::npos) return t;
  pos = md.find("\n|", pos == 0 ? 0 : pos - 1);  // the marker may be the table's own first line
  if (pos == std::string::npos) return t;
  std::istringstream in(md.substr(pos + 1));
  std::string line;
  bool header = true;
  while (std::getline(in, line) && line.starts_with("|")) {
    if (header) {
      t.header = SplitRow(line);
      header = false;
      std::getline(in, line);  // |---|
      continue;
    }
    t.rows.push_back(SplitRow(line));
  }
  return t;
}

const char* kColdHeading = "## Cold start under concurrency";
const char* kColdLatency = "Client-seen latency of the cold invocations";
const char* kThroughputHeading = "## Throughput under rising concurrency";
const char* kSkewedHeading = "## Skewed workload";
const char* kMemoryHeading = "## Memory per warm container";
const char* kCpuHeading = "## CPU speed outside any platform";

// ---- SummaryMarkdown ------------------------------------------------------------------------

TEST(SummaryMarkdownTest, ColdStartTableHasOneRowPerLevelWithP50P90AndReductionVsDocker) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kColdHeading);
  EXPECT_EQ(t.header, (std::vector<std::string>{"i", "Docker", "process", "wow executor", "wow serve",
                                                "process vs Docker", "wow executor vs Docker", "wow serve vs Docker"}));
  ASSERT_EQ(t.rows.size(), 2u) << md;
  EXPECT_EQ(t.rows[0][0], "1");
  EXPECT_EQ(t.rows[1][0], "2");

  EXPECT_EQ(t.Cell({"1"}, "Docker"), "200 / 200");
  EXPECT_EQ(t.Cell({"1"}, "process"), "20.0 / 20.0");
  EXPECT_EQ(t.Cell({"1"}, "wow executor"), "1.00 / 1.00");
  EXPECT_EQ(t.Cell({"1"}, "wow serve"), "2.00 / 2.00");
  EXPECT_EQ(t.Cell({"1"}, "process vs Docker"), "-90.0%");
  EXPECT_EQ(t.Cell({"1"}, "wow executor vs Docker"), "-99.5%");  // 1 ms vs 200 ms
  EXPECT_EQ(t.Cell({"1"}, "wow serve vs Docker"), "-99.0%");

  // i = 2: Docker {180, 200, 220, 400}: p50 200, p90 400.
  EXPECT_EQ(t.Cell({"2"}, "Docker"), "200 / 400");
  EXPECT_EQ(t.Cell({"2"}, "process"), "25.0 / 40.0");
  EXPECT_EQ(t.Cell({"2"}, "wow executor"), "1.00 / 2.00");
  EXPECT_EQ(t.Cell({"2"}, "wow executor vs Docker"), "-99.5%");
}

TEST(SummaryMarkdownTest, ColdStartLevelWithSomeWarmInvocationsSaysHowManyWereCold) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kColdHeading);
  // Only the three cold ones count: {2, 3, 4}.
  EXPECT_EQ(t.Cell({"2"}, "wow serve"), "3.00 / 4.00 (3 of 4 cold)");
  EXPECT_EQ(t.Cell({"2"}, "wow serve vs Docker"), "-98.5%");  // 3 vs 200
  EXPECT_EQ(t.Cell({"1"}, "wow serve"), "2.00 / 2.00");       // all cold: no remark
}

// BUG (outputs.cc:54-55 in ColdByLevel, shown at outputs.cc:207): a failed
// invocation counts among a level's samples but not among its cold ones, so a
// level whose successful invocations were all cold reads "(3 of 4 cold)", as if
// one had found a warm container. Failures are already listed under Notes.
// Enable once fixed.
TEST(SummaryMarkdownTest, ColdStartFailuresAreNotReportedAsWarmInvocations) {
  Results r;
  AddCold(r, PlatformKind::kDocker, 2,
          {Cold(220, 320), Cold(180, 280), Failed("cold start: container create: timeout"), Cold(200, 300)});
  const std::string md = SummaryMarkdown(Info({PlatformKind::kDocker}), r);
  const std::optional<std::string> cell = TableAfter(md, kColdHeading).Cell({"2"}, "Docker");
  ASSERT_TRUE(cell.has_value()) << md;
  EXPECT_TRUE(cell->starts_with("200 / 220")) << *cell;
  EXPECT_EQ(cell->find("3 of 4 cold"), std::string::npos) << *cell;
}

TEST(SummaryMarkdownTest, ColdStartLatencyTableHasMediansAndReductions) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kColdLatency);
  ASSERT_EQ(t.rows.size(), 2u) << md;
  EXPECT_EQ(t.Cell({"1"}, "Docker"), "300");
  EXPECT_EQ(t.Cell({"1"}, "wow executor"), "101");
  EXPECT_EQ(t.Cell({"1"}, "wow executor vs Docker"), "-66.3%");  // 101 vs 300
  // wow serve at i = 2: every ok invocation's latency, warm included {100.5, 102, 103, 104}.
  EXPECT_EQ(t.Cell({"2"}, "wow serve"), "102");
}

TEST(SummaryMarkdownTest, ThroughputRowsPerWorkloadAndLevelWithWowServeToDockerRatio) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kThroughputHeading);
  EXPECT_EQ(t.header, (std::vector<std::string>{"workload", "clients", "Docker", "process", "wow executor", "wow serve",
                                                "wow serve / Docker"}));
  ASSERT_EQ(t.rows.size(), 3u) << md;  // hash at 1 and 2 clients, block at 1
  EXPECT_EQ(t.Cell({"hash", "1"}, "Docker"), "8.0");
  EXPECT_EQ(t.Cell({"hash", "1"}, "wow executor"), "9.2");  // 9.25 rounded half to even
  EXPECT_EQ(t.Cell({"hash", "1"}, "wow serve"), "9.5");
  EXPECT_EQ(t.Cell({"hash", "1"}, "wow serve / Docker"), "1.19x");  // 9.5 / 8
  EXPECT_EQ(t.Cell({"hash", "2"}, "process"), "17.0");
  EXPECT_EQ(t.Cell({"hash", "2"}, "wow serve / Docker"), "2.11x");  // 19 / 9
  // block ran on Docker and wow serve only.
  EXPECT_EQ(t.Cell({"block", "1"}, "process"), "-");
  EXPECT_EQ(t.Cell({"block", "1"}, "wow executor"), "-");
  EXPECT_EQ(t.Cell({"block", "1"}, "wow serve / Docker"), "1.03x");  // 3.3 / 3.2
  EXPECT_EQ(md.find("| mixed"), std::string::npos);                  // no mixed runs, no mixed rows
}

TEST(SummaryMarkdownTest, SkewedTableHasColdShareAndFailures) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kSkewedHeading);
  EXPECT_EQ(t.header, (std::vector<std::string>{"platform", "requests", "cold", "failed", "p50 ms", "p90 ms", "p99 ms",
                                                "max ms"}));
  ASSERT_EQ(t.rows.size(), 4u) << md;
  EXPECT_EQ(t.Cell({"Docker"}, "requests"), "10");
  EXPECT_EQ(t.Cell({"Docker"}, "cold"), "30.0%");
  EXPECT_EQ(t.Cell({"Docker"}, "failed"), "1");
  EXPECT_EQ(t.Cell({"process"}, "cold"), "20.0%");
  EXPECT_EQ(t.Cell({"wow executor"}, "cold"), "10.0%");
  EXPECT_EQ(t.Cell({"wow serve"}, "requests"), "20");
  EXPECT_EQ(t.Cell({"wow serve"}, "cold"), "5.0%");
  // wow serve's latencies are 10..29 ms: p50 the 10th (19), p90 the 18th (27), p99 and max 29.
  EXPECT_EQ(t.Cell({"wow serve"}, "p50 ms"), "19.0");
  EXPECT_EQ(t.Cell({"wow serve"}, "p90 ms"), "27.0");
  EXPECT_EQ(t.Cell({"wow serve"}, "p99 ms"), "29.0");
  EXPECT_EQ(t.Cell({"wow serve"}, "max ms"), "29.0");
}

TEST(SummaryMarkdownTest, MemoryTableHasMibPerContainerAndDockerToWowRatios) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kMemoryHeading);
  EXPECT_EQ(t.header, (std::vector<std::string>{"module", "Wasm KiB", "native KiB", "Docker", "process", "wow executor",
                                                "wow serve", "Docker / wow executor", "Docker / wow serve"}));
  ASSERT_EQ(t.rows.size(), 2u) << md;  // hash_oz and hash; no hash_o0 rows
  EXPECT_EQ(t.rows[0][0], "hash_oz");
  EXPECT_EQ(t.rows[1][0], "hash");
  EXPECT_EQ(t.Cell({"hash"}, "Wasm KiB"), "40");
  EXPECT_EQ(t.Cell({"hash"}, "native KiB"), "800");
  EXPECT_EQ(t.Cell({"hash"}, "Docker"), "12.00");
  EXPECT_EQ(t.Cell({"hash"}, "process"), "3.00");
  EXPECT_EQ(t.Cell({"hash"}, "wow executor"), "0.50");
  EXPECT_EQ(t.Cell({"hash"}, "wow serve"), "0.75");
  EXPECT_EQ(t.Cell({"hash"}, "Docker / wow executor"), "24.0x");
  EXPECT_EQ(t.Cell({"hash"}, "Docker / wow serve"), "16.0x");
}

TEST(SummaryMarkdownTest, CpuTableHasWasmSpeedAsPercentOfNative) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  const Table t = TableAfter(md, kCpuHeading);
  EXPECT_EQ(t.header, (std::vector<std::string>{"action", "params", "engine", "native ms", "Wasm ms",
                                                "Wasm speed (% of native)"}));
  EXPECT_EQ(t.Cell({"hash"}, "engine"), "aot");
  ASSERT_EQ(t.rows.size(), 2u) << md;
  EXPECT_EQ(t.Cell({"hash"}, "native ms"), "100");
  EXPECT_EQ(t.Cell({"hash"}, "Wasm ms"), "125");
  EXPECT_EQ(t.Cell({"hash"}, "Wasm speed (% of native)"), "80%");
  EXPECT_EQ(t.Cell({"prime"}, "Wasm speed (% of native)"), "100%");
}

TEST(SummaryMarkdownTest, ListsNotesMachineAndVersions) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  EXPECT_NE(md.find("(quick profile)"), std::string::npos);
  EXPECT_NE(md.find("`evaluate --profile quick`"), std::string::npos);
  EXPECT_NE(
      md.find("## Notes\n\n- skewed: Docker: 1 of 10 invocations failed (first: timeout)\n- memory: hash_o0 skipped\n"),
      std::string::npos)
      << md;
  EXPECT_EQ(TableAfter(md, "| machine").Cell({"host"}, ""), "bench-host");
  const Table versions = TableAfter(md, "| component");
  EXPECT_EQ(versions.Cell({"docker"}, "version"), "20.10.24");
  EXPECT_EQ(versions.Cell({"wow"}, "version"), "0.1.0");
}

TEST(SummaryMarkdownTest, PlatformMissingFromResultsShowsDashesAndNotApplicable) {
  // Four platforms ran, but process produced nothing (it failed to start, say)
  // and wow executor has no skewed or memory figures.
  Results r = FullResults();
  auto process = [](const auto& s) { return s.platform == PlatformKind::kProcess; };
  auto process_or_executor = [](const auto& s) {
    return s.platform == PlatformKind::kProcess || s.platform == PlatformKind::kWowExecutor;
  };
  std::erase_if(r.cold, process);
  std::erase_if(r.throughput, process);
  std::erase_if(r.skewed, process_or_executor);
  std::erase_if(r.memory, process_or_executor);
  // And Docker has no cold starts at i = 2.
  std::erase_if(r.cold, [](const ColdSample& s) { return s.platform == PlatformKind::kDocker && s.concurrency == 2; });

  const std::string md = SummaryMarkdown(Info(kAllFour), r);
  const Table cold = TableAfter(md, kColdHeading);
  ASSERT_EQ(cold.rows.size(), 2u) << md;
  EXPECT_EQ(cold.Cell({"1"}, "process"), "-");
  EXPECT_EQ(cold.Cell({"1"}, "process vs Docker"), "n/a");
  EXPECT_EQ(cold.Cell({"2"}, "Docker"), "-");
  EXPECT_EQ(cold.Cell({"2"}, "wow executor vs Docker"), "n/a");
  EXPECT_EQ(cold.Cell({"1"}, "wow executor vs Docker"), "-99.5%");

  const Table tp = TableAfter(md, kThroughputHeading);
  EXPECT_EQ(tp.Cell({"hash", "1"}, "process"), "-");
  EXPECT_EQ(tp.Cell({"hash", "1"}, "wow serve / Docker"), "1.19x");

  const Table skewed = TableAfter(md, kSkewedHeading);
  EXPECT_EQ(skewed.rows.size(), 2u);  // Docker and wow serve
  EXPECT_FALSE(skewed.Cell({"process"}, "cold").has_value());

  const Table mem = TableAfter(md, kMemoryHeading);
  EXPECT_EQ(mem.Cell({"hash"}, "process"), "-");
  EXPECT_EQ(mem.Cell({"hash"}, "wow executor"), "-");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow executor"), "n/a");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow serve"), "16.0x");
}

TEST(SummaryMarkdownTest, DockerMissingFromResultsGivesNotApplicableRatios) {
  Results r = FullResults();
  auto not_docker = [](const auto& s) { return s.platform == PlatformKind::kDocker; };
  std::erase_if(r.cold, not_docker);
  std::erase_if(r.throughput, not_docker);
  std::erase_if(r.skewed, not_docker);
  std::erase_if(r.memory, not_docker);

  const std::string md = SummaryMarkdown(Info(kAllFour), r);
  const Table cold = TableAfter(md, kColdHeading);
  EXPECT_EQ(cold.Cell({"1"}, "Docker"), "-");
  EXPECT_EQ(cold.Cell({"1"}, "wow serve vs Docker"), "n/a");
  EXPECT_EQ(TableAfter(md, kThroughputHeading).Cell({"hash", "2"}, "wow serve / Docker"), "n/a");
  EXPECT_EQ(TableAfter(md, kMemoryHeading).Cell({"hash"}, "Docker / wow serve"), "n/a");
}

TEST(SummaryMarkdownTest, WithoutDockerInTheRunThereAreNoVsDockerColumns) {
  Results r = FullResults();
  std::erase_if(r.cold, [](const auto& s) { return s.platform == PlatformKind::kDocker; });
  std::erase_if(r.throughput, [](const auto& s) { return s.platform == PlatformKind::kDocker; });
  std::erase_if(r.skewed, [](const auto& s) { return s.platform == PlatformKind::kDocker; });
  std::erase_if(r.memory, [](const auto& s) { return s.platform == PlatformKind::kDocker; });
  const std::string md =
      SummaryMarkdown(Info({PlatformKind::kProcess, PlatformKind::kWowExecutor, PlatformKind::kWowServe}), r);

  for (const char* heading : {kColdHeading, kColdLatency, kThroughputHeading, kSkewedHeading, kMemoryHeading}) {
    const Table t = TableAfter(md, heading);
    ASSERT_FALSE(t.header.empty()) << heading << " table missing:\n" << md;
    for (const auto& column : t.header)
      EXPECT_EQ(column.find("Docker"), std::string::npos) << heading << ": " << column;
    for (const auto& row : t.rows) EXPECT_EQ(row.size(), t.header.size()) << heading;
  }
  const Table cold = TableAfter(md, kColdHeading);
  EXPECT_EQ(cold.header, (std::vector<std::string>{"i", "process", "wow executor", "wow serve"}));
  EXPECT_EQ(cold.Cell({"1"}, "wow executor"), "1.00 / 1.00");
  EXPECT_EQ(TableAfter(md, kSkewedHeading).rows.size(), 3u);
}

TEST(SummaryMarkdownTest, EmptyResultsHaveNoExperimentSections) {
  const std::string md = SummaryMarkdown(Info(kAllFour), Results{});
  EXPECT_NE(md.find("bench-host"), std::string::npos);
  for (const char* heading :
       {kColdHeading, kThroughputHeading, kSkewedHeading, kMemoryHeading, kCpuHeading, "## Notes"})
    EXPECT_EQ(md.find(heading), std::string::npos) << heading;
}

// ---- WriteOutputs ----------------------------------------------------------------------------

struct Csv {
  std::string header;
  size_t rows = 0;
};

std::optional<Csv> ReadCsv(const fs::path& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  Csv csv;
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, csv.header)) return csv;
  while (std::getline(in, line)) csv.rows++;  // the fields written here have no line breaks
  return csv;
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

const std::string kInvocationColumns = "ok,cold,latency_ms,wait_ms,init_ms,start_s,end_s,error";

class WriteOutputsTest : public ::testing::Test {
 protected:
  // Writes FullResults() into the temp dir; the status is that of WriteOutputs.
  Status Write(const RunInfo& info, const Results& results) {
    return WriteOutputs(dir_.path(), info, results, &written_);
  }
  void ExpectCsv(const std::string& name, const std::string& header, size_t rows) {
    SCOPED_TRACE(name);
    std::optional<Csv> csv = ReadCsv(dir_.path() / name);
    ASSERT_TRUE(csv.has_value()) << name << " missing";
    EXPECT_EQ(csv->header, header);
    EXPECT_EQ(csv->rows, rows);
    EXPECT_NE(std::find(written_.begin(), written_.end(), name), written_.end()) << name << " not in `written`";
  }

  TempDir dir_{"eval-outputs"};
  std::vector<std::string> written_;
};

TEST_F(WriteOutputsTest, WritesTheCsvFilesWithHeadersAndRows) {
  const Results r = FullResults();
  Status s = Write(Info(kAllFour), r);
  if (OnPath("gnuplot")) {
    EXPECT_TRUE(s.ok()) << s.ToString();  // without gnuplot only the figures fail
  }

  ExpectCsv("cold_start.csv", "platform,concurrency,round,action,cold_start_ms," + kInvocationColumns, r.cold.size());
  const std::string cold_summary = "concurrency,p50_ms,p90_ms,latency_p50_ms,latency_p90_ms,cold,samples";
  for (const char* slug : {"docker", "process", "wow-executor", "wow-serve"})
    ExpectCsv(std::string("cold_start_") + slug + ".csv", cold_summary, 2);

  size_t invocations = 0;
  for (const auto& run : r.throughput) invocations += run.invocations.size();
  ExpectCsv("throughput.csv", "platform,workload," + kInvocationColumns, invocations);
  for (const char* slug : {"docker", "process", "wow-executor", "wow-serve"})
    ExpectCsv(std::string("throughput_hash_") + slug + ".csv", "clients,rps,completed,window_s", 2);
  ExpectCsv("throughput_block_docker.csv", "clients,rps,completed,window_s", 1);
  ExpectCsv("throughput_block_wow-serve.csv", "clients,rps,completed,window_s", 1);
  EXPECT_FALSE(fs::exists(dir_.path() / "throughput_block_process.csv"));
  EXPECT_FALSE(fs::exists(dir_.path() / "throughput_mixed_docker.csv"));

  ExpectCsv("skewed.csv", "platform,action,hot,io," + kInvocationColumns, r.skewed.size());
  // One ECDF point per distinct latency of the successful requests.
  ExpectCsv("skewed_ecdf_docker.csv", "latency_ms,fraction", 9);
  ExpectCsv("skewed_ecdf_wow-serve.csv", "latency_ms,fraction", 20);

  ExpectCsv("memory.csv",
            "platform,module,wasm_bytes,native_bytes,containers,before_bytes,after_bytes,per_container_mib",
            r.memory.size());
  for (const char* slug : {"docker", "process", "wow-executor", "wow-serve"})
    ExpectCsv(std::string("memory_") + slug + ".csv", "module,mib", 3);  // every module, empty where not measured

  ExpectCsv("cpu_speed.csv", "action,params,native_p50_ms,wasm_p50_ms,runs,wasm_speed,engine", r.cpu.size());
  EXPECT_FALSE(fs::exists(dir_.path() / "deploy.csv"));  // no deploy samples

  // Everything listed in `written` exists.
  for (const auto& name : written_) EXPECT_TRUE(fs::exists(dir_.path() / name)) << name;
}

TEST_F(WriteOutputsTest, CsvCellsCarryTheSampleValues) {
  Results r;
  AddCold(r, PlatformKind::kDocker, 1, {Cold(200, 300)});
  AddCold(r, PlatformKind::kWowServe, 1, {Failed("cold start: boom, twice")});
  (void)Write(Info({PlatformKind::kDocker, PlatformKind::kWowServe}), r);  // the figures are another test's
  Result<std::string> text = ReadFile(dir_.path() / "cold_start.csv");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\nDocker,1,0,hash-0,200,1,1,300,150,50,1,1.3,\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("\nwow serve,1,0,hash-0,0,0,0,5,0,0,0,0,\"cold start: boom, twice\"\n"), std::string::npos)
      << *text;
}

TEST_F(WriteOutputsTest, ResultsJsonParsesWithEveryTopLevelKey) {
  const Results r = FullResults();
  (void)Write(Info(kAllFour), r);
  Result<std::string> text = ReadFile(dir_.path() / "results.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  boost::system::error_code ec;
  json::value doc = json::parse(*text, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(doc.is_object());
  const json::object& o = doc.as_object();
  for (const char* key : {"profile", "command", "seconds", "machine", "versions", "platforms", "cold_start",
                          "throughput", "skewed", "memory", "cpu_speed", "notes"}) {
    EXPECT_TRUE(o.contains(key)) << key;
  }
  EXPECT_EQ(o.at("profile"), "quick");
  EXPECT_EQ(o.at("machine").at("hostname"), "bench-host");
  EXPECT_EQ(o.at("versions").at("docker"), "20.10.24");
  EXPECT_EQ(o.at("platforms").as_array().size(), 4u);
  EXPECT_EQ(o.at("cold_start").as_array().size(), r.cold.size());
  EXPECT_EQ(o.at("throughput").as_array().size(), r.throughput.size());
  EXPECT_EQ(o.at("skewed").as_array().size(), 4u);  // one summary per platform
  EXPECT_EQ(o.at("memory").as_array().size(), r.memory.size());
  EXPECT_EQ(o.at("cpu_speed").as_array().size(), r.cpu.size());
  EXPECT_EQ(o.at("notes").as_array().size(), r.notes.size());

  // wow serve's hash run had one failed invocation.
  bool found = false;
  for (const auto& run : o.at("throughput").as_array()) {
    if (run.at("platform") == "wow serve" && run.at("workload") == "hash") {
      found = true;
      EXPECT_EQ(run.at("failed").to_number<int>(), 1);
      EXPECT_EQ(run.at("levels").as_array().size(), 2u);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(WriteOutputsTest, SummaryMarkdownIsWritten) {
  const Results r = FullResults();
  (void)Write(Info(kAllFour), r);
  Result<std::string> text = ReadFile(dir_.path() / "summary.md");
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(text->starts_with(SummaryMarkdown(Info(kAllFour), r))) << *text;
  EXPECT_NE(std::find(written_.begin(), written_.end(), "summary.md"), written_.end());
}

TEST_F(WriteOutputsTest, DrawsTheFiguresWithGnuplot) {
  if (!OnPath("gnuplot")) GTEST_SKIP() << "gnuplot is not on PATH";
  Status s = Write(Info(kAllFour), FullResults());
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const char* figure :
       {"cold_start", "cold_start_latency", "throughput_hash", "throughput_block", "skewed_ecdf", "memory"}) {
    SCOPED_TRACE(figure);
    const fs::path png = dir_.path() / (std::string(figure) + ".png");
    ASSERT_TRUE(fs::exists(png));
    EXPECT_GT(fs::file_size(png), 1000u);
    EXPECT_TRUE(fs::exists(dir_.path() / (std::string(figure) + ".gp")));
    EXPECT_NE(std::find(written_.begin(), written_.end(), std::string(figure) + ".png"), written_.end());
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "throughput_mixed.png"));  // no mixed runs
  Result<std::string> cold_gp = ReadFile(dir_.path() / "cold_start.gp");
  ASSERT_TRUE(cold_gp.ok());
  EXPECT_NE(cold_gp->find("filledcurves"), std::string::npos);  // p50..p90 bands for four platforms
  Result<std::string> md = ReadFile(dir_.path() / "summary.md");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->find("## Output problems"), std::string::npos) << *md;
}

// The first field of every data line of a CSV.
std::vector<std::string> FirstColumn(const fs::path& path) {
  std::vector<std::string> values;
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return values;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) values.push_back(line.substr(0, line.find(',')));
  return values;
}

// BUG (outputs.cc:473-483, WriteOutputs' memory figure): memory.png is a
// clustered histogram (PlotKind::kBars) whose clusters are labelled by the
// first series' rows and whose bars are matched to clusters by row number.
// Each memory_<platform>.csv holds only the modules that platform measured, so
// when a platform lacks one (RunMemory skips a module whose warm-up or
// measurement failed, or stops early), its remaining bars are drawn in the
// wrong clusters: here wow serve's "hash" bar lands in the "hash_oz" cluster.
// Every series needs one row per cluster, in the same order (an empty value
// where a platform has no figure). Enable once fixed.
TEST_F(WriteOutputsTest, MemoryFigureBarsLineUpWithTheirModules) {
  Results r;
  for (const char* module : {"hash_oz", "hash", "hash_o0"})
    r.memory.push_back(Memory(PlatformKind::kDocker, module, 12));
  r.memory.push_back(Memory(PlatformKind::kWowServe, "hash", 0.75));  // hash_oz and hash_o0 failed on wow serve
  (void)Write(Info({PlatformKind::kDocker, PlatformKind::kWowServe}), r);

  const std::vector<std::string> clusters = FirstColumn(dir_.path() / "memory_docker.csv");
  EXPECT_EQ(clusters, (std::vector<std::string>{"hash_oz", "hash", "hash_o0"}));
  EXPECT_EQ(FirstColumn(dir_.path() / "memory_wow-serve.csv"), clusters)
      << "wow serve's bars are matched to the clusters by row";
}

TEST_F(WriteOutputsTest, MissingPlatformsAndEmptyResultsDoNotCrash) {
  Results r;
  AddCold(r, PlatformKind::kWowServe, 1, {Cold(2, 102)});
  r.memory.push_back(Memory(PlatformKind::kDocker, "hash", 12));
  Status s = Write(Info(kAllFour), r);
  if (OnPath("gnuplot")) {
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  ExpectCsv("cold_start.csv", "platform,concurrency,round,action,cold_start_ms," + kInvocationColumns, 1);
  ExpectCsv("cold_start_wow-serve.csv", "concurrency,p50_ms,p90_ms,latency_p50_ms,latency_p90_ms,cold,samples", 1);
  EXPECT_FALSE(fs::exists(dir_.path() / "cold_start_docker.csv"));
  EXPECT_FALSE(fs::exists(dir_.path() / "throughput.csv"));
  EXPECT_FALSE(fs::exists(dir_.path() / "skewed.csv"));
  EXPECT_FALSE(fs::exists(dir_.path() / "cpu_speed.csv"));
  EXPECT_TRUE(fs::exists(dir_.path() / "results.json"));
  EXPECT_TRUE(fs::exists(dir_.path() / "summary.md"));

  TempDir empty("eval-outputs-empty");
  std::vector<std::string> written;
  Status e = WriteOutputs(empty.path(), Info(kAllFour), Results{}, &written);
  EXPECT_TRUE(e.ok()) << e.ToString();  // nothing to plot: no gnuplot needed
  EXPECT_TRUE(fs::exists(empty.path() / "results.json"));
  EXPECT_TRUE(fs::exists(empty.path() / "summary.md"));
}

// ---- engines: wow's platforms once per engine ---------------------------------------------

const PlatformId kExecAot(PlatformKind::kWowExecutor, "aot");
const PlatformId kExecJit(PlatformKind::kWowExecutor, "jit");
const PlatformId kServeAot(PlatformKind::kWowServe, "aot");
const PlatformId kServeInterp(PlatformKind::kWowServe, "interp");
const std::vector<PlatformId> kEngineRun = {
    PlatformKind::kDocker, PlatformKind::kProcess, kExecAot, kExecJit, kServeAot, kServeInterp};
constexpr char kInterpHash[] = R"({"iterations": 25000})";

RunInfo EngineInfo() {
  RunInfo info = Info(kEngineRun);
  for (const PlatformId& id : kEngineRun) info.hash_params.emplace_back(id, id == kServeInterp ? kInterpHash : "{}");
  return info;
}

Results EngineResults() {
  Results r;
  AddCold(r, PlatformKind::kDocker, 1, {Cold(200, 300), Cold(200, 300)});
  AddCold(r, PlatformKind::kProcess, 1, {Cold(20, 120)});
  AddCold(r, kExecAot, 1, {Cold(1, 101)});
  AddCold(r, kExecJit, 1, {Cold(4, 104)});
  AddCold(r, kServeAot, 1, {Cold(2, 102)});
  AddCold(r, kServeInterp, 1, {Cold(8, 108)});
  r.throughput.push_back(Throughput(PlatformKind::kDocker, Workload::kCpu, {{1, 8}}));
  r.throughput.push_back(Throughput(kServeAot, Workload::kCpu, {{1, 9.5}}));
  r.throughput.push_back(Throughput(kServeInterp, Workload::kCpu, {{1, 4}}));
  r.memory.push_back(Memory(PlatformKind::kDocker, "hash", 12));
  r.memory.push_back(Memory(kExecAot, "hash", 0.5));
  r.memory.push_back(Memory(kExecJit, "hash", 1.5));
  r.memory.push_back(Memory(kServeAot, "hash", 0.75));
  r.memory.push_back(Memory(kServeInterp, "hash", 3));
  r.cpu.push_back(Cpu("hash", 100, 125, "aot"));
  r.cpu.push_back(Cpu("hash", 100, 1500, "interp"));
  r.cpu.push_back(Cpu("prime", 10, 4000, "interp"));
  AddDeploy(r, kExecAot, 2'000, {30, 10, 20}, "aot");
  AddDeploy(r, kExecAot, 1'000'000, {60'000}, "aot", /*failed=*/1);
  AddDeploy(r, kExecJit, 2'000, {5, 6, 7}, "jit");
  AddDeploy(r, kExecJit, 1'000'000, {15, 16, 17}, "jit");
  return r;
}

TEST(SummaryMarkdownTest, EngineRunsHaveAColumnPerEngineAndTheRatiosInTablesOfTheirOwn) {
  const std::string md = SummaryMarkdown(EngineInfo(), EngineResults());
  const Table cold = TableAfter(md, kColdHeading);
  EXPECT_EQ(cold.header, (std::vector<std::string>{"i", "Docker", "process", "wow executor (aot)", "wow executor (jit)",
                                                   "wow serve (aot)", "wow serve (interp)"}));
  EXPECT_EQ(cold.Cell({"1"}, "wow executor (jit)"), "4.00 / 4.00");
  EXPECT_EQ(cold.Cell({"1"}, "wow serve (interp)"), "8.00 / 8.00");

  const Table ratios = TableAfter(md, "Cold start vs Docker");
  EXPECT_EQ(ratios.header, (std::vector<std::string>{"i", "process vs Docker", "wow executor (aot) vs Docker",
                                                     "wow executor (jit) vs Docker", "wow serve (aot) vs Docker",
                                                     "wow serve (interp) vs Docker"}));
  EXPECT_EQ(ratios.Cell({"1"}, "wow executor (jit) vs Docker"), "-98.0%");  // 4 vs 200
  const Table latency = TableAfter(md, "Client-seen latency of the cold invocations vs Docker");
  EXPECT_EQ(latency.Cell({"1"}, "wow serve (interp) vs Docker"), "-64.0%");  // 108 vs 300

  const Table tp = TableAfter(md, "Throughput of wow serve / Docker");
  EXPECT_EQ(tp.header, (std::vector<std::string>{"workload", "clients", "wow serve (aot) / Docker",
                                                 "wow serve (interp) / Docker"}));
  EXPECT_EQ(tp.Cell({"hash", "1"}, "wow serve (aot) / Docker"), "1.19x");
  EXPECT_EQ(tp.Cell({"hash", "1"}, "wow serve (interp) / Docker"), "0.50x");
  EXPECT_EQ(TableAfter(md, kThroughputHeading).Cell({"hash", "1"}, "wow serve (interp)"), "4.0");

  const Table mem = TableAfter(md, "Docker's memory per warm container / wow's");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow executor (aot)"), "24.0x");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow executor (jit)"), "8.0x");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow serve (interp)"), "4.0x");
  EXPECT_EQ(TableAfter(md, kMemoryHeading).Cell({"hash"}, "wow executor (jit)"), "1.50");
  EXPECT_EQ(md.find("Where wow's memory did not grow"), std::string::npos);

  const Table cpu = TableAfter(md, kCpuHeading);
  ASSERT_EQ(cpu.rows.size(), 3u);
  EXPECT_EQ(cpu.rows[2][cpu.Column("Wasm speed (% of native)")], "0.25%");  // 10 / 4000
  EXPECT_EQ(cpu.rows[1][cpu.Column("engine")], "interp");
  EXPECT_EQ(cpu.rows[1][cpu.Column("Wasm speed (% of native)")], "6.7%");  // 100 / 1500
}

TEST(SummaryMarkdownTest, MemoryThatDidNotGrowHasNoRatio) {
  Results r = EngineResults();
  for (auto& m : r.memory)
    if (m.platform == kExecJit) m.per_container_bytes = -0.25 * kMiB;  // freed by a collection meanwhile
  const std::string md = SummaryMarkdown(EngineInfo(), r);
  const Table mem = TableAfter(md, "Docker's memory per warm container / wow's");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow executor (jit)"), "n/a");
  EXPECT_EQ(mem.Cell({"hash"}, "Docker / wow executor (aot)"), "24.0x");
  EXPECT_EQ(TableAfter(md, kMemoryHeading).Cell({"hash"}, "wow executor (jit)"), "-0.25");
  EXPECT_NE(md.find("Where wow's memory did not grow"), std::string::npos);
}

TEST(SummaryMarkdownTest, RunsOfFourPlatformsKeepTheirRatiosInline) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  EXPECT_EQ(md.find("Cold start vs Docker"), std::string::npos);
  EXPECT_EQ(md.find("Throughput of wow serve / Docker"), std::string::npos);
  EXPECT_EQ(md.find("`hash` ran with different parameters"), std::string::npos);
}

TEST(SummaryMarkdownTest, SaysWhichPlatformsRanHashWithLessWork) {
  const std::string md = SummaryMarkdown(EngineInfo(), EngineResults());
  EXPECT_NE(md.find("**`hash` ran with different parameters**"), std::string::npos) << md;
  EXPECT_NE(md.find("`{}` on Docker, process, wow executor (aot), wow executor (jit), wow serve (aot); "
                    "`{\"iterations\": 25000}` on wow serve (interp)."),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("`tiered`:"), std::string::npos);  // no tiered in this run

  Results cold;
  AddCold(cold, PlatformId(PlatformKind::kWowServe, "tiered"), 1, {Cold(1, 101)});
  RunInfo tiered = Info({PlatformKind::kProcess, PlatformId(PlatformKind::kWowServe, "tiered")});
  EXPECT_NE(SummaryMarkdown(tiered, cold).find("`tiered`: as on `aot`"), std::string::npos);
  // Only the CPU-speed or deploy experiments: no platform ran `hash`.
  Results deploy_only;
  AddDeploy(deploy_only, kExecJit, 2'000, {5}, "jit");
  EXPECT_EQ(SummaryMarkdown(EngineInfo(), deploy_only).find("`hash` ran with different parameters"), std::string::npos);
}

TEST(SummaryMarkdownTest, DeployTableHasMedianMinMaxPerEngineAndSizeWithDockerForContext) {
  const std::string md = SummaryMarkdown(EngineInfo(), EngineResults());
  const Table t = TableAfter(md, "## Deploy to first result");
  EXPECT_EQ(t.header, (std::vector<std::string>{"platform", "2 KB", "1 MB", "first result from"}));
  ASSERT_EQ(t.rows.size(), 2u) << md;  // the wow executor platforms that have samples
  EXPECT_EQ(t.Cell({"wow executor (aot)"}, "2 KB"), "20.0 (10.0-30.0), n=3");
  EXPECT_EQ(t.Cell({"wow executor (aot)"}, "1 MB"), "60000, n=1 (1 of 2 failed)");
  EXPECT_EQ(t.Cell({"wow executor (aot)"}, "first result from"), "aot");
  EXPECT_EQ(t.Cell({"wow executor (jit)"}, "2 KB"), "6.00 (5.00-7.00), n=3");
  EXPECT_EQ(t.Cell({"wow executor (jit)"}, "1 MB"), "16.0 (15.0-17.0), n=3");
  EXPECT_NE(md.find("(actual sizes 2.1 KiB, 976.7 KiB)"), std::string::npos) << md;
  // Docker's cold start at i = 1: 300 ms client-seen, 200 ms OpenWhisk's.
  EXPECT_NE(md.find("took 300 ms (median client-seen latency of a cold invocation at i = 1; OpenWhisk's cold start "
                    "of it: 200 ms)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("![deploy to first result](deploy.png)"), std::string::npos);

  Results no_docker = EngineResults();
  std::erase_if(no_docker.cold, [](const ColdSample& s) { return s.platform == PlatformKind::kDocker; });
  EXPECT_NE(SummaryMarkdown(EngineInfo(), no_docker).find("No Docker cold start in this run"), std::string::npos);
  EXPECT_EQ(SummaryMarkdown(EngineInfo(), Results{}).find("## Deploy to first result"), std::string::npos);
}

TEST_F(WriteOutputsTest, EngineRunsWriteFilesPerEngineAndTheDeployExperiment) {
  const Results r = EngineResults();
  Status s = Write(EngineInfo(), r);
  if (OnPath("gnuplot")) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (const char* figure : {"cold_start", "memory", "throughput_hash", "deploy"})
      EXPECT_TRUE(fs::exists(dir_.path() / (std::string(figure) + ".png"))) << figure;
    Result<std::string> gp = ReadFile(dir_.path() / "deploy.gp");
    ASSERT_TRUE(gp.ok());
    EXPECT_NE(gp->find("title 'wow executor (jit)'"), std::string::npos) << *gp;
    EXPECT_NE(gp->find("title 'Docker'"), std::string::npos) << *gp;
    EXPECT_NE(gp->find("set logscale x"), std::string::npos) << *gp;
    // Ten lines with bands would hide each other: medians only.
    Result<std::string> cold_gp = ReadFile(dir_.path() / "cold_start.gp");
    ASSERT_TRUE(cold_gp.ok());
    EXPECT_EQ(cold_gp->find("filledcurves"), std::string::npos) << *cold_gp;
  }
  const std::string cold_summary = "concurrency,p50_ms,p90_ms,latency_p50_ms,latency_p90_ms,cold,samples";
  for (const char* slug : {"wow-executor-aot", "wow-executor-jit", "wow-serve-aot", "wow-serve-interp"})
    ExpectCsv(std::string("cold_start_") + slug + ".csv", cold_summary, 1);
  ExpectCsv("throughput_hash_wow-serve-interp.csv", "clients,rps,completed,window_s", 1);
  ExpectCsv("memory_wow-executor-jit.csv", "module,mib", 3);

  ExpectCsv("deploy.csv",
            "platform,engine,size,target_bytes,module_bytes,sample,seed,ok,total_ms,init_ms,run_ms,served_by,error",
            r.deploy.size());
  const std::string deploy_summary = "size,size_kb,module_kib,p50_ms,min_ms,max_ms,init_p50_ms,run_p50_ms,samples";
  ExpectCsv("deploy_wow-executor-aot.csv", deploy_summary, 2);
  ExpectCsv("deploy_wow-executor-jit.csv", deploy_summary, 2);
  ExpectCsv("deploy_docker_reference.csv", "size,size_kb,latency_p50_ms", 2);
  Result<std::string> text = ReadFile(dir_.path() / "deploy.csv");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\nwow executor (jit),jit,1 MB,1000000,1000100,2,102,1,17,12.75,4.25,jit,\n"), std::string::npos)
      << *text;
  EXPECT_NE(text->find(",0,0,0,0,,/init: HTTP 502: the C compiler failed\n"), std::string::npos) << *text;

  Result<std::string> json_text = ReadFile(dir_.path() / "results.json");
  ASSERT_TRUE(json_text.ok());
  json::value doc = json::parse(*json_text);
  const json::object& o = doc.as_object();
  EXPECT_EQ(o.at("deploy").as_array().size(), r.deploy.size());
  EXPECT_EQ(o.at("deploy").as_array()[0].at("engine"), "aot");
  EXPECT_EQ(o.at("deploy").as_array()[0].at("size"), "2 KB");
  EXPECT_EQ(o.at("hash_params").at("wow serve (interp)"), kInterpHash);
  EXPECT_EQ(o.at("platforms").as_array()[3], "wow executor (jit)");
  EXPECT_EQ(o.at("cpu_speed").as_array()[1].at("engine"), "interp");
}

}  // namespace
}  // namespace wow::bench::eval

// ---- machine load ---------------------------------------------------------------------------

namespace wow::bench::eval {
namespace {

const char* kLoadHeading = "## Machine load";
const char* kLoadWarning = "**Warning: the machine was not quiet**";

StepLoad Quiet() {
  StepLoad l;
  l.cores = 2;
  l.load1_before = 0.3;
  l.others_before = 0.02;
  l.others_mean = 0.04;
  l.others_max = 0.25;
  l.ours_mean = 1.9;
  l.samples = 20;
  return l;
}

Results WithLoad() {
  Results r = FullResults();
  StepLoad loud = Quiet();
  loud.load1_before = 2.4;
  loud.others_mean = 0.93;
  loud.others_max = 1.41;
  loud.waited_seconds = 30;
  StepLoad unmeasured;
  unmeasured.error = "cannot open /proc/stat: No such file or directory";
  r.load = {{"cold start", PlatformId(PlatformKind::kDocker), Quiet()},
            {"throughput hash", PlatformId(PlatformKind::kWowServe), loud},
            {"CPU speed", std::nullopt, unmeasured}};
  return r;
}

TEST(SummaryMarkdownTest, MachineLoadHasALinePerStepAndSaysWhichWereNotQuiet) {
  const std::string md = SummaryMarkdown(Info(kAllFour), WithLoad());
  const Table t = TableAfter(md, kLoadHeading);
  ASSERT_EQ(t.rows.size(), 3u) << md;
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "load avg before"), "0.30");
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "others before"), "0.02");
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "others during (mean / max)"), "0.04 / 0.25");
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "ours (mean)"), "1.90");
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "waited"), "-");
  EXPECT_EQ(t.Cell({"cold start", "Docker"}, "quiet"), "yes");
  EXPECT_EQ(t.Cell({"throughput hash", "wow serve"}, "others during (mean / max)"), "0.93 / 1.41");
  EXPECT_EQ(t.Cell({"throughput hash", "wow serve"}, "waited"), "30 s");
  EXPECT_EQ(t.Cell({"throughput hash", "wow serve"}, "quiet"), "**no**");
  EXPECT_EQ(t.Cell({"CPU speed", "(outside any platform)"}, "quiet"),
            "not measured: cannot open /proc/stat: No such file or directory");
}

TEST(SummaryMarkdownTest, AStepThatWasNotQuietPutsAWarningAtTheTop) {
  const std::string md = SummaryMarkdown(Info(kAllFour), WithLoad());
  const size_t warning = md.find(kLoadWarning);
  ASSERT_NE(warning, std::string::npos) << md;
  EXPECT_LT(warning, md.find("bench-host")) << "the warning comes before the machine and every table";
  EXPECT_NE(md.find("during 1 of 3 experiment steps"), std::string::npos) << md;
  EXPECT_NE(md.find("more than 0.10 cores (10% of one core)"), std::string::npos) << md;
  EXPECT_NE(md.find("could not be measured for 1 of 3 experiment steps"), std::string::npos) << md;
}

TEST(SummaryMarkdownTest, QuietStepsGiveNoWarning) {
  Results r = FullResults();
  r.load = {{"cold start", PlatformId(PlatformKind::kDocker), Quiet()},
            {"skewed workload", PlatformId(PlatformKind::kProcess), Quiet()}};
  const std::string md = SummaryMarkdown(Info(kAllFour), r);
  EXPECT_EQ(md.find(kLoadWarning), std::string::npos) << md;
  EXPECT_EQ(md.find("could not be measured"), std::string::npos) << md;
  EXPECT_EQ(TableAfter(md, kLoadHeading).rows.size(), 2u);
  // A stricter threshold than the default makes the same steps loud.
  RunInfo strict = Info(kAllFour);
  strict.quiet_others_cores = 0.03;
  EXPECT_NE(SummaryMarkdown(strict, r).find(kLoadWarning), std::string::npos);
}

TEST(SummaryMarkdownTest, NoLoadFiguresNoLoadSection) {
  const std::string md = SummaryMarkdown(Info(kAllFour), FullResults());
  EXPECT_EQ(md.find(kLoadHeading), std::string::npos);
  EXPECT_EQ(md.find(kLoadWarning), std::string::npos);
}

TEST_F(WriteOutputsTest, MachineLoadGoesToItsCsvAndResultsJson) {
  const Results r = WithLoad();
  (void)Write(Info(kAllFour), r);  // the figures are another test's
  ExpectCsv("machine_load.csv",
            "experiment,platform,quiet,cores,load1_before,others_before_cores,others_mean_cores,others_max_cores,"
            "ours_mean_cores,samples,waited_s,error",
            3);
  Result<std::string> csv = ReadFile(dir_.path() / "machine_load.csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_NE(csv->find("\nthroughput hash,wow serve,0,2,2.4,0.02,0.93,1.41,1.9,20,30,\n"), std::string::npos) << *csv;
  Result<std::string> text = ReadFile(dir_.path() / "results.json");
  ASSERT_TRUE(text.ok());
  boost::system::error_code ec;
  json::value doc = json::parse(*text, ec);
  ASSERT_FALSE(ec) << ec.message();
  const json::array& load = doc.at("machine_load").as_array();
  ASSERT_EQ(load.size(), 3u);
  EXPECT_EQ(load[0].at("experiment"), "cold start");
  EXPECT_EQ(load[0].at("platform"), "Docker");
  EXPECT_EQ(load[0].at("quiet"), true);
  EXPECT_EQ(load[1].at("quiet"), false);
  EXPECT_DOUBLE_EQ(load[1].at("others_mean_cores").as_double(), 0.93);
  EXPECT_DOUBLE_EQ(load[1].at("load1_before").as_double(), 2.4);
  EXPECT_FALSE(load[2].as_object().contains("platform"));
  EXPECT_EQ(load[2].at("error"), "cannot open /proc/stat: No such file or directory");
}

}  // namespace
}  // namespace wow::bench::eval
