#pragma once

// The container backends behind ContainerPool (pool.h) and the wow serve
// platform, plus where the harness finds what it runs.

#include <filesystem>
#include <memory>
#include <string>

#include "platform.h"
#include "pool.h"

namespace wow::bench::eval {

class DockerApi;

// The programs and actions the platforms run.
struct Artifacts {
  std::filesystem::path wow;         // the wow binary
  std::filesystem::path proxy;       // wow-action-proxy
  std::filesystem::path wasm_dir;    // <example>.wasm
  std::filesystem::path native_dir;  // native <example> builds
  std::filesystem::path Wasm(const std::string& example) const { return wasm_dir / (example + ".wasm"); }
  std::filesystem::path Native(const std::string& example) const { return native_dir / example; }
};

// Where the harness's children keep their files and logs.
struct Workspace {
  std::filesystem::path dir;        // this platform instance's own
  std::filesystem::path aot_cache;  // wow's compiled artifacts, shared by every wow instance of a run
};

// The native build as an /init body for the proxy ({"value":{"code":<base64>,"binary":true,...}}).
Result<std::string> NativeInitBody(const Artifacts& artifacts, const ActionSpec& action);
// The Wasm module of the action, made distinct when the spec asks for it.
Result<std::string> WasmModule(const Artifacts& artifacts, const ActionSpec& action);

// Proxies as plain processes on 127.0.0.1: the process-per-request floor.
std::unique_ptr<Backend> MakeProcessBackend(Artifacts artifacts, Workspace workspace);

// Proxies in Docker containers of `image` (made by BuildProxyImage) on the
// host network, with the action's memory limit.
std::unique_ptr<Backend> MakeDockerBackend(Artifacts artifacts, std::shared_ptr<DockerApi> api, std::string image,
                                           std::string cgroup_parent);
// Builds the baselines' image: the proxy and the native example builds
// (with their shared libraries) in a rootfs imported as `image`.
Status BuildProxyImage(const Artifacts& artifacts, DockerApi& api, const std::string& image,
                       const std::filesystem::path& scratch);

// wow's engine settings for a platform. Compiling is deploy-time work in
// every experiment but deploy: where the node would run the AoT artifact
// (aot; tiered and the default engine once their background compile is
// done), deploying an action first builds it with the `engine: aot`
// annotation, so the action runs on AoT from its first activation. Without
// a working AoT engine that step fails quietly and tiered stays on its
// fast tier.
struct WowEngine {
  std::string engine;  // `--engine`; empty: the node's default
  bool CompilesAhead() const { return engine.empty() || engine == "aot" || engine == "tiered"; }
};

// Containers of one `wow executor` process (started by this call), the
// harness acting as OpenWhisk's invoker; compiles each action in Prepare.
Result<std::unique_ptr<Backend>> MakeExecutorBackend(Artifacts artifacts, Workspace workspace, WowEngine engine = {});

// `wow serve` (started by this call), driven through the REST API; its own
// invoker decides what is warm.
struct ServeOptions {
  std::chrono::milliseconds keep_alive{600'000};
  uint64_t memory_budget_mb = 16384;
  WowEngine engine;
};
Result<std::unique_ptr<Platform>> MakeServePlatform(Artifacts artifacts, Workspace workspace, ServeOptions options);

// Deploy to first result, once: starts `wow executor --engine <engine>` on
// the empty directory `dir` (not timed), then times /init with `module` and
// one /run with `params_json` until its answer. The result body is returned
// for the caller to check. The executor is stopped before returning.
struct FirstResult {
  double init_ms = 0, run_ms = 0, total_ms = 0;
  std::string body;       // the /run answer
  std::string served_by;  // its x-wow-engine header
};
Result<FirstResult> DeployToFirstResult(const Artifacts& artifacts, const std::filesystem::path& dir,
                                        const std::string& engine, const std::string& module,
                                        const std::string& params_json, std::chrono::milliseconds timeout);

}  // namespace wow::bench::eval
