#include "machine_load.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <unordered_map>

#include "common/files.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Whitespace-separated fields of `line`.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename T>
bool ParseNumber(std::string_view s, T& value) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

// A tick counter that the kernel prints as a signed long (cutime, cstime): never negative here.
bool ParseTicks(std::string_view s, uint64_t& value) {
  int64_t v = 0;
  if (!ParseNumber(s, v)) return false;
  value = v < 0 ? 0 : static_cast<uint64_t>(v);
  return true;
}

}  // namespace

// ---- /proc texts ------------------------------------------------------------------

Result<CpuTicks> ParseProcStat(std::string_view text) {
  CpuTicks out;
  bool found = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("cpu") && line.size() > 3 && std::isdigit(static_cast<unsigned char>(line[3]))) {
      ++out.cores;
      continue;
    }
    if (!line.starts_with("cpu ")) continue;
    std::vector<std::string_view> f = Fields(line);
    // cpu user nice system idle [iowait irq softirq steal guest guest_nice]
    if (f.size() < 5) return Status::InvalidArgument("/proc/stat: the \"cpu\" line has fewer than 4 counters");
    uint64_t v[10] = {};
    for (size_t i = 1; i < f.size() && i <= 10; ++i) {
      if (!ParseNumber(f[i], v[i - 1]))
        return Status::InvalidArgument(fmt::format("/proc/stat: \"cpu\" counter {} is not a number: {}", i, f[i]));
    }
    const uint64_t idle = v[3] + v[4];
    out.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // guest and guest_nice are already in user and nice
    out.total = out.busy + idle;
    found = true;
  }
  if (!found) return Status::InvalidArgument("/proc/stat: no \"cpu\" line");
  if (out.cores == 0) out.cores = 1;  // a kernel that lists no cpuN lines has one
  return out;
}

Result<double> ParseLoadAverage1(std::string_view text) {
  std::vector<std::string_view> f = Fields(text);
  double value = 0;
  if (f.empty() || !ParseNumber(f[0], value) || value < 0)
    return Status::InvalidArgument("/proc/loadavg: the first field is not a load average");
  return value;
}

Result<ProcessTicks> ParseProcessStat(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos || text.find('(') == std::string_view::npos)
    return Status::InvalidArgument("/proc/<pid>/stat: no (command name)");
  ProcessTicks out;
  std::vector<std::string_view> head = Fields(text.substr(0, text.find('(')));
  if (head.size() != 1 || !ParseNumber(head[0], out.pid))
    return Status::InvalidArgument("/proc/<pid>/stat: no pid before the command name");
  // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ... starttime(22).
  std::vector<std::string_view> f = Fields(text.substr(close + 1));
  constexpr size_t kFirst = 3;  // the field number of f[0]
  auto at = [&](size_t field) { return f[field - kFirst]; };
  if (f.size() < 22 - kFirst + 1) return Status::InvalidArgument("/proc/<pid>/stat: too few fields");
  uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
  if (!ParseNumber(at(4), out.ppid) || !ParseTicks(at(14), utime) || !ParseTicks(at(15), stime) ||
      !ParseTicks(at(16), cutime) || !ParseTicks(at(17), cstime) || !ParseNumber(at(22), out.start)) {
    return Status::InvalidArgument("/proc/<pid>/stat: a malformed number");
  }
  out.ticks = utime + stime + cutime + cstime;
  return out;
}

// ---- accounting -----------------------------------------------------------------------

OurProcesses SelectOurs(const std::vector<ProcessInfo>& all, pid_t self, const std::vector<std::string>& markers) {
  std::unordered_map<pid_t, std::vector<const ProcessInfo*>> children;
  std::vector<const ProcessInfo*> pending;
  for (const ProcessInfo& p : all) {
    children[p.stat.ppid].push_back(&p);
    bool root = p.stat.pid == self;
    for (const std::string& m : markers) root = root || (!m.empty() && p.cmdline.find(m) != std::string::npos);
    if (root) pending.push_back(&p);
  }
  OurProcesses ours;
  while (!pending.empty()) {
    const ProcessInfo* p = pending.back();
    pending.pop_back();
    if (!ours.emplace(p->stat.pid, p->stat).second) continue;  // reached twice (a marked descendant)
    if (auto it = children.find(p->stat.pid); it != children.end())
      pending.insert(pending.end(), it->second.begin(), it->second.end());
  }
  return ours;
}

