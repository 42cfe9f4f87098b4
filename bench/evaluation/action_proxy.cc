// wow-action-proxy: the action proxy of the evaluation's baselines, in a Docker
// container (like OpenWhisk's `dockerskeleton` image) and directly on the host
// (process per request). It speaks OpenWhisk's action-runtime protocol: POST
// /init stores an executable as DIR/exec, and every POST /run executes it once
// as a fresh process, with the parameters as JSON on stdin and the result as
// the last non-empty stdout line (the protocol of the examples' native builds).
// Earlier stdout lines and stderr are the activation's logs, replayed on this
// process's stdout and stderr, each followed by OpenWhisk's sentinel line.
//
//   wow-action-proxy [--listen HOST:PORT] [--action-dir DIR] [--timeout-ms N]
//
// The first stdout line is the bound address (HOST:PORT), for the harness.

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "common/json.h"
#include "http/server.h"
#include "native_process.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using http::HttpStatus;
using std::chrono::milliseconds;

constexpr std::string_view kSentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n";

struct Reply {
  HttpStatus status = HttpStatus::ok;
  std::string body;
};

Reply Error(HttpStatus status, std::string_view message) { return {status, http::JsonError(message)}; }

// Answers a request from any thread, with the request's HTTP version and keep-alive.
using Replier = std::function<void(Reply)>;

Replier ReplierFor(const http::Request& request, http::Responder respond) {
  return [version = request.version(), keep_alive = request.keep_alive(), respond = std::move(respond)](Reply r) {
    http::Response response(r.status, version);
    response.keep_alive(keep_alive);
    response.set(http::beast_http::field::content_type, "application/json");
    response.body() = std::move(r.body);
    response.prepare_payload();
    respond(std::move(response));
  };
}

// The request body as a JSON object, or the 400 that refuses it.
Result<json::object> ParseBody(std::string_view body) {
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return Status::InvalidArgument("The request body is not JSON: " + parsed.status().message());
  if (!parsed->is_object()) return Status::InvalidArgument("The request body must be a JSON object.");
  return std::move(parsed->as_object());
}

// Writes `bytes` to a temporary file beside `path` with mode 0755, then renames
// it over `path`, so a reader sees no file or the whole executable.
Status StoreExecutable(const fs::path& path, std::string_view bytes) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (fd < 0) return Status::IoError(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  bool ok = ::fchmod(fd, 0755) == 0;  // whatever the umask
  while (ok && !bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) bytes.remove_prefix(static_cast<size_t>(n));
  }
  int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return Status::Ok();
  err = ok ? errno : err;
  ::unlink(tmp.c_str());
  return Status::IoError(fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
}

