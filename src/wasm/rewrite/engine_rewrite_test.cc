// The rewrite pass, checked against the reference engines: a rewritten module
// must behave on AoT (and the interpreter) exactly as the original does, with
// the limit, the start function and the float shims now in the embedder's
// hands. Engines have no API for globals, so the tests add two probe exports
// (WithGlobalProbes) to read and write the pass's globals, as a JS embedder
// does through the exports.
#include "wasm/rewrite/engine_rewrite.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "common/status.h"
#include "wabt/binary-writer.h"
#include "wabt/cast.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wasm/engine.h"
#include "wasm/engine_factory.h"
#include "wasm/host_function.h"
#include "wasm/module_reader.h"

namespace wow::wasm::rewrite {
namespace {

// ---------------------------------------------------------------- helpers

constexpr RawValue kMinus1 = 0xFFFFFFFFu;  // i32 -1 as a zero-extended slot

// f32 and f64 bit patterns JS would not pass through unchanged, and a few
// that it would.
const uint32_t kF32Bits[] = {
    0x3FC00000,  // 1.5
    0x80000000,  // -0
    0x7F800000,  // +inf
    0x00000001,  // smallest subnormal
    0x7FC12345,  // quiet NaN with a payload
    0xFFC00001,  // negative quiet NaN with a payload
    0x7FA00001,  // signalling NaN
    0xFF800001,  // negative signalling NaN
};
const uint64_t kF64Bits[] = {
    0x400921FB54442D18,  // pi
    0x8000000000000000,  // -0
    0x0000000000000001,  // smallest subnormal
    0x7FF8000000000001,  // quiet NaN with a payload
    0xFFF80000DEADBEEF,  // negative quiet NaN with a payload
    0x7FF4000000000001,  // signalling NaN
    0xFFF0000000000001,  // negative signalling NaN
};

std::vector<uint8_t> Wasm(std::string_view text) {
  auto wasm = WatToWasm(text);
  EXPECT_TRUE(wasm.ok()) << wasm.status().ToString();
  return wasm.ok() ? *wasm : std::vector<uint8_t>{};
}

RewrittenModule Rewrite(std::span<const uint8_t> wasm, const RewriteOptions& options = {}) {
  auto r = RewriteForEngine(wasm, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : RewrittenModule{};
}

// Decodes and validates with wabt (ParseModule = ReadBinaryIr + ValidateModule);
// a module that does not validate fails the test.
ParsedModule Parse(std::span<const uint8_t> wasm) {
  auto parsed = ParseModule(wasm);
  EXPECT_TRUE(parsed.ok()) << "the rewritten module does not validate: " << parsed.status().ToString();
  return parsed.ok() ? std::move(parsed).value() : ParsedModule{};
}

const wabt::Export* FindExport(const wabt::Module& m, std::string_view name) {
  for (const wabt::Export* e : m.exports) {
    if (e->name == name) return e;
  }
  return nullptr;
}

std::set<std::string> ExportNames(const wabt::Module& m) {
  std::set<std::string> names;
  for (const wabt::Export* e : m.exports) names.insert(e->name);
  return names;
}

// Calls `f` on every instruction of `exprs`, nested ones included.
template <typename F>
void ForEachExpr(const wabt::ExprList& exprs, const F& f) {
  for (const wabt::Expr& e : exprs) {
    f(e);
    switch (e.type()) {
      case wabt::ExprType::Block: ForEachExpr(wabt::cast<wabt::BlockExpr>(&e)->block.exprs, f); break;
      case wabt::ExprType::Loop: ForEachExpr(wabt::cast<wabt::LoopExpr>(&e)->block.exprs, f); break;
      case wabt::ExprType::If:
        ForEachExpr(wabt::cast<wabt::IfExpr>(&e)->true_.exprs, f);
        ForEachExpr(wabt::cast<wabt::IfExpr>(&e)->false_, f);
        break;
      default: break;
    }
  }
}

// Function indices holding a memory.grow.
std::vector<wabt::Index> FunctionsWithMemoryGrow(const wabt::Module& m) {
  std::vector<wabt::Index> out;
  for (wabt::Index i = m.num_func_imports; i < m.funcs.size(); ++i) {
    bool grows = false;
    ForEachExpr(m.funcs[i]->exprs, [&](const wabt::Expr& e) { grows |= e.type() == wabt::ExprType::MemoryGrow; });
    if (grows) out.push_back(i);
  }
  return out;
}

FuncSig Sig(std::vector<ValType> params, std::vector<ValType> results) { return FuncSig{params, results}; }

// Room for the small tables of the test modules on top of a limit in pages:
// tables count against the limit, at a size per element that differs
// between engines (and from the rewrite's).
constexpr uint64_t kTableSlack = 1024;

// Adds "probe_set_limit" (param i32: pages) and "probe_hit" (result i32)
// exports that write the limit global (pages * 64 KiB + kTableSlack bytes)
// and read the hit global: what an embedder does
// through the global exports, for engines whose API only calls functions.
std::vector<uint8_t> WithGlobalProbes(const RewrittenModule& rw) {
  ParsedModule parsed = Parse(rw.bytes);
  if (parsed.ir == nullptr) return {};
  wabt::Module& m = *parsed.ir;
  const wabt::Export* limit = FindExport(m, rw.limit_global);
  const wabt::Export* hit = FindExport(m, rw.hit_global);
  EXPECT_TRUE(limit != nullptr && limit->kind == wabt::ExternalKind::Global) << rw.limit_global;
  EXPECT_TRUE(hit != nullptr && hit->kind == wabt::ExternalKind::Global) << rw.hit_global;
  if (limit == nullptr || hit == nullptr) return {};
  const wabt::Index limit_index = m.GetGlobalIndex(limit->var);
  const wabt::Index hit_index = m.GetGlobalIndex(hit->var);

  auto add = [&](std::string name, wabt::TypeVector params, wabt::TypeVector results, wabt::ExprList body) {
    auto type = std::make_unique<wabt::TypeModuleField>();
    auto ft = std::make_unique<wabt::FuncType>();
    ft->sig.param_types = params;
    ft->sig.result_types = results;
    type->type = std::move(ft);
    m.AppendField(std::move(type));
    auto func = std::make_unique<wabt::FuncModuleField>();
    func->func.decl.has_func_type = true;
    func->func.decl.type_var = wabt::Var(static_cast<wabt::Index>(m.types.size() - 1), wabt::Location());
    func->func.decl.sig.param_types = params;
    func->func.decl.sig.result_types = results;
    func->func.exprs = std::move(body);
    m.AppendField(std::move(func));
    auto exp = std::make_unique<wabt::ExportModuleField>();
    exp->export_.name = std::move(name);
    exp->export_.kind = wabt::ExternalKind::Func;
    exp->export_.var = wabt::Var(static_cast<wabt::Index>(m.funcs.size() - 1), wabt::Location());
    m.AppendField(std::move(exp));
  };
  wabt::ExprList set;
  set.push_back(std::make_unique<wabt::LocalGetExpr>(wabt::Var(0, wabt::Location())));
  set.push_back(std::make_unique<wabt::ConvertExpr>(wabt::Opcode::I64ExtendI32U));
  set.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(kWasmPageSize)));
  set.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Mul));
  set.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(kTableSlack)));
  set.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Add));
  set.push_back(std::make_unique<wabt::GlobalSetExpr>(wabt::Var(limit_index, wabt::Location())));
  add("probe_set_limit", {wabt::Type::I32}, {}, std::move(set));
  wabt::ExprList get;
  get.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(hit_index, wabt::Location())));
  add("probe_hit", {}, {wabt::Type::I32}, std::move(get));

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions options;
  options.features = SupportedFeatures();
  EXPECT_TRUE(wabt::Succeeded(wabt::WriteBinaryModule(&stream, &m, options)));
  std::vector<uint8_t> out = std::move(stream.output_buffer().data);
  Parse(out);
  return out;
}

