#include "machine_load.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace wow::bench::eval {
namespace {

// A /proc/<pid>/stat line as Linux prints it (fields 3..23 and a few more).
std::string StatLine(pid_t pid, std::string_view comm, pid_t ppid, uint64_t utime, uint64_t stime, int64_t cutime,
                     int64_t cstime, uint64_t start) {
  return fmt::format(
      "{} ({}) S {} {} {} 0 -1 4194304 100 0 0 0 {} {} {} {} 20 0 1 0 {} 3133440 362 "
      "18446744073709551615 94195840249856 0 0\n",
      pid, comm, ppid, pid, pid, utime, stime, cutime, cstime, start);
}

ProcessInfo Proc(pid_t pid, pid_t ppid, uint64_t ticks, uint64_t start = 1, std::string cmdline = "") {
  return {ProcessTicks{.pid = pid, .ppid = ppid, .start = start, .ticks = ticks}, std::move(cmdline)};
}

LoadSnapshot Snap(uint64_t busy, uint64_t total, int cores, std::vector<ProcessInfo> ours) {
  LoadSnapshot s;
  s.cpu = {.busy = busy, .total = total, .cores = cores};
  for (const auto& p : ours) s.ours[p.stat.pid] = p.stat;
  return s;
}

// ---- /proc texts ------------------------------------------------------------------------

TEST(MachineLoadTest, ProcStatBusyIsAllButIdleAndIowaitWithoutGuestTwice) {
  const char* text =
      "cpu  1944409 338221 298311 955305 9090 10 4438 1301 500 7\n"
      "cpu0 967489 163659 136859 502982 2639 0 831 657 0 0\n"
      "cpu1 976919 174562 161452 452322 6451 0 3606 643 0 0\n"
      "intr 21178315 0 0 0\n"
      "ctxt 123\n";
  auto cpu = ParseProcStat(text);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->busy, 1944409u + 338221 + 298311 + 10 + 4438 + 1301);  // guest (500, 7) is inside user/nice
  EXPECT_EQ(cpu->total, cpu->busy + 955305 + 9090);
  EXPECT_EQ(cpu->cores, 2);
}

TEST(MachineLoadTest, ProcStatOfAnOldKernelWithFourCountersParses) {
  auto cpu = ParseProcStat("cpu 10 20 30 40\ncpu0 10 20 30 40\n");
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->busy, 60u);
  EXPECT_EQ(cpu->total, 100u);
  EXPECT_EQ(cpu->cores, 1);
}

TEST(MachineLoadTest, ProcStatWithoutAUsableCpuLineIsAnError) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("cpu0 1 2 3 4\nintr 5\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2 3\n").ok());
  auto bad = ParseProcStat("cpu 1 2 x 4\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a number"), std::string::npos) << bad.status().message();
}

TEST(MachineLoadTest, LoadAverageIsTheFirstField) {
  auto load = ParseLoadAverage1("8.85 7.55 7.16 8/161 5168\n");
  ASSERT_TRUE(load.ok());
  EXPECT_DOUBLE_EQ(*load, 8.85);
  EXPECT_FALSE(ParseLoadAverage1("").ok());
  EXPECT_FALSE(ParseLoadAverage1("high 1 2").ok());
}

TEST(MachineLoadTest, ProcessStatSumsOwnAndReapedChildrenTicks) {
  auto p = ParseProcessStat(StatLine(5164, "cat", 5162, 7, 3, 20, 5, 1778186));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pid, 5164);
  EXPECT_EQ(p->ppid, 5162);
  EXPECT_EQ(p->ticks, 35u);
  EXPECT_EQ(p->start, 1778186u);
}

TEST(MachineLoadTest, ProcessStatReadsFieldsAfterTheLastParenthesisOfTheName) {
  auto p = ParseProcessStat(StatLine(42, "a) S 9 (b", 7, 1, 2, 3, 4, 99));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pid, 42);
  EXPECT_EQ(p->ppid, 7);
  EXPECT_EQ(p->ticks, 10u);
}

TEST(MachineLoadTest, ProcessStatTruncatedOrMalformedIsAnError) {
  EXPECT_FALSE(ParseProcessStat("42 (x) S 1 2 3").ok());
  EXPECT_FALSE(ParseProcessStat("42 x S 1").ok());
  EXPECT_FALSE(ParseProcessStat(StatLine(42, "x", 1, 1, 2, 3, 4, 5).replace(0, 2, "zz")).ok());
}