// "__OW_ACTIVATION_ID" for "activation_id"; nullopt for a key that cannot name a variable.
std::optional<std::string> OwVariable(std::string_view key) {
  if (key.empty()) return std::nullopt;
  std::string name = "__OW_";
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
    name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

// An OpenWhisk deadline: milliseconds since the epoch, as a number or a string of digits.
std::optional<int64_t> DeadlineMs(const json::value& v) {
  if (auto n = WholeNumber(v); n && *n <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(*n);
  if (!v.is_string()) return std::nullopt;
  std::string_view s = v.as_string();
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return std::stoll(std::string(s));
}

// What one /run hands to its process.
struct Activation {
  std::string params;            // `value`, serialised
  std::vector<std::string> env;  // __OW_* variables
  std::chrono::steady_clock::time_point deadline;
  int64_t limit_ms = 0;  // the time limit that deadline stands for, for the error message
};

class ActionProxy {
 public:
  ActionProxy(const fs::path& dir, milliseconds timeout) : dir_(dir), exec_(dir / "exec"), timeout_(timeout) {}

  // An http::Handler: /init and /run answer inline, except a run's result.
  void Handle(http::Request&& request, http::Responder respond);

  // Kills the running actions (their requests are answered 503) and refuses new runs.
  void StopActions();
  // Waits until every run's thread is done.
  void WaitForRuns();

 private:
  Reply Init(std::string_view body);
  // Fills `activation`, or returns the answer that refuses the run.
  std::optional<Reply> PrepareRun(std::string_view body, Activation& activation);
  // Starts a thread that runs the action and answers; false when none can start.
  bool StartRun(Activation activation, const Replier& reply);
  Reply Execute(const Activation& activation);
  Reply Conclude(const Activation& activation, const ProcessResult& result);
  void WriteLogs(std::string_view out, std::string_view err);

  const fs::path dir_, exec_;
  const milliseconds timeout_;
  std::stop_source stop_;

  std::mutex mu_;
  bool initialized_ = false;           // guarded by mu_
  std::vector<std::string> init_env_;  // "KEY=VALUE" from /init; fixed once initialized_
  bool stopping_ = false;              // guarded by mu_
  int running_ = 0;                    // run threads alive; guarded by mu_
  std::condition_variable runs_done_;

  std::mutex log_mu_;  // one activation's logs are written together
};

void ActionProxy::Handle(http::Request&& request, http::Responder respond) {
  Replier reply = ReplierFor(request, std::move(respond));
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  if (target != "/init" && target != "/run") {
    return reply(Error(HttpStatus::not_found, "Not found: use POST /init or POST /run."));
  }
  if (request.method() != http::Verb::post) return reply(Error(HttpStatus::method_not_allowed, "Use POST."));
  if (target == "/init") return reply(Init(request.body()));

  Activation activation;
  if (auto refused = PrepareRun(request.body(), activation)) return reply(std::move(*refused));
  if (!StartRun(std::move(activation), reply)) {
    reply(Error(HttpStatus::service_unavailable, "The action proxy is shutting down or cannot start a thread."));
  }
}

Reply ActionProxy::Init(std::string_view body) {
  std::lock_guard lock(mu_);
  if (initialized_) return Error(HttpStatus::forbidden, "Cannot initialize the action more than once.");
  auto message = ParseBody(body);
  if (!message.ok()) return Error(HttpStatus::bad_request, message.status().message());
  const json::value* value_field = message->if_contains("value");
  const json::object* value = value_field != nullptr ? value_field->if_object() : nullptr;
  if (value == nullptr) return Error(HttpStatus::forbidden, "The init body has no \"value\" object.");

  const json::value* code = value->if_contains("code");
  if (code == nullptr || !code->is_string() || code->as_string().empty()) {
    return Error(HttpStatus::forbidden, "Missing main/no code to execute.");
  }
  // Binary code is the executable in base64; text code (a script) is stored as is.
  const json::value* binary = value->if_contains("binary");
  std::string bytes(code->as_string());
  if (binary != nullptr && binary->is_bool() && binary->as_bool()) {
    auto decoded = Base64Decode(bytes);
    if (!decoded.ok()) {
      return Error(HttpStatus::forbidden, "The action code is not valid base64: " + decoded.status().message());
    }
    if (decoded->empty()) return Error(HttpStatus::forbidden, "Missing main/no code to execute.");
    bytes = std::move(decoded).value();
  }

  std::vector<std::string> env;
  if (const json::value* vars = value->if_contains("env"); vars != nullptr && !vars->is_null()) {
    if (!vars->is_object()) return Error(HttpStatus::forbidden, "\"env\" must be an object of strings.");
    for (const auto& [json_key, v] : vars->as_object()) {
      std::string_view key = json_key;
      if (key.empty() || key.find_first_of(std::string_view("=\0", 2)) != std::string_view::npos) {
        return Error(HttpStatus::forbidden, fmt::format("\"env\" has an invalid variable name '{}'.", key));
      }
      // Strings as they are; other values as their JSON text.
      env.push_back(fmt::format("{}={}", key, v.is_string() ? std::string(v.as_string()) : ToJson(v)));
    }
  }

  Status stored = StoreExecutable(exec_, bytes);
  if (!stored.ok()) return Error(HttpStatus::bad_gateway, "Cannot store the action: " + stored.message());
  init_env_ = std::move(env);
  initialized_ = true;
  return {HttpStatus::ok, R"({"ok":true})"};
}

std::optional<Reply> ActionProxy::PrepareRun(std::string_view body, Activation& activation) {
  {
    std::lock_guard lock(mu_);
    if (!initialized_) return Error(HttpStatus::forbidden, "Cannot invoke an uninitialized action.");
  }
  auto message = ParseBody(body);
  if (!message.ok()) return Error(HttpStatus::bad_request, message.status().message());

  // A missing value is {} (as in OpenWhisk's actionproxy); anything but an object is refused.
  json::value params = json::object();
  if (const json::value* value = message->if_contains("value"); value != nullptr) {
    if (!value->is_object())
      return Error(HttpStatus::forbidden, "The action parameters (\"value\") must be an object.");
    params = *value;
  }
  activation.params = ToJson(params);

  auto now = std::chrono::system_clock::now();
  milliseconds limit = timeout_;
  for (const auto& [key, v] : *message) {
    if (key == "value") continue;
    auto name = OwVariable(key);
    if (key == "deadline") {
      auto ms = DeadlineMs(v);
      if (!ms) return Error(HttpStatus::bad_request, "deadline must be a time in milliseconds since the epoch.");
      auto left = std::chrono::system_clock::time_point(milliseconds(*ms)) - now;
      limit = std::min(limit, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(left)));
      activation.env.push_back(fmt::format("{}={}", *name, *ms));
    } else if (name && v.is_string()) {
      activation.env.push_back(fmt::format("{}={}", *name, std::string_view(v.as_string())));
    }
  }
  activation.deadline = std::chrono::steady_clock::now() + limit;
  activation.limit_ms = limit.count();
  return std::nullopt;
}

bool ActionProxy::StartRun(Activation activation, const Replier& reply) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    ++running_;
  }
  try {
    std::thread([this, activation = std::move(activation), reply = Replier(reply)]() mutable {
      reply(Execute(activation));
      reply = nullptr;  // released before running_ drops, while the server still exists
      std::lock_guard lock(mu_);
      if (--running_ == 0) runs_done_.notify_all();  // under the lock: WaitForRuns cannot return before it
    }).detach();
    return true;
  } catch (const std::system_error&) {
    std::lock_guard lock(mu_);
    if (--running_ == 0) runs_done_.notify_all();
    return false;
  }
}

