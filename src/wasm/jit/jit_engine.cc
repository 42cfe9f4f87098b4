#include "wasm/jit/jit_engine.h"

#include <fmt/format.h>
#include <js/Array.h>
#include <js/ArrayBuffer.h>
#include <js/BigInt.h>
#include <js/CallAndConstruct.h>
#include <js/ErrorReport.h>
#include <js/Exception.h>
#include <js/GCAPI.h>
#include <js/PropertyAndElement.h>
#include <js/String.h>
#include <js/WasmModule.h>
#include <js/friend/ErrorMessages.h>
#include <jsapi.h>
#include <jsfriendapi.h>

#include <array>
#include <atomic>
#include <unordered_map>

#include "wabt/ir.h"
#include "wasm/call_checks.h"
#include "wasm/compiled_cache.h"
#include "wasm/jit/js_threads.h"
#include "wasm/memory_budget.h"
#include "wasm/module_reader.h"
#include "wasm/rewrite/engine_rewrite.h"

namespace wow::wasm::jit {
namespace {

// Processed modules kept for Prepare/Load cache hits.
constexpr size_t kMaxCachedModules = 128;
// A JS thread collects garbage after this many dead instances or this much
// dead linear memory: wasm memories are freed only by GC.
constexpr int kGcEveryInstances = 64;
constexpr uint64_t kGcEveryBytes = 64ull << 20;

// What the JS side sees of a callable export: the float shims make every
// value an integer, so bits cross JS unchanged.
struct CallableExport {
  FuncSig sig;          // the original signature
  std::string js_name;  // the export to call: the original or its integer shim
};

// A module compiled by SpiderMonkey; shared by every JitModule of the same
// bytes. The compiled code (JS::WasmModule) is thread-safe and refcounted;
// each JS thread makes its own module object from it.
struct Compiled {
  ModuleInfo info;
  // The tables' declared minimum sizes and element bytes, for the initial
  // charge (the rewrite's table grows charge the same element bytes).
  struct TableCharge {
    uint64_t elements;
    uint64_t element_bytes;
  };
  std::vector<TableCharge> tables;
  rewrite::RewrittenModule rewritten;
  RefPtr<JS::WasmModule> code;  // null when no instance can fit (a table above kMaxTableElements)
  std::unordered_map<std::string, CallableExport> exports;
};

ValType IntegerType(ValType t) {
  if (t == ValType::kF32) return ValType::kI32;
  if (t == ValType::kF64) return ValType::kI64;
  return t;
}

// ------------------------------------------------------------------ values

bool ToJs(JSContext* cx, ValType t, RawValue raw, JS::MutableHandleValue out) {
  if (IntegerType(t) == ValType::kI64) {
    JS::BigInt* big = JS::NumberToBigInt(cx, static_cast<uint64_t>(raw));
    if (big == nullptr) return false;
    out.setBigInt(big);
  } else {
    out.setInt32(static_cast<int32_t>(static_cast<uint32_t>(raw)));
  }
  return true;
}

// A wasm i32 comes back as an int32 Number, an i64 as a BigInt.
RawValue FromJs(ValType t, JS::HandleValue v) {
  if (IntegerType(t) == ValType::kI64) return v.isBigInt() ? JS::ToBigUint64(v.toBigInt()) : 0;
  if (v.isInt32()) return static_cast<uint32_t>(v.toInt32());
  if (v.isDouble()) return static_cast<uint32_t>(static_cast<int64_t>(v.toDouble()));
  return 0;
}

// SpiderMonkey's error numbers (js.msg) for wasm traps.
TrapKind TrapKindOfError(unsigned number) {
  switch (number) {
    case JSMSG_WASM_UNREACHABLE: return TrapKind::kUnreachable;
    case JSMSG_WASM_INTEGER_OVERFLOW: return TrapKind::kIntegerOverflow;
    case JSMSG_WASM_INVALID_CONVERSION: return TrapKind::kInvalidConversion;
    case JSMSG_WASM_INT_DIVIDE_BY_ZERO: return TrapKind::kDivideByZero;
    case JSMSG_WASM_OUT_OF_BOUNDS:
    case JSMSG_WASM_UNALIGNED_ACCESS: return TrapKind::kOutOfBounds;
    case JSMSG_WASM_IND_CALL_TO_NULL:
    case JSMSG_WASM_IND_CALL_BAD_SIG:
    case JSMSG_WASM_TABLE_OUT_OF_BOUNDS: return TrapKind::kIndirectCallMismatch;
    case JSMSG_OVER_RECURSED: return TrapKind::kStackExhausted;
    default: return TrapKind::kNone;
  }
}

// The pending exception as a Status (and cleared). Not a wasm trap: OOM is
// kResourceExhausted; anything else (a JS error at the boundary) says what
// SpiderMonkey said. `code` is the module SpiderMonkey ran, if any.
Status PendingError(JSContext* cx, Phase phase, std::span<const uint8_t> code = {}) {
  JS::ExceptionStack stack(cx);
  if (!JS::StealPendingExceptionStack(cx, &stack)) {
    return Status::Error(Code::kResourceExhausted, phase, "the JIT stopped with no exception (out of memory?)");
  }
  JS::ErrorReportBuilder report(cx);
  if (!report.init(cx, stack, JS::ErrorReportBuilder::NoSideEffects) || report.report() == nullptr) {
    return Status::Error(Code::kInternal, phase, "the JIT threw an exception that cannot be read");
  }
  unsigned number = report.report()->errorNumber;
  TrapKind kind = TrapKindOfError(number);
  // SpiderMonkey reports a table index out of range as "index out of
  // bounds", like memory; a wasm frame's line is the trapping instruction's
  // offset in the module, so the opcode tells them apart.
  uint32_t at = report.report()->lineno;
  if (kind == TrapKind::kOutOfBounds && at < code.size() && (code[at] == 0x11 || code[at] == 0x13)) {
    kind = TrapKind::kIndirectCallMismatch;  // call_indirect, return_call_indirect
  }
  if (kind != TrapKind::kNone) return Status::TrapOf(kind);
  std::string text = report.toStringResult() ? report.toStringResult().c_str() : "unknown error";
  if (number == JSMSG_OUT_OF_MEMORY) {
    return Status::Error(Code::kResourceExhausted, phase, text);
  }
  return Status::Error(Code::kInternal, phase, "JIT: " + text);
}

Status ShuttingDown(Phase phase) {
  return Status::Error(Code::kResourceExhausted, phase, "the JIT is shutting down (the process is exiting)");
}

// ------------------------------------------------------------------ compile

Result<std::shared_ptr<const Compiled>> Compile(JsThreads& pool, std::span<const uint8_t> wasm) {
  WOW_ASSIGN_OR_RETURN(ParsedModule parsed, ParseModule(wasm));
  WOW_RETURN_IF_ERROR(CheckImportsBindable(parsed));
  auto compiled = std::make_shared<Compiled>();
  // The callable exports, read before the rewrite changes the IR.
  const wabt::Module& m = *parsed.ir;
  for (const wabt::Export* exp : m.exports) {
    if (exp->kind != wabt::ExternalKind::Func) continue;
    const wabt::Func* f = m.GetFunc(exp->var);
    if (f == nullptr) continue;
    auto sig = ToFuncSig(f->decl.sig);  // reference types: listed in info, not callable (as on AoT)
    if (sig.ok()) compiled->exports.emplace(exp->name, CallableExport{std::move(*sig), exp->name});
  }
  const rewrite::RewriteOptions rewrite_options;
  bool never_instantiable = false;
  for (const wabt::Table* t : m.tables) {
    compiled->tables.push_back({t->elem_limits.initial, t->elem_type == wabt::Type::FuncRef
                                                            ? rewrite_options.funcref_bytes
                                                            : rewrite_options.externref_bytes});
    never_instantiable = never_instantiable || t->elem_limits.initial > kMaxTableElements;
  }
  compiled->info = std::move(parsed.info);
  WOW_ASSIGN_OR_RETURN(compiled->rewritten, rewrite::RewriteForEngine(parsed, rewrite_options));
  // SpiderMonkey rejects such a table at compile time; MemoryBudget refuses
  // every instance of it, as on the other engines, so it is never compiled.
  if (never_instantiable) return std::shared_ptr<const Compiled>(std::move(compiled));
  for (auto& [name, callable] : compiled->exports) {
    auto shim = compiled->rewritten.integer_exports.find(name);
    if (shim != compiled->rewritten.integer_exports.end()) callable.js_name = shim->second;
  }

  WOW_ASSIGN_OR_RETURN(JsThread * thread, pool.Acquire());
  Status status;
  const std::vector<uint8_t>& bytes = compiled->rewritten.bytes;
  bool ran = pool.Run(thread, [&](const JsRealm& realm, ThreadCache&) {
    JSContext* cx = realm.cx;
    JS::RootedObject buffer(cx, JS::NewArrayBuffer(cx, bytes.size()));
    if (!buffer) {
      status = PendingError(cx, Phase::kCompilation);
      return;
    }
    {
      JS::AutoCheckCannotGC nogc;
      bool shared = false;
      std::memcpy(JS::GetArrayBufferData(buffer, &shared, nogc), bytes.data(), bytes.size());
    }
    JS::RootedValueArray<1> args(cx);
    args[0].setObject(*buffer);
    JS::RootedValue ctor(cx, JS::ObjectValue(*realm.module_ctor));
    JS::RootedObject module(cx);
    if (!JS::Construct(cx, ctor, JS::HandleValueArray(args), &module)) {
      Status error = PendingError(cx, Phase::kCompilation);
      status = Status::Error(Code::kInvalidModule, Phase::kCompilation,
                             "the JIT rejected a validated module: " + error.message());
      return;
    }
    compiled->code = JS::GetWasmModule(module);
  });
  pool.Release(thread);
  if (!ran) return ShuttingDown(Phase::kCompilation);
  WOW_RETURN_IF_ERROR(status);
  return std::shared_ptr<const Compiled>(std::move(compiled));
}

// Never destroyed: modules may be loaded until exit.
CompiledCache<Compiled>& Cache() {
  static auto* cache = new CompiledCache<Compiled>(kMaxCachedModules);
  return *cache;
}

// ------------------------------------------------------------------ instances

class JitModule;
class JitInstance;

// The instance running on this JS thread now: host functions and the
// interrupt path find their state here.
thread_local JitInstance* t_current = nullptr;

// Dead instances on this JS thread since its last GC.
thread_local int t_dead_instances = 0;
thread_local uint64_t t_dead_bytes = 0;

// Wasm memories are freed only by GC: collect after enough dead ones.
void CountDead(JSContext* cx, uint64_t memory_bytes) {
  t_dead_bytes += memory_bytes;
  if (++t_dead_instances >= kGcEveryInstances || t_dead_bytes >= kGcEveryBytes) {
    JS_GC(cx);
    t_dead_instances = 0;
    t_dead_bytes = 0;
  }
}

class JitMemory : public GuestMemory {
 public:
  uint8_t* base() const override { return base_; }
  uint64_t size() const override { return size_; }
  void Set(uint8_t* base, uint64_t size) {
    base_ = base;
    size_ = size;
  }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

// A module's objects on one JS thread: its WebAssembly.Module and the
// import object of host functions. Cached per thread (ThreadCache).
struct ModuleHere {
  ModuleHere(JSContext* cx) : module(cx), imports(cx) {}
  JS::PersistentRootedObject module;
  JS::PersistentRootedObject imports;
};

// An instance's JS objects, created and destroyed on its JS thread.
struct InstanceHere {
  InstanceHere(JSContext* cx) : instance(cx), exports(cx), memory(cx), hit(cx) {}
  JS::PersistentRootedObject instance;
  JS::PersistentRootedObject exports;
  JS::PersistentRootedObject memory;  // WebAssembly.Memory, if any
  JS::PersistentRootedObject hit;     // the memory_limit_hit global, if any
};

class JitModule : public Module, public std::enable_shared_from_this<JitModule> {
 public:
  JitModule(std::shared_ptr<JsThreads> pool, std::shared_ptr<const Compiled> compiled, HostFunctions host,
            std::vector<const HostFunction*> imports)
      : pool_(std::move(pool)),
        compiled_(std::move(compiled)),
        host_(std::move(host)),
        imports_(std::move(imports)),
        id_(next_id_.fetch_add(1)) {}

