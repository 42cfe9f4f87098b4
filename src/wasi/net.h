#pragma once

#include <chrono>

#include "wasm/host_function.h"

namespace wow::wasi {

// How long http.get blocks: WOW's stand-in for an I/O-bound call.
inline constexpr std::chrono::milliseconds kHttpGetDelay{300};

// Registers module "http", function get: () -> i32. It blocks the calling
// activation for kHttpGetDelay (sleeping, no CPU) and returns 0. The embedder
// adds it only for actions with the net_access capability, so a module
// importing it without that capability fails to link. As a second check,
// HostCall::data must be the activation's WasiContext with net_access set;
// otherwise get returns ENOTCAPABLE (76) without blocking. Traps when the
// context's deadline would pass during the wait, and when data is null.
void AddNetFunctions(wasm::HostFunctions& host);

}  // namespace wow::wasi
