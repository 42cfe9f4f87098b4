#include "docker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/files.h"
#include "common/json.h"
#include "http/deadline_stream.h"

extern char** environ;

namespace wow::bench::eval {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using local = net::local::stream_protocol;
using Clock = std::chrono::steady_clock;

namespace {

// ---- HTTP over a unix socket ------------------------------------------------------------------------------------

struct ApiResponse {
  int status = 0;
  std::string body;
};

// One request on a fresh connection to the daemon's socket. `what` ("POST /v1.41/...") prefixes errors.
template <class Body>
Result<ApiResponse> Exchange(const path& socket_path, bh::request<Body>& req, std::chrono::milliseconds timeout,
                             const std::string& what) {
  try {
    auto deadline = Clock::now() + timeout;
    net::io_context ioc;  // never run: only owns the socket's service
    local::socket socket(ioc);
    beast::error_code ec;
    if (socket_path.native().size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Status::InvalidArgument(what + ": socket path too long: " + socket_path.string());
    }
    socket.open(local(), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (ec) return Status::IoError(what + ": cannot create a socket: " + ec.message());
    // A unix socket connects at once or fails; EAGAIN means the daemon's backlog is full: retry until the deadline.
    const local::endpoint endpoint(socket_path.native());
    while (::connect(socket.native_handle(), endpoint.data(), endpoint.size()) != 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      return Status::IoError(what + ": cannot connect to " + socket_path.string() + ": " + std::strerror(err));
    }
    http::DeadlineStream stream(socket, deadline);
    req.set(bh::field::host, "docker");
    req.set(bh::field::user_agent, "wow-bench");
    req.keep_alive(false);
    req.prepare_payload();
    bh::write(stream, req, ec);
    if (ec) return Status::IoError(what + ": sending the request: " + ec.message());
    beast::flat_buffer buffer;
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(boost::none);
    bh::read(stream, buffer, parser, ec);
    if (ec) return Status::IoError(what + ": reading the response: " + ec.message());
    return ApiResponse{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
  } catch (const std::exception& e) {
    return Status::IoError(what + ": " + e.what());
  }
}

std::string FullTarget(std::string_view target) {
  if (target.starts_with("/v1.")) return std::string(target);
  return "/" + std::string(kDockerApiVersion) + std::string(target);
}

std::string What(bh::verb verb, const std::string& target) {
  std::string what(bh::to_string(verb));
  return what + " " + target.substr(0, target.find('?'));
}

// The JSON of a 2xx answer, or the error of any other.
Result<json::value> Interpret(const ApiResponse& response, std::string_view what) {
  if (response.status < 200 || response.status > 299) return ApiErrorStatus(response.status, response.body, what);
  std::string_view body = response.body;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::value(nullptr);
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return json::value(json::string(body));
  return std::move(parsed).value();
}

std::string StringField(const json::value& v, std::string_view key) {
  const auto* object = v.if_object();
  if (object == nullptr) return {};
  const auto* field = object->if_contains(key);
  return field != nullptr && field->is_string() ? std::string(field->get_string()) : std::string();
}

std::string Shorten(std::string_view text, size_t limit = 300) {
  std::string out(text.substr(0, limit));
  if (text.size() > limit) out += "...";
  return out;
}

}  // namespace

// ---- pure helpers ----------------------------------------------------------------------------------------------

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status ApiErrorStatus(int http_status, std::string_view body, std::string_view what) {
  std::string message;
  if (auto parsed = ParseJson(body); parsed.ok()) message = StringField(*parsed, "message");
  if (message.empty()) {
    std::string_view trimmed = body;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.remove_suffix(1);
    message = trimmed.empty() ? "(no message)" : Shorten(trimmed);
  }
  std::string text = std::string(what) + ": HTTP " + std::to_string(http_status) + ": " + message;
  switch (http_status) {
    case 400: return Status::InvalidArgument(std::move(text));
    case 404: return Status::NotFound(std::move(text));
    case 409: return Status::Error(Code::kAlreadyExists, Phase::kNone, std::move(text));
    default: return Status::IoError(std::move(text));
  }
}

Result<std::string> ParseImportProgress(std::string_view stream) {
  std::string last_status;
  size_t pos = 0;
  while (true) {
    pos = stream.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string_view::npos) break;
    json::stream_parser parser;
    boost::system::error_code ec;
    size_t used = parser.write_some(stream.data() + pos, stream.size() - pos, ec);
    if (!ec && !parser.done()) parser.finish(ec);
    if (ec) {
      return Status::IoError("malformed progress stream at byte " + std::to_string(pos) + ": " + ec.message());
    }
    pos += used;
    json::value message = parser.release();
    std::string error = StringField(message, "error");
    if (const auto* object = message.if_object(); error.empty() && object != nullptr) {
      if (const auto* detail = object->if_contains("errorDetail")) {
        error = StringField(*detail, "message");
        if (error.empty()) error = json::serialize(*detail);
      }
    }
    if (!error.empty()) return Status::IoError(error);
    if (std::string status = StringField(message, "status"); !status.empty()) last_status = std::move(status);
  }
  if (last_status.empty()) return Status::IoError("empty progress stream");
  return last_status;
}

// ---- DockerApi -------------------------------------------------------------------------------------------------

Result<json::value> DockerApi::Call(Verb verb, std::string_view target, std::string_view body, Duration timeout) const {
  std::string full = FullTarget(target);
  std::string what = What(verb, full);
  bh::request<bh::string_body> req{verb, full, 11};
  if (!body.empty()) {
    req.set(bh::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  WOW_ASSIGN_OR_RETURN(ApiResponse response, Exchange(socket_path_, req, timeout, what));
  return Interpret(response, what);
}

Result<std::string> DockerApi::Version(Duration timeout) const {
  WOW_ASSIGN_OR_RETURN(json::value v, Call(Verb::get, "/version", {}, timeout));
  std::string version = StringField(v, "Version");
  if (version.empty()) return Status::IoError("GET /version: no Version in " + Shorten(json::serialize(v)));
  return version;
}

Status DockerApi::ImportImage(const path& tar, std::string_view repo, std::string_view tag,
                              const std::vector<std::string>& cmd, Duration timeout) const {
  std::string target = FullTarget("/images/create") + "?fromSrc=-&repo=" + UrlEncode(repo) + "&tag=" + UrlEncode(tag);
  if (!cmd.empty()) {
    json::array args(cmd.begin(), cmd.end());
    target += "&changes=" + UrlEncode("CMD " + json::serialize(args));
  }
  std::string what = "importing " + tar.string() + " as " + std::string(repo) + ":" + std::string(tag);
  bh::request<bh::file_body> req{bh::verb::post, target, 11};
  beast::error_code ec;
  req.body().open(tar.c_str(), beast::file_mode::scan, ec);  // streamed from the file, not read into memory
  if (ec) return Status::IoError(what + ": cannot open the tarball: " + ec.message());
  req.set(bh::field::content_type, "application/x-tar");
  WOW_ASSIGN_OR_RETURN(ApiResponse response, Exchange(socket_path_, req, timeout, what));
  if (response.status < 200 || response.status > 299) return ApiErrorStatus(response.status, response.body, what);
  auto progress = ParseImportProgress(response.body);
  if (!progress.ok()) return progress.status().WithContext(what);
  return Status::Ok();
}

Result<std::string> DockerApi::CreateContainer(const ContainerSpec& spec, Duration timeout) const {
  json::object host_config{{"NetworkMode", spec.network_mode}};
  if (spec.memory_bytes > 0) {
    host_config["Memory"] = spec.memory_bytes;
    host_config["MemorySwap"] = spec.memory_bytes;  // the same as Memory: no swap
  }
  json::object body{
      {"Image", spec.image}, {"StopTimeout", spec.stop_timeout_seconds}, {"HostConfig", std::move(host_config)}};
  if (!spec.cmd.empty()) body["Cmd"] = json::array(spec.cmd.begin(), spec.cmd.end());
  if (!spec.env.empty()) body["Env"] = json::array(spec.env.begin(), spec.env.end());
  if (!spec.labels.empty()) {
    json::object labels;
    for (const auto& [key, value] : spec.labels) labels[key] = value;
    body["Labels"] = std::move(labels);
  }
  std::string target = "/containers/create";
  if (spec.name) target += "?name=" + UrlEncode(*spec.name);
  WOW_ASSIGN_OR_RETURN(json::value created, Call(Verb::post, target, json::serialize(body), timeout));
  std::string id = StringField(created, "Id");
  if (id.empty()) return Status::IoError("POST /containers/create: no Id in " + Shorten(json::serialize(created)));
  return id;
}

Status DockerApi::StartContainer(std::string_view id, Duration timeout) const {
  // 304 (already started) is not an error; Call treats it as one, so look at the raw answer.
  std::string target = FullTarget("/containers/" + std::string(id) + "/start");
  bh::request<bh::string_body> req{bh::verb::post, target, 11};
  std::string what = What(bh::verb::post, target);
  WOW_ASSIGN_OR_RETURN(ApiResponse response, Exchange(socket_path_, req, timeout, what));
  if (response.status == 304) return Status::Ok();
  return Interpret(response, what).status();
}

Status DockerApi::RemoveContainer(std::string_view id, bool force, Duration timeout) const {
  std::string target = "/containers/" + std::string(id) + "?v=true" + (force ? "&force=true" : "");
  auto removed = Call(Verb::delete_, target, {}, timeout);
  if (!removed.ok() && removed.status().code() != Code::kNotFound) return removed.status();
  return Status::Ok();  // removed, or already gone
}

Result<ContainerState> DockerApi::Inspect(std::string_view id, Duration timeout) const {
  WOW_ASSIGN_OR_RETURN(json::value v, Call(Verb::get, "/containers/" + std::string(id) + "/json", {}, timeout));
  const json::value* state = v.is_object() ? v.as_object().if_contains("State") : nullptr;
  if (state == nullptr || !state->is_object()) {
    return Status::IoError("GET /containers/" + std::string(id) + "/json: no State");
  }
  const json::object& s = state->as_object();
  auto number = [&](std::string_view key) -> int {
    const auto* f = s.if_contains(key);
    return f != nullptr && f->is_int64() ? static_cast<int>(f->as_int64()) : 0;
  };
  auto flag = [&](std::string_view key) {
    const auto* f = s.if_contains(key);
    return f != nullptr && f->is_bool() && f->as_bool();
  };
  ContainerState out;
  out.pid = number("Pid");
  out.running = flag("Running");
  out.oom_killed = flag("OOMKilled");
  out.exit_code = number("ExitCode");
  out.status = StringField(*state, "Status");
  return out;
}

Result<std::vector<std::string>> DockerApi::ListContainers(bool all, std::string_view label, Duration timeout) const {
  std::string target = std::string("/containers/json?all=") + (all ? "true" : "false");
  if (!label.empty()) {
    json::object filters{{"label", json::array{json::string(label)}}};
    target += "&filters=" + UrlEncode(json::serialize(filters));
  }
  WOW_ASSIGN_OR_RETURN(json::value v, Call(Verb::get, target, {}, timeout));
  if (!v.is_array()) return Status::IoError("GET /containers/json: not an array: " + Shorten(json::serialize(v)));
  std::vector<std::string> ids;
  for (const auto& container : v.as_array()) {
    if (std::string id = StringField(container, "Id"); !id.empty()) ids.push_back(std::move(id));
  }
  return ids;
}

// ---- the private daemon ----------------------------------------------------------------------------------------

namespace {

constexpr int kWatchdogGraceSeconds = 20;  // SIGTERM to SIGKILL, in the watchdog

// The exit code a shell would show for a wait status.
int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void SleepMs(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Runs in the forked watchdog process: only async-signal-safe calls (the harness may have other threads). Starts
// dockerd as its child, then waits for either dockerd to exit (and exits with its code) or the lifeline pipe to
// close (harness stopped or died): then SIGTERM, SIGKILL after the grace period.
[[noreturn]] void RunWatchdog(int lifeline, int log_fd, int null_fd, const char* exe, char* const* argv,
                              char* const* envp) {
  setpgid(0, 0);  // out of the terminal's process group: Ctrl-C reaches the harness, which then stops us
  int r = fcntl(lifeline, F_DUPFD, 10);
  int l = fcntl(log_fd, F_DUPFD, 10);
  int n = fcntl(null_fd, F_DUPFD, 10);
  if (r < 0 || l < 0 || n < 0) _exit(126);
  if (dup2(n, 0) < 0 || dup2(l, 1) < 0 || dup2(l, 2) < 0 || dup2(r, 3) < 0) _exit(126);
  // Hold none of the harness's descriptors (pipes it waits on, listening sockets, our own lifeline's write end).
  if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    for (int fd = 4; fd < 65536; ++fd) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD}) sigaction(sig, &dfl, nullptr);

  pid_t daemon = fork();
  if (daemon < 0) _exit(125);
  if (daemon == 0) {
    close(3);
    execve(exe, argv, envp);
    _exit(127);
  }
  int status = 0;
  for (;;) {
    if (waitpid(daemon, &status, WNOHANG) == daemon) _exit(ExitCodeOf(status));
    pollfd p{3, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char c;
      ssize_t k = read(3, &c, 1);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }
  kill(daemon, SIGTERM);
  int64_t give_up = MonotonicMs() + kWatchdogGraceSeconds * 1000;
  while (MonotonicMs() < give_up) {
    if (waitpid(daemon, &status, WNOHANG) == daemon) _exit(ExitCodeOf(status));
    SleepMs(20);
  }
  kill(daemon, SIGKILL);
  waitpid(daemon, &status, 0);
  _exit(ExitCodeOf(status));
}

// The last `count` non-empty lines of the log, joined with " | ".
std::string LogTail(const path& log, size_t count = 3) {
  auto text = ReadFile(log);
  if (!text.ok()) return "(no log: " + text.status().message() + ")";
  std::vector<std::string_view> lines;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) lines.push_back(line);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  if (lines.empty()) return "(empty log " + log.string() + ")";
  std::string out;
  for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += Shorten(lines[i]);
  }
  return out;
}

// Decodes mountinfo's octal escapes (\040 for a space).
std::string UnescapeMountPath(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    auto octal = [&](size_t j) { return j < field.size() && field[j] >= '0' && field[j] <= '7'; };
    if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

bool IsUnder(const std::string& candidate, const std::string& root) {
  return candidate == root ||
         (candidate.size() > root.size() && candidate.starts_with(root) && candidate[root.size()] == '/');
}

// Mount points at or under `root` in our mount namespace, deepest first.
std::vector<std::string> MountsUnder(const path& root) {
  std::vector<std::string> out;
  auto text = ReadFile("/proc/self/mountinfo");
  if (!text.ok()) return out;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    // "id parent major:minor root mount-point options ..."
    size_t field_start = 0;
    for (int field = 0; field < 4 && field_start != std::string_view::npos; ++field) {
      field_start = line.find(' ', field_start);
      if (field_start != std::string_view::npos) ++field_start;
    }
    if (field_start == std::string_view::npos) continue;
    std::string_view mount_point = line.substr(field_start, line.find(' ', field_start) - field_start);
    std::string decoded = UnescapeMountPath(mount_point);
    if (IsUnder(decoded, root.string())) out.push_back(std::move(decoded));
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string ProcCmdline(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  return text.ok() ? std::move(text).value() : std::string();
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    pid_t pid = 0;
    auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err == std::errc() && end == name.data() + name.size()) pids.push_back(pid);
  }
  return pids;
}

// Processes (but us) whose command line names something under `root`: a managed containerd, shims.
std::vector<pid_t> ProcessesNaming(const path& root) {
  std::vector<pid_t> out;
  const std::string needle = root.string() + "/";
  for (pid_t pid : AllPids()) {
    if (pid == getpid()) continue;
    std::string cmdline = ProcCmdline(pid);
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if ((cmdline + " ").find(needle) != std::string::npos) out.push_back(pid);
  }
  return out;
}

// The cgroup directories named `parent` that Docker may have created: /sys/fs/cgroup/<parent> on a unified (v2)
// hierarchy, /sys/fs/cgroup/<controller>/<parent> on v1 and hybrid ones.
std::vector<path> CgroupParentDirs(std::string_view parent) {
  std::vector<path> out;
  const path base = "/sys/fs/cgroup";
  std::error_code ec;
  if (fs::exists(base / "cgroup.controllers", ec)) {
    out.push_back(base / parent);
  } else {
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      if (entry.is_directory(ec) && !entry.is_symlink(ec)) out.push_back(entry.path() / parent);
    }
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const path& p) { return !fs::is_directory(p); }), out.end());
  return out;
}