struct Outcome {
  Status status;
  std::vector<RawValue> values;
  RawValue value() const { return values.empty() ? 0 : values[0]; }
};

Outcome CallOn(Instance& instance, std::string_view fn, std::vector<RawValue> args = {}, size_t num_results = 1) {
  Outcome out;
  out.values.assign(num_results, 0);
  out.status = instance.Call(fn, args, out.values);
  return out;
}

// A fresh instance under `limit_bytes` (0: no limit beyond Wasm's); null and a
// test failure when it does not instantiate.
std::unique_ptr<Instance> New(const Module& module, uint64_t limit_bytes = 0) {
  InstanceOptions options;
  options.memory_limit_bytes = limit_bytes;
  auto instance = module.Instantiate(options);
  EXPECT_TRUE(instance.ok()) << instance.status().ToString();
  return instance.ok() ? std::move(instance).value() : nullptr;
}

// ---------------------------------------------------------------- engine suite

// Every behavioural test runs on both reference engines: the original module
// there is the specification of what the rewritten one must do.
class EngineRewriteTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { data_dir_ = new TempDir("wow-rewrite-test"); }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override {
    EngineOptions options;
    options.data_dir = data_dir_->path();
    auto engine = CreateEngine(GetParam(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  std::shared_ptr<const Module> Load(std::span<const uint8_t> wasm, const HostFunctions& host = {}) {
    auto module = engine_->Load(wasm, host);
    EXPECT_TRUE(module.ok()) << module.status().ToString();
    return module.ok() ? std::move(module).value() : nullptr;
  }

  static inline TempDir* data_dir_ = nullptr;
  std::unique_ptr<Engine> engine_;
};

// memory.grow in a plain function, nested in block/loop/if, and in a function
// reached only through call_indirect.
constexpr char kGrowModule[] = R"((module
  (memory 1 10)
  (type $g (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $grow_indirect)
  (func $grow_indirect (type $g) (memory.grow (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_nested") (param i32) (result i32)
    (block (result i32)
      (loop (result i32)
        (if (result i32) (i32.const 1)
          (then (memory.grow (local.get 0)))
          (else (i32.const 0))))))
  (func (export "grow_indirect") (param i32) (result i32)
    (call_indirect (type $g) (local.get 0) (i32.const 0)))
  (func (export "size") (result i32) (memory.size)))
)";

struct GrowStep {
  const char* fn;
  uint32_t delta;
  RawValue expected;
};

struct GrowScenario {
  const char* what;
  uint32_t limit_pages;
  std::vector<GrowStep> steps;
  bool expected_hit;
};

// Runs `scenario` on the original under the engine's own limit and on the
// rewritten module under the limit global (engine limit off); both must give
// the expected results and the same memory_limit_hit.
void CheckGrowScenario(const Module& original, const Module& rewritten, const GrowScenario& s) {
  SCOPED_TRACE(s.what);
  auto a = New(original, uint64_t{s.limit_pages} * kWasmPageSize + kTableSlack);
  auto b = New(rewritten, 0);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(CallOn(*b, "probe_set_limit", {s.limit_pages}, 0).status.ok());
  for (const GrowStep& step : s.steps) {
    Outcome ra = CallOn(*a, step.fn, {step.delta});
    Outcome rb = CallOn(*b, step.fn, {step.delta});
    ASSERT_TRUE(ra.status.ok() && rb.status.ok()) << ra.status.ToString() << " / " << rb.status.ToString();
    EXPECT_EQ(ra.value(), step.expected) << "original: " << step.fn << "(" << step.delta << ")";
    EXPECT_EQ(rb.value(), step.expected) << "rewritten: " << step.fn << "(" << step.delta << ")";
  }
  EXPECT_EQ(CallOn(*a, "size").value(), CallOn(*b, "size").value());
  EXPECT_EQ(a->memory_limit_hit(), s.expected_hit) << "original";
  Outcome hit = CallOn(*b, "probe_hit");
  ASSERT_TRUE(hit.status.ok()) << hit.status.ToString();
  EXPECT_EQ(hit.value(), s.expected_hit ? 1u : 0u) << "rewritten";
  EXPECT_FALSE(b->memory_limit_hit()) << "the engine's own limit was off for the rewritten module";
}

TEST_P(EngineRewriteTest, GrowFollowsTheLimitGlobalLikeAot) {
  RewrittenModule rw = Rewrite(Wasm(kGrowModule));
  EXPECT_EQ(rw.limit_global, "__wow_limit");
  EXPECT_EQ(rw.hit_global, "__wow_limit_hit");
  auto original = Load(Wasm(kGrowModule));
  auto rewritten = Load(WithGlobalProbes(rw));
  ASSERT_TRUE(original && rewritten);
  const std::vector<GrowScenario> scenarios = {
      {"within the limit", 4, {{"grow", 1, 1}, {"grow_nested", 2, 2}, {"grow_indirect", 0, 4}}, false},
      {"up to the limit exactly, then past it (under the module's max)",
       4,
       {{"grow", 3, 1}, {"grow", 1, kMinus1}, {"grow", 0, 4}},
       true},
      {"past the limit from a nested grow", 2, {{"grow_nested", 2, kMinus1}, {"grow_nested", 1, 1}}, true},
      {"past the limit through call_indirect", 2, {{"grow_indirect", 5, kMinus1}}, true},
      {"past the module's max as well: not the limit's fault", 4, {{"grow", 20, kMinus1}}, false},
      {"delta overflow", 4, {{"grow", 0xFFFFFFFFu, kMinus1}, {"grow_indirect", 0xFFFFFFFFu, kMinus1}}, false},
      {"limit above the module's max", 100, {{"grow", 9, 1}, {"grow", 1, kMinus1}}, false},
      {"the limit at the initial size", 1, {{"grow", 0, 1}, {"grow", 1, kMinus1}}, true},
  };
  for (const GrowScenario& s : scenarios) CheckGrowScenario(*original, *rewritten, s);
}

// Without a maximum the module's own bound is 65535 pages (the AoT engine
// refuses 4 GiB itself), so growing to 65536 is not the limit's fault.
TEST_P(EngineRewriteTest, GrowWithoutMaximumStopsAt65535Pages) {
  constexpr char kText[] = R"((module
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "size") (result i32) (memory.size))))";
  auto original = Load(Wasm(kText));
  auto rewritten = Load(WithGlobalProbes(Rewrite(Wasm(kText))));
  ASSERT_TRUE(original && rewritten);
  const std::vector<GrowScenario> scenarios = {
      {"to 65536 pages", 4, {{"grow", 0xFFFF, kMinus1}}, false},
      {"to 65535 pages", 4, {{"grow", 0xFFFE, kMinus1}}, true},
      {"within", 4, {{"grow", 3, 1}}, false},
  };
  for (const GrowScenario& s : scenarios) CheckGrowScenario(*original, *rewritten, s);
}