Reply ActionProxy::Execute(const Activation& activation) {
  ProcessOptions options;
  options.argv = {exec_.string()};
  options.env = init_env_;  // fixed since /init, which happened before
  options.env.insert(options.env.end(), activation.env.begin(), activation.env.end());
  options.working_dir = dir_;
  options.stdin_data = activation.params;
  options.deadline = activation.deadline;
  options.stop = stop_.get_token();
  auto result = RunProcess(std::move(options));
  if (!result.ok()) {
    std::string why = result.status().message();
    WriteLogs("", fmt::format("wow-action-proxy: {}\n", why));
    return Error(HttpStatus::bad_gateway, "The action could not be started: " + why);
  }
  return Conclude(activation, *result);
}

Reply ActionProxy::Conclude(const Activation& activation, const ProcessResult& result) {
  // The result is the last non-empty stdout line; what comes before it is logs.
  std::string_view out = result.out;
  std::string_view line = LastNonEmptyLine(out);
  std::optional<json::object> dictionary;
  if (auto parsed = ParseJson(line); parsed.ok() && parsed->is_object()) dictionary = std::move(parsed->as_object());
  std::string logs(dictionary ? out.substr(0, out.substr(0, line.data() - out.data()).rfind('\n') + 1) : out);
  std::string errors = result.err;
  if (result.out_truncated) errors += "wow-action-proxy: the action's stdout was truncated\n";
  if (result.err_truncated) errors += "wow-action-proxy: the action's stderr was truncated\n";
  WriteLogs(logs, errors);

  if (result.cancelled) return Error(HttpStatus::service_unavailable, "The action proxy is shutting down.");
  if (result.timed_out) {
    return Error(HttpStatus::bad_gateway,
                 fmt::format("The action exceeded its time limit of {} milliseconds.", activation.limit_ms));
  }
  if (dictionary) return {HttpStatus::ok, ToJson(*dictionary)};
  if (!result.Succeeded()) return Error(HttpStatus::bad_gateway, fmt::format("The action {}.", result.Describe()));
  return Error(HttpStatus::bad_gateway, "The action did not return a dictionary.");
}

