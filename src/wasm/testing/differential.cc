#include "wasm/testing/differential.h"

#include <bit>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "wasm/aot/compiler.h"
#include "wasm/engine_factory.h"

namespace wow::wasm::testing {
namespace {

// "i32:7", "f64:0x3ff0000000000000"; every NaN reads "f32:nan".
std::string Value(ValType t, RawValue v) {
  switch (t) {
    case ValType::kI32: return fmt::format("i32:{}", static_cast<int32_t>(v));
    case ValType::kI64: return fmt::format("i64:{}", static_cast<int64_t>(v));
    case ValType::kF32: {
      auto bits = static_cast<uint32_t>(v);
      if (std::isnan(std::bit_cast<float>(bits))) return "f32:nan";
      return fmt::format("f32:{:#x}", bits);
    }
    case ValType::kF64:
      if (std::isnan(std::bit_cast<double>(v))) return "f64:nan";
      return fmt::format("f64:{:#x}", v);
  }
  return "?";
}

// Without the engine's own message, which differs between engines.
std::string InstantiateError(const Status& s) {
  return fmt::format("instantiate: {} {}", CodeName(s.code()), TrapKindMessage(s.trap()));
}

// FNV-1a of the instance's memory and its size.
std::string MemoryDigest(Instance& inst) {
  GuestMemory* memory = inst.memory();
  if (!memory) return "none";
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < memory->size(); i++) h = (h ^ memory->base()[i]) * 0x100000001b3ull;
  return fmt::format("{} bytes {:016x}", memory->size(), h);
}

}  // namespace

std::vector<RawValue> DifferentialArgs(const FuncSig& sig, size_t call) {
  static constexpr uint64_t kInts[] = {0, 1, 0xffffffffffffffffull, 7, 0x80000000ull, 0x8000000000000000ull, 65535,
                                       3};
  static constexpr uint32_t kF32[] = {0x3f800000, 0, 0x80000000, 0xc2c80000, 0x7f800000, 0x4f000000};
  static constexpr uint64_t kF64[] = {0x3ff0000000000000ull, 0, 0xc059000000000000ull, 0x7ff0000000000000ull,
                                      0x43e0000000000000ull};
  std::vector<RawValue> args;
  for (size_t i = 0; i < sig.params.size(); i++) {
    size_t k = call * 3 + i;
    switch (sig.params[i]) {
      case ValType::kI32: args.push_back(static_cast<uint32_t>(kInts[k % std::size(kInts)])); break;
      case ValType::kI64: args.push_back(kInts[k % std::size(kInts)]); break;
      case ValType::kF32: args.push_back(kF32[k % std::size(kF32)]); break;
      case ValType::kF64: args.push_back(kF64[k % std::size(kF64)]); break;
    }
  }
  return args;
}

std::string FirstDifference(const EngineBehaviour& a, const EngineBehaviour& b) {
  if (a.loaded != b.loaded) {
    const EngineBehaviour& failed = a.loaded ? b : a;
    return fmt::format("{} loads it, {} does not: {}", a.loaded ? a.engine : b.engine, failed.engine,
                       failed.load_error);
  }
  if (!a.loaded) return "";
  size_t n = std::min(a.calls.size(), b.calls.size());
  for (size_t i = 0; i < n; i++) {
    if (a.calls[i] != b.calls[i]) {
      return fmt::format("call {}: {} gives `{}`, {} gives `{}`", i, a.engine, a.calls[i], b.engine, b.calls[i]);
    }
  }
  // An inconclusive run stops early: compare only what both did before.
  if (a.inconclusive || b.inconclusive) return "";
  if (a.calls.size() != b.calls.size()) {
    return fmt::format("{} made {} calls, {} made {}", a.engine, a.calls.size(), b.engine, b.calls.size());
  }
  if (a.observed != b.observed) {
    size_t i = 0;
    while (i < a.observed.size() && i < b.observed.size() && a.observed[i] == b.observed[i]) i++;
    return fmt::format("host call {}: {} observed {} values ({}), {} observed {} ({})", i, a.engine, a.observed.size(),
                       i < a.observed.size() ? fmt::format("{:#x}", a.observed[i]) : "end", b.engine,
                       b.observed.size(), i < b.observed.size() ? fmt::format("{:#x}", b.observed[i]) : "end");
  }
  if (a.memory.size() != b.memory.size()) {
    return fmt::format("memory: {} has {} bytes, {} has {}", a.engine, a.memory.size(), b.engine, b.memory.size());
  }
  if (a.memory != b.memory) {
    size_t i = 0;
    while (a.memory[i] == b.memory[i]) i++;
    return fmt::format("memory[{:#x}]: {} has {:#04x}, {} has {:#04x}", i, a.engine, a.memory[i], b.engine,
                       b.memory[i]);
  }
  return "";
}

