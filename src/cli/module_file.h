#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace wow::cli {

// Reads a module given on the command line: a binary .wasm or WebAssembly
// text. kNotFound / kIoError for unreadable files, kInvalidModule otherwise.
Result<std::vector<uint8_t>> ReadModuleFile(const std::string& path);

}  // namespace wow::cli
