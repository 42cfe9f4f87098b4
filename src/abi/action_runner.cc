#include "abi/action_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>

#include "common/json.h"
#include "wasi/net.h"
#include "wasi/wasi_context.h"
#include "wasi/wasi_host.h"

namespace wow::abi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kStart[] = "_start";
constexpr char kWowAllocate[] = "wasm_memory_buffer_allocate_space";
constexpr char kWowPointer[] = "get_wasm_memory_buffer_pointer";
constexpr char kWowLength[] = "get_wasm_memory_buffer_len";

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

boost::json::value ErrorObject(std::string message) {
  boost::json::object o;
  o["error"] = std::move(message);
  return o;
}

ActivationResult DeveloperError(ActivationResult result, std::string message) {
  result.status = ActivationStatus::kDeveloperError;
  result.result = ErrorObject(std::move(message));
  return result;
}

// What is left of limits.log_bytes while the log lines are collected.
struct LogBudget {
  uint64_t left = 0;
  bool exhausted = false;  // a line did not fit
};

// Appends one line, given as its output bytes (its newline included when it
// has one), charging max(bytes, kMinLogLineBytes). A line that does not fit
// keeps what fits of its text, if kMinLogLineBytes do, and exhausts the
// budget. Returns false once the budget is exhausted.
bool AppendLine(std::string_view bytes, LogLine::Stream stream, std::chrono::system_clock::time_point time,
                LogBudget& budget, std::vector<LogLine>& out) {
  uint64_t cost = std::max<uint64_t>(bytes.size(), kMinLogLineBytes);
  if (cost > budget.left) {
    bytes = bytes.substr(0, budget.left < kMinLogLineBytes ? 0 : budget.left);
    budget.left = 0;
    budget.exhausted = true;
    if (bytes.empty()) return false;
  } else {
    budget.left -= cost;
  }
  if (!bytes.empty() && bytes.back() == '\n') bytes.remove_suffix(1);
  if (!bytes.empty() && bytes.back() == '\r') bytes.remove_suffix(1);
  out.push_back({stream, std::string(bytes), time});
  return !budget.exhausted;
}

// One stream's captured log text while its marks are walked.
struct StreamLogs {
  std::string_view text;
  size_t walked = 0;            // bytes of `text` the marks so far covered
  size_t line_start = 0;        // where the current line begins
  size_t last_mark = SIZE_MAX;  // the last mark covering any of `text`
};

// Appends the lines whose newline lies in the next `mark.bytes` of the
// mark's stream, stamped with the mark's time, and, at the stream's last
// mark, its unterminated rest. Returns false once the budget is exhausted.
bool AppendLines(StreamLogs& s, const wasi::OutputMark& mark, bool last_mark, LogBudget& budget,
                 std::vector<LogLine>& out) {
  auto stream = mark.stream == wasi::OutputStream::kStdout ? LogLine::Stream::kStdout : LogLine::Stream::kStderr;
  size_t end = std::min<size_t>(s.text.size(), s.walked + mark.bytes);
  while (s.walked < end) {
    const void* nl = std::memchr(s.text.data() + s.walked, '\n', end - s.walked);
    if (nl == nullptr) break;
    s.walked = static_cast<size_t>(static_cast<const char*>(nl) - s.text.data()) + 1;
    std::string_view line = s.text.substr(s.line_start, s.walked - s.line_start);
    s.line_start = s.walked;
    if (!AppendLine(line, stream, mark.time, budget, out)) return false;
  }
  s.walked = end;
  if (last_mark && s.line_start < end) {
    std::string_view rest = s.text.substr(s.line_start, end - s.line_start);
    s.line_start = end;
    return AppendLine(rest, stream, mark.time, budget, out);
  }
  return true;
}

// OpenWhisk's words for an activation stopped at its deadline.
std::string TimeoutMessage(const ActivationLimits& limits) {
  return fmt::format("The action exceeded its time limits of {} milliseconds.", limits.time_limit_ms);
}

// Explains a failed guest call for the activation's error message.
std::string DescribeFailure(const Status& status, const wasm::Instance& instance, const ActivationLimits& limits) {
  std::string message;
  if (status.code() == Code::kTrap && status.trap() == TrapKind::kTimeout) {
    return TimeoutMessage(limits);
  }
  if (status.code() == Code::kTrap) {
    message = "The action trapped: " + status.message();
  } else {
    message = "The action failed: " + status.message();
  }
  if (instance.memory_limit_hit()) {
    message += fmt::format(" (the action reached its memory limit of {} MB)", limits.memory_bytes >> 20);
  }
  return message;
}