// The limit global starts at 2^64-1 bytes: before the embedder sets it, grows
// behave as in Wasm.
TEST_P(EngineRewriteTest, LimitGlobalStartsUnlimited) {
  auto rewritten = Load(WithGlobalProbes(Rewrite(Wasm(kGrowModule))));
  ASSERT_TRUE(rewritten);
  auto b = New(*rewritten, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(CallOn(*b, "grow", {9}).value(), 1u);
  EXPECT_EQ(CallOn(*b, "grow", {1}).value(), kMinus1);
  EXPECT_EQ(CallOn(*b, "probe_hit").value(), 0u);
  // A limit set below the current size: growing by 0 still reports the size,
  // as memory.grow(0) does on AoT, and is not a refusal.
  ASSERT_TRUE(CallOn(*b, "probe_set_limit", {2}, 0).status.ok());
  EXPECT_EQ(CallOn(*b, "grow", {0}).value(), 10u);
  EXPECT_EQ(CallOn(*b, "probe_hit").value(), 0u);
}

TEST_P(EngineRewriteTest, StartFunctionIsExportedAndNotRun) {
  constexpr char kText[] = R"((module
    (memory 1)
    (global $runs (mut i32) (i32.const 0))
    (func $start
      (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
      (i32.store (i32.const 0) (i32.const 7)))
    (start $start)
    (func (export "runs") (result i32) (global.get $runs))
    (func (export "stored") (result i32) (i32.load (i32.const 0)))))";
  RewrittenModule rw = Rewrite(Wasm(kText));
  EXPECT_EQ(rw.start_export, "__wow_start");
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  EXPECT_TRUE(parsed.ir->starts.empty()) << "the start section is still there";
  const ExportDesc* start = parsed.info.FindExport(rw.start_export);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->sig, Sig({}, {}));

  auto original = Load(Wasm(kText));
  auto rewritten = Load(rw.bytes);
  ASSERT_TRUE(original && rewritten);
  auto a = New(*original);
  auto b = New(*rewritten);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(CallOn(*a, "runs").value(), 1u);
  EXPECT_EQ(CallOn(*a, "stored").value(), 7u);
  EXPECT_EQ(CallOn(*b, "runs").value(), 0u) << "the start function ran during instantiation";
  EXPECT_EQ(CallOn(*b, "stored").value(), 0u);
  ASSERT_TRUE(CallOn(*b, rw.start_export, {}, 0).status.ok());
  EXPECT_EQ(CallOn(*b, "runs").value(), 1u);
  EXPECT_EQ(CallOn(*b, "stored").value(), 7u);
}

