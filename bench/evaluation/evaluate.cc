// evaluate: the paper's evaluation, side by side with real Docker, on this
// machine. Starts a private dockerd (when it can), builds the baselines'
// image, runs the experiments on every platform (wow's once per engine of
// --engines) and writes raw results, figures and summary.md into --out. See
// BENCHMARKS.md ("The paper's evaluation") for what each experiment does and
// how to read the figures.

#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <memory>

#include "common/files.h"
#include "docker.h"
#include "experiments.h"
#include "native_process.h"
#include "outputs.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

// --wait-quiet's cap: an hour per step.
constexpr int kMaxWaitQuietSeconds = 3600;

void OnSignal(int) { g_stop.store(true); }

// What a command prints on stdout, or "".
std::string OutputOf(std::vector<std::string> argv) {
  wow::bench::eval::ProcessOptions options;
  options.argv = std::move(argv);
  options.deadline = Clock::now() + std::chrono::seconds(10);
  auto run = wow::bench::eval::RunProcess(std::move(options));
  return run.ok() ? run->out : std::string();
}

// The first line a command prints, or "unknown".
std::string FirstLineOf(std::vector<std::string> argv) {
  std::string out = OutputOf(std::move(argv));
  return out.empty() ? "unknown" : out.substr(0, out.find('\n'));
}

// One container through the whole cold path (create, start, /init, /run):
// a daemon that starts but cannot run containers here (cgroups, overlayfs,
// seccomp) is skipped with the reason instead of failing every experiment.
Status ProbeDocker(const Environment& env) {
  auto probe = MakePlatform(env, PlatformKind::kDocker, "docker-probe", {});
  if (!probe.ok()) return probe.status();
  ActionSpec action{.name = "probe", .example = "hash", .memory_mb = env.profile.action_memory_mb};
  WOW_RETURN_IF_ERROR((*probe)->Deploy(action));
  Invocation inv = (*probe)->Invoke(action.name, R"({"iterations": 1})");
  if (!inv.ok) return Status::IoError("a probe container failed: " + inv.error);
  return Status::Ok();
}

struct Flags {
  std::string profile = "quick";
  bool full = false;
  std::string out;
  std::vector<std::string> platforms = {"docker", "process", "wow-executor", "wow-serve"};
  std::vector<std::string> engines;  // empty: the node's default engine
  std::vector<std::string> experiments = {"cold", "throughput", "skewed", "memory", "cpu", "deploy"};
  std::string wow = WOW_BINARY_DIR "/wow";
  std::string proxy = WOW_ACTION_PROXY;
  std::string examples = WOW_BINARY_DIR "/examples";
  uint64_t seed = 1;
  bool keep_work = false;
  bool list_engines = false;
  int wait_quiet_seconds = 0;
};

bool Wants(const Flags& f, std::string_view experiment) {
  return std::find(f.experiments.begin(), f.experiments.end(), experiment) != f.experiments.end();
}