// rmdir()s a cgroup directory after its child cgroups (a cgroup's files go with it). Records what cannot go.
void RemoveCgroupTree(const path& dir, std::vector<std::string>& problems) {
  std::error_code ec;
  std::vector<path> children;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) children.push_back(entry.path());
  }
  for (const auto& child : children) RemoveCgroupTree(child, problems);
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
  int err = errno;
  std::string message = "cannot remove " + dir.string() + ": " + std::strerror(err);
  if (auto procs = ReadFile(dir / "cgroup.procs"); procs.ok() && !procs->empty()) {
    std::string pids = *procs;
    std::replace(pids.begin(), pids.end(), '\n', ' ');
    message += " (processes " + Shorten(pids, 80) + ")";
  }
  problems.push_back(std::move(message));
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

}  // namespace

Dockerd::Dockerd(DockerdOptions options, path root)
    : options_(std::move(options)), root_(std::move(root)), api_(root_ / "docker.sock") {}

Dockerd::~Dockerd() {
  Status status = Stop();
  if (!status.ok()) std::fprintf(stderr, "wow bench: %s\n", status.ToString().c_str());
}

Result<std::unique_ptr<Dockerd>> Dockerd::Start(DockerdOptions options) {
  if (::access(options.dockerd.c_str(), X_OK) != 0) {
    return Status::NotFound(options.dockerd.string() + " is not installed: install Debian's docker.io " +
                            "(apt-get install docker.io)");
  }
  if (::geteuid() != 0) {
    return Status::Error(Code::kUnsupported, Phase::kNone,
                         "a private dockerd needs root (running as uid " + std::to_string(::geteuid()) + ")");
  }
  while (options.cgroup_parent.starts_with('/')) options.cgroup_parent.erase(0, 1);
  if (options.cgroup_parent.empty() || options.cgroup_parent.find('/') != std::string::npos ||
      options.cgroup_parent == "." || options.cgroup_parent == "..") {
    return Status::InvalidArgument("cgroup_parent must be a plain name, not \"" + options.cgroup_parent + "\"");
  }

  std::error_code ec;
  fs::create_directories(options.root_parent, ec);
  std::string templ = (options.root_parent / "wowd.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return Status::IoError("cannot create a directory in " + options.root_parent.string() + ": " +
                           std::strerror(errno));
  }
  std::unique_ptr<Dockerd> daemon(new Dockerd(std::move(options), path(templ)));
  Status status = daemon->Launch();
  if (status.ok()) status = daemon->WaitUntilReady();
  if (!status.ok()) {
    Status stopped = daemon->Stop();
    if (!stopped.ok()) return Status::IoError(status.message() + " (and then: " + stopped.message() + ")");
    return status;
  }
  return daemon;
}

