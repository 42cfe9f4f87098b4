// `wow serve`: the single-binary OpenWhisk-compatible platform — REST API,
// embedded SQLite store and the invoker over one executor — until SIGINT or
// SIGTERM.

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <limits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "common/files.h"
#include "controller/invoker.h"
#include "controller/store.h"
#include "executor/executor.h"
#include "http/server.h"
#include "protocol/rest_api.h"

namespace wow::cli {
namespace {

namespace fs = std::filesystem;

std::string RandomHex(size_t digits) {
  std::random_device rd;
  std::string out;
  while (out.size() < digits) out += fmt::format("{:08x}", rd());
  return out.substr(0, digits);
}

// OpenWhisk's credential shape: a UUID and a 64-character key.
std::string NewCredential() {
  std::string h = RandomHex(32);
  std::string uuid =
      h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
  std::string key;
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  for (int i = 0; i < 64; ++i) key += kAlphabet[rd() % (sizeof(kAlphabet) - 1)];
  return uuid + ":" + key;
}

// The data directory holds the credential and every activation record: it
// is created 0700, and an existing one of ours that others may enter is
// narrowed to 0700, saying so (once: it stays so). One owned by another user
// is left as it is, with a warning.
Status PrivateDataDir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  if (ec) return Status::IoError(fmt::format("cannot create the data directory {}: {}", dir.string(), ec.message()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IoError(fmt::format("cannot create the data directory {}: {}", dir.string(), std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Status::IoError(fmt::format("cannot stat the data directory {}: {}", dir.string(), std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::IoError(fmt::format("the data directory {} is not a directory", dir.string()));
  }
  mode_t mode = st.st_mode & 07777;
  if ((mode & 0077) == 0) return Status::Ok();
  if (st.st_uid != ::geteuid()) {
    fmt::print(stderr,
               "wow serve: warning: the data directory {} (mode {:04o}) belongs to another user and stays open to "
               "others: they may read the activation records\n",
               dir.string(), mode);
    return Status::Ok();
  }
  if (::chmod(dir.c_str(), mode & ~mode_t{0077}) != 0) {
    return Status::IoError(fmt::format("cannot chmod the data directory {}: {}", dir.string(), std::strerror(errno)));
  }
  fmt::print(stderr, "wow serve: the data directory {} was mode {:04o}; now {:04o}: it holds the credential\n",
             dir.string(), mode, mode & ~mode_t{0077});
  return Status::Ok();
}

// The guest credential: --auth, else the one stored in the data directory,
// else a new one (stored with mode 0600).
Result<std::string> GuestCredential(const fs::path& data_dir, const std::string& flag) {
  fs::path file = data_dir / "guest.auth";
  if (!flag.empty()) {
    WOW_RETURN_IF_ERROR(WriteFileAtomically(file, flag + "\n"));
    ::chmod(file.c_str(), 0600);
    return flag;
  }
  std::ifstream in(file);
  std::string line;
  if (in && std::getline(in, line) && line.find(':') != std::string::npos) {
    ::chmod(file.c_str(), 0600);  // one an older wow left wider
    return line;
  }
  std::string credential = NewCredential();
  WOW_RETURN_IF_ERROR(WriteFileAtomically(file, credential + "\n"));
  ::chmod(file.c_str(), 0600);
  return credential;
}

}  // namespace

int RunServe(const ServeFlags& flags) {
  auto listen = http::ParseHostPort(flags.listen);
  if (!listen.ok()) {
    fmt::print(stderr, "wow serve: --listen {}: {}\n", flags.listen, listen.status().message());
    return kExitUsage;
  }
  size_t colon = flags.auth.find(':');
  if (!flags.auth.empty() && (colon == std::string::npos || colon == 0 || colon + 1 == flags.auth.size())) {
    fmt::print(stderr, "wow serve: --auth must be UUID:KEY\n");
    return kExitUsage;
  }
  StopSignals stop;  // before any thread starts

  fs::path data_dir = flags.engine.data_dir;
  if (Status s = PrivateDataDir(data_dir); !s.ok()) {
    fmt::print(stderr, "wow serve: {}\n", s.message());
    return kExitFailed;
  }
  controller::StoreOptions store_options;
  store_options.activation_retention = std::chrono::hours(flags.activation_retention_hours);
  store_options.max_activations_stored = flags.max_activations_stored;
  store_options.superseded_versions_kept = flags.superseded_versions_kept;
  auto store = controller::Store::Open(data_dir, store_options);
  if (!store.ok()) {
    fmt::print(stderr, "wow serve: {}\n", store.status().ToString());
    return kExitFailed;
  }
  if ((*store)->recovered() > 0) {
    fmt::print(stderr, "wow serve: recovered {} activation records ({} interrupted by the last stop)\n",
               (*store)->recovered(), (*store)->interrupted());
  }
  auto credential = GuestCredential(data_dir, flags.auth);
  if (!credential.ok()) {
    fmt::print(stderr, "wow serve: {}\n", credential.status().ToString());
    return kExitFailed;
  }
  size_t sep = credential->find(':');
  controller::Subject guest{credential->substr(0, sep), credential->substr(sep + 1), "guest", "guest"};
  if (Status s = (*store)->SetOnlySubject(guest); !s.ok()) {
    fmt::print(stderr, "wow serve: {}\n", s.ToString());
    return kExitFailed;
  }

  executor::ExecutorOptions options;
  options.engine = flags.engine.engine;
  options.engine_options = ToEngineOptions(flags.engine);
  options.workers = flags.workers;
  options.max_activations = flags.max_activations;
  // The invoker keeps one warm container per action version and bounds them
  // by its memory budget (unloading the least recently used): a count cap
  // here would fail cold starts of a node with many actions instead.
  options.max_containers = std::numeric_limits<size_t>::max();
  options.max_code_bytes = std::numeric_limits<uint64_t>::max();
  auto allowed = executor::ResolveAllowedRoots(flags.allow_dirs, data_dir);
  if (!allowed.ok()) {
    fmt::print(stderr, "wow serve: {}\n", allowed.status().message());
    return kExitUsage;
  }
  options.allowed_dirs = std::move(*allowed);
  auto executor = executor::Executor::Create(options);
  if (!executor.ok()) {
    fmt::print(stderr, "wow serve: {}\n", executor.status().ToString());
    return kExitUsage;
  }
  controller::InvokerOptions invoker_options;
  invoker_options.keep_alive = std::chrono::milliseconds(flags.keep_alive_ms);
  invoker_options.memory_budget_bytes = flags.memory_budget_mb << 20;
  if (flags.memory_budget_mb == 0) {
    // The machine is the budget: three quarters of it, the rest for the
    // system, the platform itself and the page cache.
    uint64_t physical = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
    invoker_options.memory_budget_bytes = std::max<uint64_t>(physical / 4 * 3, 256ull << 20);
  }
  invoker_options.max_queued = flags.max_queued;
  invoker_options.max_per_action = flags.max_per_action;
  auto invoker = std::make_unique<controller::Invoker>(**executor, **store, invoker_options);

  http::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.threads = flags.io_threads;
  protocol::RestApiOptions api_options;
  server_options.body_limit = api_options.max_code_bytes + api_options.max_action_overhead_bytes;  // action PUT
  if (!ApplyHttpFlags(flags.http, server_options, "serve")) return kExitUsage;
  // The API needs the bound address (for __OW_API_HOST), known only once the
  // server listens: until it is set, requests get 503.
  std::unique_ptr<protocol::RestApi> api;
  std::atomic<protocol::RestApi*> ready{nullptr};
  // Authentication and each route's body limit, before any body byte is read.
  server_options.header_check = [&ready](const http::Request& header) {
    protocol::RestApi* api = ready.load(std::memory_order_acquire);
    if (api != nullptr) return api->CheckHeader(header);
    http::HeaderVerdict starting;
    starting.reject = http::JsonResponse(header, http::HttpStatus::service_unavailable,
                                         http::JsonError("wow serve is starting; try again."));
    return starting;
  };
  auto server = http::Server::Start(server_options, [&ready](http::Request&& r, http::Responder respond) {
    protocol::RestApi* handler = ready.load(std::memory_order_acquire);
    if (handler == nullptr) {
      return respond(http::JsonResponse(r, http::HttpStatus::service_unavailable,
                                        http::JsonError("wow serve is starting; try again.")));
    }
    handler->Handle(std::move(r), std::move(respond));
  });
  if (!server.ok()) {
    fmt::print(stderr, "wow serve: {}\n", server.status().ToString());
    return kExitFailed;
  }
  api_options.api_host = "http://" + (*server)->bound_address();
  api = std::make_unique<protocol::RestApi>(**store, *invoker, api_options);
  ready.store(api.get(), std::memory_order_release);

  fmt::print("{}\n", (*server)->bound_address());
  fmt::print("wsk property set --apihost http://{} --auth {}\n", (*server)->bound_address(), *credential);
  std::fflush(stdout);
  fmt::print(stderr,
             "wow serve: listening on http://{} (engine {}, data dir {}, keep-alive {} ms, budget {} MiB, "
             "activations kept {} h / {})\n",
             (*server)->bound_address(), options.engine, data_dir.string(), flags.keep_alive_ms,
             invoker_options.memory_budget_bytes >> 20, flags.activation_retention_hours, flags.max_activations_stored);

  fmt::print(stderr, "wow serve: {} received, finishing running activations\n", stop.Wait());
  (*server)->Stop();        // no new requests; answers in flight go out
  invoker->Drain();         // queued activations run too: none accepted is lost
  (*executor)->Shutdown();  // every accepted activation completes its record
  ready.store(nullptr);
  (*server).reset();
  api.reset();
  invoker.reset();
  if (Status s = (*store)->Flush(); !s.ok()) fmt::print(stderr, "wow serve: {}\n", s.ToString());
  return kExitOk;
}

}  // namespace wow::cli
