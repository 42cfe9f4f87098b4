#include "wasm/module_reader.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string>

#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/binary-writer.h"
#include "wabt/error-formatter.h"
#include "wabt/feature.h"
#include "wabt/ir.h"
#include "wabt/resolve-names.h"
#include "wabt/stream.h"
#include "wabt/validator.h"
#include "wabt/wast-lexer.h"
#include "wabt/wast-parser.h"

namespace wow::wasm {

// SIMD and threads are off: wasm2c 1.0.32's SIMD output needs headers Debian
// does not ship.
wabt::Features SupportedFeatures() {
  wabt::Features f;
  f.disable_simd();
  return f;
}

namespace {

// "<message> (at byte 0x1a)", one per error, without wabt's file prefix.
std::string FormatErrors(const wabt::Errors& errors) {
  std::string text;
  for (const auto& e : errors) {
    if (!text.empty()) text += "; ";
    text += fmt::format("{} (at byte {:#x})", e.message, e.loc.offset);
  }
  return text.empty() ? "unknown error" : text;
}

bool AllNumeric(const wabt::TypeVector& types) {
  for (auto t : types) {
    if (!ToValType(t).ok()) return false;
  }
  return true;
}

ExternKind ToExternKind(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return ExternKind::kFunc;
    case wabt::ExternalKind::Table: return ExternKind::kTable;
    case wabt::ExternalKind::Memory: return ExternKind::kMemory;
    case wabt::ExternalKind::Global: return ExternKind::kGlobal;
    case wabt::ExternalKind::Tag: return ExternKind::kTag;
  }
  return ExternKind::kFunc;
}

Result<ModuleInfo> Summarise(const wabt::Module& m) {
  ModuleInfo info;
  for (const wabt::Import* imp : m.imports) {
    ImportDesc d;
    d.module = imp->module_name;
    d.name = imp->field_name;
    d.kind = ToExternKind(imp->kind());
    if (imp->kind() == wabt::ExternalKind::Func) {
      auto* fi = static_cast<const wabt::FuncImport*>(imp);
      auto sig = ToFuncSig(fi->func.decl.sig);
      if (!sig.ok()) {
        return sig.status().WithContext(fmt::format("import {}.{}", d.module, d.name));
      }
      d.sig = std::move(sig).value();
    }
    info.imports.push_back(std::move(d));
  }
  for (const wabt::Export* exp : m.exports) {
    ExportDesc d;
    d.name = exp->name;
    d.kind = ToExternKind(exp->kind);
    if (exp->kind == wabt::ExternalKind::Func) {
      const wabt::Func* f = m.GetFunc(exp->var);
      if (f != nullptr) {
        auto sig = ToFuncSig(f->decl.sig);
        // An export with reference types stays listed but has no callable sig.
        if (sig.ok()) d.sig = std::move(sig).value();
      }
    }
    info.exports.push_back(std::move(d));
  }
  if (!m.memories.empty()) {
    info.has_memory = true;
    info.initial_memory_pages = static_cast<uint32_t>(m.memories[0]->page_limits.initial);
  }
  return info;
}

}  // namespace

Result<ValType> ToValType(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return ValType::kI32;
    case wabt::Type::I64: return ValType::kI64;
    case wabt::Type::F32: return ValType::kF32;
    case wabt::Type::F64: return ValType::kF64;
    default:
      return Status::Error(Code::kUnsupported, Phase::kValidation,
                           fmt::format("value type {} is not supported", t.GetName()));
  }
}

// Reference-typed parameters make a function unusable from the host, but are
// fine inside the module; callers decide whether that matters.
Result<FuncSig> ToFuncSig(const wabt::FuncSignature& sig) {
  FuncSig out;
  for (auto t : sig.param_types) {
    WOW_ASSIGN_OR_RETURN(ValType v, ToValType(t));
    out.params.push_back(v);
  }
  for (auto t : sig.result_types) {
    WOW_ASSIGN_OR_RETURN(ValType v, ToValType(t));
    out.results.push_back(v);
  }
  return out;
}

ParsedModule::ParsedModule() = default;
ParsedModule::~ParsedModule() = default;
ParsedModule::ParsedModule(ParsedModule&&) noexcept = default;
ParsedModule& ParsedModule::operator=(ParsedModule&&) noexcept = default;

bool IsWasmBinary(std::span<const uint8_t> bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), "\0asm", 4) == 0;
}

namespace {

Result<std::vector<uint8_t>> WatToWasmUnguarded(std::string_view text, std::string_view filename) {
  wabt::Errors errors;
  auto lexer = wabt::WastLexer::CreateBufferLexer(filename, text.data(), text.size(), &errors);
  wabt::WastParseOptions parse_options(SupportedFeatures());
  std::unique_ptr<wabt::Module> module;
  wabt::Result result = wabt::ParseWatModule(lexer.get(), &module, &errors, &parse_options);
  if (wabt::Succeeded(result)) result = wabt::ResolveNamesModule(module.get(), &errors);
  // Validated before the binary writer, as wat2wasm does: the writer asserts what validation checks (found by
  // fuzz/fuzz_wat: a data segment naming memory 8 aborted the process in WriteBinaryModule, Debian's libwabt keeping
  // its assertions).
  if (wabt::Succeeded(result)) {
    wabt::ValidateOptions validate_options(SupportedFeatures());
    result = wabt::ValidateModule(module.get(), &errors, validate_options);
  }
  if (wabt::Failed(result)) {
    std::string msg = wabt::FormatErrorsToString(errors, wabt::Location::Type::Text);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         "invalid WebAssembly text: " + (msg.empty() ? std::string("parse error") : msg));
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options;
  write_options.features = SupportedFeatures();
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), write_options))) {
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         "cannot encode the WebAssembly text as a binary module");
  }
  return std::move(stream.output_buffer().data);
}

}  // namespace