// A developer error for a failed guest call; a timeout is flagged as one.
ActivationResult CallFailed(ActivationResult result, const Status& status, const wasm::Instance& instance,
                            const ActivationLimits& limits) {
  result.timed_out = status.code() == Code::kTrap && status.trap() == TrapKind::kTimeout;
  return DeveloperError(std::move(result), DescribeFailure(status, instance, limits));
}

// A result larger than the limit is a developer error, whatever its kind.
std::optional<std::string> OversizeMessage(const boost::json::value& value, const ActivationLimits& limits) {
  size_t size = ToJson(value).size();
  if (size <= limits.result_bytes) return std::nullopt;
  return fmt::format("The action produced a response that exceeded the allowed length: {} > {} bytes.", size,
                     limits.result_bytes);
}

// Applies OpenWhisk's result rules to a parsed result value.
ActivationResult Classify(ActivationResult result, boost::json::value value, const ActivationLimits& limits) {
  if (!value.is_object() && !value.is_array()) {
    return DeveloperError(std::move(result), "The action did not return a dictionary or array.");
  }
  if (auto oversize = OversizeMessage(value, limits)) return DeveloperError(std::move(result), *oversize);
  bool is_error = value.is_object() && value.as_object().contains("error");
  result.status = is_error ? ActivationStatus::kApplicationError : ActivationStatus::kSuccess;
  result.result = std::move(value);
  return result;
}

Result<wasi::WasiOptions> MakeWasiOptions(const ActivationRequest& request, GuestAbi abi, std::vector<std::string> args,
                                          std::string stdin_data) {
  wasi::WasiOptions options;
  options.args = std::move(args);
  options.env = request.env;
  options.stdin_data = std::move(stdin_data);
  options.output_limit_bytes = request.limits.log_bytes;
  if (abi == GuestAbi::kWasiCommand) {
    // The result line travels on stdout after the logs: keep stdout's tail
    // apart from the log limit so it survives a chatty guest, and let the
    // captured output hold the result too when the logs are within limits.
    options.output_limit_bytes += request.limits.result_bytes + 2;
    options.stdout_tail_bytes = request.limits.result_bytes + 2;
  }
  options.net_access = request.capabilities.net_access;
  options.deadline = request.limits.deadline;
  for (const DirGrant& dir : request.capabilities.dirs) {
    std::error_code ec;
    std::filesystem::create_directories(dir.host, ec);
    if (ec) {
      return Status::IoError(fmt::format("cannot create the granted directory {}: {}", dir.host, ec.message()));
    }
    options.preopens.push_back(wasi::Preopen{dir.host, dir.guest, false});
  }
  return options;
}

constexpr char kTruncatedLogsLine[] = "Logs were truncated because the total bytes size exceeds the limit.";

// Turns captured output (prefixes of the captured stdout and stderr, which
// `marks` describe) into log lines in write order, within limits.log_bytes;
// `written` is how many log bytes the guest produced, kept or not.
void CollectLogs(std::string_view stdout_logs, std::string_view stderr_logs, std::span<const wasi::OutputMark> marks,
                 uint64_t written, const ActivationLimits& limits, ActivationResult& result) {
  StreamLogs streams[2] = {{.text = stdout_logs}, {.text = stderr_logs}};
  auto of = [&](const wasi::OutputMark& mark) -> StreamLogs& {
    return streams[mark.stream == wasi::OutputStream::kStdout ? 0 : 1];
  };
  for (size_t i = 0; i < marks.size(); ++i) {
    StreamLogs& s = of(marks[i]);
    if (s.walked < s.text.size()) s.last_mark = i;
    s.walked += marks[i].bytes;
  }
  for (StreamLogs& s : streams) s.walked = 0;
  LogBudget budget{.left = limits.log_bytes};
  for (size_t i = 0; i < marks.size(); ++i) {
    StreamLogs& s = of(marks[i]);
    if (s.walked < s.text.size() && !AppendLines(s, marks[i], i == s.last_mark, budget, result.logs)) break;
  }
  result.logs_truncated = budget.exhausted || stdout_logs.size() + stderr_logs.size() < written;
  if (result.logs_truncated) {
    auto now = std::chrono::system_clock::now();
    if (!result.logs.empty()) now = std::max(now, result.logs.back().time);
    result.logs.push_back({LogLine::Stream::kStderr, kTruncatedLogsLine, now});
  }
}

