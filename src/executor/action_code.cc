#include "executor/action_code.h"

#include <zip.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "common/base64.h"
#include "wasm/module_reader.h"

namespace wow::executor {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsWasm(std::string_view bytes) {
  return wasm::IsWasmBinary(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

// A local file header, or the end-of-central-directory record alone (an empty archive).
bool IsZip(std::string_view bytes) {
  return StartsWith(bytes, std::string_view("PK\x03\x04", 4)) || StartsWith(bytes, std::string_view("PK\x05\x06", 4));
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// Entry names come from the archive: quote them, escape control bytes and cap their length so messages stay sane.
std::string Quote(std::string_view name) {
  constexpr size_t kMax = 200;
  std::string out = "\"";
  for (size_t i = 0; i < name.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > kMax) out += "...";
  return out + "\"";
}

Status TooLarge(std::string_view what, uint64_t size, const CodeLimits& limits) {
  return Status::InvalidArgument(std::string(what) + " is " + std::to_string(size) + " bytes, more than the limit of " +
                                 std::to_string(limits.max_module_bytes) + " bytes");
}

Result<ActionCode> FromWat(std::string_view text, std::string_view filename, std::string source,
                           const CodeLimits& limits) {
  auto wasm = wasm::WatToWasm(text, filename);
  if (!wasm.ok()) return wasm.status().WithContext("the action's WebAssembly text did not parse");
  if (wasm->size() > limits.max_module_bytes) return TooLarge("the action's module", wasm->size(), limits);
  return ActionCode{std::string(wasm->begin(), wasm->end()), std::move(source)};
}

struct ZipDiscard {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct ZipFileClose {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

class ZipError {
 public:
  ZipError() { zip_error_init(&error_); }
  ~ZipError() { zip_error_fini(&error_); }
  ZipError(const ZipError&) = delete;
  ZipError& operator=(const ZipError&) = delete;
  zip_error_t* get() { return &error_; }
  std::string message() { return zip_error_strerror(&error_); }

 private:
  zip_error_t error_;
};

// Reads entry `index` whole, trusting neither its declared size (checked before reading) nor the data (reading
// stops as soon as more arrives than declared).
Result<std::string> ReadEntry(zip_t* archive, zip_uint64_t index, std::string_view name, const CodeLimits& limits) {
  const std::string what = "entry " + Quote(name) + " of the action's zip archive";
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(archive, index, 0, &st) != 0) {
    return Status::InvalidArgument("cannot read " + what + ": " + zip_strerror(archive));
  }
  if ((st.valid & ZIP_STAT_SIZE) == 0) return Status::InvalidArgument(what + " does not declare its size");
  if (st.size > limits.max_module_bytes) return TooLarge(what + " (uncompressed)", st.size, limits);

  std::unique_ptr<zip_file_t, ZipFileClose> file(zip_fopen_index(archive, index, 0));
  if (file == nullptr) return Status::InvalidArgument("cannot open " + what + ": " + zip_strerror(archive));
  std::string out;
  out.reserve(std::min<zip_uint64_t>(st.size, 4 << 20));  // a declared size is only a claim
  std::vector<char> buffer(64 << 10);
  for (;;) {
    // Ask for one byte more than is left, so that an entry longer than declared shows itself.
    zip_uint64_t want = std::min<zip_uint64_t>(buffer.size(), st.size - out.size() + 1);
    zip_int64_t got = zip_fread(file.get(), buffer.data(), want);
    if (got < 0) return Status::InvalidArgument("cannot read " + what + ": " + zip_file_strerror(file.get()));
    if (got == 0) break;
    if (static_cast<zip_uint64_t>(got) > st.size - out.size()) {
      return Status::InvalidArgument(what + " holds more data than the " + std::to_string(st.size) +
                                     " bytes it declares");
    }
    out.append(buffer.data(), static_cast<size_t>(got));
  }
  if (out.size() != st.size) {
    return Status::InvalidArgument(what + " is truncated: " + std::to_string(out.size()) + " of " +
                                   std::to_string(st.size) + " bytes");
  }
  return out;
}

Result<ActionCode> DecodeZip(std::string_view data, std::string_view main, const CodeLimits& limits) {
  ZipError error;
  // freep=0: the source borrows `data`, which outlives the archive.
  zip_source_t* source = zip_source_buffer_create(data.data(), data.size(), 0, error.get());
  if (source == nullptr) return Status::InvalidArgument("cannot read the action's zip archive: " + error.message());
  zip_t* raw = zip_open_from_source(source, ZIP_RDONLY, error.get());
  if (raw == nullptr) {
    zip_source_free(source);  // only a successful open takes ownership
    return Status::InvalidArgument("the action's zip archive is corrupt: " + error.message());
  }
  std::unique_ptr<zip_t, ZipDiscard> archive(raw);

  zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  if (entries < 0) return Status::InvalidArgument("cannot list the action's zip archive");
  if (entries == 0) return Status::InvalidArgument("the action's zip archive is empty");
  if (static_cast<uint64_t>(entries) > limits.max_zip_entries) {
    return Status::InvalidArgument("the action's zip archive has " + std::to_string(entries) +
                                   " entries, more than the limit of " + std::to_string(limits.max_zip_entries));
  }

  const bool named = EndsWith(main, ".wasm");
  std::optional<zip_uint64_t> chosen, first_file;
  std::string chosen_name, first_file_name;
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(entries); ++i) {
    const char* raw_name = zip_get_name(archive.get(), i, ZIP_FL_ENC_GUESS);
    if (raw_name == nullptr) continue;
    std::string_view name(raw_name);
    if (name.empty() || name.back() == '/') continue;  // directories
    if (named ? name == main : EndsWith(name, ".wasm")) {
      chosen = i;
      chosen_name = name;
      break;
    }
    if (!first_file) {
      first_file = i;
      first_file_name = name;
    }
  }
  if (!chosen && named) {
    return Status::InvalidArgument("the action's zip archive has no entry " + Quote(main) +
                                   " (named by the action's main)");
  }
  if (!chosen) {
    if (!first_file) return Status::InvalidArgument("the action's zip archive holds no files, only directories");
    chosen = first_file;
    chosen_name = std::move(first_file_name);
  }

  WOW_ASSIGN_OR_RETURN(std::string bytes, ReadEntry(archive.get(), *chosen, chosen_name, limits));
  if (IsWasm(bytes)) return ActionCode{std::move(bytes), "zip:" + chosen_name};
  if (EndsWith(chosen_name, ".wat")) return FromWat(bytes, chosen_name, "zip:" + chosen_name, limits);
  return Status::InvalidArgument("entry " + Quote(chosen_name) +
                                 " of the action's zip archive is not a WebAssembly module (it does not start with "
                                 "the magic \"\\0asm\")");
}

Result<ActionCode> DecodeBinary(std::string bytes, std::string_view main, const CodeLimits& limits) {
  if (bytes.empty()) return Status::InvalidArgument("the action's code is empty");
  if (IsWasm(bytes)) {
    if (bytes.size() > limits.max_module_bytes) return TooLarge("the action's module", bytes.size(), limits);
    return ActionCode{std::move(bytes), "wasm"};
  }
  if (IsZip(bytes)) return DecodeZip(bytes, main, limits);
  return Status::InvalidArgument("the action's code is neither a WebAssembly module nor a zip archive");
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

Result<ActionCode> Decode(std::string_view code, bool binary, std::string_view main, const CodeLimits& limits) {
  std::string_view trimmed = Trim(code);
  if (trimmed.empty()) return Status::InvalidArgument("the action's code is empty");
  if (binary) {
    auto bytes = Base64Decode(trimmed);
    if (!bytes.ok()) return bytes.status().WithContext("the action's code is not valid base64");
    return DecodeBinary(std::move(bytes).value(), main, limits);
  }
  // Binary code sent with binary=false. Text starts with '(' or a comment, never a base64 character, so the check
  // costs nothing for real text.
  if (IsBase64Char(trimmed.front())) {
    auto bytes = Base64Decode(trimmed);
    if (bytes.ok() && (IsWasm(*bytes) || IsZip(*bytes))) return DecodeBinary(std::move(bytes).value(), main, limits);
  }
  return FromWat(code, "action.wat", "wat", limits);
}

}  // namespace

Result<ActionCode> DecodeActionCode(std::string_view code, bool binary, std::string_view main,
                                    const CodeLimits& limits) {
  // libzip is C and wabt reports through Errors, but allocation can still throw.
  try {
    return Decode(code, binary, main, limits);
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kResourceExhausted, Phase::kLoading, "out of memory decoding the action's code");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("decoding the action's code failed: ") + e.what());
  }
}

}  // namespace wow::executor