// A trapping start function fails the original's instantiation; the rewritten
// module instantiates and the trap comes from the start export's call.
TEST_P(EngineRewriteTest, TrappingStartFunctionTrapsWhenCalled) {
  constexpr char kText[] = R"((module (func $start unreachable) (start $start)))";
  auto original = engine_->Load(Wasm(kText), {});
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  auto failed = (*original)->Instantiate({});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().trap(), TrapKind::kUnreachable);

  RewrittenModule rw = Rewrite(Wasm(kText));
  auto rewritten = Load(rw.bytes);
  ASSERT_TRUE(rewritten);
  auto b = New(*rewritten);
  ASSERT_TRUE(b);
  Status s = CallOn(*b, rw.start_export, {}, 0).status;
  EXPECT_EQ(s.code(), Code::kTrap) << s.ToString();
  EXPECT_EQ(s.trap(), TrapKind::kUnreachable) << s.ToString();
}

TEST_P(EngineRewriteTest, UnexportedMemoryGetsAHiddenExport) {
  constexpr char kText[] = R"((module
    (memory 2)
    (data (i32.const 16) "hidden")
    (func (export "size") (result i32) (memory.size))))";
  RewrittenModule rw = Rewrite(Wasm(kText));
  EXPECT_EQ(rw.memory_export, "__wow_memory");
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  const wabt::Export* e = FindExport(*parsed.ir, rw.memory_export);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, wabt::ExternalKind::Memory);
  EXPECT_EQ(parsed.ir->GetMemoryIndex(e->var), 0u);

  auto rewritten = Load(rw.bytes);
  ASSERT_TRUE(rewritten);
  auto b = New(*rewritten);
  ASSERT_TRUE(b && b->memory());
  EXPECT_EQ(b->memory()->size(), 2 * kWasmPageSize);
  auto bytes = b->memory()->Span(16, 6);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "hidden");
}

TEST(EngineRewrite, ExportedMemoryKeepsItsExport) {
  RewrittenModule rw = Rewrite(Wasm(R"((module (memory (export "mem") 1)))"));
  EXPECT_EQ(rw.memory_export, "mem");
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  int memory_exports = 0;
  for (const wabt::Export* e : parsed.ir->exports) memory_exports += e->kind == wabt::ExternalKind::Memory;
  EXPECT_EQ(memory_exports, 1);
}

TEST_P(EngineRewriteTest, ModuleWithoutMemory) {
  constexpr char kText[] = R"((module
    (global $g (mut i32) (i32.const 5))
    (func $start (global.set $g (i32.const 6)))
    (start $start)
    (func (export "half") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 0.5)))
    (func (export "g") (result i32) (global.get $g))))";
  RewrittenModule rw = Rewrite(Wasm(kText));
  EXPECT_EQ(rw.limit_global, "");
  EXPECT_EQ(rw.hit_global, "");
  EXPECT_EQ(rw.memory_export, "");
  EXPECT_EQ(rw.start_export, "__wow_start");
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  EXPECT_TRUE(parsed.ir->memories.empty());
  EXPECT_EQ(parsed.ir->globals.size(), 1u) << "no limit globals without a memory";
  EXPECT_EQ(ExportNames(*parsed.ir), (std::set<std::string>{"half", "g", "__wow_start", "__wow_i_0"}));

  auto rewritten = Load(rw.bytes);
  ASSERT_TRUE(rewritten);
  auto b = New(*rewritten);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->memory(), nullptr);
  EXPECT_EQ(CallOn(*b, "g").value(), 5u);
  ASSERT_TRUE(CallOn(*b, "__wow_start", {}, 0).status.ok());
  EXPECT_EQ(CallOn(*b, "g").value(), 6u);
  EXPECT_EQ(CallOn(*b, rw.integer_exports.at("half"), {0x4010000000000000}).value(), 0x4000000000000000u);
}

