#pragma once

// Real Docker for the paper's evaluation (issue 5): a private dockerd the harness starts and stops itself, a small
// Engine API client over its unix socket, and per-container memory figures from cgroups. Nothing here uses the
// docker CLI (the one on PATH may be a different version than the daemon).

#include <sys/types.h>

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

using std::filesystem::path;

// The Engine API version every request names (Docker 20.10).
inline constexpr std::string_view kDockerApiVersion = "v1.41";

// ---- Engine API client ---------------------------------------------------------------------------------------

struct ContainerSpec {
  std::string image;                          // "repo:tag"
  std::vector<std::string> cmd;               // empty: the image's CMD
  std::vector<std::string> env;               // "KEY=value"
  std::string network_mode = "none";          // "none" or "host"; always sent
  uint64_t memory_bytes = 0;                  // 0: no limit; else also MemorySwap, so there is no swap
  std::optional<std::string> name;            // container name; none: Docker picks one
  std::map<std::string, std::string> labels;  // e.g. {"wow.bench": "1"} to find them for cleanup
  // SIGTERM to SIGKILL when stopped, also when the daemon shuts down (Docker's default is 10 s).
  int stop_timeout_seconds = 1;
};

struct ContainerState {
  int pid = 0;  // of the container's init process in our pid namespace; 0 when not running
  bool running = false;
  bool oom_killed = false;
  int exit_code = 0;
  std::string status;  // "created", "running", "exited", ...
};

// A client of one daemon's Engine API. Thread-safe: every call opens its own connection and shares no state.
class DockerApi {
 public:
  using Verb = boost::beast::http::verb;
  using Duration = std::chrono::milliseconds;

  explicit DockerApi(path socket_path) : socket_path_(std::move(socket_path)) {}

  // One request; `target` is prefixed with "/v1.41" unless it already starts with "/v1.". `body` is JSON text (or
  // empty). Answers the response's JSON (null for an empty body; a string for a body that is not JSON). A
  // non-2xx answer is an error whose message names the request, the HTTP status and Docker's message.
  Result<boost::json::value> Call(Verb verb, std::string_view target, std::string_view body = {},
                                  Duration timeout = std::chrono::seconds(60)) const;

  // The daemon's version, e.g. "20.10.24+dfsg1".
  Result<std::string> Version(Duration timeout = std::chrono::seconds(10)) const;

  // `docker import` of a rootfs tarball as repo:tag with CMD `cmd` (none when empty). The tar is streamed from the
  // file; errors reported inside the progress stream are errors too.
  Status ImportImage(const path& tar, std::string_view repo, std::string_view tag, const std::vector<std::string>& cmd,
                     Duration timeout = std::chrono::seconds(300)) const;

  // Answers the new container's full id.
  Result<std::string> CreateContainer(const ContainerSpec& spec, Duration timeout = std::chrono::seconds(60)) const;
  // Starting a running container is OK.
  Status StartContainer(std::string_view id, Duration timeout = std::chrono::seconds(60)) const;
  // Kills (force) and removes the container and its anonymous volumes; a container that is already gone is OK.
  Status RemoveContainer(std::string_view id, bool force = true, Duration timeout = std::chrono::seconds(60)) const;
  Result<ContainerState> Inspect(std::string_view id, Duration timeout = std::chrono::seconds(30)) const;
  // Full ids; `label` ("key" or "key=value") filters when not empty.
  Result<std::vector<std::string>> ListContainers(bool all, std::string_view label = {},
                                                  Duration timeout = std::chrono::seconds(30)) const;

  const path& socket_path() const { return socket_path_; }

 private:
  path socket_path_;
};

// ---- pure helpers of the API client (tested on their own) -----------------------------------------------------

// Percent-encodes everything but RFC 3986 unreserved characters, for query values.
std::string UrlEncode(std::string_view text);

// The error for a non-2xx answer: "<what>: HTTP <status>: <message>", with Docker's {"message": ...} when the body
// has one, else the body itself (shortened). 400 → kInvalidArgument, 404 → kNotFound, 409 → kAlreadyExists, else
// kIoError.
Status ApiErrorStatus(int http_status, std::string_view body, std::string_view what);

// Reads the stream of JSON progress objects that POST /images/create answers. An object with "error" or
// "errorDetail" is an error carrying its message; otherwise answers the last "status" (the image id for an import).
Result<std::string> ParseImportProgress(std::string_view stream);

// ---- the private daemon ---------------------------------------------------------------------------------------