namespace {

// WatToWasmUnguarded, with no exception leaving it.
Result<std::vector<uint8_t>> WatToWasmCaught(std::string_view text, std::string_view filename) {
  // wabt 1.0.32's text parser throws on some malformed text (found by fuzz/fuzz_wat: an annotation whose string runs
  // to the end of the line, "(func (@x\")\n", throws std::length_error from Token::to_string, and leaks; Debian's
  // wat2wasm aborts on it). CheckTextLimits refuses annotations; this keeps any other throw from leaving here.
  try {
    return WatToWasmUnguarded(text, filename);
  } catch (const std::exception& e) {
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         std::string("invalid WebAssembly text: the text parser failed (") + e.what() + ")");
  }
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The conversion in a child process: wabt 1.0.32's text parser also *asserts* on some malformed text (found by
// fuzz/fuzz_wat: "(module (elem funcref (x" aborts in WastParser::ParseExpr, as Debian's wat2wasm does), which no
// check before it can rule out; in a child the abort ends only the child. The child sends back one status byte, then
// the binary or the error message. Text is converted at deploy time, off the request path; a fork costs ~1 ms.
Result<std::vector<uint8_t>> WatToWasmInChild(std::string_view text, std::string_view filename) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(fmt::format("pipe: {}", std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::IoError(fmt::format("fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    auto converted = WatToWasmCaught(text, filename);
    bool ok = converted.ok();
    const char status = ok ? 0 : 1;
    bool sent = WriteAll(fds[1], &status, 1);
    if (sent && ok) sent = WriteAll(fds[1], converted->data(), converted->size());
    if (sent && !ok) sent = WriteAll(fds[1], converted.status().message().data(), converted.status().message().size());
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  std::string received;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0 || received.empty()) {
    std::string how = WIFSIGNALED(wait_status) ? fmt::format("signal {}", WTERMSIG(wait_status))
                                               : fmt::format("exit {}", WEXITSTATUS(wait_status));
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         fmt::format("invalid WebAssembly text: the text parser crashed on it ({})", how));
  }
  if (received[0] != 0) return Status::Error(Code::kInvalidModule, Phase::kLoading, received.substr(1));
  return std::vector<uint8_t>(received.begin() + 1, received.end());
}

}  // namespace

Result<std::vector<uint8_t>> WatToWasm(std::string_view text, std::string_view filename, const ModuleLimits& limits) {
  // wabt's parser, its binary writer and the IR's destructor recurse once per nesting level.
  WOW_RETURN_IF_ERROR(CheckTextLimits(text, limits));
  return WatToWasmInChild(text, filename);
}

Result<std::vector<uint8_t>> ToWasmBinary(std::span<const uint8_t> bytes, const ModuleLimits& limits) {
  if (IsWasmBinary(bytes)) return std::vector<uint8_t>(bytes.begin(), bytes.end());
  // Text modules start with optional whitespace/comments and "(module".
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.find("(module") != std::string_view::npos) return WatToWasm(text, "module.wat", limits);
  return Status::Error(Code::kInvalidModule, Phase::kLoading,
                       "not a WebAssembly module: the file neither starts with the magic \"\\0asm\" "
                       "nor contains WebAssembly text");
}

Result<ParsedModule> ParseModule(std::span<const uint8_t> wasm, const ModuleLimits& limits) {
  if (!IsWasmBinary(wasm)) {
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         "not a WebAssembly binary: missing the magic \"\\0asm\"");
  }
  // Before wabt: its IR (and everything that walks it) recurses once per nesting level.
  WOW_RETURN_IF_ERROR(CheckModuleLimits(wasm, limits));
  ParsedModule parsed;
  parsed.ir = std::make_unique<wabt::Module>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions read_options(SupportedFeatures(), nullptr, /*read_debug_names=*/false,
                                       /*stop_on_first_error=*/true,
                                       /*fail_on_custom_section_error=*/false);
  wabt::Result result =
      wabt::ReadBinaryIr("module.wasm", wasm.data(), wasm.size(), read_options, &errors, parsed.ir.get());
  if (wabt::Failed(result)) {
    return Status::Error(Code::kInvalidModule, Phase::kLoading, "malformed module: " + FormatErrors(errors));
  }
  wabt::ValidateOptions validate_options(SupportedFeatures());
  if (wabt::Failed(wabt::ValidateModule(parsed.ir.get(), &errors, validate_options))) {
    return Status::Error(Code::kInvalidModule, Phase::kValidation, "invalid module: " + FormatErrors(errors));
  }
  WOW_ASSIGN_OR_RETURN(parsed.info, Summarise(*parsed.ir));
  return parsed;
}

Status CheckImportsBindable(const ParsedModule& parsed) {
  for (const wabt::Import* imp : parsed.ir->imports) {
    if (imp->kind() != wabt::ExternalKind::Func) {
      return Status::Error(Code::kUnsupported, Phase::kLinking,
                           fmt::format("import {}.{} is a {}; only function imports are supported", imp->module_name,
                                       imp->field_name, wabt::GetKindName(imp->kind())));
    }
    const auto& sig = static_cast<const wabt::FuncImport*>(imp)->func.decl.sig;
    if (sig.result_types.size() > 1 || !AllNumeric(sig.param_types) || !AllNumeric(sig.result_types)) {
      return Status::Error(Code::kUnsupported, Phase::kLinking,
                           fmt::format("import {}.{} has a signature the host cannot bind "
                                       "(multiple results or reference types)",
                                       imp->module_name, imp->field_name));
    }
  }
  return Status::Ok();
}

}  // namespace wow::wasm
