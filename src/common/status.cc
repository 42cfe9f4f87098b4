#include "common/status.h"

namespace wow {

const char* TrapKindMessage(TrapKind kind) {
  switch (kind) {
    case TrapKind::kNone: return "no trap";
    case TrapKind::kOutOfBounds: return "out of bounds memory access";
    case TrapKind::kIntegerOverflow: return "integer overflow";
    case TrapKind::kDivideByZero: return "integer divide by zero";
    case TrapKind::kInvalidConversion: return "invalid conversion to integer";
    case TrapKind::kUnreachable: return "unreachable executed";
    case TrapKind::kIndirectCallMismatch: return "indirect call type mismatch or null/out-of-range table entry";
    case TrapKind::kStackExhausted: return "call stack exhausted";
    case TrapKind::kUncaughtException: return "uncaught exception";
    case TrapKind::kHostError: return "host function error";
    case TrapKind::kTimeout: return "time limit exceeded";
  }
  return "unknown trap";
}

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kInvalidModule: return "invalid module";
    case Code::kUnsupported: return "unsupported";
    case Code::kLinkError: return "link error";
    case Code::kCompileError: return "compile error";
    case Code::kTrap: return "trap";
    case Code::kResourceExhausted: return "resource exhausted";
    case Code::kIoError: return "I/O error";
    case Code::kAlreadyExists: return "already exists";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kNone: return "";
    case Phase::kLoading: return "loading";
    case Phase::kValidation: return "validation";
    case Phase::kCompilation: return "compilation";
    case Phase::kLinking: return "linking";
    case Phase::kInstantiation: return "instantiation";
    case Phase::kExecution: return "execution";
  }
  return "";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  if (phase_ == Phase::kNone) return message_;
  return std::string(PhaseName(phase_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status copy = *this;
  copy.message_ = std::string(context) + ": " + message_;
  return copy;
}

}  // namespace wow
