#include "wasi/net.h"

#include <time.h>

#include <span>

#include "wasi/preview1.h"
#include "wasi/wasi_context.h"

namespace wow::wasi {
namespace {

using wasm::HostAction;
using wasm::HostCall;
using wasm::RawValue;

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

HostAction HttpGet(HostCall& call, std::span<const RawValue> args, std::span<RawValue> results) {
  if (results.size() != 1 || !args.empty()) {
    call.trap_message = "http.get: called with the wrong number of values";
    return HostAction::kTrap;
  }
  auto* ctx = static_cast<WasiContext*>(call.data);
  if (ctx == nullptr) {
    call.trap_message = "http.get: no WasiContext set as host data";
    return HostAction::kTrap;
  }
  if (!ctx->net_access()) {
    results[0] = static_cast<uint16_t>(Errno::kNotCapable);
    return HostAction::kContinue;
  }
  uint64_t delay = std::chrono::duration_cast<std::chrono::nanoseconds>(kHttpGetDelay).count();
  if (!ctx->SleepUntil(MonotonicNs() + delay)) {
    call.trap_message = "the deadline passed during http.get";
    call.trap = TrapKind::kTimeout;
    return HostAction::kTrap;
  }
  results[0] = 0;
  return HostAction::kContinue;
}

}  // namespace

void AddNetFunctions(wasm::HostFunctions& host) {
  wasm::HostFunction f;
  f.module = "http";
  f.name = "get";
  f.sig.results = {wasm::ValType::kI32};
  f.fn = &HttpGet;
  host.Add(std::move(f));
}

}  // namespace wow::wasi
