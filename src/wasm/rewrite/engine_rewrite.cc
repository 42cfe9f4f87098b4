#include "wasm/rewrite/engine_rewrite.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "wabt/binary-writer.h"
#include "wabt/cast.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wasm/memory_budget.h"
#include "wasm/module_reader.h"

namespace wow::wasm::rewrite {
namespace {

using wabt::Index;

// The AoT engine refuses 65536 pages (4 GiB) itself: a grow that would reach
// it is not a refusal *because of the limit*.
constexpr uint64_t kMaxGrowablePages = 65535;
// The limit global's initial value (read as unsigned): no limit beyond Wasm's.
constexpr uint64_t kNoLimitBytes = UINT64_MAX;

Status Unsupported(std::string message) {
  return Status::Error(Code::kUnsupported, Phase::kCompilation, std::move(message));
}

bool IsFloat(wabt::Type t) { return t == wabt::Type::F32 || t == wabt::Type::F64; }

bool HasFloat(const wabt::FuncSignature& sig) {
  return std::any_of(sig.param_types.begin(), sig.param_types.end(), IsFloat) ||
         std::any_of(sig.result_types.begin(), sig.result_types.end(), IsFloat);
}

// f32 -> i32, f64 -> i64, anything else unchanged.
wabt::Type IntegerType(wabt::Type t) {
  if (t == wabt::Type::F32) return wabt::Type::I32;
  if (t == wabt::Type::F64) return wabt::Type::I64;
  return t;
}

wabt::FuncSignature IntegerSignature(const wabt::FuncSignature& sig) {
  wabt::FuncSignature out;
  for (auto t : sig.param_types) out.param_types.push_back(IntegerType(t));
  for (auto t : sig.result_types) out.result_types.push_back(IntegerType(t));
  return out;
}

// The reinterpretation from a value of type `from` to `to` (one is the other's
// IntegerType), or none when they are equal.
std::optional<wabt::Opcode> ReinterpretOp(wabt::Type from, wabt::Type to) {
  if (from == to) return std::nullopt;
  if (from == wabt::Type::F32) return wabt::Opcode::I32ReinterpretF32;
  if (from == wabt::Type::F64) return wabt::Opcode::I64ReinterpretF64;
  if (to == wabt::Type::F32) return wabt::Opcode::F32ReinterpretI32;
  return wabt::Opcode::F64ReinterpretI64;
}

wabt::Var IndexVar(Index index) { return wabt::Var(index, wabt::Location()); }

// Builds an instruction sequence; all Vars are indices.
class ExprBuilder {
 public:
  template <typename E, typename... Args>
  ExprBuilder& Add(Args&&... args) {
    exprs_.push_back(std::make_unique<E>(std::forward<Args>(args)...));
    return *this;
  }
  ExprBuilder& LocalGet(Index i) { return Add<wabt::LocalGetExpr>(IndexVar(i)); }
  ExprBuilder& LocalSet(Index i) { return Add<wabt::LocalSetExpr>(IndexVar(i)); }
  ExprBuilder& LocalTee(Index i) { return Add<wabt::LocalTeeExpr>(IndexVar(i)); }
  ExprBuilder& GlobalGet(Index i) { return Add<wabt::GlobalGetExpr>(IndexVar(i)); }
  ExprBuilder& GlobalSet(Index i) { return Add<wabt::GlobalSetExpr>(IndexVar(i)); }
  ExprBuilder& Call(Index f) { return Add<wabt::CallExpr>(IndexVar(f)); }
  ExprBuilder& Convert(wabt::Opcode op) { return Add<wabt::ConvertExpr>(op); }
  ExprBuilder& I32Const(uint32_t v) { return Add<wabt::ConstExpr>(wabt::Const::I32(v)); }
  ExprBuilder& I64Const(uint64_t v) { return Add<wabt::ConstExpr>(wabt::Const::I64(v)); }
  ExprBuilder& Append(std::unique_ptr<wabt::Expr> e) {
    exprs_.push_back(std::move(e));
    return *this;
  }
  ExprBuilder& Reinterpret(wabt::Type from, wabt::Type to) {
    if (auto op = ReinterpretOp(from, to)) Convert(*op);
    return *this;
  }
  wabt::ExprList Take() { return std::move(exprs_); }