  ~JitModule() override {
    uint64_t id = id_;
    pool_->PostAll([id](const JsRealm&, ThreadCache& cache) { cache.Erase(id); });
  }

  const ModuleInfo& info() const override { return compiled_->info; }
  Result<std::unique_ptr<Instance>> Instantiate(const InstanceOptions& options) const override;

  const Compiled& compiled() const { return *compiled_; }
  const HostFunction* import(size_t i) const { return imports_[i]; }
  JsThreads& pool() const { return *pool_; }

  // This module's objects on the calling JS thread, made on first use.
  ModuleHere* Here(const JsRealm& realm, ThreadCache& cache, Status* status) const;

 private:
  static inline std::atomic<uint64_t> next_id_{1};
  std::shared_ptr<JsThreads> pool_;
  std::shared_ptr<const Compiled> compiled_;
  HostFunctions host_;  // keeps the functions in imports_ alive
  std::vector<const HostFunction*> imports_;
  uint64_t id_;
};

class JitInstance : public Instance {
 public:
  JitInstance(std::shared_ptr<const JitModule> module, JsThread* thread, const InstanceOptions& options)
      : module_(std::move(module)),
        thread_(thread),
        limit_bytes_(options.memory_limit_bytes),
        deadline_(options.deadline) {
    host_call_.data = options.host_data;
  }

