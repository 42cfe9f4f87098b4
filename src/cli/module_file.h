#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace wow::cli {

// Reads a module given on the command line: a binary .wasm or WebAssembly
// text. kNotFound / kIoError for unreadable files, kInvalidModule otherwise.
Result<std::vector<uint8_t>> ReadModuleFile(const std::string& path);

// ReadModuleFile for a subcommand: on failure prints "wow <command>: <why>"
// and sets `exit_code` (1 for an invalid module, 2 for an unreadable file).
std::optional<std::vector<uint8_t>> ReadModuleOrReport(const std::string& path, const char* command, int* exit_code);

}  // namespace wow::cli
