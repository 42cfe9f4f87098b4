#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"

namespace wow::wasm {
class Engine;
struct EngineOptions;
}  // namespace wow::wasm

namespace wow::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the action or the compile failed
inline constexpr int kExitUsage = 2;   // bad arguments or unreadable input

struct EngineFlags {
  std::string data_dir = ".wow";
  std::string engine;  // empty: wasm::DefaultEngine, resolved after parsing
  std::string cc = "cc";
  std::string opt_level = "2";
  // Unset: wasm::EngineOptions' defaults.
  std::optional<uint64_t> compile_timeout_s;
  std::optional<uint64_t> compile_memory_mb;
  std::optional<uint64_t> compile_max_items;
};

struct CompileFlags {
  EngineFlags engine;
  std::string module_path;
};

struct RunFlags {
  EngineFlags engine;
  std::string module_path;
  std::vector<std::pair<std::string, std::string>> params;  // -p KEY VALUE
  std::vector<std::string> param_files;                     // -P file.json
  std::vector<std::string> dirs;                            // --dir
  std::vector<std::string> env;                             // --env KEY=VALUE
  bool net = false;
  uint64_t memory_mb = 256;
  uint64_t timeout_ms = 60'000;
  std::string action_name;
  bool timings = false;
};

wasm::EngineOptions ToEngineOptions(const EngineFlags& flags);

// The engine the flags ask for; prints the reason and returns null when it
// cannot be created.
std::unique_ptr<wasm::Engine> CreateEngineOrReport(const EngineFlags& flags, const char* command);

// The HTTP server's read limits, shared by `wow serve`, `wow executor` and `wow proxy`; defaults: ServerOptions'.
struct HttpFlags {
  uint64_t max_buffered_mb = http::ServerOptions{}.max_buffered_body_bytes >> 20;
  uint64_t header_timeout_s = http::ServerOptions{}.header_timeout.count();
  uint64_t body_timeout_s = http::ServerOptions{}.body_timeout.count();
  // Unset: the face's own, set in options before ApplyHttpFlags: ServerOptions' (256) for `serve`; none (0) for
  // `executor` and `proxy`, whose one caller, the invoker, may hold a connection per running activation (their
  // max_connections still bounds it).
  std::optional<uint64_t> max_connections_per_address;
};

// Sets `options`' fields that HttpFlags hold (max_connections_per_address only when given: set the face's default
// first); prints why and returns false when the budget is below options.body_limit (set that first too).
bool ApplyHttpFlags(const HttpFlags& flags, http::ServerOptions& options, const char* command);

// `wow executor` and `wow proxy`: long-running HTTP faces of the executor.
struct ServiceFlags {
  enum class Face { kExecutor, kProxy } face = Face::kExecutor;
  EngineFlags engine;
  std::string listen;  // HOST:PORT; port 0 picks a free one
  int workers = 0;     // 0: one per core
  int io_threads = 1;
  size_t max_activations = 4096;
  uint64_t memory_mb = 256;
  uint64_t timeout_ms = 60'000;
  uint64_t log_limit_mb = 10;
  uint64_t body_limit_mb = 64;        // the largest body, that of /init
  uint64_t run_body_limit_mb = 8;     // the largest body of /run
  std::string action_logs = "stdio";  // or "none"
  std::vector<std::string> allow_dirs;  // --allow-dir: roots the `dir` annotation may grant
  size_t max_containers = 1024;
  uint64_t max_code_mb = 1024;
  uint64_t max_timeout_ms = 300'000;
  uint64_t shutdown_grace_ms = 30'000;
  std::string secret_file;  // empty: $WOW_EXECUTOR_SECRET, else no secret
  HttpFlags http;
};

// `wow serve`.
struct ServeFlags {
  EngineFlags engine;
  std::string listen = "127.0.0.1:3233";
  std::string auth;  // UUID:KEY for the guest namespace; default: generated once
  int workers = 0;
  int io_threads = 1;
  size_t max_activations = 4096;
  uint64_t keep_alive_ms = 10 * 60 * 1000;
  uint64_t memory_budget_mb = 0;  // 0: three quarters of the machine's memory
  size_t max_queued = 1024;
  uint64_t max_per_action = 0;
  std::vector<std::string> allow_dirs;  // --allow-dir: roots the `dir` annotation may grant
  // Activation retention; the parser sets the defaults of
  // controller::StoreOptions (168 hours, 100,000). 0 = kept forever / no
  // limit.
  uint64_t activation_retention_hours = 0;
  uint64_t max_activations_stored = 0;
  // Superseded versions of each action kept with their code; the parser
  // sets controller::StoreOptions' default (4).
  size_t superseded_versions_kept = 0;
  HttpFlags http;
};

int RunCompile(const CompileFlags& flags);
int RunService(const ServiceFlags& flags);
int RunServe(const ServeFlags& flags);
int RunRun(const RunFlags& flags);

}  // namespace wow::cli