  ~JitInstance() override {
    // JS objects die on their thread; the job owns what it needs (this
    // object is gone when it runs). The thread goes back to the pool at
    // once: its queue runs this job before any later one.
    JsThreads& pool = module_->pool();
    pool.Post(thread_, [here = here_.release(), bytes = memory_.size()](const JsRealm& realm, ThreadCache&) {
      delete here;
      CountDead(realm.cx, bytes);
    });
    pool.Release(thread_);
  }

  Status Init();

  Status Call(std::string_view name, std::span<const RawValue> args, std::span<RawValue> results) override {
    const auto& exports = module_->compiled().exports;
    auto it = exports.find(std::string(name));
    bool found = it != exports.end();
    WOW_RETURN_IF_ERROR(CheckCall(dead_, name, found ? &it->second.sig : nullptr, args.size(), results.size()));
    const CallableExport& fn = it->second;
    Status status;
    bool ran = module_->pool().Run(thread_, [&](const JsRealm& realm, ThreadCache&) {
      status = CallHere(realm.cx, fn.js_name, fn.sig, args, results);
    });
    if (!ran) status = ShuttingDown(Phase::kExecution);
    if (!status.ok()) dead_ = true;
    return status;
  }

  std::optional<int> exit_code() const override { return exit_code_; }
  GuestMemory* memory() override { return has_memory_ ? &memory_ : nullptr; }
  bool memory_limit_hit() const override { return limit_hit_; }
  std::string_view engine_name() const override { return "jit"; }