uint64_t OurTicksBetween(const LoadSnapshot& a, const LoadSnapshot& b) {
  auto same = [](const ProcessTicks& x, const ProcessTicks& y) { return x.start == y.start; };
  int64_t sum = 0;
  for (const auto& [pid, p] : b.ours) sum += static_cast<int64_t>(p.ticks);
  for (const auto& [pid, p] : a.ours) {
    if (auto now = b.ours.find(pid); now != b.ours.end() && same(now->second, p)) {
      sum -= static_cast<int64_t>(p.ticks);
      continue;
    }
    // Gone (or its pid reused): reaped by a parent that is still ours, its
    // ticks are in that parent's cutime/cstime in `b`.
    auto parent_now = b.ours.find(p.ppid);
    auto parent_then = a.ours.find(p.ppid);
    if (parent_now != b.ours.end() && (parent_then == a.ours.end() || same(parent_then->second, parent_now->second)))
      sum -= static_cast<int64_t>(p.ticks);
  }
  return sum > 0 ? static_cast<uint64_t>(sum) : 0;
}

LoadInterval Between(const LoadSnapshot& a, const LoadSnapshot& b) {
  LoadInterval out;
  out.cores = b.cpu.cores;
  out.total_ticks = b.cpu.total > a.cpu.total ? b.cpu.total - a.cpu.total : 0;
  const uint64_t busy = b.cpu.busy > a.cpu.busy ? b.cpu.busy - a.cpu.busy : 0;
  out.ours_ticks = OurTicksBetween(a, b);
  out.others_ticks = busy > out.ours_ticks ? busy - out.ours_ticks : 0;
  if (out.total_ticks == 0) return out;
  const double scale = static_cast<double>(out.cores) / static_cast<double>(out.total_ticks);
  out.busy_cores = static_cast<double>(busy) * scale;
  out.ours_cores = static_cast<double>(out.ours_ticks) * scale;
  out.others_cores = static_cast<double>(out.others_ticks) * scale;
  return out;
}

// ---- per step --------------------------------------------------------------------------

bool IsQuiet(const StepLoad& load, double threshold) {
  return load.measured() && load.others_before <= threshold && load.others_mean <= threshold;
}

void AddIntervals(StepLoad& load, const std::vector<LoadInterval>& during) {
  uint64_t total = 0, ours = 0, others = 0;
  load.samples = 0;
  load.others_max = 0;
  for (const LoadInterval& i : during) {
    ++load.samples;
    if (i.total_ticks == 0) continue;
    total += i.total_ticks;
    ours += i.ours_ticks;
    others += i.others_ticks;
    load.others_max = std::max(load.others_max, i.others_cores);
    if (i.cores > 0) load.cores = i.cores;
  }
  const double scale = total > 0 ? static_cast<double>(load.cores) / static_cast<double>(total) : 0;
  load.others_mean = static_cast<double>(others) * scale;
  load.ours_mean = static_cast<double>(ours) * scale;
}

boost::json::value StepLoadJson(const StepLoad& load, double threshold) {
  boost::json::object o;
  o["quiet"] = IsQuiet(load, threshold);
  o["quiet_threshold_cores"] = threshold;
  if (!load.measured()) {
    o["error"] = load.error;
    return o;
  }
  o["cores"] = load.cores;
  o["load1_before"] = load.load1_before;
  o["others_before_cores"] = load.others_before;
  o["waited_s"] = load.waited_seconds;
  o["others_mean_cores"] = load.others_mean;
  o["others_max_cores"] = load.others_max;
  o["ours_mean_cores"] = load.ours_mean;
  o["samples"] = load.samples;
  return o;
}