constexpr char kFloatExports[] = R"((module
  (func (export "id_f32") (param f32) (result f32) (local.get 0))
  (func $id_f64 (export "id_f64") (param f64) (result f64) (local.get 0))
  (export "id_f64_again" (func $id_f64))
  (func (export "neg_f32") (param f32) (result f32) (f32.neg (local.get 0)))
  (func (export "mixed") (param i32 f32 i64 f64) (result f64 i32 f32 i64)
    (local.get 3) (local.get 0) (local.get 1) (local.get 2))
  (func (export "make_snan") (result f32) (f32.reinterpret_i32 (i32.const 0x7FA00001)))
  (func (export "ints") (param i32 i64) (result i64) (i64.add (i64.extend_i32_u (local.get 0)) (local.get 1))))
)";

TEST_P(EngineRewriteTest, FloatExportShimsAreBitExact) {
  RewrittenModule rw = Rewrite(Wasm(kFloatExports));
  std::set<std::string> shimmed;
  for (const auto& [from, to] : rw.integer_exports) shimmed.insert(from);
  EXPECT_EQ(shimmed, (std::set<std::string>{"id_f32", "id_f64", "id_f64_again", "neg_f32", "mixed", "make_snan"}));
  EXPECT_EQ(rw.integer_exports["id_f32"], "__wow_i_0");
  EXPECT_EQ(rw.integer_exports["mixed"], "__wow_i_4");

  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  using V = ValType;
  const ExportDesc* mixed = parsed.info.FindExport(rw.integer_exports["mixed"]);
  ASSERT_NE(mixed, nullptr);
  EXPECT_EQ(mixed->sig, Sig({V::kI32, V::kI32, V::kI64, V::kI64}, {V::kI64, V::kI32, V::kI32, V::kI64}));
  EXPECT_EQ(parsed.info.FindExport("mixed")->sig,
            Sig({V::kI32, V::kF32, V::kI64, V::kF64}, {V::kF64, V::kI32, V::kF32, V::kI64}))
      << "the original export keeps its type";

  auto original = Load(Wasm(kFloatExports));
  auto rewritten = Load(rw.bytes);
  ASSERT_TRUE(original && rewritten);
  auto a = New(*original);
  auto b = New(*rewritten);
  ASSERT_TRUE(a && b);
  for (uint32_t bits : kF32Bits) {
    SCOPED_TRACE(::testing::Message() << std::hex << "f32 bits 0x" << bits);
    EXPECT_EQ(CallOn(*a, "id_f32", {bits}).value(), bits);
    EXPECT_EQ(CallOn(*b, rw.integer_exports["id_f32"], {bits}).value(), bits);
    EXPECT_EQ(CallOn(*b, rw.integer_exports["neg_f32"], {bits}).value(), CallOn(*a, "neg_f32", {bits}).value());
    EXPECT_EQ(CallOn(*b, rw.integer_exports["neg_f32"], {bits}).value(), bits ^ 0x80000000u);
  }
  for (uint64_t bits : kF64Bits) {
    SCOPED_TRACE(::testing::Message() << std::hex << "f64 bits 0x" << bits);
    EXPECT_EQ(CallOn(*a, "id_f64", {bits}).value(), bits);
    EXPECT_EQ(CallOn(*b, rw.integer_exports["id_f64"], {bits}).value(), bits);
    EXPECT_EQ(CallOn(*b, rw.integer_exports["id_f64_again"], {bits}).value(), bits);
  }
  const std::vector<RawValue> args = {0xFFFFFFFE, 0x7FA00001, 0x0123456789ABCDEF, 0xFFF4000000000001};
  const std::vector<RawValue> expected = {0xFFF4000000000001, 0xFFFFFFFE, 0x7FA00001, 0x0123456789ABCDEF};
  Outcome ra = CallOn(*a, "mixed", args, 4);
  Outcome rb = CallOn(*b, rw.integer_exports["mixed"], args, 4);
  if (ra.status.code() == Code::kNotFound) {
    // The engine cannot call multi-value exports from the host (aot): neither
    // can it the shim; the interpreter checks the values.
    EXPECT_EQ(rb.status.code(), Code::kNotFound) << rb.status.ToString();
  } else {
    ASSERT_TRUE(ra.status.ok() && rb.status.ok()) << ra.status.ToString() << " / " << rb.status.ToString();
    EXPECT_EQ(ra.values, expected);
    EXPECT_EQ(rb.values, expected);
  }
  EXPECT_EQ(CallOn(*b, rw.integer_exports["make_snan"]).value(), 0x7FA00001u);
  EXPECT_EQ(CallOn(*b, "ints", {7, 8}).value(), 15u) << "integer exports are untouched";
}