 private:
  wabt::ExprList exprs_;
};

class Rewriter {
 public:
  Rewriter(wabt::Module& m, const RewriteOptions& options) : m_(m), options_(options) {}

  Result<RewrittenModule> Run();

 private:
  Index FindOrAddFuncType(const wabt::FuncSignature& sig);
  Index AppendFunc(const wabt::FuncSignature& sig, const wabt::TypeVector& locals, wabt::ExprList body);
  Index AppendGlobal(wabt::Type type, uint64_t initial);
  std::string AddExport(std::string_view base, wabt::ExternalKind kind, Index index);
  // A function of signature `outer` that calls `callee` (signature `inner`,
  // the same with some floats as integers), reinterpreting on the way.
  Index AppendAdapter(Index callee, const wabt::FuncSignature& outer, const wabt::FuncSignature& inner);
  Index AppendGrow(const wabt::Memory& memory);
  Index AppendTableGrow(Index table);
  void AppendLimitCheck(ExprBuilder& check) const;
  uint64_t ElementBytes(const wabt::Table& table) const;
  void ShimFloatImports();
  void ShimFloatExports();
  void RewriteExprs(wabt::ExprList& exprs);
  Index Redirected(Index func) const;
  void RedirectVar(wabt::Var& var) const;

  wabt::Module& m_;
  const RewriteOptions& options_;
  RewrittenModule out_;
  std::set<std::string, std::less<>> export_names_;
  std::unordered_map<Index, Index> redirect_;  // float import -> its wrapper
  std::optional<Index> grow_;                  // the function memory.grow becomes
  std::vector<Index> table_grows_;             // the function table.grow of table t becomes
  Index limit_global_ = 0;
  Index hit_global_ = 0;
  Index tables_global_ = 0;  // bytes of all tables now
};

Index Rewriter::FindOrAddFuncType(const wabt::FuncSignature& sig) {
  for (Index i = 0; i < m_.types.size(); ++i) {
    const auto* ft = wabt::dyn_cast<wabt::FuncType>(m_.types[i]);
    if (ft != nullptr && ft->sig.param_types == sig.param_types && ft->sig.result_types == sig.result_types) {
      return i;
    }
  }
  auto field = std::make_unique<wabt::TypeModuleField>();
  auto type = std::make_unique<wabt::FuncType>();
  type->sig.param_types = sig.param_types;
  type->sig.result_types = sig.result_types;
  field->type = std::move(type);
  m_.AppendField(std::move(field));
  return static_cast<Index>(m_.types.size() - 1);
}

Index Rewriter::AppendFunc(const wabt::FuncSignature& sig, const wabt::TypeVector& locals, wabt::ExprList body) {
  auto field = std::make_unique<wabt::FuncModuleField>();
  wabt::Func& f = field->func;
  f.decl.has_func_type = true;
  f.decl.type_var = IndexVar(FindOrAddFuncType(sig));
  f.decl.sig.param_types = sig.param_types;
  f.decl.sig.result_types = sig.result_types;
  f.local_types.Set(locals);
  f.exprs = std::move(body);
  m_.AppendField(std::move(field));
  return static_cast<Index>(m_.funcs.size() - 1);
}

Index Rewriter::AppendGlobal(wabt::Type type, uint64_t initial) {
  auto field = std::make_unique<wabt::GlobalModuleField>();
  field->global.type = type;
  field->global.mutable_ = true;
  field->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(
      type == wabt::Type::I64 ? wabt::Const::I64(initial) : wabt::Const::I32(static_cast<uint32_t>(initial))));
  m_.AppendField(std::move(field));
  return static_cast<Index>(m_.globals.size() - 1);
}

std::string Rewriter::AddExport(std::string_view base, wabt::ExternalKind kind, Index index) {
  std::string name(base);
  while (export_names_.contains(name)) name += '_';
  export_names_.insert(name);
  auto field = std::make_unique<wabt::ExportModuleField>();
  field->export_.name = name;
  field->export_.kind = kind;
  field->export_.var = IndexVar(index);
  m_.AppendField(std::move(field));
  return name;
}

Index Rewriter::AppendAdapter(Index callee, const wabt::FuncSignature& outer, const wabt::FuncSignature& inner) {
  ExprBuilder code;
  for (Index i = 0; i < outer.param_types.size(); ++i) {
    code.LocalGet(i).Reinterpret(outer.param_types[i], inner.param_types[i]);
  }
  code.Call(callee);
  wabt::TypeVector locals;
  const size_t n = inner.result_types.size();
  if (n == 1) {
    code.Reinterpret(inner.result_types[0], outer.result_types[0]);
  } else if (n > 1) {
    // Multi-value: park the results in locals, then push them back converted.
    const Index base = static_cast<Index>(outer.param_types.size());
    locals = inner.result_types;
    for (size_t k = n; k-- > 0;) code.LocalSet(base + static_cast<Index>(k));
    for (size_t k = 0; k < n; ++k) {
      code.LocalGet(base + static_cast<Index>(k)).Reinterpret(inner.result_types[k], outer.result_types[k]);
    }
  }
  return AppendFunc(outer, locals, code.Take());
}

// (func (param $delta i32) (result i32) (local $new i64)
//   block
//     local.get $delta  i32.eqz  br_if 0                  ;; grow by 0: as Wasm
//     $new = u64(memory.size) + u64($delta)
//     if $new > min(max, 65535) then return -1 end        ;; Wasm's own maximum, 4 GiB
//     $new * 65536 + $tables <= $limit  br_if 0           ;; within the limit
//     $hit = 1  return -1                                 ;; refused by the limit only
//   end
//   memory.grow $delta)
Index Rewriter::AppendGrow(const wabt::Memory& memory) {
  uint64_t cap = kMaxGrowablePages;
  if (memory.page_limits.has_max) cap = std::min<uint64_t>(cap, memory.page_limits.max);

  auto if_over_cap = std::make_unique<wabt::IfExpr>();
  if_over_cap->true_.exprs = ExprBuilder().I32Const(UINT32_MAX).Add<wabt::ReturnExpr>().Take();
  ExprBuilder check;
  check.LocalGet(0)
      .Convert(wabt::Opcode::I32Eqz)
      .Add<wabt::BrIfExpr>(IndexVar(0))
      .Add<wabt::MemorySizeExpr>(IndexVar(0))
      .Convert(wabt::Opcode::I64ExtendI32U)
      .LocalGet(0)
      .Convert(wabt::Opcode::I64ExtendI32U)
      .Add<wabt::BinaryExpr>(wabt::Opcode::I64Add)
      .LocalTee(1)
      .I64Const(cap)
      .Add<wabt::CompareExpr>(wabt::Opcode::I64GtU)
      .Append(std::move(if_over_cap))
      .LocalGet(1)
      .I64Const(kWasmPageSize)
      .Add<wabt::BinaryExpr>(wabt::Opcode::I64Mul);
  AppendLimitCheck(check);
  auto block = std::make_unique<wabt::BlockExpr>();
  block->block.exprs = check.Take();

  wabt::ExprList body =
      ExprBuilder().Append(std::move(block)).LocalGet(0).Add<wabt::MemoryGrowExpr>(IndexVar(0)).Take();
  wabt::FuncSignature sig;
  sig.param_types = {wabt::Type::I32};
  sig.result_types = {wabt::Type::I32};
  return AppendFunc(sig, {wabt::Type::I64}, std::move(body));
}

// With the bytes a grow would add on the stack (i64): when they and $tables
// fit in $limit, leaves the check's block (br_if 0); else sets $hit and
// returns -1, refused by the limit.
void Rewriter::AppendLimitCheck(ExprBuilder& check) const {
  check.GlobalGet(tables_global_)
      .Add<wabt::BinaryExpr>(wabt::Opcode::I64Add)
      .GlobalGet(limit_global_)
      .Add<wabt::CompareExpr>(wabt::Opcode::I64LeU)
      .Add<wabt::BrIfExpr>(IndexVar(0))
      .I32Const(1)
      .GlobalSet(hit_global_)
      .I32Const(UINT32_MAX)
      .Add<wabt::ReturnExpr>();
}

uint64_t Rewriter::ElementBytes(const wabt::Table& table) const {
  return table.elem_type == wabt::Type::FuncRef ? options_.funcref_bytes : options_.externref_bytes;
}

// (func (param $init ref) (param $delta i32) (result i32) (local $charge i64) (local $old i32)
//   block
//     local.get $delta  i32.eqz  br_if 0                  ;; grow by 0: as Wasm
//     if u64(table.size) + u64($delta) > min(max, kMaxTableElements) then return -1 end
//     $charge = u64($delta) * element bytes
//     $charge + memory bytes + $tables <= $limit  br_if 0 ;; within the limit
//     $hit = 1  return -1
//   end
//   $old = table.grow $init $delta
//   if $old != -1 then $tables += $charge end
//   $old)
Index Rewriter::AppendTableGrow(Index table) {
  const wabt::Table& t = *m_.tables[table];
  uint64_t cap = kMaxTableElements;
  if (t.elem_limits.has_max) cap = std::min<uint64_t>(cap, t.elem_limits.max);

  auto if_over_cap = std::make_unique<wabt::IfExpr>();
  if_over_cap->true_.exprs = ExprBuilder().I32Const(UINT32_MAX).Add<wabt::ReturnExpr>().Take();
  ExprBuilder check;
  check.LocalGet(1)
      .Convert(wabt::Opcode::I32Eqz)
      .Add<wabt::BrIfExpr>(IndexVar(0))
      .Add<wabt::TableSizeExpr>(IndexVar(table))
      .Convert(wabt::Opcode::I64ExtendI32U)
      .LocalGet(1)
      .Convert(wabt::Opcode::I64ExtendI32U)
      .Add<wabt::BinaryExpr>(wabt::Opcode::I64Add)
      .I64Const(cap)
      .Add<wabt::CompareExpr>(wabt::Opcode::I64GtU)
      .Append(std::move(if_over_cap))
      .LocalGet(1)
      .Convert(wabt::Opcode::I64ExtendI32U)
      .I64Const(ElementBytes(t))
      .Add<wabt::BinaryExpr>(wabt::Opcode::I64Mul)
      .LocalTee(2);
  if (!m_.memories.empty()) {
    check.Add<wabt::MemorySizeExpr>(IndexVar(0))
        .Convert(wabt::Opcode::I64ExtendI32U)
        .I64Const(kWasmPageSize)
        .Add<wabt::BinaryExpr>(wabt::Opcode::I64Mul)
        .Add<wabt::BinaryExpr>(wabt::Opcode::I64Add);
  }
  AppendLimitCheck(check);
  auto block = std::make_unique<wabt::BlockExpr>();
  block->block.exprs = check.Take();

  auto if_grown = std::make_unique<wabt::IfExpr>();
  if_grown->true_.exprs = ExprBuilder()
                              .GlobalGet(tables_global_)
                              .LocalGet(2)
                              .Add<wabt::BinaryExpr>(wabt::Opcode::I64Add)
                              .GlobalSet(tables_global_)
                              .Take();
  wabt::ExprList body = ExprBuilder()
                            .Append(std::move(block))
                            .LocalGet(0)
                            .LocalGet(1)
                            .Add<wabt::TableGrowExpr>(IndexVar(table))
                            .LocalTee(3)
                            .I32Const(UINT32_MAX)
                            .Add<wabt::CompareExpr>(wabt::Opcode::I32Ne)
                            .Append(std::move(if_grown))
                            .LocalGet(3)
                            .Take();
  wabt::FuncSignature sig;
  sig.param_types = {t.elem_type, wabt::Type::I32};
  sig.result_types = {wabt::Type::I32};
  return AppendFunc(sig, {wabt::Type::I64, wabt::Type::I32}, std::move(body));
}

// Retypes each import with floats to its integer signature and appends a
// wrapper with the original signature; every use is redirected to it below.
void Rewriter::ShimFloatImports() {
  for (Index i = 0; i < m_.num_func_imports; ++i) {
    wabt::Func& f = *m_.funcs[i];
    if (!HasFloat(f.decl.sig)) continue;
    wabt::FuncSignature original;
    original.param_types = f.decl.sig.param_types;
    original.result_types = f.decl.sig.result_types;
    wabt::FuncSignature integer = IntegerSignature(original);
    f.decl.has_func_type = true;
    f.decl.type_var = IndexVar(FindOrAddFuncType(integer));
    f.decl.sig = integer;
    redirect_[i] = AppendAdapter(i, original, integer);
  }
}

void Rewriter::ShimFloatExports() {
  std::unordered_map<Index, Index> shims;  // function -> its integer shim
  // Only the module's own exports (the added ones carry no floats).
  const size_t n = m_.exports.size();
  for (size_t k = 0; k < n; ++k) {
    const wabt::Export& e = *m_.exports[k];
    if (e.kind != wabt::ExternalKind::Func) continue;
    const Index func = m_.GetFuncIndex(e.var);
    const wabt::FuncSignature& sig = m_.funcs[func]->decl.sig;
    if (!HasFloat(sig)) continue;
    auto [it, added] = shims.try_emplace(func, 0);
    if (added) {
      wabt::FuncSignature original;
      original.param_types = sig.param_types;
      original.result_types = sig.result_types;
      it->second = AppendAdapter(func, IntegerSignature(original), original);
    }
    // AddExport appends to m_.exports: copy the name first.
    std::string original_name = m_.exports[k]->name;
    out_.integer_exports[original_name] = AddExport(fmt::format("__wow_i_{}", k), wabt::ExternalKind::Func, it->second);
  }
}

Index Rewriter::Redirected(Index func) const {
  auto it = redirect_.find(func);
  return it == redirect_.end() ? func : it->second;
}

void Rewriter::RedirectVar(wabt::Var& var) const {
  if (redirect_.empty()) return;
  Index to = Redirected(m_.GetFuncIndex(var));
  if (to != var.index()) var.set_index(to);
}

// memory.grow -> call $grow; uses of a float import -> its wrapper.
// Recurses once per nesting level, as wabt's writer does afterwards: bounded
// by ModuleLimits::max_nesting_depth, which ParseModule checked.
void Rewriter::RewriteExprs(wabt::ExprList& exprs) {
  for (auto it = exprs.begin(); it != exprs.end();) {
    wabt::Expr& e = *it;
    switch (e.type()) {
      case wabt::ExprType::MemoryGrow: {
        if (grow_) {
          auto call = std::make_unique<wabt::CallExpr>(IndexVar(*grow_), e.loc);
          it = exprs.erase(it);
          exprs.insert(it, std::move(call));
          continue;
        }
        break;
      }
      case wabt::ExprType::TableGrow: {
        Index table = m_.GetTableIndex(wabt::cast<wabt::TableGrowExpr>(&e)->var);
        if (table < table_grows_.size()) {
          auto call = std::make_unique<wabt::CallExpr>(IndexVar(table_grows_[table]), e.loc);
          it = exprs.erase(it);
          exprs.insert(it, std::move(call));
          continue;
        }
        break;
      }
      case wabt::ExprType::Call: RedirectVar(wabt::cast<wabt::CallExpr>(&e)->var); break;
      case wabt::ExprType::ReturnCall: RedirectVar(wabt::cast<wabt::ReturnCallExpr>(&e)->var); break;
      case wabt::ExprType::RefFunc: RedirectVar(wabt::cast<wabt::RefFuncExpr>(&e)->var); break;
      case wabt::ExprType::Block: RewriteExprs(wabt::cast<wabt::BlockExpr>(&e)->block.exprs); break;
      case wabt::ExprType::Loop: RewriteExprs(wabt::cast<wabt::LoopExpr>(&e)->block.exprs); break;
      case wabt::ExprType::If: {
        auto* x = wabt::cast<wabt::IfExpr>(&e);
        RewriteExprs(x->true_.exprs);
        RewriteExprs(x->false_);
        break;
      }
      case wabt::ExprType::Try: {
        auto* x = wabt::cast<wabt::TryExpr>(&e);
        RewriteExprs(x->block.exprs);
        for (wabt::Catch& c : x->catches) RewriteExprs(c.exprs);
        break;
      }
      default: break;
    }
    ++it;
  }
}

Result<RewrittenModule> Rewriter::Run() {
  if (m_.memories.size() > 1) return Unsupported("modules with several memories are not supported");
  if (!m_.memories.empty() && m_.memories[0]->page_limits.is_64) {
    return Unsupported("64-bit memories are not supported");
  }
  for (const wabt::Export* e : m_.exports) export_names_.insert(e->name);
  const Index num_funcs = static_cast<Index>(m_.funcs.size());

  // Appended items first; the original code is rewritten afterwards, so the
  // wrappers' own `call $import` and $grow's memory.grow stay as they are.
  const bool limited = !m_.memories.empty() || !m_.tables.empty();
  if (limited) {
    uint64_t table_bytes = 0;
    for (const wabt::Table* t : m_.tables) table_bytes += t->elem_limits.initial * ElementBytes(*t);
    limit_global_ = AppendGlobal(wabt::Type::I64, kNoLimitBytes);
    hit_global_ = AppendGlobal(wabt::Type::I32, 0);
    tables_global_ = AppendGlobal(wabt::Type::I64, table_bytes);
  }
  if (!m_.memories.empty()) grow_ = AppendGrow(*m_.memories[0]);
  for (Index t = 0; t < m_.tables.size(); ++t) table_grows_.push_back(AppendTableGrow(t));
  if (options_.float_shims) ShimFloatImports();

  for (Index i = m_.num_func_imports; i < num_funcs; ++i) RewriteExprs(m_.funcs[i]->exprs);
  for (wabt::ElemSegment* seg : m_.elem_segments) {
    for (wabt::ExprList& elem : seg->elem_exprs) RewriteExprs(elem);
  }
  for (wabt::Global* g : m_.globals) RewriteExprs(g->init_expr);
  for (wabt::Export* e : m_.exports) {
    if (e->kind == wabt::ExternalKind::Func) RedirectVar(e->var);
  }

  if (!m_.starts.empty()) {
    const Index start = Redirected(m_.GetFuncIndex(*m_.starts[0]));
    for (auto it = m_.fields.begin(); it != m_.fields.end(); ++it) {
      if (it->type() == wabt::ModuleFieldType::Start) {
        m_.fields.erase(it);
        break;
      }
    }
    m_.starts.clear();
    out_.start_export = AddExport("__wow_start", wabt::ExternalKind::Func, start);
  }

  if (!m_.memories.empty()) {
    for (const wabt::Export* e : m_.exports) {
      if (e->kind == wabt::ExternalKind::Memory) {
        out_.memory_export = e->name;
        break;
      }
    }
    if (out_.memory_export.empty()) out_.memory_export = AddExport("__wow_memory", wabt::ExternalKind::Memory, 0);
  }
  if (limited) {
    out_.limit_global = AddExport("__wow_limit", wabt::ExternalKind::Global, limit_global_);
    out_.hit_global = AddExport("__wow_limit_hit", wabt::ExternalKind::Global, hit_global_);
  }

  if (options_.float_shims) ShimFloatExports();

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options;
  write_options.features = SupportedFeatures();
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &m_, write_options))) {
    return Status::Error(Code::kInternal, Phase::kCompilation, "cannot encode the rewritten module");
  }
  out_.bytes = std::move(stream.output_buffer().data);
  return std::move(out_);
}

}  // namespace

Result<RewrittenModule> RewriteForEngine(std::span<const uint8_t> wasm, const RewriteOptions& options) {
  WOW_ASSIGN_OR_RETURN(ParsedModule parsed, ParseModule(wasm));
  return RewriteForEngine(parsed, options);
}

Result<RewrittenModule> RewriteForEngine(ParsedModule& parsed, const RewriteOptions& options) {
  return Rewriter(*parsed.ir, options).Run();
}

}  // namespace wow::wasm::rewrite