TEST(MachineLoadTest, NegativeChildTicksCountAsZero) {
  auto p = ParseProcessStat(StatLine(42, "x", 1, 5, 5, -1, -1, 5));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ticks, 10u);
}

// ---- which processes are ours -----------------------------------------------------------

TEST(MachineLoadTest, OursAreTheHarnessTreeAndMarkedProcessesWithTheirDescendants) {
  std::vector<ProcessInfo> all = {
      Proc(1, 0, 0, 1, "/sbin/init"),
      Proc(100, 1, 0, 1, "evaluate --profile quick"),                               // the harness (self)
      Proc(101, 100, 0, 1, "wow serve --port 0"),                                   // a platform
      Proc(102, 101, 0, 1, "cc -O2 x.c"),                                           // its compiler
      Proc(200, 1, 0, 1, "containerd-shim-runc-v2 -address /tmp/wowd.ab/x.sock"),   // re-parented shim
      Proc(201, 200, 0, 1, "wow-action-proxy"),                                     // a container
      Proc(300, 1, 0, 1, "containerd-shim-runc-v2 -address /run/containerd.sock"),  // someone else's
      Proc(301, 300, 0, 1, "postgres"),
      Proc(400, 1, 0, 1, "make -j2"),
  };
  OurProcesses ours = SelectOurs(all, 100, {"/tmp/wowd.ab/"});
  std::vector<pid_t> pids;
  for (const auto& [pid, p] : ours) pids.push_back(pid);
  EXPECT_EQ(pids, (std::vector<pid_t>{100, 101, 102, 200, 201}));
  EXPECT_EQ(SelectOurs(all, 100, {}).size(), 3u);
  EXPECT_EQ(SelectOurs(all, 100, {""}).size(), 3u);  // an empty marker marks nothing
}

// ---- accounting ----------------------------------------------------------------------------

TEST(MachineLoadTest, OthersAreBusyMinusOursInCores) {
  // 2 cores, 200 ticks of machine (1 s at 100 Hz): 150 busy, 90 of them ours.
  LoadSnapshot a = Snap(1000, 5000, 2, {Proc(100, 1, 10), Proc(101, 100, 20)});
  LoadSnapshot b = Snap(1150, 5200, 2, {Proc(100, 1, 40), Proc(101, 100, 80)});
  EXPECT_EQ(OurTicksBetween(a, b), 90u);
  LoadInterval i = Between(a, b);
  EXPECT_EQ(i.others_ticks, 60u);
  EXPECT_DOUBLE_EQ(i.busy_cores, 1.5);
  EXPECT_DOUBLE_EQ(i.ours_cores, 0.9);
  EXPECT_DOUBLE_EQ(i.others_cores, 0.6);
  EXPECT_DOUBLE_EQ(i.others_share(), 0.3);
}

TEST(MachineLoadTest, ANewProcessCountsWhole) {
  LoadSnapshot a = Snap(0, 0, 1, {Proc(100, 1, 10)});
  LoadSnapshot b = Snap(0, 0, 1, {Proc(100, 1, 15), Proc(103, 100, 30)});
  EXPECT_EQ(OurTicksBetween(a, b), 35u);
}

TEST(MachineLoadTest, AChildReapedByOursIsCountedOnceThroughItsParentsCutime) {
  // The proxy (101) ran a native action (102): 25 ticks by the first sample,
  // 40 in all; the proxy reaped it, so its cutime holds the 40.
  LoadSnapshot a = Snap(0, 0, 1, {Proc(100, 1, 0), Proc(101, 100, 5), Proc(102, 101, 25)});
  LoadSnapshot b = Snap(0, 0, 1, {Proc(100, 1, 0), Proc(101, 100, 5 + 2 + 40)});
  EXPECT_EQ(OurTicksBetween(a, b), 2u + 15u);
}

TEST(MachineLoadTest, AProcessReapedOutsideOursDropsOutWithoutANegativeInterval) {
  // A shim (200) with its container's ticks in its cutime ends; init reaps it.
  LoadSnapshot a = Snap(0, 0, 1, {Proc(100, 1, 50), Proc(200, 1, 400)});
  LoadSnapshot b = Snap(0, 0, 1, {Proc(100, 1, 60)});
  EXPECT_EQ(OurTicksBetween(a, b), 10u);
}

