#pragma once

#include "wasm/host_function.h"

namespace wow::wasi {

// Registers the WASI preview1 functions (module "wasi_snapshot_preview1")
// with their exact preview1 signatures. Each function expects
// HostCall::data to point to the activation's WasiContext (set it as
// InstanceOptions::host_data) and traps when it is null. Guest errors come
// back as preview1 errno values, never as exceptions or crashes; guest
// pointers are checked through GuestMemory, a bad one yielding EFAULT.
// proc_exit returns HostAction::kExit with HostCall::exit_code set. File
// access is confined beneath the context's preopened directories.
void AddWasiFunctions(wasm::HostFunctions& host);

}  // namespace wow::wasi
