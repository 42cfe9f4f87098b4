#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace wow::executor {

// An action's module, decoded from the `code` of an /init body.
struct ActionCode {
  std::string wasm;    // the module's binary, starting with "\0asm"
  std::string source;  // where it came from, for messages: "wasm", "wat" or "zip:<entry name>"
};

// Bounds on what an /init body may make us allocate.
struct CodeLimits {
  size_t max_module_bytes = 64ull << 20;  // the module itself, also a zip entry's uncompressed size
  size_t max_zip_entries = 10000;
};

// Decodes `code` as OpenWhisk sends it in an /init body into module bytes.
//
// binary=true: `code` is base64 (line breaks and other whitespace allowed) of either a .wasm module or a zip
// archive holding one. In a zip, `main` picks the entry as WOW packages its actions: the entry named `main` when
// `main` ends in ".wasm" (an error if there is none); else the first entry whose name ends in ".wasm"; else the
// first file entry. Directory entries are skipped. The entry must be a binary module, or WebAssembly text when
// its name ends in ".wat". An entry's declared uncompressed size is checked against the limits before it is read,
// and reading stops as soon as more arrives than declared (zip bombs).
//
// binary=false: `code` is WebAssembly text. Because some clients send binary code with binary=false, text that
// (trimmed) is valid base64 of bytes starting with the Wasm magic or a zip signature is decoded as if binary=true.
//
// Errors are kInvalidArgument naming what is wrong, except that text that does not parse keeps WatToWasm's
// Status (kInvalidModule) with context added. Never throws; the module is not validated here.
Result<ActionCode> DecodeActionCode(std::string_view code, bool binary, std::string_view main,
                                    const CodeLimits& limits = {});

}  // namespace wow::executor