struct DockerdOptions {
  path dockerd = "/usr/sbin/dockerd";
  path root_parent = "/tmp";  // the daemon's root is a fresh <root_parent>/wowd.XXXXXX: keep it short
  // A plain cgroup name (cgroupfs driver): containers go to /sys/fs/cgroup[/<controller>]/<cgroup_parent>/<id>.
  // Daemons running at the same time should use different names.
  std::string cgroup_parent = "wowbench";
  std::chrono::seconds start_timeout{30};
};

// A dockerd of our own: its data, exec root, socket, pidfile, log and (managed) containerd all live under one
// temporary root directory, with no bridge, no iptables and its own cgroup parent, so it neither needs nor
// disturbs a system Docker.
//
// If the harness dies (even by SIGKILL), the daemon is not left behind: dockerd runs under a small watchdog
// process that holds the read end of a pipe whose only write end the harness holds; when that end closes, the
// watchdog sends dockerd SIGTERM (SIGKILL after 20 s). Then dockerd stops its containers and containerd and unmounts
// its mounts itself; only the root directory and empty cgroup dirs stay behind in that case. (A pipe rather than
// PR_SET_PDEATHSIG, because the death signal fires when the *thread* that forked exits.)
class Dockerd {
 public:
  // Starts the daemon and waits until its API answers. Fails with a one-line reason: dockerd not installed, not
  // root, the daemon exited early (with the last lines of its log), or not ready within options.start_timeout.
  // Nothing is left behind on failure.
  static Result<std::unique_ptr<Dockerd>> Start(DockerdOptions options = {});

  Dockerd(const Dockerd&) = delete;
  Dockerd& operator=(const Dockerd&) = delete;
  ~Dockerd();  // Stop()s, printing problems to stderr

  // Removes every container (force), stops dockerd (SIGTERM, SIGKILL after a grace period), kills processes that
  // still name our root (containerd, shims), unmounts whatever is still mounted under the root, removes the cgroup
  // directories under the cgroup parent and then the root. Reports every problem in one Status; cleans as much as
  // it can regardless. Idempotent: later calls answer OK.
  Status Stop();

  const DockerApi& api() const { return api_; }
  const path& root_dir() const { return root_; }
  path socket_path() const { return root_ / "docker.sock"; }
  path log_path() const { return root_ / "dockerd.log"; }
  const std::string& cgroup_parent() const { return options_.cgroup_parent; }
  const std::string& version() const { return version_; }  // from GET /version, e.g. "20.10.24+dfsg1"
  pid_t watchdog_pid() const { return watchdog_; }

 private:
  Dockerd(DockerdOptions options, path root);
  Status Launch();          // forks the watchdog, which starts dockerd
  Status WaitUntilReady();  // until GET /version answers
  // Reaps the watchdog if it has exited (or, with `block`, once it does); true when it is gone.
  bool ReapWatchdog(bool block);

  DockerdOptions options_;
  path root_;
  DockerApi api_;
  std::string version_;
  pid_t watchdog_ = -1;   // the process we forked; dockerd is its child
  int lifeline_fd_ = -1;  // write end of the watchdog's pipe; closing it stops dockerd
  int exit_status_ = -1;  // the watchdog's (= dockerd's) exit code once reaped, 128+N for signal N
  bool stopped_ = false;
};

// ---- memory figures -------------------------------------------------------------------------------------------

struct CgroupMemory {
  uint64_t usage = 0;          // memory.usage_in_bytes (v1) or memory.current (v2)
  uint64_t inactive_file = 0;  // total_inactive_file (v1) or inactive_file (v2) from memory.stat
  // What `docker stats` shows: usage without the inactive page cache.
  uint64_t stats_bytes() const { return usage > inactive_file ? usage - inactive_file : 0; }
};

// Pure parsers of the cgroup files' texts; a malformed number or a missing key is an error.
Result<CgroupMemory> ParseCgroupV1(std::string_view usage_text, std::string_view stat_text);
Result<CgroupMemory> ParseCgroupV2(std::string_view current_text, std::string_view stat_text);

// The container's memory from /sys/fs/cgroup: cgroup v1 (memory/<parent>/<id>) or v2 (<parent>/<id> or
// <parent>/docker-<id>.scope). On failure, the message lists the directories tried.
Result<CgroupMemory> ReadContainerMemory(std::string_view cgroup_parent, std::string_view container_id);

// The "Pss:" line of /proc/<pid>/smaps_rollup in bytes.
Result<uint64_t> ParseSmapsRollupPss(std::string_view text);
Result<uint64_t> ProcessPssBytes(pid_t pid);

// The containerd-shim process serving a container (it lives outside the container's cgroup): the process whose
// command line is containerd-shim* ... -id <container_id> (not a transient "start"/"delete" invocation).
Result<pid_t> ShimPid(std::string_view container_id);

}  // namespace wow::bench::eval