int Run(const Flags& flags, const std::string& command) {
  auto started = Clock::now();
  Environment env;
  if (flags.profile == "smoke") {
    env.profile = SmokeProfile();
  } else if (flags.profile == "full" || flags.full) {
    env.profile = FullProfile();
  } else {
    env.profile = QuickProfile();
  }
  env.seed = flags.seed;
  env.stop = &g_stop;
  env.load.wait_quiet = std::chrono::seconds(flags.wait_quiet_seconds);
  env.artifacts = {flags.wow, flags.proxy, flags.examples, fs::path(flags.examples) / "native"};
  for (const fs::path& needed :
       {env.artifacts.wow, env.artifacts.proxy, env.artifacts.Wasm("hash"), env.artifacts.Native("hash")}) {
    if (!fs::exists(needed)) {
      fmt::print(stderr, "evaluate: {} is missing: build the targets wow, wow_action_proxy and examples first\n",
                 needed.string());
      return 2;
    }
  }
  // wow's platforms once per engine; `all` and the names checked against the binary's own list.
  std::vector<std::string> choices;
  if (!flags.engines.empty() || flags.list_engines)
    choices = ParseEngineChoices(OutputOf({env.artifacts.wow.string(), "executor", "--help"}));
  if (flags.list_engines) {
    for (const auto& e : choices) fmt::print("{}\n", e);
    return 0;
  }
  auto engines = ResolveEngines(flags.engines, choices);
  if (!engines.ok()) {
    fmt::print(stderr, "evaluate: {}\n", engines.status().message());
    return 2;
  }
  std::vector<PlatformKind> kinds;
  for (const auto& slug : flags.platforms) kinds.push_back(*ParsePlatform(slug));
  env.platforms = ExpandPlatforms(kinds, *engines);
  fs::path out = flags.out.empty() ? fs::path(WOW_SOURCE_DIR) / "bench" / "results" /
                                         fmt::format("{}-evaluation-{}", MachineInfo::Collect().date_utc.substr(0, 10),
                                                     env.profile.name)
                                   : fs::path(flags.out);
  TempDir work("wow-eval");
  env.work = work.path();
  env.aot_cache = work.path() / "aot-cache";

  RunInfo info;
  info.machine = MachineInfo::Collect();
  info.profile = env.profile.name;
  info.command = command;
  info.quiet_others_cores = env.load.quiet_others_cores;
  info.versions.emplace_back("wow", FirstLineOf({env.artifacts.wow.string(), "--version"}));
  info.versions.emplace_back("C compiler (cc)", FirstLineOf({"/usr/bin/cc", "--version"}));
  if (!engines->empty()) {
    std::string list;
    for (const auto& e : *engines) list += (list.empty() ? "" : ", ") + e;
    info.versions.emplace_back("wow engines in this run", list);
  }
  Results results;

  // Docker: a private daemon and the baselines' image, or a note saying why not.
  std::unique_ptr<Dockerd> dockerd;
  auto drop_docker = [&](const std::string& why) {
    results.notes.push_back("Docker: skipped: " + why);
    fmt::print(stderr, "evaluate: Docker: skipped: {}\n", why);
    std::erase(env.platforms, PlatformKind::kDocker);
  };
  if (std::find(env.platforms.begin(), env.platforms.end(), PlatformKind::kDocker) != env.platforms.end()) {
    fmt::print("evaluate: starting a private dockerd and building the baselines' image...\n");
    std::fflush(stdout);
    DockerdOptions docker_options;
    docker_options.cgroup_parent = fmt::format("wowbench-{}", ::getpid());  // runs side by side never share one
    auto daemon = Dockerd::Start(docker_options);
    if (!daemon.ok()) {
      drop_docker(daemon.status().message());
    } else {
      dockerd = std::move(daemon).value();
      env.docker = std::make_shared<DockerApi>(dockerd->socket_path());
      env.cgroup_parent = dockerd->cgroup_parent();
      env.load.markers = {dockerd->root_dir().string() + "/"};  // its containerd shims, not our descendants
      env.docker_image = "wow-bench/action-proxy:latest";
      info.versions.emplace_back("Docker Engine (dockerd)", dockerd->version());
      fs::create_directories(work.path() / "image");
      Status image = BuildProxyImage(env.artifacts, *env.docker, env.docker_image, work.path() / "image");
      image = image.ok() ? ProbeDocker(env) : Status::IoError("building the image: " + image.message());
      if (!image.ok()) {
        drop_docker(image.message());
        env.docker.reset();
        dockerd.reset();
      }
    }
  }
  info.platforms = env.platforms;
  for (const PlatformId& id : env.platforms) info.hash_params.emplace_back(id, ParamsFor(env.profile, id, "hash"));

  int steps = 0;
  if (Wants(flags, "cold")) steps += ColdStartSteps(env);
  if (Wants(flags, "throughput")) steps += 3 * ThroughputSteps(env);
  if (Wants(flags, "skewed")) steps += SkewedSteps(env);
  if (Wants(flags, "memory")) steps += MemorySteps(env);
  if (Wants(flags, "cpu")) steps += CpuSpeedSteps(env);
  if (Wants(flags, "deploy")) steps += DeploySteps(env);
  Progress progress(steps);
  env.progress = &progress;

  if (Wants(flags, "cold") && !env.stopping()) RunColdStart(env, results);
  for (Workload w : {Workload::kCpu, Workload::kIo, Workload::kMixed})
    if (Wants(flags, "throughput") && !env.stopping()) RunThroughput(env, w, results);
  if (Wants(flags, "skewed") && !env.stopping()) RunSkewed(env, results);
  if (Wants(flags, "memory") && !env.stopping()) RunMemory(env, results);
  if (Wants(flags, "cpu") && !env.stopping()) RunCpuSpeed(env, results);
  if (Wants(flags, "deploy") && !env.stopping()) RunDeploy(env, results);
  progress.End();
  if (env.stopping()) results.notes.push_back("The run was interrupted: the figures cover what ran until then.");

  env.docker.reset();
  if (dockerd) {
    Status stopped = dockerd->Stop();
    if (!stopped.ok()) results.notes.push_back("Stopping dockerd: " + stopped.ToString());
  }
  info.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<std::string> written;
  Status s = WriteOutputs(out, info, results, &written);
  fmt::print("\n{}\n", SummaryMarkdown(info, results));
  fmt::print("evaluate: wrote {} files to {}\n", written.size(), out.string());
  for (const auto& f : written) fmt::print("  {}\n", f);
  if (flags.keep_work) {
    fmt::print("evaluate: kept the work directory {}\n", work.path().string());
    std::error_code ec;
    fs::rename(work.path(), work.path().string() + ".kept", ec);
  }
  if (!s.ok()) {
    fmt::print(stderr, "evaluate: {}\n", s.ToString());
    return 1;
  }
  return env.stopping() ? 130 : 0;
}

}  // namespace
}  // namespace wow::bench::eval