  // Host functions call here (on the JS thread, during a call).
  bool HostCallNative(JSContext* cx, size_t index, const JS::CallArgs& args);

 private:
  enum class Stop : uint8_t { kNone, kExit, kHostTrap, kTimeout };

  bool DeadlinePassed() const { return deadline_ && Clock::now() >= *deadline_; }
  Status InitHere(const JsRealm& realm, ThreadCache& cache);
  Status CallHere(JSContext* cx, const std::string& js_name, const FuncSig& sig, std::span<const RawValue> args,
                  std::span<RawValue> results);
  Status Invoke(JSContext* cx, const std::string& js_name, const JS::HandleValueArray& args,
                JS::MutableHandleValue result);
  void RefreshMemory(JSContext* cx);
  void ReadLimitHit(JSContext* cx);

  std::shared_ptr<const JitModule> module_;
  JsThread* thread_;
  uint64_t limit_bytes_;
  std::optional<Clock::time_point> deadline_;
  std::unique_ptr<InstanceHere> here_;  // touched on thread_ only

  JitMemory memory_;
  bool has_memory_ = false;
  HostCall host_call_;
  Stop stop_ = Stop::kNone;
  bool dead_ = false;
  bool exited_now_ = false;
  std::optional<int> exit_code_;
  bool limit_hit_ = false;
};

bool HostNative(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  size_t index = static_cast<size_t>(js::GetFunctionNativeReserved(&args.callee(), 0).toInt32());
  if (t_current == nullptr) return false;  // not during one of our calls: stop
  return t_current->HostCallNative(cx, index, args);
}

bool SetProperty(JSContext* cx, JS::HandleObject object, std::string_view name, JS::HandleValue value) {
  JS::RootedString key(cx, JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(name.data(), name.size())));
  JS::RootedId id(cx);
  return key && JS_StringToId(cx, key, &id) && JS_DefinePropertyById(cx, object, id, value, JSPROP_ENUMERATE);
}

bool GetProperty(JSContext* cx, JS::HandleObject object, std::string_view name, JS::MutableHandleValue value) {
  JS::RootedString key(cx, JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(name.data(), name.size())));
  JS::RootedId id(cx);
  return key && JS_StringToId(cx, key, &id) && JS_GetPropertyById(cx, object, id, value);
}

ModuleHere* JitModule::Here(const JsRealm& realm, ThreadCache& cache, Status* status) const {
  if (auto found = cache.Find(id_)) return static_cast<ModuleHere*>(found.get());
  JSContext* cx = realm.cx;
  auto here = std::make_shared<ModuleHere>(cx);
  here->module = compiled_->code->createObject(cx);
  here->imports = JS_NewPlainObject(cx);
  if (!here->module || !here->imports) {
    *status = PendingError(cx, Phase::kInstantiation);
    return nullptr;
  }
  // {module: {name: host function}}; each function knows its import index.
  const std::vector<ImportDesc>& imports = compiled_->info.imports;
  for (size_t i = 0; i < imports.size(); ++i) {
    JS::RootedValue namespace_value(cx);
    if (!GetProperty(cx, here->imports, imports[i].module, &namespace_value)) break;
    JS::RootedObject namespace_object(cx, namespace_value.isObject() ? &namespace_value.toObject() : nullptr);
    if (!namespace_object) {
      namespace_object = JS_NewPlainObject(cx);
      JS::RootedValue v(cx, JS::ObjectOrNullValue(namespace_object));
      if (!namespace_object || !SetProperty(cx, here->imports, imports[i].module, v)) break;
    }
    JSFunction* fn = js::NewFunctionWithReserved(cx, HostNative, imports[i].sig.params.size(), 0, nullptr);
    if (fn == nullptr) break;
    JS::RootedObject fn_object(cx, JS_GetFunctionObject(fn));
    js::SetFunctionNativeReserved(fn_object, 0, JS::Int32Value(static_cast<int32_t>(i)));
    JS::RootedValue v(cx, JS::ObjectValue(*fn_object));
    if (!SetProperty(cx, namespace_object, imports[i].name, v)) break;
  }
  if (JS_IsExceptionPending(cx)) {
    *status = PendingError(cx, Phase::kInstantiation);
    return nullptr;
  }
  cache.Insert(id_, here);
  return here.get();
}

Result<std::unique_ptr<Instance>> JitModule::Instantiate(const InstanceOptions& options) const {
  // The initial sizes, charged as the AoT engine does; later grows are
  // charged by the rewritten module against its limit global.
  const ModuleInfo& info = compiled_->info;
  MemoryBudget budget(options.memory_limit_bytes);
  if (info.has_memory) WOW_RETURN_IF_ERROR(budget.ChargeInitialMemory(info.initial_memory_pages));
  for (const Compiled::TableCharge& t : compiled_->tables) {
    WOW_RETURN_IF_ERROR(budget.ChargeInitialTable(t.elements, t.element_bytes));
  }
  WOW_ASSIGN_OR_RETURN(JsThread * thread, pool_->Acquire());
  // From here the instance owns the thread and gives it back when it dies.
  auto instance = std::make_unique<JitInstance>(shared_from_this(), thread, options);
  WOW_RETURN_IF_ERROR(instance->Init());
  return std::unique_ptr<Instance>(std::move(instance));
}

Status JitInstance::Init() {
  Status status;
  bool ran =
      module_->pool().Run(thread_, [&](const JsRealm& realm, ThreadCache& cache) { status = InitHere(realm, cache); });
  if (!ran) status = ShuttingDown(Phase::kInstantiation);
  if (!status.ok()) dead_ = true;
  return status;
}

Status JitInstance::InitHere(const JsRealm& realm, ThreadCache& cache) {
  JSContext* cx = realm.cx;
  Status status;
  ModuleHere* module_here = module_->Here(realm, cache, &status);
  if (module_here == nullptr) return status;
  here_ = std::make_unique<InstanceHere>(cx);
  const rewrite::RewrittenModule& rw = module_->compiled().rewritten;

  JS::RootedValueArray<2> args(cx);
  args[0].setObject(*module_here->module);
  args[1].setObject(*module_here->imports);
  JS::RootedValue ctor(cx, JS::ObjectValue(*realm.instance_ctor));
  JS::RootedObject instance(cx);
  t_current = this;
  bool ok = JS::Construct(cx, ctor, JS::HandleValueArray(args), &instance);
  t_current = nullptr;
  if (!ok) {
    Status error = PendingError(cx, Phase::kInstantiation, rw.bytes);  // e.g. a data segment out of bounds
    if (error.code() == Code::kTrap) {
      return Status::Trap(error.trap(), std::string("during instantiation: ") + TrapKindMessage(error.trap()));
    }
    return Status::Error(error.code(), Phase::kInstantiation, error.message());
  }
  here_->instance = instance;
  JS::RootedValue exports(cx), memory(cx), limit(cx), hit(cx);
  if (!JS_GetProperty(cx, instance, "exports", &exports) || !exports.isObject()) {
    return Status::Internal("a JIT instance has no exports object");
  }
  here_->exports = &exports.toObject();
  if (!rw.limit_global.empty()) {
    if (!GetProperty(cx, here_->exports, rw.limit_global, &limit) || !limit.isObject() ||
        !GetProperty(cx, here_->exports, rw.hit_global, &hit) || !hit.isObject()) {
      return Status::Internal("a JIT instance lacks the exports the rewrite added");
    }
    here_->hit = &hit.toObject();
    // The limit in bytes on memory plus tables (an i64 global: a BigInt).
    JS::BigInt* limit_big = JS::NumberToBigInt(cx, limit_bytes_ == 0 ? UINT64_MAX : limit_bytes_);
    if (limit_big == nullptr) return PendingError(cx, Phase::kInstantiation);
    JS::RootedValue limit_value(cx, JS::BigIntValue(limit_big));
    JS::RootedObject limit_object(cx, &limit.toObject());
    if (!JS_SetProperty(cx, limit_object, "value", limit_value)) return PendingError(cx, Phase::kInstantiation);
  }
  if (!rw.memory_export.empty()) {
    if (!GetProperty(cx, here_->exports, rw.memory_export, &memory) || !memory.isObject()) {
      return Status::Internal("a JIT instance lacks the exports the rewrite added");
    }
    here_->memory = &memory.toObject();
    has_memory_ = true;
    host_call_.memory = &memory_;
    RefreshMemory(cx);
  }
  if (rw.start_export.empty()) return Status::Ok();
  JS::RootedValue ignored(cx);
  exited_now_ = false;
  Status s = Invoke(cx, rw.start_export, JS::HandleValueArray::empty(), &ignored);
  if (!s.ok()) {
    if (s.code() == Code::kTrap) return Status::Trap(s.trap(), "during instantiation: " + s.message());
    return Status::Error(s.code(), Phase::kInstantiation, s.message());
  }
  if (exited_now_) {
    return Status::Trap(TrapKind::kHostError, fmt::format("the start function called proc_exit({})", *exit_code_));
  }
  return Status::Ok();
}

Status JitInstance::CallHere(JSContext* cx, const std::string& js_name, const FuncSig& sig,
                             std::span<const RawValue> args, std::span<RawValue> results) {
  JS::RootedValueVector js_args(cx);
  for (size_t i = 0; i < args.size(); ++i) {
    JS::RootedValue v(cx);
    if (!ToJs(cx, sig.params[i], args[i], &v) || !js_args.append(v)) return PendingError(cx, Phase::kExecution);
  }
  JS::RootedValue out(cx);
  exited_now_ = false;
  WOW_RETURN_IF_ERROR(Invoke(cx, js_name, js_args, &out));
  if (exited_now_) return Status::Ok();  // no results after proc_exit; the slots stay as they were
  if (sig.results.size() == 1) {
    results[0] = FromJs(sig.results[0], out);
  } else if (sig.results.size() > 1) {
    // Several results come back as an array.
    JS::RootedObject array(cx, out.isObject() ? &out.toObject() : nullptr);
    for (size_t i = 0; array && i < sig.results.size(); ++i) {
      JS::RootedValue v(cx);
      if (!JS_GetElement(cx, array, static_cast<uint32_t>(i), &v)) return PendingError(cx, Phase::kExecution);
      results[i] = FromJs(sig.results[i], v);
    }
  }
  return Status::Ok();
}

// Calls an export by name under the deadline; the stop reason of a host
// function or the interrupt wins over what SpiderMonkey reports.
Status JitInstance::Invoke(JSContext* cx, const std::string& js_name, const JS::HandleValueArray& args,
                           JS::MutableHandleValue result) {
  if (DeadlinePassed()) return Status::TrapOf(TrapKind::kTimeout);  // out of time before it began
  JS::RootedValue fn(cx);
  if (!GetProperty(cx, here_->exports, js_name, &fn)) return PendingError(cx, Phase::kExecution);
  stop_ = Stop::kNone;
  if (deadline_) module_->pool().ArmDeadline(*deadline_);
  t_current = this;
  bool ok = JS::Call(cx, JS::UndefinedHandleValue, fn, args, result);
  t_current = nullptr;
  if (deadline_) module_->pool().DisarmDeadline();
  bool timed_out = JsThreads::TimedOut();
  if (has_memory_) RefreshMemory(cx);
  if (here_->hit) ReadLimitHit(cx);
  if (ok) return Status::Ok();
  switch (stop_) {
    case Stop::kExit:
      JS_ClearPendingException(cx);
      exited_now_ = true;
      exit_code_ = host_call_.exit_code;
      return Status::Ok();
    case Stop::kHostTrap: JS_ClearPendingException(cx); return Status::TrapOf(host_call_.trap, host_call_.trap_message);
    case Stop::kTimeout: JS_ClearPendingException(cx); return Status::TrapOf(TrapKind::kTimeout);
    case Stop::kNone: break;
  }
  if (!JS_IsExceptionPending(cx)) {
    // Terminated without an exception: the interrupt (deadline) or OOM.
    if (timed_out || DeadlinePassed()) return Status::TrapOf(TrapKind::kTimeout);
    return Status::Error(Code::kResourceExhausted, Phase::kExecution, "the JIT stopped the call (out of memory?)");
  }
  return PendingError(cx, Phase::kExecution, module_->compiled().rewritten.bytes);
}

bool JitInstance::HostCallNative(JSContext* cx, size_t index, const JS::CallArgs& args) {
  const HostFunction* hf = module_->import(index);
  std::array<RawValue, 32> in{}, out{};
  size_t np = std::min(hf->sig.params.size(), in.size());
  size_t nr = std::min(hf->sig.results.size(), out.size());
  // The rewrite made every float parameter an integer of the same bits.
  for (size_t k = 0; k < np; ++k) in[k] = FromJs(hf->sig.params[k], args.get(k));
  if (has_memory_) RefreshMemory(cx);
  HostAction action;
  try {
    action = hf->fn(host_call_, {in.data(), np}, {out.data(), nr});
  } catch (...) {
    host_call_.trap = TrapKind::kHostError;
    host_call_.trap_message = "the host function threw";
    action = HostAction::kTrap;
  }
  if (action == HostAction::kContinue) {
    if (!DeadlinePassed()) {
      if (nr == 0) {
        args.rval().setUndefined();
        return true;
      }
      if (ToJs(cx, hf->sig.results[0], out[0], args.rval())) return true;
      return false;  // out of memory making the BigInt: pending exception
    }
    stop_ = Stop::kTimeout;
  } else {
    stop_ = action == HostAction::kExit ? Stop::kExit : Stop::kHostTrap;
  }
  return false;  // no exception pending: uncatchable, unwinds the wasm frames
}

void JitInstance::RefreshMemory(JSContext* cx) {
  JS::RootedValue buffer(cx);
  if (!JS_GetProperty(cx, here_->memory, "buffer", &buffer) || !buffer.isObject()) {
    JS_ClearPendingException(cx);
    memory_.Set(nullptr, 0);
    return;
  }
  size_t length = 0;
  bool shared = false;
  uint8_t* data = nullptr;
  JS::GetArrayBufferLengthAndData(&buffer.toObject(), &length, &shared, &data);
  memory_.Set(data, length);
}

void JitInstance::ReadLimitHit(JSContext* cx) {
  JS::RootedValue value(cx);
  if (JS_GetProperty(cx, here_->hit, "value", &value) && value.isInt32()) {
    limit_hit_ = limit_hit_ || value.toInt32() != 0;
  } else {
    JS_ClearPendingException(cx);
  }
}

// ------------------------------------------------------------------ engine

class JitEngine : public Engine {
 public:
  explicit JitEngine(std::shared_ptr<JsThreads> pool) : pool_(std::move(pool)) {}
  std::string_view name() const override { return "jit"; }

  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm) override {
    auto start = Clock::now();
    PrepareInfo info;
    WOW_RETURN_IF_ERROR(
        Cache().Get(wasm, &info.cache_hit, [this](auto bytes) { return Compile(*pool_, bytes); }).status());
    info.compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return info;
  }

  Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t> wasm, const HostFunctions& host) override {
    bool hit = false;
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<const Compiled> compiled,
                         Cache().Get(wasm, &hit, [this](auto bytes) { return Compile(*pool_, bytes); }));
    WOW_ASSIGN_OR_RETURN(std::vector<const HostFunction*> imports, host.Resolve(compiled->info.imports));
    return std::shared_ptr<const Module>(
        std::make_shared<JitModule>(pool_, std::move(compiled), host, std::move(imports)));
  }

 private:
  std::shared_ptr<JsThreads> pool_;
};

// An engine whose JS runtime could not start: every call says why.
class UnavailableEngine : public Engine {
 public:
  explicit UnavailableEngine(Status why) : why_(std::move(why)) {}
  std::string_view name() const override { return "jit"; }
  Result<PrepareInfo> Prepare(std::span<const uint8_t>) override { return why_; }
  Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t>, const HostFunctions&) override { return why_; }

 private:
  Status why_;
};

}  // namespace

std::unique_ptr<Engine> CreateJitEngine(const EngineOptions&) {
  auto pool = JsThreads::Get();
  if (!pool.ok()) return std::make_unique<UnavailableEngine>(pool.status());
  return std::make_unique<JitEngine>(std::move(*pool));
}

}  // namespace wow::wasm::jit