// What the host functions saw; they echo their (last float) argument.
struct HostLog {
  std::mutex mu;
  std::vector<RawValue> args;
  void Record(std::span<const RawValue> a) {
    std::lock_guard<std::mutex> lock(mu);
    args.insert(args.end(), a.begin(), a.end());
  }
};

// The host for the float imports below, with float signatures (the original
// module) or their integer forms (the rewritten one).
HostFunctions MakeHost(std::shared_ptr<HostLog> log, bool integer) {
  using V = ValType;
  const V f32 = integer ? V::kI32 : V::kF32;
  const V f64 = integer ? V::kI64 : V::kF64;
  auto echo = [log](HostCall&, std::span<const RawValue> a, std::span<RawValue> r) {
    log->Record(a);
    r[0] = a.back();
    return HostAction::kContinue;
  };
  HostFunctions host;
  host.Add({"env", "echo_f32", Sig({f32}, {f32}), echo});
  host.Add({"env", "echo_f64", Sig({f64}, {f64}), echo});
  host.Add({"env", "mix", Sig({f32, V::kI32, f64}, {f64}), echo});
  host.Add({"env", "echo_i32", Sig({V::kI32}, {V::kI32}), echo});
  return host;
}

// Every way a float import can be reached: call, call_indirect through an
// active or passive segment, ref.func (in code and in a global), a re-export.
constexpr char kFloatImports[] = R"((module
  (type $ff (func (param f32) (result f32)))
  (type $dd (func (param f64) (result f64)))
  (import "env" "echo_f32" (func $echo_f32 (type $ff)))
  (import "env" "echo_i32" (func $echo_i32 (param i32) (result i32)))
  (import "env" "echo_f64" (func $echo_f64 (type $dd)))
  (import "env" "mix" (func $mix (param f32 i32 f64) (result f64)))
  (table $t 4 funcref)
  (elem (i32.const 0) $echo_f32)
  (elem $passive func $echo_f64)
  (elem declare func $echo_f32)
  (global $gref funcref (ref.func $echo_f64))
  (func (export "direct_f32") (param f32) (result f32) (call $echo_f32 (local.get 0)))
  (func (export "direct_f64") (param f64) (result f64) (call $echo_f64 (local.get 0)))
  (func (export "direct_i32") (param i32) (result i32) (call $echo_i32 (local.get 0)))
  (func (export "mix") (param f32 i32 f64) (result f64) (call $mix (local.get 0) (local.get 1) (local.get 2)))
  (func (export "active_f32") (param f32) (result f32)
    (call_indirect $t (type $ff) (local.get 0) (i32.const 0)))
  (func (export "passive_f64") (param f64) (result f64)
    (table.init $t $passive (i32.const 1) (i32.const 0) (i32.const 1))
    (call_indirect $t (type $dd) (local.get 0) (i32.const 1)))
  (func (export "ref_func_f32") (param f32) (result f32)
    (table.set $t (i32.const 2) (ref.func $echo_f32))
    (call_indirect $t (type $ff) (local.get 0) (i32.const 2)))
  (func (export "global_f64") (param f64) (result f64)
    (table.set $t (i32.const 3) (global.get $gref))
    (call_indirect $t (type $dd) (local.get 0) (i32.const 3)))
  (export "reexported_f32" (func $echo_f32)))
)";

TEST_P(EngineRewriteTest, FloatImportShimsAreBitExact) {
  RewrittenModule rw = Rewrite(Wasm(kFloatImports));
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  using V = ValType;
  ASSERT_EQ(parsed.info.imports.size(), 4u);
  EXPECT_EQ(parsed.info.imports[0].sig, Sig({V::kI32}, {V::kI32}));
  EXPECT_EQ(parsed.info.imports[1].sig, Sig({V::kI32}, {V::kI32}));
  EXPECT_EQ(parsed.info.imports[2].sig, Sig({V::kI64}, {V::kI64}));
  EXPECT_EQ(parsed.info.imports[3].sig, Sig({V::kI32, V::kI32, V::kI64}, {V::kI64}));
  ASSERT_TRUE(rw.integer_exports.contains("reexported_f32"));
  EXPECT_EQ(parsed.info.FindExport("reexported_f32")->sig, Sig({V::kF32}, {V::kF32}))
      << "the re-export now names the float wrapper";

  auto log_a = std::make_shared<HostLog>();
  auto log_b = std::make_shared<HostLog>();
  auto original = Load(Wasm(kFloatImports), MakeHost(log_a, false));
  auto rewritten = Load(rw.bytes, MakeHost(log_b, true));
  ASSERT_TRUE(original && rewritten);
  EXPECT_FALSE(engine_->Load(rw.bytes, MakeHost(log_b, false)).ok())
      << "the rewritten module must import the integer signatures";
  auto a = New(*original);
  auto b = New(*rewritten);
  ASSERT_TRUE(a && b);

  // Runs `fn` (and, on the rewritten module, its integer shim) on `args`; the
  // host must see `args` and the result must be `expected`, bit for bit.
  auto check = [&](const std::string& fn, std::vector<RawValue> args, RawValue expected) {
    SCOPED_TRACE(::testing::Message() << fn << std::hex << " 0x" << args.front());
    std::vector<std::string> names = {fn};
    if (rw.integer_exports.contains(fn)) names.push_back(rw.integer_exports.at(fn));
    {
      log_a->args.clear();
      Outcome ra = CallOn(*a, fn, args);
      ASSERT_TRUE(ra.status.ok()) << ra.status.ToString();
      EXPECT_EQ(ra.value(), expected) << "original";
      EXPECT_EQ(log_a->args, args) << "original";
    }
    for (const std::string& name : names) {
      log_b->args.clear();
      Outcome rb = CallOn(*b, name, args);
      ASSERT_TRUE(rb.status.ok()) << name << ": " << rb.status.ToString();
      EXPECT_EQ(rb.value(), expected) << name;
      EXPECT_EQ(log_b->args, args) << name << ": what the host saw";
    }
  };
  for (uint32_t bits : kF32Bits) {
    for (const char* fn : {"direct_f32", "active_f32", "ref_func_f32", "reexported_f32"}) check(fn, {bits}, bits);
    check("mix", {bits, 0x89ABCDEF, kF64Bits[5]}, kF64Bits[5]);
  }
  for (uint64_t bits : kF64Bits) {
    for (const char* fn : {"direct_f64", "passive_f64", "global_f64"}) check(fn, {bits}, bits);
    check("mix", {kF32Bits[6], 0xFFFFFFFF, bits}, bits);
  }
  check("direct_i32", {0xFFFFFFFF}, 0xFFFFFFFF);
}