// All output of the guest is logs (WOW ABI, or a failed WASI command).
void CollectAllLogs(const wasi::WasiContext& wasi, const ActivationLimits& limits, ActivationResult& result) {
  CollectLogs(wasi.stdout_text(), wasi.stderr_text(), wasi.output_marks(),
              wasi.stdout_written() + wasi.stderr_written(), limits, result);
}

ActivationResult FinishWasiCommand(ActivationResult result, const Status& call, wasm::Instance& instance,
                                   wasi::WasiContext& wasi, const ActivationLimits& limits) {
  if (!call.ok()) {
    CollectAllLogs(wasi, limits, result);
    return CallFailed(std::move(result), call, instance, limits);
  }
  if (int code = instance.exit_code().value_or(0); code != 0) {
    CollectAllLogs(wasi, limits, result);
    return DeveloperError(std::move(result), fmt::format("The action exited with code {}.", code));
  }
  // The result is the last non-empty stdout line, found in stdout's tail.
  std::string_view tail = wasi.stdout_tail();
  size_t end = tail.find_last_not_of(" \t\r\n");
  end = end == std::string_view::npos ? 0 : end + 1;
  size_t nl = end == 0 ? std::string_view::npos : tail.rfind('\n', end - 1);
  bool tail_is_everything = wasi.stdout_written() == tail.size();
  if (nl == std::string_view::npos && !tail_is_everything) {
    CollectAllLogs(wasi, limits, result);
    return DeveloperError(std::move(result),
                          fmt::format("The action produced a response that exceeded the allowed length: > {} bytes.",
                                      limits.result_bytes));
  }
  size_t begin = nl == std::string_view::npos ? 0 : nl + 1;
  std::string last_line(tail.substr(begin, end - begin));
  // Everything before the result line is logs; captured stdout is a prefix
  // of all stdout, so cut it where the result line began.
  uint64_t result_offset = wasi.stdout_written() - tail.size() + begin;
  std::string_view stdout_logs = wasi.stdout_text();
  if (stdout_logs.size() > result_offset) stdout_logs = stdout_logs.substr(0, result_offset);
  CollectLogs(stdout_logs, wasi.stderr_text(), wasi.output_marks(), result_offset + wasi.stderr_written(), limits,
              result);
  if (last_line.empty()) {
    return DeveloperError(std::move(result), "The action did not produce a result (no output on stdout).");
  }
  auto value = ParseJson(last_line);
  if (!value.ok()) {
    return DeveloperError(std::move(result), "The action's result (its last line on stdout) is not valid JSON: " +
                                                 value.status().message());
  }
  return Classify(std::move(result), std::move(value).value(), limits);
}