Result<std::unique_ptr<DifferentialRunner>> DifferentialRunner::Create(const std::vector<std::string>& engines,
                                                                       const EngineOptions& engine_options,
                                                                       DifferentialOptions options) {
  std::vector<std::unique_ptr<Engine>> created;
  for (const auto& name : engines) {
    WOW_ASSIGN_OR_RETURN(auto engine, CreateEngine(name, engine_options));
    created.push_back(std::move(engine));
  }
  if (created.size() < 2) return Status::Error(Code::kInvalidArgument, Phase::kNone, "name two engines or more");
  return std::unique_ptr<DifferentialRunner>(new DifferentialRunner(std::move(created), options));
}

DifferentialRunner::DifferentialRunner(std::vector<std::unique_ptr<Engine>> engines, DifferentialOptions options)
    : engines_(std::move(engines)), options_(options) {}

EngineBehaviour DifferentialRunner::RunOn(Engine& engine, std::span<const uint8_t> wasm,
                                          std::chrono::milliseconds deadline) const {
  EngineBehaviour b;
  b.engine = std::string(engine.name());
  // The AoT artifact is removed afterwards: runs of millions of modules
  // would fill the disk (it stays mapped while the module lives).
  std::filesystem::path artifact;
  if (b.engine == "aot") {
    if (auto prepared = engine.Prepare(wasm); prepared.ok()) artifact = prepared->artifact;
  }
  struct RemoveArtifact {
    const std::filesystem::path& path;
    ~RemoveArtifact() {
      if (!path.empty()) aot::Compiler::RemoveArtifact(path);
    }
  } remove_artifact{artifact};
  HostFunctions host;
  host.Add({"env", "observe", FuncSig{{ValType::kI64}, {}},
            [](HostCall& call, std::span<const RawValue> args, std::span<RawValue>) {
              static_cast<std::vector<uint64_t>*>(call.data)->push_back(args[0]);
              return HostAction::kContinue;
            }});
  auto module = engine.Load(wasm, host);
  if (!module.ok()) {
    b.load_error = module.status().ToString();
    return b;
  }
  b.loaded = true;
  InstanceOptions io;
  io.memory_limit_bytes = options_.memory_limit_bytes;
  io.host_data = &b.observed;
  io.deadline = std::chrono::steady_clock::now() + deadline;
  auto instance = (*module)->Instantiate(io);
  if (!instance.ok()) {
    b.calls.push_back(InstantiateError(instance.status()));
    return b;
  }
  std::unique_ptr<Instance> inst = std::move(*instance);
  size_t call = 0;
  for (const ExportDesc& e : (*module)->info().exports) {
    if (e.kind != ExternKind::kFunc) continue;
    if (!inst) {  // the last call trapped: go on with a fresh instance
      auto fresh = (*module)->Instantiate(io);
      if (!fresh.ok()) {
        b.calls.push_back(InstantiateError(fresh.status()));
        return b;
      }
      inst = std::move(*fresh);
    }
    std::vector<RawValue> args = DifferentialArgs(e.sig, call++);
    std::vector<RawValue> results(e.sig.results.size());
    std::string text = e.name + "(";
    for (size_t i = 0; i < args.size(); i++) {
      text += (i ? ", " : "") + Value(e.sig.params[i], args[i]);
    }
    text += ")";
    Status s = inst->Call(e.name, args, results);
    if (s.ok()) {
      text += " =";
      for (size_t i = 0; i < results.size(); i++) text += " " + Value(e.sig.results[i], results[i]);
      if (inst->exit_code()) text += fmt::format(" exit {}", *inst->exit_code());
      b.calls.push_back(std::move(text));
      continue;
    }
    if (s.trap() == TrapKind::kTimeout || s.trap() == TrapKind::kStackExhausted) {
      b.inconclusive = true;
      return b;
    }
    // What was stored before the trap must be in memory on every engine.
    text += fmt::format(" {}: {}, memory {}", CodeName(s.code()), TrapKindMessage(s.trap()), MemoryDigest(*inst));
    b.calls.push_back(std::move(text));
    if (s.code() == Code::kTrap) inst.reset();  // it refuses further calls
  }
  if (inst && inst->memory()) b.memory.assign(inst->memory()->base(), inst->memory()->base() + inst->memory()->size());
  return b;
}

DifferentialOutcome DifferentialRunner::Run(std::span<const uint8_t> wasm,
                                            std::optional<std::chrono::milliseconds> deadline) const {
  DifferentialOutcome out;
  for (const auto& engine : engines_) {
    out.behaviours.push_back(RunOn(*engine, wasm, deadline.value_or(options_.deadline)));
    const EngineBehaviour& b = out.behaviours.back();
    out.valid |= b.loaded;
    out.inconclusive |= b.inconclusive;
  }
  for (size_t i = 1; i < out.behaviours.size() && out.divergence.empty(); i++) {
    out.divergence = FirstDifference(out.behaviours[0], out.behaviours[i]);
  }
  return out;
}

}  // namespace wow::wasm::testing