INSTANTIATE_TEST_SUITE_P(ReferenceEngines, EngineRewriteTest, ::testing::Values("aot", "interp"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---------------------------------------------------------------- structure

TEST(EngineRewrite, EveryMemoryGrowCallsTheAppendedFunction) {
  std::vector<uint8_t> wasm = Wasm(kGrowModule);
  ParsedModule before = Parse(wasm);
  ASSERT_NE(before.ir, nullptr);
  ASSERT_EQ(FunctionsWithMemoryGrow(*before.ir).size(), 3u);
  ParsedModule after = Parse(Rewrite(wasm).bytes);
  ASSERT_NE(after.ir, nullptr);
  const wabt::Index grow = static_cast<wabt::Index>(before.ir->funcs.size());
  EXPECT_EQ(FunctionsWithMemoryGrow(*after.ir), std::vector<wabt::Index>{grow});
  int calls = 0;
  for (wabt::Index i = 0; i < before.ir->funcs.size(); ++i) {
    ForEachExpr(after.ir->funcs[i]->exprs, [&](const wabt::Expr& e) {
      if (e.type() == wabt::ExprType::Call && wabt::cast<wabt::CallExpr>(&e)->var.index() == grow) ++calls;
    });
  }
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(after.ir->funcs[grow]->decl.sig.param_types, wabt::TypeVector{wabt::Type::I32});
  EXPECT_EQ(after.ir->funcs[grow]->decl.sig.result_types, wabt::TypeVector{wabt::Type::I32});
}

// Appending keeps every index: types, functions, globals and exports of the
// original are a prefix of the rewritten module's, with the same meaning.
TEST(EngineRewrite, AppendsWithoutMovingIndices) {
  constexpr char kText[] = R"((module
    (type $unused (func (param i64 i64)))
    (import "env" "f" (func $f (param f32) (result f32)))
    (memory 1 2)
    (global $a i32 (i32.const 1))
    (global $b (mut f64) (f64.const 2))
    (func $s)
    (start $s)
    (func (export "x") (param f64) (result f64) (local.get 0))
    (func (export "y") (result i32) (memory.grow (i32.const 1)))))";
  std::vector<uint8_t> wasm = Wasm(kText);
  ParsedModule before = Parse(wasm);
  ParsedModule after = Parse(Rewrite(wasm).bytes);
  ASSERT_TRUE(before.ir && after.ir);
  const wabt::Module& m0 = *before.ir;
  const wabt::Module& m1 = *after.ir;
  ASSERT_GE(m1.types.size(), m0.types.size());
  for (size_t i = 0; i < m0.types.size(); ++i) {
    const auto* t0 = wabt::cast<wabt::FuncType>(m0.types[i]);
    const auto* t1 = wabt::cast<wabt::FuncType>(m1.types[i]);
    EXPECT_EQ(t0->sig.param_types, t1->sig.param_types) << "type " << i;
    EXPECT_EQ(t0->sig.result_types, t1->sig.result_types) << "type " << i;
  }
  ASSERT_GT(m1.funcs.size(), m0.funcs.size());
  for (size_t i = m0.num_func_imports; i < m0.funcs.size(); ++i) {
    EXPECT_EQ(m0.funcs[i]->decl.sig, m1.funcs[i]->decl.sig) << "function " << i;
  }
  ASSERT_EQ(m1.globals.size(), m0.globals.size() + 3);  // limit, hit, table bytes
  for (size_t i = 0; i < m0.globals.size(); ++i) EXPECT_EQ(m0.globals[i]->type, m1.globals[i]->type);
  for (size_t i = 0; i < m0.exports.size(); ++i) {
    EXPECT_EQ(m0.exports[i]->name, m1.exports[i]->name);
    EXPECT_EQ(m0.exports[i]->var.index(), m1.exports[i]->var.index());
  }
  // No type is added twice: each signature appears once among the new ones.
  for (size_t i = m0.types.size(); i < m1.types.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      EXPECT_FALSE(wabt::cast<wabt::FuncType>(m1.types[i])->sig == wabt::cast<wabt::FuncType>(m1.types[j])->sig)
          << "type " << i << " repeats type " << j;
    }
  }
}