// Runs a guest call, then the remaining WOW steps.
ActivationResult RunWow(ActivationResult result, wasm::Instance& instance, wasi::WasiContext& wasi,
                        const ActivationRequest& request) {
  const auto& limits = request.limits;
  auto fail = [&](const Status& s) {
    CollectAllLogs(wasi, limits, result);
    return CallFailed(std::move(result), s, instance, limits);
  };
  wasm::GuestMemory* memory = instance.memory();
  if (memory == nullptr) return DeveloperError(std::move(result), "The action exports no memory.");
  const std::string& params = request.params_json;
  wasm::RawValue len_arg[1] = {static_cast<uint32_t>(params.size())};
  wasm::RawValue ret[1] = {0};
  if (Status s = instance.Call(kWowAllocate, len_arg, {}); !s.ok()) return fail(s);
  if (Status s = instance.Call(kWowPointer, {}, ret); !s.ok()) return fail(s);
  if (!memory->WriteBytes(static_cast<uint32_t>(ret[0]), params)) {
    CollectAllLogs(wasi, limits, result);
    return DeveloperError(std::move(result), fmt::format("The action's parameter buffer (at {}) cannot hold {} bytes.",
                                                         ret[0], params.size()));
  }
  if (Status s = instance.Call(request.entry_point, {}, {}); !s.ok()) return fail(s);
  CollectAllLogs(wasi, limits, result);
  if (int code = instance.exit_code().value_or(0); code != 0) {
    return DeveloperError(std::move(result), fmt::format("The action exited with code {}.", code));
  }
  wasm::RawValue ptr[1] = {0};
  wasm::RawValue len[1] = {0};
  if (Status s = instance.Call(kWowPointer, {}, ptr); !s.ok()) {
    return CallFailed(std::move(result), s, instance, limits);
  }
  if (Status s = instance.Call(kWowLength, {}, len); !s.ok()) {
    return CallFailed(std::move(result), s, instance, limits);
  }
  if (len[0] > limits.result_bytes + 64) {
    return DeveloperError(std::move(result),
                          fmt::format("The action produced a response that exceeded the allowed length: {} > {} bytes.",
                                      len[0], limits.result_bytes));
  }
  auto text = memory->ReadString(static_cast<uint32_t>(ptr[0]), static_cast<uint32_t>(len[0]));
  if (!text) {
    return DeveloperError(
        std::move(result),
        fmt::format("The action's result buffer ({} bytes at {}) lies outside its memory.", len[0], ptr[0]));
  }
  auto envelope = ParseJson(*text);
  if (!envelope.ok()) {
    return DeveloperError(std::move(result), "The action's result is not valid JSON: " + envelope.status().message());
  }
  auto* obj = envelope->if_object();
  if (obj != nullptr && obj->size() == 1 && obj->contains("Ok")) {
    return Classify(std::move(result), std::move((*obj)["Ok"]), limits);
  }
  if (obj != nullptr && obj->size() == 1 && obj->contains("Err")) {
    boost::json::value err = std::move((*obj)["Err"]);
    // WOW's Err carries the error itself; OpenWhisk wants {"error": ...}.
    if (!(err.is_object() && err.as_object().contains("error"))) err = boost::json::object{{"error", std::move(err)}};
    if (auto oversize = OversizeMessage(err, limits)) return DeveloperError(std::move(result), *oversize);
    result.status = ActivationStatus::kApplicationError;
    result.result = std::move(err);
    return result;
  }
  return DeveloperError(std::move(result), "The action's result is neither {\"Ok\": ...} nor {\"Err\": ...}.");
}

}  // namespace

const char* GuestAbiName(GuestAbi abi) { return abi == GuestAbi::kWow ? "wow" : "wasi-command"; }

const char* LogStreamName(LogLine::Stream stream) { return stream == LogLine::Stream::kStdout ? "stdout" : "stderr"; }

std::string FormatLogLine(const LogLine& line) {
  using namespace std::chrono;
  auto us = floor<microseconds>(line.time.time_since_epoch());
  auto day = floor<days>(us);
  year_month_day date{sys_days(day)};
  hh_mm_ss<microseconds> clock(us - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {}: {}", int(date.year()), unsigned(date.month()),
                     unsigned(date.day()), clock.hours().count(), clock.minutes().count(), clock.seconds().count(),
                     clock.subseconds().count(), LogStreamName(line.stream), line.text);
}

const char* ActivationStatusName(ActivationStatus status) {
  switch (status) {
    case ActivationStatus::kSuccess: return "success";
    case ActivationStatus::kApplicationError: return "application error";
    case ActivationStatus::kDeveloperError: return "action developer error";
  }
  return "?";
}

Result<GuestAbi> DetectAbi(const wasm::ModuleInfo& info) {
  // The WOW exports take and return only i32 (pointers and lengths).
  auto has_func = [&](const char* name, size_t params, size_t results) {
    const wasm::ExportDesc* e = info.FindExport(name);
    if (e == nullptr || e->kind != wasm::ExternKind::kFunc) return false;
    const wasm::FuncSig want{std::vector<wasm::ValType>(params, wasm::ValType::kI32),
                             std::vector<wasm::ValType>(results, wasm::ValType::kI32)};
    return e->sig == want;
  };
  bool has_memory = false;
  for (const auto& e : info.exports) has_memory |= e.kind == wasm::ExternKind::kMemory;
  bool start = has_func(kStart, 0, 0);
  bool wow_any = info.FindExport(kWowAllocate) || info.FindExport(kWowPointer) || info.FindExport(kWowLength);
  if (wow_any) {
    std::vector<std::string> missing;
    if (!has_memory) missing.push_back("memory");
    if (!start) missing.push_back("_start() -> ()");
    if (!has_func(kWowAllocate, 1, 0)) missing.push_back("wasm_memory_buffer_allocate_space(i32) -> ()");
    if (!has_func(kWowPointer, 0, 1)) missing.push_back("get_wasm_memory_buffer_pointer() -> i32");
    if (!has_func(kWowLength, 0, 1)) missing.push_back("get_wasm_memory_buffer_len() -> i32");
    if (missing.empty()) return GuestAbi::kWow;
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Status::Error(Code::kInvalidModule, Phase::kLinking,
                         "the module looks like a WOW action but lacks the exports " + list);
  }
  if (start && has_memory) return GuestAbi::kWasiCommand;
  return Status::Error(Code::kInvalidModule, Phase::kLinking,
                       start ? "the module exports _start but no memory"
                             : "the module is not an action: it exports neither _start (WASI command) nor "
                               "the WOW buffer functions");
}

