// Action code as an /init body or an action PUT carries it (src/executor/action_code.h): base64, zip archives
// (entries, sizes, names, compression), WebAssembly text. Input: one flags byte (bit 0: binary; bit 1: small
// limits), then `main` up to the first newline, then the code.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/base64.h"
#include "executor/action_code.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t newline = rest.find('\n');
  std::string_view main = newline == std::string_view::npos ? std::string_view() : rest.substr(0, newline);
  std::string_view code = newline == std::string_view::npos ? rest : rest.substr(newline + 1);
  wow::executor::CodeLimits limits;
  if (flags & 2) {
    limits.max_module_bytes = 256;
    limits.max_zip_entries = 2;
  }
  const bool binary = flags & 1;
  (void)wow::executor::DecodeActionCode(code, binary, main, limits);
  // The raw bytes of a zip or module reach the decoder only through base64: also feed the code encoded, so that
  // the fuzzer's mutations of raw archives count.
  if (flags & 4) (void)wow::executor::DecodeActionCode(wow::Base64Encode(code), true, main, limits);
  return 0;
}