int main(int argc, char** argv) {
  using namespace wow::bench::eval;
  CLI::App app{"The paper's evaluation: wow vs Docker vs a process per request, on this machine."};
  Flags flags;
  app.add_option("--profile", flags.profile, "smoke (seconds, for tests), quick (<= 10 min) or full")
      ->check(CLI::IsMember({"smoke", "quick", "full"}));
  app.add_flag("--full", flags.full, "same as --profile full");
  app.add_option("--out", flags.out, "results directory (default bench/results/<date>-evaluation-<profile>)");
  app.add_option("--platforms", flags.platforms, "docker, process, wow-executor, wow-serve")
      ->delimiter(',')
      ->check(CLI::IsMember({"docker", "process", "wow-executor", "wow-serve"}));
  app.add_option("--engines", flags.engines,
                 "wow's Wasm engines: each wow platform runs once per engine, e.g. aot,jit,interp,tiered, or `all` "
                 "(every engine `wow executor --help` lists); default: once, on the node's default engine")
      ->delimiter(',');
  app.add_option("--experiments", flags.experiments, "cold, throughput, skewed, memory, cpu, deploy")
      ->delimiter(',')
      ->check(CLI::IsMember({"cold", "throughput", "skewed", "memory", "cpu", "deploy"}));
  app.add_option("--wow", flags.wow, "the wow binary");
  app.add_option("--proxy", flags.proxy, "the wow-action-proxy binary");
  app.add_option("--examples", flags.examples, "directory with <name>.wasm and native/<name>");
  app.add_option("--seed", flags.seed, "seed of the workload generators");
  app.add_flag("--keep-work", flags.keep_work, "keep the scratch directory (logs of every service and proxy)");
  app.add_option("--wait-quiet", flags.wait_quiet_seconds,
                 fmt::format("before each experiment step, wait up to SECONDS (at most {}) for a quiet machine "
                             "(other processes using at most {:.0f}% of one core over 1 s); default 0: measure and "
                             "report the load, never wait",
                             kMaxWaitQuietSeconds, kQuietOthersCores * 100))
      ->check(CLI::Range(0, kMaxWaitQuietSeconds));
  app.add_flag("--list-engines", flags.list_engines,
               "print the engines --engines all means for --wow (one per line) and exit");
  CLI11_PARSE(app, argc, argv);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(i == 0 ? "evaluate" : argv[i]);
  return Run(flags, command);
}