// ---- sampling /proc ----------------------------------------------------------------------

Result<LoadSnapshot> TakeSnapshot(pid_t self, const std::vector<std::string>& markers) {
  LoadSnapshot snap;
  WOW_ASSIGN_OR_RETURN(std::string stat, ReadFile("/proc/stat"));
  WOW_ASSIGN_OR_RETURN(snap.cpu, ParseProcStat(stat));
  std::vector<ProcessInfo> all;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    pid_t pid = 0;
    if (!ParseNumber(std::string_view(name), pid)) continue;
    auto text = ReadFile(entry.path() / "stat");
    if (!text.ok()) continue;  // ended meanwhile
    auto parsed = ParseProcessStat(*text);
    if (!parsed.ok()) continue;
    ProcessInfo info{*parsed, {}};
    if (!markers.empty()) {
      if (auto cmdline = ReadFile(entry.path() / "cmdline"); cmdline.ok()) {
        info.cmdline = std::move(cmdline).value();
        std::replace(info.cmdline.begin(), info.cmdline.end(), '\0', ' ');
      }
    }
    all.push_back(std::move(info));
  }
  if (ec) return Status::IoError("cannot list /proc: " + ec.message());
  snap.ours = SelectOurs(all, self, markers);
  if (snap.ours.find(self) == snap.ours.end()) return Status::IoError("/proc has no stat of the harness itself");
  return snap;
}

LoadMonitor::LoadMonitor(LoadMonitorOptions options, const std::atomic<bool>* stop,
                         std::function<void(std::string_view)> note)
    : options_(std::move(options)), self_(::getpid()) {
  auto stopping = [&] { return stop != nullptr && stop->load(); };
  const auto first = Clock::now();
  bool told = false;
  while (true) {
    const auto window_start = Clock::now();
    auto a = TakeSnapshot(self_, options_.markers);
    if (a.ok()) std::this_thread::sleep_for(options_.before_window);  // the measurement window, not a wait
    auto b = a.ok() ? TakeSnapshot(self_, options_.markers) : a;
    if (!b.ok()) {
      load_.error = b.status().message();
      return;
    }
    LoadInterval before = Between(*a, *b);
    load_.others_before = before.others_cores;
    load_.cores = before.cores;
    load_.waited_seconds = std::chrono::duration<double>(window_start - first).count();
    last_ = std::move(b).value();
    if (before.others_cores <= options_.quiet_others_cores || stopping() ||
        Clock::now() - first >= options_.wait_quiet) {
      break;
    }
    if (!told && note) {
      note(fmt::format("waiting up to {} s for a quiet machine: other processes use {:.2f} cores (quiet: <= {:.2f})",
                       options_.wait_quiet.count(), before.others_cores, options_.quiet_others_cores));
      told = true;
    }
  }
  auto loadavg = ReadFile("/proc/loadavg");
  auto load1 = loadavg.ok() ? ParseLoadAverage1(*loadavg) : Result<double>(loadavg.status());
  if (!load1.ok()) {
    load_.error = load1.status().message();
    return;
  }
  load_.load1_before = *load1;
  thread_ = std::thread([this] { Sample(); });
}

LoadMonitor::~LoadMonitor() { Finish(); }

void LoadMonitor::Sample() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait_for(lock, options_.interval, [this] { return done_; });
    const bool last = done_;
    lock.unlock();
    auto now = TakeSnapshot(self_, options_.markers);
    lock.lock();
    if (now.ok()) {
      during_.push_back(Between(last_, *now));
      last_ = std::move(now).value();
    }
    if (last) return;
  }
}

StepLoad LoadMonitor::Finish() {
  if (finished_) return load_;
  finished_ = true;
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    const int cores = load_.cores;
    AddIntervals(load_, during_);
    if (load_.cores == 0) load_.cores = cores;
  }
  return load_;
}

}  // namespace wow::bench::eval