TEST(EngineRewrite, AddedNamesDoNotClash) {
  constexpr char kText[] = R"((module
    (memory 1)
    (func $f (param f32) (result f32) (local.get 0))
    (func $s)
    (start $s)
    (export "__wow_i_0" (func $f))
    (export "__wow_limit" (func $s))
    (export "__wow_limit_" (func $s))
    (export "__wow_limit_hit" (func $s))
    (export "__wow_start" (func $s))
    (export "__wow_memory" (func $s))))";
  RewrittenModule rw = Rewrite(Wasm(kText));
  EXPECT_EQ(rw.limit_global, "__wow_limit__");
  EXPECT_EQ(rw.hit_global, "__wow_limit_hit_");
  EXPECT_EQ(rw.start_export, "__wow_start_");
  EXPECT_EQ(rw.memory_export, "__wow_memory_");
  EXPECT_EQ(rw.integer_exports["__wow_i_0"], "__wow_i_0_");
  ParsedModule parsed = Parse(rw.bytes);  // duplicate export names would not validate
  ASSERT_NE(parsed.ir, nullptr);
  EXPECT_EQ(parsed.ir->exports.size(), 11u);
}

TEST(EngineRewrite, FloatShimsCanBeTurnedOff) {
  RewrittenModule rw = Rewrite(Wasm(kFloatImports), {.float_shims = false});
  EXPECT_TRUE(rw.integer_exports.empty());
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  EXPECT_EQ(parsed.info.imports[0].sig, Sig({ValType::kF32}, {ValType::kF32}));
  // Only the limit and hit globals are added (the module has a table).
  EXPECT_EQ(parsed.info.exports.size(), Parse(Wasm(kFloatImports)).info.exports.size() + 2);
}

// No engine binds an import with several results, but the pass handles it:
// the wrapper parks the integer results in locals and converts each.
TEST(EngineRewrite, MultiValueFloatImportGetsAValidWrapper) {
  std::vector<uint8_t> wasm = Wasm(R"((module
    (import "env" "pair" (func $pair (param f64) (result f32 i32 f64)))
    (func (export "call") (param f64) (result f32 i32 f64) (call $pair (local.get 0)))))");
  RewrittenModule rw = Rewrite(wasm);
  ParsedModule parsed = Parse(rw.bytes);
  ASSERT_NE(parsed.ir, nullptr);
  using V = ValType;
  EXPECT_EQ(parsed.info.imports[0].sig, Sig({V::kI64}, {V::kI32, V::kI32, V::kI64}));
  EXPECT_EQ(parsed.info.FindExport("call")->sig, Sig({V::kF64}, {V::kF32, V::kI32, V::kF64}));
  EXPECT_EQ(parsed.info.FindExport(rw.integer_exports["call"])->sig, Sig({V::kI64}, {V::kI32, V::kI32, V::kI64}));
}

TEST(EngineRewrite, RejectsWhatIsNotAValidModule) {
  const std::vector<uint8_t> garbage = {'n', 'o', 'p', 'e'};
  EXPECT_EQ(RewriteForEngine(garbage).status().code(), Code::kInvalidModule);
  std::vector<uint8_t> truncated = Wasm(kGrowModule);
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(RewriteForEngine(truncated).ok());
  // Valid, but no engine would load it: the pass still handles it.
  RewrittenModule rw = Rewrite(Wasm(R"((module (import "env" "mem" (memory 1))
                                       (func (export "g") (result i32) (memory.grow (i32.const 1)))))"));
  EXPECT_EQ(rw.memory_export, "__wow_memory");
  Parse(rw.bytes);
}

// Every checked-in engine guest rewrites to a valid module that keeps its
// exports.
TEST(EngineRewrite, EveryGuestRewritesToAValidModule) {
  int guests = 0;
  for (const auto& entry : std::filesystem::directory_iterator(WOW_SOURCE_DIR "/tests/guests")) {
    if (entry.path().extension() != ".wat") continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto text = ReadFile(entry.path());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    auto wasm = WatToWasm(*text);
    if (!wasm.ok()) continue;  // a guest that is meant not to compile
    ++guests;
    ParsedModule before = Parse(*wasm);
    ParsedModule after = Parse(Rewrite(*wasm).bytes);
    ASSERT_TRUE(before.ir && after.ir);
    for (const ExportDesc& e : before.info.exports) {
      const ExportDesc* kept = after.info.FindExport(e.name);
      ASSERT_NE(kept, nullptr) << e.name;
      EXPECT_EQ(kept->kind, e.kind) << e.name;
      EXPECT_EQ(kept->sig, e.sig) << e.name;
    }
    EXPECT_TRUE(after.ir->starts.empty());
  }
  EXPECT_GE(guests, 10);
}

}  // namespace
}  // namespace wow::wasm::rewrite