Status Dockerd::Launch() {
  // containerd's ttrpc socket is the longest path under the root; sun_path holds 107 characters and a NUL.
  const std::string longest = (root_ / "exec/containerd/containerd.sock.ttrpc").string();
  if (longest.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::InvalidArgument("the daemon's root " + root_.string() +
                                   " is too long for its unix sockets: choose a shorter root_parent");
  }
  WOW_RETURN_IF_ERROR(WriteFileAtomically(root_ / "daemon.json", "{}\n"));

  // Everything the children need is built before fork: afterwards only async-signal-safe calls are allowed.
  const std::string namespace_name = "wow-" + root_.filename().string();  // e.g. wow-wowd.Ab12Cd
  std::vector<std::string> args = {
      options_.dockerd.string(),
      "--config-file=" + (root_ / "daemon.json").string(),  // not /etc/docker/daemon.json
      "--data-root=" + (root_ / "data").string(),
      "--exec-root=" + (root_ / "exec").string(),
      "--pidfile=" + (root_ / "dockerd.pid").string(),
      "--host=unix://" + socket_path().string(),
      "--bridge=none",
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--storage-driver=overlay2",
      "--exec-opt=native.cgroupdriver=cgroupfs",  // cgroup paths we can predict, on v1 and v2 alike
      "--cgroup-parent=/" + options_.cgroup_parent,
      // Only matters if dockerd uses a system containerd instead of starting its own: keep apart from others.
      "--containerd-namespace=" + namespace_name,
      "--containerd-plugins-namespace=" + namespace_name + "-plugins",
  };
  std::vector<std::string> env = {
      "PATH=" + options_.dockerd.parent_path().string() + ":/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/root",
  };
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::IoError("cannot create " + log_path().string() + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2];
  if (null_fd < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Status::IoError(std::string("cannot create the watchdog's pipe: ") + std::strerror(err));
  }
  pid_t pid = ::fork();
  if (pid == 0) RunWatchdog(pipe_fds[0], log_fd, null_fd, argv[0], argv.data(), envp.data());
  int err = errno;
  ::close(pipe_fds[0]);
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0) {
    ::close(pipe_fds[1]);
    return Status::IoError(std::string("cannot fork: ") + std::strerror(err));
  }
  ::setpgid(pid, pid);  // as the watchdog does itself: whichever runs first, Stop can signal the group
  watchdog_ = pid;
  lifeline_fd_ = pipe_fds[1];
  return Status::Ok();
}

