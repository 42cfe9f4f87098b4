#include "wasm/interp/interp_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "wabt/binary-reader.h"
#include "wabt/feature.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"
#include "wabt/ir.h"
#include "wasm/call_checks.h"
#include "wasm/compiled_cache.h"
#include "wasm/interp/interp_access.h"
#include "wasm/memory_budget.h"
#include "wasm/module_reader.h"

namespace wow::wasm::interp {
namespace {

namespace wi = wabt::interp;
using Clock = std::chrono::steady_clock;

// Instructions run between two deadline checks: the clock is read about
// every 100 µs of guest code, so a deadline is overshot by well under 1 ms.
constexpr int kChunk = 10000;
// Call depth (frames). wabt's default (64 KiB of frames, ~1600) is far
// below what the AoT engine allows on a 1 MiB stack.
constexpr size_t kMaxFrames = 20000;
// wabt caps frames but not the value stack; a guest that piles up locals or
// operands past this traps with kStackExhausted instead of eating memory.
constexpr size_t kMaxValues = size_t{8} << 20;
// Processed modules kept for Prepare/Load cache hits.
constexpr size_t kMaxCachedModules = 128;

wabt::Type ToWabtType(ValType t) {
  switch (t) {
    case ValType::kI32: return wabt::Type::I32;
    case ValType::kI64: return wabt::Type::I64;
    case ValType::kF32: return wabt::Type::F32;
    case ValType::kF64: return wabt::Type::F64;
  }
  return wabt::Type::I32;
}

wi::FuncType ToFuncType(const FuncSig& sig) {
  wi::ValueTypes params, results;
  for (ValType t : sig.params) params.push_back(ToWabtType(t));
  for (ValType t : sig.results) results.push_back(ToWabtType(t));
  return wi::FuncType(std::move(params), std::move(results));
}

// Raw slots keep bits unchanged (NaN payloads included), as on AoT.
wi::Value FromRaw(ValType t, RawValue raw) {
  switch (t) {
    case ValType::kI32: return wi::Value::Make(static_cast<uint32_t>(raw));
    case ValType::kI64: return wi::Value::Make(static_cast<uint64_t>(raw));
    case ValType::kF32: return wi::Value::Make(std::bit_cast<float>(static_cast<uint32_t>(raw)));
    case ValType::kF64: return wi::Value::Make(std::bit_cast<double>(raw));
  }
  return wi::Value::Make(uint32_t{0});
}

RawValue ToRaw(ValType t, const wi::Value& v) {
  switch (t) {
    case ValType::kI32: return v.Get<uint32_t>();
    case ValType::kI64: return v.Get<uint64_t>();
    case ValType::kF32: return std::bit_cast<uint32_t>(v.Get<float>());
    case ValType::kF64: return std::bit_cast<uint64_t>(v.Get<double>());
  }
  return 0;
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// wabt's trap messages (interp.cc, 1.0.32) mapped to our kinds.
TrapKind TrapKindOf(const std::string& msg) {
  if (StartsWith(msg, "unreachable")) return TrapKind::kUnreachable;
  if (StartsWith(msg, "call stack exhausted")) return TrapKind::kStackExhausted;
  if (msg.find("out of bounds") != std::string::npos || StartsWith(msg, "access at")) return TrapKind::kOutOfBounds;
  if (StartsWith(msg, "undefined table index") || StartsWith(msg, "uninitialized table element") ||
      StartsWith(msg, "indirect call signature mismatch")) {
    return TrapKind::kIndirectCallMismatch;
  }
  if (StartsWith(msg, "integer divide by zero")) return TrapKind::kDivideByZero;
  if (StartsWith(msg, "integer overflow")) return TrapKind::kIntegerOverflow;
  if (StartsWith(msg, "invalid conversion")) return TrapKind::kInvalidConversion;
  if (StartsWith(msg, "uncaught exception")) return TrapKind::kUncaughtException;
  return TrapKind::kHostError;
}

// Rewrites every memory.grow into a call of function `memory_hook` and every
// table.grow of table t into a call of `table_hooks + t`, functions the engine
// appends to each instance: the only way to apply the memory limit and to
// tell a refusal by the limit from one by the module's own maximum. All these
// instructions are an opcode and one u32 immediate, so nothing moves.
void PatchGrows(wi::Istream& istream, uint32_t memory_hook, uint32_t table_hooks) {
  wi::Buffer& data = istream.*Grab(access::IstreamData{});
  const auto call = static_cast<wi::Istream::SerializedOpcode>(wabt::Opcode::InterpCallImport);
  wi::Istream::Offset offset = 0;
  while (offset < istream.end()) {
    wi::Istream::Offset at = offset;
    wi::Instr instr = istream.Read(&offset);
    uint32_t hook = 0;
    if (instr.op == wabt::Opcode::MemoryGrow) {
      hook = memory_hook;
    } else if (instr.op == wabt::Opcode::TableGrow) {
      hook = table_hooks + instr.imm_u32;
    } else {
      continue;
    }
    std::memcpy(data.data() + at, &call, sizeof(call));
    std::memcpy(data.data() + at + sizeof(call), &hook, sizeof(hook));
  }
}

struct CallableExport {
  uint32_t index;  // into ModuleDesc::exports and Instance::exports()
  FuncSig sig;
};

// A module decoded for the interpreter; immutable and shared by every Module
// and Instance made from the same bytes.
struct Compiled {
  wi::ModuleDesc desc;  // start removed, memory.grow patched
  ModuleInfo info;
  std::unordered_map<std::string, CallableExport> exports;
  std::optional<uint32_t> start;  // function index
  uint32_t grow_hook = 0;         // function index of the appended memory grow hook
  uint32_t table_grow_hooks = 0;  // function index of table 0's appended grow hook
  std::optional<uint64_t> memory_max_pages;
};

Result<std::shared_ptr<const Compiled>> Compile(std::span<const uint8_t> wasm) {
  WOW_ASSIGN_OR_RETURN(ParsedModule parsed, ParseModule(wasm));
  WOW_RETURN_IF_ERROR(CheckImportsBindable(parsed));
  auto compiled = std::make_shared<Compiled>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions options(SupportedFeatures(), nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true, /*fail_on_custom_section_error=*/false);
  if (wabt::Failed(wi::ReadBinaryInterp("module.wasm", wasm.data(), wasm.size(), options, &errors, &compiled->desc))) {
    return Status::Error(Code::kInvalidModule, Phase::kCompilation,
                         "the interpreter rejected a validated module: " +
                             (errors.empty() ? std::string("unknown error") : errors.front().message));
  }
  wi::ModuleDesc& desc = compiled->desc;
  // The start function runs under our budgeted loop instead of inside
  // wabt's Instantiate, which would run it with no deadline.
  if (!desc.starts.empty()) compiled->start = desc.starts.front().func_index;
  desc.starts.clear();
  compiled->grow_hook = static_cast<uint32_t>(desc.imports.size() + desc.funcs.size());
  compiled->table_grow_hooks = compiled->grow_hook + 1;
  PatchGrows(desc.istream, compiled->grow_hook, compiled->table_grow_hooks);
  if (!desc.memories.empty() && desc.memories[0].type.limits.has_max) {
    compiled->memory_max_pages = desc.memories[0].type.limits.max;
  }
  const wabt::Module& m = *parsed.ir;
  for (size_t i = 0; i < m.exports.size(); ++i) {
    const wabt::Export* exp = m.exports[i];
    if (exp->kind != wabt::ExternalKind::Func) continue;
    const wabt::Func* f = m.GetFunc(exp->var);
    if (f == nullptr) continue;
    auto sig = ToFuncSig(f->decl.sig);  // reference types: listed in info, not callable (as on AoT)
    if (sig.ok()) compiled->exports.emplace(exp->name, CallableExport{static_cast<uint32_t>(i), std::move(*sig)});
  }
  compiled->info = std::move(parsed.info);
  return std::shared_ptr<const Compiled>(std::move(compiled));
}

// Never destroyed: modules may be loaded until exit.
CompiledCache<Compiled>& Cache() {
  static auto* cache = new CompiledCache<Compiled>(kMaxCachedModules);
  return *cache;
}

class InterpMemory : public GuestMemory {
 public:
  // wabt keeps linear memory in a std::vector: the base moves on grow, so
  // both are read again on every access.
  uint8_t* base() const override { return memory_->UnsafeData(); }
  uint64_t size() const override { return memory_->ByteSize(); }
  void Set(wi::Memory* memory) { memory_ = memory; }

 private:
  wi::Memory* memory_ = nullptr;
};

class InterpModule;

class InterpInstance : public Instance {
 public:
  InterpInstance(std::shared_ptr<const InterpModule> module, const Compiled& compiled,
                 const std::vector<const HostFunction*>& imports, const InstanceOptions& options)
      : module_(std::move(module)),
        compiled_(compiled),
        imports_(imports),
        budget_(options.memory_limit_bytes),
        deadline_(options.deadline) {
    host_call_.data = options.host_data;
  }

  ~InterpInstance() override {
    // Roots go before the Store they point into (wabt 1.0.32 RefPtr).
    thread_.reset();
    memory_ptr_.reset();
    instance_.reset();
  }

  Status Init();

  Status Call(std::string_view name, std::span<const RawValue> args, std::span<RawValue> results) override {
    auto it = compiled_.exports.find(std::string(name));
    bool found = it != compiled_.exports.end();
    WOW_RETURN_IF_ERROR(CheckCall(dead_, name, found ? &it->second.sig : nullptr, args.size(), results.size()));
    const FuncSig& sig = it->second.sig;
    wi::Values params;
    for (size_t i = 0; i < args.size(); ++i) params.push_back(FromRaw(sig.params[i], args[i]));
    wi::Values out;
    exited_now_ = false;
    Status s = Run(instance_->exports()[it->second.index], params, &out);
    if (!s.ok()) {
      dead_ = true;
      return s;
    }
    // After proc_exit there are no results; the slots stay as they were.
    if (!exited_now_) {
      for (size_t i = 0; i < sig.results.size(); ++i) results[i] = ToRaw(sig.results[i], out[i]);
    }
    return Status::Ok();
  }

  std::optional<int> exit_code() const override { return exit_code_; }
  GuestMemory* memory() override { return memory_ptr_ ? &memory_ : nullptr; }
  bool memory_limit_hit() const override { return budget_.limit_hit(); }
  std::string_view engine_name() const override { return "interp"; }

 private:
  // Why a host function stopped the guest; wabt only sees a trap.
  enum class Stop : uint8_t { kNone, kExit, kHostTrap, kTimeout };

  bool DeadlinePassed() const { return deadline_ && Clock::now() >= *deadline_; }

  wi::HostFunc::Ptr MakeHostFunc(const HostFunction* hf);
  wi::HostFunc::Ptr MakeGrowHook();
  wi::HostFunc::Ptr MakeTableGrowHook(uint32_t table_index);
  Status Run(wi::Ref func_ref, const wi::Values& params, wi::Values* results);
  Status RunDefined(wi::DefinedFunc& func, const wi::Values& params, wi::Values* results);
  Status StopStatus(const wi::Trap::Ptr& trap);
  void ResetThread();

  std::shared_ptr<const InterpModule> module_;  // keeps compiled_ and imports_ alive
  const Compiled& compiled_;
  const std::vector<const HostFunction*>& imports_;
  MemoryBudget budget_;
  std::optional<Clock::time_point> deadline_;

  // The Store first: it must outlive every RefPtr and the Thread below.
  wi::Store store_{SupportedFeatures()};
  wi::Instance::Ptr instance_;
  wi::Memory::Ptr memory_ptr_;
  std::unique_ptr<wi::Thread> thread_;
  InterpMemory memory_;
  HostCall host_call_;
  Stop stop_ = Stop::kNone;
  bool dead_ = false;
  bool exited_now_ = false;
  std::optional<int> exit_code_;
};

class InterpModule : public Module, public std::enable_shared_from_this<InterpModule> {
 public:
  InterpModule(std::shared_ptr<const Compiled> compiled, HostFunctions host, std::vector<const HostFunction*> imports)
      : compiled_(std::move(compiled)), host_(std::move(host)), imports_(std::move(imports)) {}

  const ModuleInfo& info() const override { return compiled_->info; }

  Result<std::unique_ptr<Instance>> Instantiate(const InstanceOptions& options) const override {
    auto instance = std::make_unique<InterpInstance>(shared_from_this(), *compiled_, imports_, options);
    WOW_RETURN_IF_ERROR(instance->Init());
    return std::unique_ptr<Instance>(std::move(instance));
  }

 private:
  std::shared_ptr<const Compiled> compiled_;
  HostFunctions host_;  // keeps the functions in imports_ alive
  std::vector<const HostFunction*> imports_;
};

Status InterpInstance::Init() {
  // Charged before wabt allocates anything (its tables are vectors of Ref).
  const ModuleInfo& info = compiled_.info;
  if (info.has_memory) WOW_RETURN_IF_ERROR(budget_.ChargeInitialMemory(info.initial_memory_pages));
  for (const wi::TableDesc& table : compiled_.desc.tables) {
    WOW_RETURN_IF_ERROR(budget_.ChargeInitialTable(table.type.limits.initial, sizeof(wi::Ref)));
  }
  wi::Module::Ptr mod = wi::Module::New(store_, compiled_.desc);  // a copy; Instantiate needs its own
  std::vector<wi::HostFunc::Ptr> host_funcs;                      // roots until the instance holds them
  wi::RefVec imports;
  for (const HostFunction* hf : imports_) {
    host_funcs.push_back(MakeHostFunc(hf));
    imports.push_back(host_funcs.back().ref());
  }
  wi::Trap::Ptr trap;
  instance_ = wi::Instance::Instantiate(store_, mod.ref(), imports, &trap);
  if (!instance_) {
    dead_ = true;
    TrapKind kind = TrapKindOf(trap ? trap->message() : std::string());  // e.g. a data segment out of bounds
    return Status::Trap(kind, std::string("during instantiation: ") + TrapKindMessage(kind));
  }
  // The hooks PatchGrows calls: memory, then one per table, in index order.
  std::vector<wi::HostFunc::Ptr> hooks;
  hooks.push_back(MakeGrowHook());
  for (uint32_t t = 0; t < compiled_.desc.tables.size(); ++t) hooks.push_back(MakeTableGrowHook(t));
  for (const wi::HostFunc::Ptr& hook : hooks) (instance_.get()->*Grab(access::InstanceFuncs{})).push_back(hook.ref());
  if (!instance_->memories().empty()) {
    memory_ptr_ = wi::Memory::Ptr(store_, instance_->memories()[0]);
    memory_.Set(memory_ptr_.get());
    host_call_.memory = &memory_;
  }
  thread_ = std::make_unique<wi::Thread>(store_);
  (thread_.get()->*Grab(access::Frames{})).reserve(kMaxFrames);
  if (!compiled_.start) return Status::Ok();
  wi::Values none;
  Status s = Run(instance_->funcs()[*compiled_.start], {}, &none);
  if (!s.ok()) {
    dead_ = true;
    if (s.code() == Code::kTrap) return Status::Trap(s.trap(), "during instantiation: " + s.message());
    return Status::Error(s.code(), Phase::kInstantiation, s.message());
  }
  if (exited_now_) {
    dead_ = true;
    return Status::Trap(TrapKind::kHostError, fmt::format("the start function called proc_exit({})", *exit_code_));
  }
  return Status::Ok();
}

wi::HostFunc::Ptr InterpInstance::MakeHostFunc(const HostFunction* hf) {
  return wi::HostFunc::New(
      store_, ToFuncType(hf->sig),
      [this, hf](wi::Thread&, const wi::Values& in, wi::Values& out, wi::Trap::Ptr* trap) -> wabt::Result {
        std::array<RawValue, 32> a{}, r{};
        size_t np = std::min(hf->sig.params.size(), a.size());
        size_t nr = std::min(hf->sig.results.size(), r.size());
        for (size_t k = 0; k < np; ++k) a[k] = ToRaw(hf->sig.params[k], in[k]);
        HostAction action = hf->fn(host_call_, {a.data(), np}, {r.data(), nr});
        if (action == HostAction::kContinue) {
          // Exactly as many results as the callee has (quirk: none for void).
          for (size_t k = 0; k < nr; ++k) out[k] = FromRaw(hf->sig.results[k], r[k]);
          if (!DeadlinePassed()) return wabt::Result::Ok;
          stop_ = Stop::kTimeout;
        } else {
          stop_ = action == HostAction::kExit ? Stop::kExit : Stop::kHostTrap;
        }
        trap->reset();                                   // assignment would leak the old root (1.0.32)
        *trap = wi::Trap::New(store_, "wow host stop");  // the reason is in stop_
        return wabt::Result::Error;
      });
}

// memory.grow with the AoT engine's semantics: the module's maximum (or
// 65535 pages) refuses first; the limit refuses next and is remembered.
wi::HostFunc::Ptr InterpInstance::MakeGrowHook() {
  wi::FuncType type({wabt::Type::I32}, {wabt::Type::I32});
  return wi::HostFunc::New(store_, type,
                           [this](wi::Thread&, const wi::Values& in, wi::Values& out, wi::Trap::Ptr*) -> wabt::Result {
                             uint32_t delta = in[0].Get<uint32_t>();
                             uint64_t old_pages = memory_ptr_->PageSize();
                             uint32_t result = UINT32_MAX;
                             uint64_t new_pages = old_pages + delta;
                             uint64_t max_pages = compiled_.memory_max_pages.value_or(65536);
                             if (delta == 0) {
                               result = static_cast<uint32_t>(old_pages);
                             } else if (new_pages > max_pages || new_pages > 65535) {
                               // refused by Wasm's own limits
                             } else if (!budget_.TryCharge(uint64_t{delta} * kWasmPageSize)) {
                               // refused by the limit (remembered)
                             } else if (wabt::Succeeded(memory_ptr_->Grow(delta))) {
                               result = static_cast<uint32_t>(old_pages);
                             } else {
                               budget_.Release(uint64_t{delta} * kWasmPageSize);
                             }
                             out[0] = wi::Value::Make(result);
                             return wabt::Result::Ok;
                           });
}

// table.grow with the AoT engine's semantics: the table's maximum and
// kMaxTableElements refuse first; the limit (each element a wi::Ref) next.
wi::HostFunc::Ptr InterpInstance::MakeTableGrowHook(uint32_t table_index) {
  const wi::TableType& type = compiled_.desc.tables[table_index].type;
  wi::FuncType hook_type({type.element, wabt::Type::I32}, {wabt::Type::I32});
  uint64_t max = std::min<uint64_t>(type.limits.has_max ? type.limits.max : UINT32_MAX, kMaxTableElements);
  return wi::HostFunc::New(
      store_, hook_type,
      [this, table_index, max](wi::Thread&, const wi::Values& in, wi::Values& out, wi::Trap::Ptr*) -> wabt::Result {
        wi::Table::Ptr table(store_, instance_->tables()[table_index]);
        wi::Ref init = in[0].Get<wi::Ref>();
        uint32_t delta = in[1].Get<uint32_t>();
        uint64_t old_size = table->size();
        uint64_t charge = uint64_t{delta} * sizeof(wi::Ref);
        uint32_t result = UINT32_MAX;
        if (delta == 0) {
          result = static_cast<uint32_t>(old_size);
        } else if (old_size + delta > max) {
          // refused by Wasm's own limits or the cap
        } else if (!budget_.TryCharge(charge)) {
          // refused by the limit (remembered)
        } else if (wabt::Succeeded(table->Grow(store_, delta, init))) {
          result = static_cast<uint32_t>(old_size);
        } else {
          budget_.Release(charge);
        }
        out[0] = wi::Value::Make(result);
        return wabt::Result::Ok;
      });
}

void InterpInstance::ResetThread() {
  // A stop (trap, proc_exit) leaves frames and values behind.
  (thread_.get()->*Grab(access::Frames{})).clear();
  (thread_.get()->*Grab(access::ValueStack{})).clear();
  (thread_.get()->*Grab(access::Refs{})).clear();
  (thread_.get()->*Grab(access::Exceptions{})).clear();
}

Status InterpInstance::Run(wi::Ref func_ref, const wi::Values& params, wi::Values* results) {
  if (DeadlinePassed()) return Status::TrapOf(TrapKind::kTimeout);  // out of time before it began
  stop_ = Stop::kNone;
  ResetThread();
  wi::Func::Ptr func(store_, func_ref);
  if (wi::DefinedFunc::classof(func.get()))
    return RunDefined(*static_cast<wi::DefinedFunc*>(func.get()), params, results);
  // A re-exported import: a host call and nothing else. Like wabt's own call
  // of a host function, it needs the results sized; the host function checks
  // the deadline when it returns.
  results->resize(func->type().results.size());
  wi::Trap::Ptr trap;
  if (wabt::Failed(func->Call(*thread_, params, *results, &trap))) return StopStatus(trap);
  return Status::Ok();
}

// wabt's DefinedFunc::DoCall with the run split into chunks, so the deadline
// is checked also in loops that make no calls.
Status InterpInstance::RunDefined(wi::DefinedFunc& func, const wi::Values& params, wi::Values* results) {
  wi::Thread& t = *thread_;
  auto& frames = t.*Grab(access::Frames{});
  auto& values = t.*Grab(access::ValueStack{});
  (t.*Grab(access::PushValues{}))(func.type().params, params);
  {
    wi::Trap::Ptr trap;
    if ((t.*Grab(access::PushCall{}))(func, &trap) == wi::RunResult::Trap) return StopStatus(trap);
  }
  for (;;) {
    // At most one frame is pushed per instruction: with depth + n <= cap a
    // chunk never meets the cap, except one step at a time at the cap, where
    // a call_indirect's swallowed trap (1.0.32) is then seen at once.
    size_t room = frames.capacity() - frames.size();
    int n = static_cast<int>(std::clamp<size_t>(room, 1, kChunk));
    wi::Trap::Ptr trap;
    wi::RunResult r = t.Run(n, &trap);
    if (r == wi::RunResult::Return) break;
    if (r == wi::RunResult::Trap) return StopStatus(trap);
    if (r == wi::RunResult::Exception) return Status::TrapOf(TrapKind::kUncaughtException);
    if (trap || values.size() > kMaxValues) return Status::TrapOf(TrapKind::kStackExhausted);
    if (DeadlinePassed()) return Status::TrapOf(TrapKind::kTimeout);
  }
  (t.*Grab(access::PopValues{}))(func.type().results, results);
  return Status::Ok();
}

// A stopped run: a host function's reason first, else wabt's trap message.
Status InterpInstance::StopStatus(const wi::Trap::Ptr& trap) {
  switch (stop_) {
    case Stop::kExit:
      exited_now_ = true;
      exit_code_ = host_call_.exit_code;
      return Status::Ok();
    case Stop::kHostTrap: return Status::TrapOf(host_call_.trap, host_call_.trap_message);
    case Stop::kTimeout: return Status::TrapOf(TrapKind::kTimeout);
    case Stop::kNone: break;
  }
  return Status::TrapOf(TrapKindOf(trap ? trap->message() : std::string()));
}

class InterpEngine : public Engine {
 public:
  std::string_view name() const override { return "interp"; }

  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm) override {
    auto start = Clock::now();
    PrepareInfo info;
    WOW_RETURN_IF_ERROR(Cache().Get(wasm, &info.cache_hit, Compile).status());
    info.compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return info;
  }

  Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t> wasm, const HostFunctions& host) override {
    bool hit = false;
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<const Compiled> compiled, Cache().Get(wasm, &hit, Compile));
    WOW_ASSIGN_OR_RETURN(std::vector<const HostFunction*> imports, host.Resolve(compiled->info.imports));
    return std::shared_ptr<const Module>(std::make_shared<InterpModule>(std::move(compiled), host, std::move(imports)));
  }
};

}  // namespace

std::unique_ptr<Engine> CreateInterpEngine(const EngineOptions&) { return std::make_unique<InterpEngine>(); }

}  // namespace wow::wasm::interp