TEST(MachineLoadTest, AReusedPidIsANewProcess) {
  LoadSnapshot a = Snap(0, 0, 1, {Proc(100, 1, 0), Proc(101, 100, 500, /*start=*/7)});
  // 101 ended (reaped by 100: its cutime +520), and a new 101 was born.
  LoadSnapshot b = Snap(0, 0, 1, {Proc(100, 1, 520), Proc(101, 100, 3, /*start=*/90)});
  EXPECT_EQ(OurTicksBetween(a, b), 20u + 3u);
}

TEST(MachineLoadTest, OursAboveBusyGivesNoNegativeOthers) {
  LoadSnapshot a = Snap(100, 1000, 2, {Proc(100, 1, 0)});
  LoadSnapshot b = Snap(110, 1100, 2, {Proc(100, 1, 30)});
  LoadInterval i = Between(a, b);
  EXPECT_EQ(i.others_ticks, 0u);
  EXPECT_DOUBLE_EQ(i.others_cores, 0);
  EXPECT_DOUBLE_EQ(Between(a, a).others_cores, 0);  // no time passed: no division by zero
}

// ---- per step -------------------------------------------------------------------------------

TEST(MachineLoadTest, StepMeanIsWeightedByTicksAndMaxIsTheWorstSample) {
  std::vector<LoadInterval> during(3);
  during[0] = {.total_ticks = 200, .ours_ticks = 100, .others_ticks = 0, .others_cores = 0, .cores = 2};
  during[1] = {.total_ticks = 200, .ours_ticks = 100, .others_ticks = 100, .others_cores = 1.0, .cores = 2};
  during[2] = {.total_ticks = 100, .ours_ticks = 0, .others_ticks = 0, .others_cores = 0, .cores = 2};  // partial
  StepLoad load;
  AddIntervals(load, during);
  EXPECT_EQ(load.samples, 3);
  EXPECT_EQ(load.cores, 2);
  EXPECT_DOUBLE_EQ(load.others_mean, 100.0 / 500.0 * 2);
  EXPECT_DOUBLE_EQ(load.others_max, 1.0);
  EXPECT_DOUBLE_EQ(load.ours_mean, 200.0 / 500.0 * 2);
}

TEST(MachineLoadTest, QuietNeedsBothTheWindowBeforeAndTheMeanDuringAtMostTheThreshold) {
  StepLoad load;
  load.cores = 2;
  EXPECT_TRUE(IsQuiet(load));
  load.others_mean = kQuietOthersCores;
  EXPECT_TRUE(IsQuiet(load));
  load.others_max = 1.5;  // one busy second does not make a step loud
  EXPECT_TRUE(IsQuiet(load));
  load.others_mean = 0.11;
  EXPECT_FALSE(IsQuiet(load));
  load.others_mean = 0;
  load.others_before = 0.5;
  EXPECT_FALSE(IsQuiet(load));
  EXPECT_TRUE(IsQuiet(load, 0.5));
  StepLoad unmeasured;
  unmeasured.error = "cannot open /proc/stat";
  EXPECT_FALSE(IsQuiet(unmeasured));
}

TEST(MachineLoadTest, JsonHasEveryFigureOrTheError) {
  StepLoad load{.error = "",
                .cores = 2,
                .load1_before = 0.4,
                .others_before = 0.05,
                .waited_seconds = 3,
                .others_mean = 0.8,
                .others_max = 1.2,
                .ours_mean = 1.1,
                .samples = 12};
  auto o = StepLoadJson(load).as_object();
  EXPECT_EQ(o.at("quiet").as_bool(), false);
  EXPECT_DOUBLE_EQ(o.at("quiet_threshold_cores").as_double(), kQuietOthersCores);
  EXPECT_DOUBLE_EQ(o.at("load1_before").as_double(), 0.4);
  EXPECT_DOUBLE_EQ(o.at("others_mean_cores").as_double(), 0.8);
  EXPECT_DOUBLE_EQ(o.at("others_max_cores").as_double(), 1.2);
  EXPECT_DOUBLE_EQ(o.at("waited_s").as_double(), 3);
  EXPECT_EQ(o.at("samples").as_int64(), 12);
  StepLoad bad;
  bad.error = "no /proc";
  auto e = StepLoadJson(bad).as_object();
  EXPECT_EQ(e.at("error").as_string(), "no /proc");
  EXPECT_FALSE(e.contains("others_mean_cores"));
}

}  // namespace
}  // namespace wow::bench::eval
