#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "abi/action_runner.h"
#include "cli/commands.h"
#include "cli/module_file.h"
#include "cli/params.h"
#include "common/files.h"
#include "common/json.h"
#include "wasm/engine_factory.h"

namespace wow::cli {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

int RunRun(const RunFlags& flags) {
  auto params = MergeParams(flags.param_files, flags.params, EmptyStdin::kNoParameters);
  if (!params.ok()) {
    fmt::print(stderr, "wow run: {}\n", params.status().ToString());
    return kExitUsage;
  }
  int exit_code = kExitOk;
  auto wasm = ReadModuleOrReport(flags.module_path, "run", &exit_code);
  if (!wasm) return exit_code;
  auto engine = CreateEngineOrReport(flags.engine, "run");
  if (engine == nullptr) return kExitUsage;
  abi::Capabilities caps;
  // The command line is the operator: --dir grants the host directory as it is.
  for (const auto& d : flags.dirs) {
    std::string path = std::filesystem::absolute(d).lexically_normal().string();
    caps.dirs.push_back({path, path});
  }
  caps.net_access = flags.net;

  auto t0 = Clock::now();
  auto prepared = engine->Prepare(*wasm);
  if (!prepared.ok()) {
    fmt::print(stderr, "wow run: {}\n", prepared.status().WithContext(flags.module_path).ToString());
    return kExitFailed;
  }
  double prepare_ms = MsSince(t0);
  auto t1 = Clock::now();
  auto module = engine->Load(*wasm, abi::HostFunctionsFor(caps));
  if (!module.ok()) {
    fmt::print(stderr, "wow run: {}\n", module.status().WithContext(flags.module_path).ToString());
    return kExitFailed;
  }
  double load_ms = MsSince(t1);

  abi::ActivationRequest request;
  request.action_name =
      flags.action_name.empty() ? std::filesystem::path(flags.module_path).stem().string() : flags.action_name;
  request.params_json = ToJson(*params);
  request.env = flags.env;
  request.capabilities = caps;
  request.limits.memory_bytes = flags.memory_mb << 20;
  request.limits.time_limit_ms = flags.timeout_ms;
  request.limits.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(flags.timeout_ms);
  auto result = abi::RunActivation(**module, request);
  if (!result.ok()) {
    fmt::print(stderr, "wow run: {}\n", result.status().ToString());
    return kExitFailed;
  }
  for (const auto& line : result->logs) fmt::print(stderr, "{}\n", line.text);
  fmt::print("{}\n", ToJson(result->result));
  if (flags.timings) {
    fmt::print(stderr,
               "wow: {} ({} ABI, {} engine) compile {:.1f} ms{}, load {:.2f} ms, instantiate {:.3f} ms, run {:.3f} "
               "ms\n",
               abi::ActivationStatusName(result->status), abi::GuestAbiName(result->abi),
               result->engine.empty() ? engine->name() : std::string_view(result->engine), prepare_ms,
               prepared->cache_hit ? " (cached)" : "", load_ms, result->instantiate_ms, result->run_ms);
  }
  return result->status == abi::ActivationStatus::kSuccess ? kExitOk : kExitFailed;
}

}  // namespace wow::cli
