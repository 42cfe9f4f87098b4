#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace wow {

// What went wrong, independent of where. Maps to HTTP statuses in one place
// (later: protocol layer).
enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller passed something malformed
  kNotFound,           // file, export or entity does not exist
  kInvalidModule,      // not Wasm, or Wasm that fails validation
  kUnsupported,        // valid Wasm using a feature the engine does not offer
  kLinkError,          // an import the host does not provide, or a type mismatch
  kCompileError,       // the C compiler failed on generated code
  kTrap,               // the guest trapped; see Status::trap()
  kResourceExhausted,  // memory limit, pool exhausted, output limit
  kIoError,            // the host OS refused something
  kAlreadyExists,      // e.g. a container id that is already initialised
  kInternal,           // an impossible state; a bug in wow
};

// Which stage of a Wasm module's life the error belongs to.
enum class Phase {
  kNone = 0,
  kLoading,        // reading bytes, decoding
  kValidation,     // wabt validation
  kCompilation,    // wasm2c + C compiler
  kLinking,        // resolving imports against the host
  kInstantiation,  // fresh instance: memory, tables, data segments
  kExecution,      // running guest code
};

// Why guest execution stopped abnormally.
enum class TrapKind {
  kNone = 0,
  kOutOfBounds,
  kIntegerOverflow,
  kDivideByZero,
  kInvalidConversion,
  kUnreachable,
  kIndirectCallMismatch,
  kStackExhausted,
  kUncaughtException,
  kHostError,  // a host function reported an unrecoverable error
  kTimeout,    // the activation's deadline passed
};

// Human-readable name of a trap kind, e.g. "integer divide by zero".
const char* TrapKindMessage(TrapKind kind);
const char* CodeName(Code code);
const char* PhaseName(Phase phase);

// An error as a value (leveldb style). OK carries no allocation.
// Thread-compatible: a Status is a plain value.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(Code code, Phase phase, std::string message) {
    return Status(code, phase, TrapKind::kNone, std::move(message));
  }
  static Status Trap(TrapKind kind, std::string message) {
    return Status(Code::kTrap, Phase::kExecution, kind, std::move(message));
  }
  // The trap every engine reports: the kind's message, then ": <detail>" if any.
  static Status TrapOf(TrapKind kind, std::string_view detail = {}) {
    std::string message = TrapKindMessage(kind);
    if (!detail.empty()) message.append(": ").append(detail);
    return Trap(kind, std::move(message));
  }
  static Status InvalidArgument(std::string message) {
    return Error(Code::kInvalidArgument, Phase::kNone, std::move(message));
  }
  static Status NotFound(std::string message) { return Error(Code::kNotFound, Phase::kNone, std::move(message)); }
  static Status IoError(std::string message) { return Error(Code::kIoError, Phase::kNone, std::move(message)); }
  static Status Internal(std::string message) { return Error(Code::kInternal, Phase::kNone, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  Phase phase() const { return phase_; }
  TrapKind trap() const { return trap_; }
  const std::string& message() const { return message_; }

  // "<phase>: <message>" (or just the message when there is no phase).
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, Phase phase, TrapKind trap, std::string message)
      : code_(code), phase_(phase), trap_(trap), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  Phase phase_ = Phase::kNone;
  TrapKind trap_ = TrapKind::kNone;
  std::string message_;
};

// A value or the Status that explains its absence.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace wow

// Early-return helpers for Status- and Result-returning functions.
#define WOW_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::wow::Status _wow_status = (expr);        \
    if (!_wow_status.ok()) return _wow_status; \
  } while (0)

#define WOW_CONCAT_INNER(a, b) a##b
#define WOW_CONCAT(a, b) WOW_CONCAT_INNER(a, b)
#define WOW_ASSIGN_OR_RETURN(lhs, expr) WOW_ASSIGN_OR_RETURN_IMPL(WOW_CONCAT(_wow_result_, __LINE__), lhs, expr)
#define WOW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