bool Dockerd::ReapWatchdog(bool block) {
  if (watchdog_ <= 0) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(watchdog_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == watchdog_) {
    exit_status_ = ExitCodeOf(status);
  } else if (r < 0 && errno == ECHILD && ::kill(watchdog_, 0) == 0) {
    // Someone set SIGCHLD to SIG_IGN, so it will never be ours to reap: it runs as long as it exists.
    if (!block) return false;
    while (::kill(watchdog_, 0) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    exit_status_ = -1;
  } else if (r < 0) {
    exit_status_ = -1;  // not our child any more (someone reaped it): treat as gone
  } else {
    return false;
  }
  watchdog_ = -1;
  return true;
}

Status Dockerd::WaitUntilReady() {
  const auto deadline = Clock::now() + options_.start_timeout;
  for (;;) {
    if (ReapWatchdog(false)) {
      return Status::IoError("dockerd exited early (code " + std::to_string(exit_status_) +
                             "): " + LogTail(log_path()));
    }
    std::error_code ec;
    if (fs::exists(socket_path(), ec)) {
      auto version = api_.Version(std::chrono::seconds(2));
      if (version.ok()) {
        version_ = std::move(version).value();
        return Status::Ok();
      }
    }
    if (Clock::now() > deadline) {
      return Status::IoError("dockerd not ready within " + std::to_string(options_.start_timeout.count()) +
                             " s: " + LogTail(log_path()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status Dockerd::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  std::vector<std::string> problems;

  // Containers first: a running one would otherwise hold dockerd's shutdown for its stop timeout.
  if (!ReapWatchdog(false)) {
    if (auto ids = api_.ListContainers(true, {}, std::chrono::seconds(10)); ids.ok()) {
      for (const auto& id : *ids) {
        Status removed = api_.RemoveContainer(id, true, std::chrono::seconds(30));
        if (!removed.ok()) problems.push_back(removed.message());
      }
    }
  }

  // Closing the lifeline makes the watchdog SIGTERM dockerd (SIGKILL after its grace period) and exit with it.
  if (lifeline_fd_ >= 0) {
    ::close(lifeline_fd_);
    lifeline_fd_ = -1;
  }
  const auto give_up = Clock::now() + std::chrono::seconds(kWatchdogGraceSeconds + 10);
  while (!ReapWatchdog(false) && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (watchdog_ > 0) {
    problems.push_back("dockerd did not stop: killed it");
    ::kill(-watchdog_, SIGKILL);  // the watchdog's process group: it and dockerd
    ReapWatchdog(true);
  } else if (exit_status_ != 0 && exit_status_ != 128 + SIGTERM) {
    problems.push_back("dockerd exited with code " + std::to_string(exit_status_) + ": " + LogTail(log_path()));
  }

  // dockerd stops its containerd and shims itself; whatever still names our root is left over.
  auto leftovers = ProcessesNaming(root_);
  if (!leftovers.empty()) {
    std::vector<std::string> names;
    for (pid_t pid : leftovers) {
      std::string cmdline = ProcCmdline(pid);
      names.push_back(std::to_string(pid) + " " + std::string(cmdline.c_str()));
      ::kill(pid, SIGKILL);
    }
    problems.push_back("killed leftover processes: " + Join(names, ", "));
    for (int i = 0; i < 100 && !ProcessesNaming(root_).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Unmount what dockerd left (netns files, overlays, its bind-mounted data root), deepest first.
  for (int pass = 0; pass < 3; ++pass) {
    auto mounts = MountsUnder(root_);
    if (mounts.empty()) break;
    for (const auto& mount_point : mounts) {
      if (::umount2(mount_point.c_str(), 0) != 0 && ::umount2(mount_point.c_str(), MNT_DETACH) != 0 && pass == 2) {
        problems.push_back("cannot unmount " + mount_point + ": " + std::strerror(errno));
      }
    }
  }
  bool still_mounted = !MountsUnder(root_).empty();

  for (const auto& dir : CgroupParentDirs(options_.cgroup_parent)) RemoveCgroupTree(dir, problems);

  if (still_mounted) {
    problems.push_back("left " + root_.string() + " in place: something is still mounted under it");
  } else {
    std::error_code ec;
    fs::remove_all(root_, ec);
    if (ec) problems.push_back("cannot remove " + root_.string() + ": " + ec.message());
  }

  if (problems.empty()) return Status::Ok();
  return Status::IoError("stopping dockerd (" + root_.string() + "): " + Join(problems, "; "));
}

// ---- memory figures --------------------------------------------------------------------------------------------

namespace {

// A whole decimal number, surrounding whitespace allowed.
std::optional<uint64_t> ParseNumber(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return std::nullopt;
  size_t end = text.find_last_not_of(" \t\r\n") + 1;
  text = text.substr(begin, end - begin);
  uint64_t value = 0;
  auto [ptr, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of "key value" in a memory.stat text.
std::optional<uint64_t> StatValue(std::string_view stat, std::string_view key) {
  std::string_view rest = stat;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return ParseNumber(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

Result<CgroupMemory> ParseCgroup(std::string_view usage_text, std::string_view stat_text, std::string_view usage_name,
                                 std::string_view inactive_key) {
  auto usage = ParseNumber(usage_text);
  if (!usage)
    return Status::InvalidArgument(std::string(usage_name) + " is not a number: \"" + Shorten(usage_text, 40) + "\"");
  auto inactive = StatValue(stat_text, inactive_key);
  if (!inactive) return Status::InvalidArgument("memory.stat has no valid " + std::string(inactive_key));
  return CgroupMemory{*usage, *inactive};
}

}  // namespace

Result<CgroupMemory> ParseCgroupV1(std::string_view usage_text, std::string_view stat_text) {
  return ParseCgroup(usage_text, stat_text, "memory.usage_in_bytes", "total_inactive_file");
}

Result<CgroupMemory> ParseCgroupV2(std::string_view current_text, std::string_view stat_text) {
  return ParseCgroup(current_text, stat_text, "memory.current", "inactive_file");
}

Result<CgroupMemory> ReadContainerMemory(std::string_view cgroup_parent, std::string_view container_id) {
  while (cgroup_parent.starts_with('/')) cgroup_parent.remove_prefix(1);
  const path base = "/sys/fs/cgroup";
  const std::string id(container_id);
  const std::string scope = "docker-" + id + ".scope";  // the systemd driver's name
  std::vector<std::string> tried;
  std::error_code ec;
  if (fs::exists(base / "cgroup.controllers", ec)) {  // unified (v2) hierarchy
    for (const path& dir : {base / cgroup_parent / id, base / cgroup_parent / scope}) {
      tried.push_back(dir.string());
      auto current = ReadFile(dir / "memory.current");
      if (!current.ok()) continue;
      WOW_ASSIGN_OR_RETURN(std::string stat, ReadFile(dir / "memory.stat"));
      auto memory = ParseCgroupV2(*current, stat);
      if (!memory.ok()) return memory.status().WithContext(dir.string());
      return memory;
    }
  } else {
    for (const path& dir : {base / "memory" / cgroup_parent / id, base / "memory" / cgroup_parent / scope}) {
      tried.push_back(dir.string());
      auto usage = ReadFile(dir / "memory.usage_in_bytes");
      if (!usage.ok()) continue;
      WOW_ASSIGN_OR_RETURN(std::string stat, ReadFile(dir / "memory.stat"));
      auto memory = ParseCgroupV1(*usage, stat);
      if (!memory.ok()) return memory.status().WithContext(dir.string());
      return memory;
    }
  }
  return Status::NotFound("no memory cgroup for container " + id.substr(0, 12) + ": tried " + Join(tried, ", "));
}

Result<uint64_t> ParseSmapsRollupPss(std::string_view text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.starts_with("Pss:")) continue;  // not Pss_Anon:, Pss_File:, ...
    line.remove_prefix(4);
    if (!line.ends_with(" kB")) break;
    auto kb = ParseNumber(line.substr(0, line.size() - 3));
    if (!kb) break;
    return *kb * 1024;
  }
  return Status::InvalidArgument("no \"Pss: <n> kB\" line in smaps_rollup");
}

Result<uint64_t> ProcessPssBytes(pid_t pid) {
  const path file = "/proc/" + std::to_string(pid) + "/smaps_rollup";
  WOW_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  auto pss = ParseSmapsRollupPss(text);
  if (!pss.ok()) return pss.status().WithContext(file.string());
  return pss;
}

Result<pid_t> ShimPid(std::string_view container_id) {
  for (pid_t pid : AllPids()) {
    std::string cmdline = ProcCmdline(pid);
    std::vector<std::string_view> args;
    for (size_t start = 0; start < cmdline.size();) {
      size_t end = cmdline.find('\0', start);
      if (end == std::string::npos) end = cmdline.size();
      args.emplace_back(cmdline.data() + start, end - start);
      start = end + 1;
    }
    if (args.empty() || !path(args[0]).filename().string().starts_with("containerd-shim")) continue;
    bool serves = false, transient = false;
    for (size_t i = 1; i < args.size(); ++i) {
      if ((args[i] == "-id" || args[i] == "--id") && i + 1 < args.size() && args[i + 1] == container_id) serves = true;
      if (args[i] == "start" || args[i] == "delete") transient = true;
    }
    if (serves && !transient) return pid;
  }
  return Status::NotFound("no containerd-shim process with -id " + std::string(container_id));
}

}  // namespace wow::bench::eval