void ActionProxy::WriteLogs(std::string_view out, std::string_view err) {
  std::lock_guard lock(log_mu_);
  auto write = [](std::FILE* stream, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stream);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stream);
    std::fwrite(kSentinel.data(), 1, kSentinel.size(), stream);
    std::fflush(stream);
  };
  write(stdout, out);
  write(stderr, err);
}

void ActionProxy::StopActions() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.request_stop();
}

void ActionProxy::WaitForRuns() {
  std::unique_lock lock(mu_);
  runs_done_.wait(lock, [this] { return running_ == 0; });
}

struct Flags {
  std::string listen = "0.0.0.0:8080";
  std::string action_dir = "/action";
  int64_t timeout_ms = 60'000;
};

int Main(const Flags& flags) {
  auto listen = http::ParseHostPort(flags.listen);
  if (!listen.ok()) {
    fmt::print(stderr, "wow-action-proxy: --listen {}: {}\n", flags.listen, listen.status().message());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(flags.action_dir, ec);
  fs::path dir = fs::absolute(flags.action_dir, ec);
  if (ec || !fs::is_directory(dir)) {
    fmt::print(stderr, "wow-action-proxy: --action-dir {}: not a usable directory\n", flags.action_dir);
    return 2;
  }

  // SIGINT and SIGTERM are taken with sigwait: block them before any thread
  // starts so every thread inherits the mask (actions get a clean one).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  milliseconds timeout(flags.timeout_ms);
  ActionProxy proxy(dir, timeout);
  http::ServerOptions options;
  options.host = listen->first;
  options.port = listen->second;
  // A run may take the whole time limit; the server must not give up first.
  options.request_timeout =
      std::max(options.request_timeout, std::chrono::ceil<std::chrono::seconds>(timeout) + std::chrono::seconds(60));
  auto server = http::Server::Start(options, [&proxy](http::Request&& request, http::Responder respond) {
    proxy.Handle(std::move(request), std::move(respond));
  });
  if (!server.ok()) {
    fmt::print(stderr, "wow-action-proxy: {}\n", server.status().ToString());
    return 1;
  }
  fmt::print("{}\n", (*server)->bound_address());
  std::fflush(stdout);
  fmt::print(stderr, "wow-action-proxy: listening on {}, action dir {}, time limit {} ms\n", (*server)->bound_address(),
             dir.string(), flags.timeout_ms);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fmt::print(stderr, "wow-action-proxy: {} received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  proxy.StopActions();  // running actions are killed and answered
  (*server)->Stop();    // lets those answers go out
  proxy.WaitForRuns();
  return 0;
}

}  // namespace
}  // namespace wow::bench::eval

int main(int argc, char** argv) {
  wow::bench::eval::Flags flags;
  CLI::App app{
      "wow-action-proxy: OpenWhisk's action-runtime protocol (/init, /run) for a native executable, "
      "run once per activation (the evaluation's Docker and process-per-request baselines)"};
  app.add_option("--listen", flags.listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
  app.add_option("--action-dir", flags.action_dir, "where /init stores the executable (created if missing)")
      ->capture_default_str();
  app.add_option("--timeout-ms", flags.timeout_ms, "time limit of one run in milliseconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return wow::bench::eval::Main(flags);
}