const wasm::HostFunctions& HostFunctionsFor(const Capabilities& caps) {
  static const wasm::HostFunctions* const kPlain = [] {
    auto* h = new wasm::HostFunctions();
    wasi::AddWasiFunctions(*h);
    return h;
  }();
  static const wasm::HostFunctions* const kWithNet = [] {
    auto* h = new wasm::HostFunctions(*kPlain);
    wasi::AddNetFunctions(*h);
    return h;
  }();
  return caps.net_access ? *kWithNet : *kPlain;
}

namespace {

Result<ActivationResult> RunActivationUntimed(const wasm::Module& module, const ActivationRequest& request);

}  // namespace

Result<ActivationResult> RunActivation(const wasm::Module& module, const ActivationRequest& request) {
  auto start = std::chrono::system_clock::now();
  auto result = RunActivationUntimed(module, request);
  if (result.ok()) {
    result->start = start;
    result->end = std::chrono::system_clock::now();
  }
  return result;
}

namespace {

Result<ActivationResult> RunActivationUntimed(const wasm::Module& module, const ActivationRequest& request) {
  auto params = ParseJson(request.params_json);
  if (!params.ok() || !(params->is_object() || params->is_array())) {
    return Status::InvalidArgument("the action's parameters must be a JSON object or array");
  }
  WOW_ASSIGN_OR_RETURN(GuestAbi abi, DetectAbi(module.info()));
  ActivationResult result;
  result.abi = abi;

  std::vector<std::string> args = {request.action_name};
  std::string stdin_data;
  if (abi == GuestAbi::kWow) {
    args.push_back(std::to_string(request.params_json.size()));
  } else {
    stdin_data = request.params_json;
  }
  WOW_ASSIGN_OR_RETURN(wasi::WasiOptions wasi_options,
                       MakeWasiOptions(request, abi, std::move(args), std::move(stdin_data)));
  WOW_ASSIGN_OR_RETURN(std::unique_ptr<wasi::WasiContext> wasi, wasi::WasiContext::Create(std::move(wasi_options)));

  wasm::InstanceOptions instance_options;
  instance_options.memory_limit_bytes = request.limits.memory_bytes;
  instance_options.host_data = wasi.get();
  instance_options.deadline = request.limits.deadline;
  auto t0 = Clock::now();
  auto instance = module.Instantiate(instance_options);
  auto t1 = Clock::now();
  result.instantiate_ms = MsBetween(t0, t1);
  if (!instance.ok()) {
    const Status& s = instance.status();
    CollectAllLogs(*wasi, request.limits, result);
    std::string message = s.code() == Code::kTrap ? "The action trapped while starting: " + s.message()
                                                  : "The action could not start: " + s.message();
    if (s.code() == Code::kTrap && s.trap() == TrapKind::kTimeout) {
      message = TimeoutMessage(request.limits);
      result.timed_out = true;
    }
    return DeveloperError(std::move(result), message);
  }
  wasm::Instance& inst = **instance;
  result.engine = std::string(inst.engine_name());
  if (abi == GuestAbi::kWow) {
    result = RunWow(std::move(result), inst, *wasi, request);
  } else {
    Status call = inst.Call(request.entry_point, {}, {});
    result = FinishWasiCommand(std::move(result), call, inst, *wasi, request.limits);
  }
  result.run_ms = MsBetween(t1, Clock::now());
  return result;
}

}  // namespace

}  // namespace wow::abi
