#include "wasm/aot/c_codegen.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "wabt/apply-names.h"
#include "wabt/c-writer.h"
#include "wabt/generate-names.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wasm/aot/artifact_info.h"
#include "wasm/aot/glue_abi.h"

namespace wow::wasm::aot {
namespace {

constexpr char kModuleName[] = "m";

const char* CType(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return "u32";
    case wabt::Type::I64: return "u64";
    case wabt::Type::F32: return "f32";
    case wabt::Type::F64: return "f64";
    default: return nullptr;
  }
}

bool AllNumeric(const wabt::TypeVector& types) {
  for (auto t : types) {
    if (CType(t) == nullptr) return false;
  }
  return true;
}

// C expression converting raw slot `slot` to a value of type t.
std::string FromSlot(wabt::Type t, const std::string& slot) {
  switch (t) {
    case wabt::Type::I32: return fmt::format("(u32){}", slot);
    case wabt::Type::I64: return fmt::format("(u64){}", slot);
    case wabt::Type::F32: return fmt::format("wow_bits_to_f32({})", slot);
    case wabt::Type::F64: return fmt::format("wow_bits_to_f64({})", slot);
    default: return "0";
  }
}

// C expression converting value `expr` of type t to a raw slot.
std::string ToSlot(wabt::Type t, const std::string& expr) {
  switch (t) {
    case wabt::Type::I32: return fmt::format("(uint64_t)(u32)({})", expr);
    case wabt::Type::I64: return fmt::format("(uint64_t)({})", expr);
    case wabt::Type::F32: return fmt::format("wow_f32_to_bits({})", expr);
    case wabt::Type::F64: return fmt::format("wow_f64_to_bits({})", expr);
    default: return "0";
  }
}

char SigChar(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return 'i';
    case wabt::Type::I64: return 'I';
    case wabt::Type::F32: return 'f';
    case wabt::Type::F64: return 'F';
    default: return '?';
  }
}

// "params:results", e.g. "ii:i" for (i32, i32) -> i32. See glue_abi.h.
std::string SigString(const wabt::FuncSignature& sig) {
  std::string out;
  for (auto t : sig.param_types) out += SigChar(t);
  out += ':';
  for (auto t : sig.result_types) out += SigChar(t);
  return out;
}

// A C string literal for arbitrary bytes (each byte hex-escaped in its own
// literal so a following digit is never absorbed).
std::string CStringLiteral(std::string_view bytes) {
  if (bytes.empty()) return "\"\"";
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("\"\\x{:02x}\" ", c);
  return out;
}

constexpr char kGluePrelude[] = R"(
/* ---- wow glue (generated) ---- */
typedef struct {
  const char* name;
  const char* sig;
  void (*call)(void* instance, const uint64_t* args, uint64_t* results);
} wow_glue_export_t;

typedef struct {
  const char* module;
  const char* name;
  const char* sig;
} wow_glue_import_t;

typedef struct {
  uint32_t abi_version;
  uint32_t instance_size;
  void (*init_module)(void);
  void (*instantiate)(void* instance, void* host);
  void (*free_instance)(void* instance);
  wasm_rt_memory_t* (*memory)(void* instance);
  uint32_t num_exports;
  const wow_glue_export_t* exports;
  uint32_t num_imports;
  const wow_glue_import_t* imports;
  const char* module_info_json;
} wow_glue_module_t;

extern void wow_host_call(void* host, uint32_t index, const uint64_t* args, uint64_t* results);

static inline f32 wow_bits_to_f32(uint64_t bits) { u32 b = (u32)bits; f32 v; memcpy(&v, &b, 4); return v; }
static inline f64 wow_bits_to_f64(uint64_t bits) { f64 v; memcpy(&v, &bits, 8); return v; }
static inline uint64_t wow_f32_to_bits(f32 v) { u32 b; memcpy(&b, &v, 4); return b; }
static inline uint64_t wow_f64_to_bits(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }
)";

// ---------------------------------------------------------------------------
// Memory accesses.
//
// A Wasm load that is out of bounds traps even when its value is never used,
// and with guard pages the trap is the hardware fault of the load itself. So
// the C compiler must never delete a load: wasm2c 1.0.32 ends each one with
// `asm("" :: "r"(value))` ("force_read"), which needs the value in a register
// and therefore the load. We keep that for every load, with two changes:
//
// 1. Read-modify-write. force_read also stops the compiler from folding a load
//    and a store into one `or %reg, (mem)`; for a sieve's inner loop
//    (`bits[i / 64] |= 1 << (i % 64)`) that, and the memory base reloaded from
//    the instance after every store, cost about a third of its speed.
//    FuseReadModifyWrites() finds, in wasm2c's straight-line code, a load whose
//    value is combined by one add/sub/and/or/xor with another value and stored
//    back to the same address with the same width, with nothing in between
//    that could trap, call or store. It replaces the three statements with one
//    volatile asm instruction (x86-64, e.g. `orq %reg, (base,addr)`) that reads
//    and writes exactly those bytes: it cannot be deleted, it faults exactly
//    when the load would have (the store would fault on the same bytes), and
//    nothing observable happens between the load and the store of the Wasm
//    code. Elsewhere it expands to the load and the store it replaced.
//    A function with such an instruction reads the memory base once, after
//    FUNC_PROLOGUE, and the fused instructions use that copy. This relies on
//    wow's runtime never moving an instance's memory: a pooled slot reserves
//    the whole 8 GiB and memory.grow only makes more of it accessible
//    (aot_runtime.cc wasm_rt_grow_memory, memory_pool.cc). Only fused
//    accesses use the copy: caching the base for every access in every
//    function measured 13% slower on hash (register pressure) and no faster
//    than this on prime.
// 2. f32/f64 loads take force_read in an SSE register ("x"), like later wabt
//    (PR 2808): "r" made GCC copy every loaded float into a general register.
//
// Not a different force_read: "g", "rm" or "X" constraints, or an asm naming
// the loaded location as an "m" operand, let GCC pass the memory operand
// without reading it, and dead out-of-bounds loads stopped trapping (the
// DeadLoads* engine tests failed). A volatile load, a separate probe access or
// forcing the value into memory keep the trap but are no faster or slower.

// The last of wasm2c's DEFINE_STORE lines; our definitions follow it.
constexpr std::string_view kMemoryPreludeAnchor = "DEFINE_STORE(i64_store32, u32, u64)\n";

constexpr std::string_view kMemoryPrelude = R"(
/* ---- wow: memory accesses (see src/wasm/aot/c_codegen.cc) ---- */
#if !WABT_BIG_ENDIAN && defined(__GNUC__) && defined(__x86_64__) && WASM_RT_MEMCHECK_SIGNAL_HANDLER
#define WOW_X86_64_GUARD_PAGES 1
#else
#define WOW_X86_64_GUARD_PAGES 0
#endif

#if WOW_X86_64_GUARD_PAGES
#define WOW_DEFINE_FLOAT_LOAD(name, t)                           \
  static inline t wow_##name(wasm_rt_memory_t* mem, u64 addr) {  \
    MEMCHECK(mem, addr, t);                                      \
    t result;                                                    \
    wasm_rt_memcpy(&result, &mem->data[addr], sizeof(t));        \
    __asm__("" ::"x"(result));                                   \
    return result;                                               \
  }
WOW_DEFINE_FLOAT_LOAD(f32_load, f32)
WOW_DEFINE_FLOAT_LOAD(f64_load, f64)
#define f32_load wow_f32_load
#define f64_load wow_f64_load

/* WOW_RMW<bits>(op, c_op, load, store, mem, base, addr, v):
   store(mem, addr, load(mem, addr) c_op v) as one instruction; `base` is
   mem->data, read at the top of the function. */
#define WOW_RMW(insn, ut, mod, base, addr, v)                      \
  do {                                                             \
    typedef ut __attribute__((may_alias, aligned(1))) wow_rmw_t;   \
    __asm__ volatile(insn " %" mod "1, %0"                         \
                     : "+m"(*(wow_rmw_t*)&(base)[addr])            \
                     : "r"((ut)(v))                                \
                     : "cc");                                      \
  } while (0)
#define WOW_RMW8(op, c_op, load, store, mem, base, addr, v) WOW_RMW(#op "b", u8, "b", base, addr, v)
#define WOW_RMW16(op, c_op, load, store, mem, base, addr, v) WOW_RMW(#op "w", u16, "w", base, addr, v)
#define WOW_RMW32(op, c_op, load, store, mem, base, addr, v) WOW_RMW(#op "l", u32, "k", base, addr, v)
#define WOW_RMW64(op, c_op, load, store, mem, base, addr, v) WOW_RMW(#op "q", u64, "q", base, addr, v)
#else
#define WOW_RMW8(op, c_op, load, store, mem, base, addr, v) store(mem, addr, load(mem, addr) c_op (v))
#define WOW_RMW16 WOW_RMW8
#define WOW_RMW32 WOW_RMW8
#define WOW_RMW64 WOW_RMW8
#endif
/* ---- end of wow: memory accesses ---- */
)";

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \r\n");
  return s.substr(b, e - b + 1);
}

bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The C identifier at the start of `s` (empty if there is none).
std::string_view ReadIdent(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && IsIdentChar(s[n])) ++n;
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return {};
  return s.substr(0, n);
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Whether `text` mentions identifier `id` as a whole word.
bool Mentions(std::string_view text, std::string_view id) {
  for (size_t at = text.find(id); at != std::string_view::npos; at = text.find(id, at + 1)) {
    bool left = at == 0 || !IsIdentChar(text[at - 1]);
    bool right = at + id.size() >= text.size() || !IsIdentChar(text[at + id.size()]);
    if (left && right) return true;
  }
  return false;
}

// Whether an expression may call a function or a macro (which may trap): an
// identifier directly followed by '('. Casts such as (u64)(x) are not calls.
bool MayCall(std::string_view expr) {
  for (size_t i = 0; i + 1 < expr.size(); ++i) {
    if (expr[i + 1] == '(' && IsIdentChar(expr[i])) return true;
  }
  return false;
}

struct IntAccess {
  std::string_view name;
  int bytes;
  bool i64;  // the value is an i64 (else an i32)
};
constexpr IntAccess kIntLoads[] = {
    {"i32_load", 4, false},     {"i64_load", 8, true},      {"i32_load8_s", 1, false}, {"i32_load8_u", 1, false},
    {"i32_load16_s", 2, false}, {"i32_load16_u", 2, false}, {"i64_load8_s", 1, true},  {"i64_load8_u", 1, true},
    {"i64_load16_s", 2, true},  {"i64_load16_u", 2, true},  {"i64_load32_s", 4, true}, {"i64_load32_u", 4, true},
};
constexpr IntAccess kIntStores[] = {
    {"i32_store", 4, false}, {"i64_store", 8, true},   {"i32_store8", 1, false}, {"i32_store16", 2, false},
    {"i64_store8", 1, true}, {"i64_store16", 2, true}, {"i64_store32", 4, true},
};

// An integer memory access as wasm2c writes it:
//   [dest = ]name(&instance->mem, (u64)(addr)[ + offset[u]][, value]);
struct Access {
  const IntAccess* kind = nullptr;
  std::string_view dest;      // loads
  std::string_view mem;       // "&instance->w2c_memory"
  std::string_view addr;      // the address variable
  std::string_view offset;    // decimal digits, empty for none
  std::string_view value;     // stores
  std::string_view location;  // "(u64)(addr)[ + offset]" as written
};

// Parses a trimmed statement as an integer load (`is_store` false) or store.
bool ParseAccess(std::string_view s, bool is_store, Access* out) {
  Access a;
  if (!is_store) {
    a.dest = ReadIdent(s);
    if (a.dest.empty() || !StartsWith(s.substr(a.dest.size()), " = ")) return false;
    s.remove_prefix(a.dest.size() + 3);
  }
  std::string_view name = ReadIdent(s);
  for (const auto& k : is_store ? std::span<const IntAccess>(kIntStores) : std::span<const IntAccess>(kIntLoads)) {
    if (k.name == name) a.kind = &k;
  }
  if (a.kind == nullptr) return false;
  s.remove_prefix(name.size());
  if (!StartsWith(s, "(&instance->")) return false;
  s.remove_prefix(1);
  size_t comma = s.find(", ");
  if (comma == std::string_view::npos) return false;
  a.mem = s.substr(0, comma);
  if (ReadIdent(a.mem.substr(11)).size() != a.mem.size() - 11) return false;  // "&instance->" + identifier
  s.remove_prefix(comma + 2);
  const char* loc_begin = s.data();
  if (!StartsWith(s, "(u64)(")) return false;
  s.remove_prefix(6);
  a.addr = ReadIdent(s);
  if (a.addr.empty()) return false;
  s.remove_prefix(a.addr.size());
  if (!StartsWith(s, ")")) return false;
  s.remove_prefix(1);
  if (StartsWith(s, " + ")) {
    s.remove_prefix(3);
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0) return false;
    a.offset = s.substr(0, n);
    s.remove_prefix(n);
    if (StartsWith(s, "u")) s.remove_prefix(1);
  }
  a.location = std::string_view(loc_begin, static_cast<size_t>(s.data() - loc_begin));
  if (is_store) {
    if (!StartsWith(s, ", ")) return false;
    s.remove_prefix(2);
    a.value = ReadIdent(s);
    if (a.value.empty()) return false;
    s.remove_prefix(a.value.size());
  }
  if (s != ");") return false;
  *out = a;
  return true;
}

// A statement `dest op rhs;` with op one of = += -= *= &= |= ^= <<= >>= /= %=.
struct Assignment {
  std::string_view dest, op, rhs;
};
bool ParseAssignment(std::string_view s, Assignment* out) {
  Assignment a;
  a.dest = ReadIdent(s);
  if (a.dest.empty() || s.size() < a.dest.size() + 4 || s[a.dest.size()] != ' ' || s.back() != ';') return false;
  std::string_view rest = s.substr(a.dest.size() + 1);
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return false;
  a.op = rest.substr(0, sp);
  static constexpr std::string_view kOps[] = {"=", "+=", "-=", "*=", "&=", "|=", "^=", "<<=", ">>=", "/=", "%="};
  bool known = false;
  for (auto op : kOps) known |= a.op == op;
  if (!known) return false;
  a.rhs = rest.substr(sp + 1, rest.size() - sp - 2);
  // No assignment, increment or decrement inside the right-hand side.
  if (a.rhs.find("++") != std::string_view::npos || a.rhs.find("--") != std::string_view::npos) return false;
  for (size_t at = a.rhs.find('='); at != std::string_view::npos; at = a.rhs.find('=', at + 2)) {
    bool comparison = at + 1 < a.rhs.size() && a.rhs[at + 1] == '=';
    comparison |= at > 0 && (a.rhs[at - 1] == '!' || a.rhs[at - 1] == '<' || a.rhs[at - 1] == '>');
    if (!comparison) return false;
  }
  *out = a;
  return true;
}

// The local that holds `mem`'s base in a function with fused accesses:
// "&instance->w2c_memory" -> "wow_base_w2c_memory".
std::string BaseName(std::string_view mem) { return fmt::format("wow_base_{}", mem.substr(11)); }

// Item 1 of "Memory accesses". Works on wasm2c 1.0.32's function bodies: one
// statement per line, each Wasm instruction a statement on numbered stack
// temporaries (w2c_i0, w2c_j1, ...; declared right after `FUNC_PROLOGUE;`,
// while locals and parameters, declared before it, may have any name). A
// temporary's value is dead once the instruction that pops it has run. The
// pattern, in one straight-line stretch (no label, brace or jump in it):
//   T = load(mem, (u64)(A) + k);   T a temporary
//   ...                            no call, store or trapping operation; T unused
//   X op= Y;                       op one of + - & | ^, T being X or (not for -) Y
//   store(mem, (u64)(B) + k, X);   same width; B has the same value as A had
// Copies and assignments are numbered (copies share a number) to prove that
// B holds the value A held. Anything not understood ends the stretch.
std::string FuseReadModifyWrites(const std::string& source) {
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < source.size();) {
    size_t nl = source.find('\n', pos);
    size_t end = nl == std::string::npos ? source.size() : nl + 1;
    lines.emplace_back(source.data() + pos, end - pos);
    pos = end;
  }

  struct Candidate {  // a load whose temporary has not been touched since
    size_t line;
    Access load;
    int addr_vn;
  };
  struct Combine {  // `x op= y` (on line `line`) combining a candidate with another value
    size_t line;
    Candidate cand;
    std::string_view result, other, op;
  };
  struct Rewrite {
    size_t load_line, op_line, store_line;
    std::string text;
  };
  std::vector<Rewrite> rewrites;

  std::map<size_t, std::set<std::string_view>> bases;  // FUNC_PROLOGUE line -> memories used by fused accesses
  size_t prologue_line = 0;
  bool in_function = false, reading_temps = false;
  std::set<std::string_view> temps;
  std::map<std::string_view, int> vn;  // value numbers
  int next_vn = 0;
  std::vector<Candidate> cands;
  std::vector<Combine> combines;  // from the previous statement; both operands may be candidates
  auto value_of = [&](std::string_view var) {
    auto [it, inserted] = vn.try_emplace(var, next_vn);
    if (inserted) ++next_vn;
    return it->second;
  };
  auto reset = [&] {
    vn.clear();
    cands.clear();
    combines.clear();
  };
  auto drop_mentioned = [&](std::string_view text) {
    std::erase_if(cands, [&](const Candidate& c) { return Mentions(text, c.load.dest); });
  };

  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    if (!in_function) {
      // wasm2c starts a function definition at column 0 and ends it with "}".
      if (!raw.empty() && raw[0] != ' ' && raw[0] != '#' && Trim(raw).ends_with(") {")) {
        in_function = true;
        reading_temps = false;
        temps.clear();
        reset();
      }
      continue;
    }
    if (StartsWith(raw, "}")) {
      in_function = false;
      continue;
    }
    std::string_view s = Trim(raw);
    if (s == "FUNC_PROLOGUE;") {
      prologue_line = i;
      reading_temps = true;
      reset();
      continue;
    }
    if (reading_temps) {
      // e.g. "u32 w2c_i0, w2c_i1;" (locals, before the prologue, have "= 0").
      bool decl = false;
      for (std::string_view type : {"u32 ", "u64 ", "f32 ", "f64 ", "v128 "}) decl |= StartsWith(s, type);
      if (decl && s.ends_with(";") && s.find('=') == std::string_view::npos) {
        std::string_view names = s.substr(s.find(' ') + 1);
        while (!names.empty()) {
          std::string_view id = ReadIdent(names);
          if (id.empty()) break;
          temps.insert(id);
          names.remove_prefix(id.size());
          while (!names.empty() && (names[0] == ',' || names[0] == ' ' || names[0] == ';')) names.remove_prefix(1);
        }
        continue;
      }
      reading_temps = false;
    }

    std::vector<Combine> previous;
    previous.swap(combines);

    Access acc;
    if (ParseAccess(s, /*is_store=*/true, &acc)) {
      for (const Combine& p : previous) {
        const Access& load = p.cand.load;
        if (p.result != acc.value || acc.mem != load.mem || acc.kind->bytes != load.kind->bytes ||
            acc.kind->i64 != load.kind->i64 || acc.offset != load.offset || value_of(acc.addr) != p.cand.addr_vn) {
          continue;
        }
        std::string_view indent = raw.substr(0, raw.find_first_not_of(' '));
        const char* insn = p.op == "+="   ? "add"
                           : p.op == "-=" ? "sub"
                           : p.op == "&=" ? "and"
                           : p.op == "|=" ? "or"
                                          : "xor";
        rewrites.push_back({p.cand.line, p.line, i,
                            fmt::format("{}WOW_RMW{}({}, {}, {}, {}, {}, {}, {}, {});\n", indent, acc.kind->bytes * 8,
                                        insn, p.op.substr(0, 1), load.kind->name, acc.kind->name, acc.mem,
                                        BaseName(acc.mem), acc.location, p.other)});
        bases[prologue_line].insert(acc.mem);
        break;
      }
      cands.clear();  // nothing may be stored between a fused load and its store
      continue;
    }
    if (ParseAccess(s, /*is_store=*/false, &acc)) {
      // Another load may come in between: if both are out of bounds, the
      // trap is the same.
      int addr_vn = value_of(acc.addr);
      drop_mentioned(s);
      vn[acc.dest] = next_vn++;
      if (temps.count(acc.dest) != 0) cands.push_back({i, acc, addr_vn});
      continue;
    }
    Assignment as;
    if (ParseAssignment(s, &as)) {
      if (as.op == "+=" || as.op == "-=" || as.op == "&=" || as.op == "|=" || as.op == "^=") {
        std::string_view y = ReadIdent(as.rhs);
        if (y.size() == as.rhs.size() && y != as.dest && temps.count(as.dest) != 0) {
          for (const Candidate& c : cands) {
            if (c.load.dest == as.dest || (as.op != "-=" && c.load.dest == y)) {
              combines.push_back({i, c, as.dest, c.load.dest == as.dest ? y : as.dest, as.op});
            }
          }
        }
      }
      bool pure = as.op != "/=" && as.op != "%=" && !MayCall(as.rhs);
      if (!pure) cands.clear();
      drop_mentioned(s);
      if (as.op == "=" && ReadIdent(as.rhs).size() == as.rhs.size()) {
        vn[as.dest] = value_of(as.rhs);  // a copy
      } else {
        vn[as.dest] = next_vn++;
      }
      continue;
    }
    reset();  // labels, jumps, braces, calls without a result, global.set, ...
  }

  if (rewrites.empty()) return source;
  std::vector<const std::string*> replaced(lines.size(), nullptr);
  std::vector<bool> removed(lines.size(), false);
  for (const auto& r : rewrites) {
    removed[r.load_line] = true;
    removed[r.store_line] = true;
    replaced[r.op_line] = &r.text;
  }
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (removed[i]) continue;
    out += replaced[i] != nullptr ? std::string_view(*replaced[i]) : lines[i];
    auto b = bases.find(i);
    if (b == bases.end()) continue;
    for (std::string_view mem : b->second) {
      out += fmt::format("  u8* const {} = ({})->data;\n", BaseName(mem), mem);
    }
  }
  return out;
}

// Applies "Memory accesses" to wasm2c's output; leaves it as it is if the
// prelude does not look as expected.
void OptimizeMemoryAccesses(std::string& source) {
  size_t anchor = source.find(kMemoryPreludeAnchor);
  if (anchor == std::string::npos || source.find(kMemoryPreludeAnchor, anchor + 1) != std::string::npos) return;
  size_t insert_at = anchor + kMemoryPreludeAnchor.size();
  source = source.substr(0, insert_at) + std::string(kMemoryPrelude) + FuseReadModifyWrites(source.substr(insert_at));
}

// ---------------------------------------------------------------------------
// Imported functions in element segments.
//
// wasm2c 1.0.32 writes an imported function in an element segment as
//   {type, (wasm_rt_function_ptr_t)Z_envZ_f, offsetof(Z_m_instance_t, Z_env_instance)},
// and funcref_table_init stores `(char*)instance + offset` as the callee's
// instance: the address of the module's pointer to the import's instance,
// not that pointer (ref.func gets it right). call_indirect through such a
// slot handed the import trampoline a pointer into the module instance as its
// host, and wow_host_call read a GuestContext there. Each such entry is
// rewritten to name a thunk that takes the module instance, as functions the
// module defines do, and calls the import with the pointer itself.

constexpr std::string_view kElemSegmentsAnchor = "\nstatic const wasm_elem_segment_expr_t elem_segment_exprs_";

// Applies the rewrite to wasm2c's `source` for module instance type
// `mod`_instance_t. An entry left in the old form is an error.
Status FixImportsInElemSegments(const wabt::Module& m, const std::string& mod, std::string& source) {
  struct Rewrite {
    std::string from, to, thunk;  // `thunk` defines the function `to` names
    bool used = false;
  };
  std::vector<Rewrite> rewrites;
  std::set<std::string> seen;
  for (const wabt::Import* imp : m.imports) {
    std::string callee = MangleName(imp->module_name) + MangleName(imp->field_name);
    if (!seen.insert(callee).second) continue;
    std::string import_instance = MangleName(imp->module_name) + "_instance";
    std::string name = "wow_elem_" + callee;
    const auto& sig = static_cast<const wabt::FuncImport*>(imp)->func.decl.sig;  // all numeric, at most one result
    std::string params = "void* instance", args = fmt::format("(({}_instance_t*)instance)->{}", mod, import_instance);
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      params += fmt::format(", {} a{}", CType(sig.param_types[i]), i);
      args += fmt::format(", a{}", i);
    }
    rewrites.push_back(
        {fmt::format("(wasm_rt_function_ptr_t){}, offsetof({}_instance_t, {})}}", callee, mod, import_instance),
         fmt::format("(wasm_rt_function_ptr_t){}, 0}}", name),
         fmt::format("static {} {}({}) {{ {}{}({}); }}\n",
                     sig.result_types.empty() ? "void" : CType(sig.result_types[0]), name, params,
                     sig.result_types.empty() ? "" : "return ", callee, args)});
  }

  size_t first = source.find(kElemSegmentsAnchor);
  for (size_t begin = first; begin != std::string::npos; begin = source.find(kElemSegmentsAnchor, begin + 1)) {
    size_t end = source.find("\n};", begin);
    if (end == std::string::npos) end = source.size();
    for (Rewrite& r : rewrites) {
      for (size_t at = source.find(r.from, begin); at < end; at = source.find(r.from, at + r.to.size())) {
        source.replace(at, r.from.size(), r.to);
        end = end - r.from.size() + r.to.size();
        r.used = true;
      }
    }
    if (source.substr(begin, end - begin).find("offsetof(") != std::string::npos) {
      return Status::Error(Code::kInternal, Phase::kCompilation,
                           "wasm2c wrote an element segment entry the AoT compiler does not know");
    }
  }
  std::string thunks;
  for (const Rewrite& r : rewrites) {
    if (r.used) thunks += r.thunk;
  }
  if (!thunks.empty()) {
    source.insert(first + 1, "/* wow: imported functions in element segments (see c_codegen.cc) */\n" + thunks);
  }
  return Status::Ok();
}

}  // namespace

std::string MangleName(std::string_view name) {
  std::string out = "Z_";
  for (unsigned char c : name) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if ((alnum && c != 'Z') || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("Z{:02X}", c);
    }
  }
  return out;
}

Result<GeneratedC> GenerateC(ParsedModule& parsed) {
  wabt::Module& m = *parsed.ir;
  const std::string mod = MangleName(kModuleName);  // "Z_m"

  // Only function imports are linked by the host.
  WOW_RETURN_IF_ERROR(CheckImportsBindable(parsed));
  std::set<std::string> import_modules;
  for (const wabt::Import* imp : m.imports) import_modules.insert(imp->module_name);

  // The host must see the module's memory even when it is not exported
  // (HostCall::memory); export it under a name no one else uses.
  std::string hidden_memory_export;
  if (!m.memories.empty()) {
    bool exported = false;
    for (const wabt::Export* exp : m.exports) exported |= exp->kind == wabt::ExternalKind::Memory;
    if (!exported) {
      hidden_memory_export = "__wow_memory";
      while (m.GetExport(hidden_memory_export) != nullptr) hidden_memory_export += "_";
      auto field = std::make_unique<wabt::ExportModuleField>();
      field->export_.name = hidden_memory_export;
      field->export_.kind = wabt::ExternalKind::Memory;
      field->export_.var = wabt::Var(0, wabt::Location());
      m.AppendField(std::move(field));
    }
  }

  if (wabt::Failed(wabt::GenerateNames(&m)) || wabt::Failed(wabt::ApplyNames(&m))) {
    return Status::Error(Code::kInternal, Phase::kCompilation, "wabt could not name the module's items");
  }

  wabt::MemoryStream c_stream;
  wabt::MemoryStream h_stream;
  wabt::WriteCOptions options;
  options.module_name = kModuleName;
  if (wabt::Failed(wabt::WriteC(&c_stream, &h_stream, "module.h", &m, options))) {
    return Status::Error(Code::kCompileError, Phase::kCompilation, "wasm2c could not translate the module");
  }
  GeneratedC out;
  const auto& cbuf = c_stream.output_buffer().data;
  const auto& hbuf = h_stream.output_buffer().data;
  out.source.assign(cbuf.begin(), cbuf.end());
  out.header.assign(hbuf.begin(), hbuf.end());
  OptimizeMemoryAccesses(out.source);
  WOW_RETURN_IF_ERROR(FixImportsInElemSegments(m, mod, out.source));

  std::string glue = kGluePrelude;

  // Import trampolines: wasm2c declares them; we define them.
  uint32_t import_index = 0;
  for (const wabt::Import* imp : m.imports) {
    auto* fi = static_cast<const wabt::FuncImport*>(imp);
    const auto& sig = fi->func.decl.sig;
    std::string ret = sig.result_types.empty() ? "void" : CType(sig.result_types[0]);
    std::string params = fmt::format("struct {}_instance_t* host", MangleName(imp->module_name));
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      params += fmt::format(", {} a{}", CType(sig.param_types[i]), i);
    }
    glue += fmt::format("{} {}{}({}) {{\n", ret, MangleName(imp->module_name), MangleName(imp->field_name), params);
    glue += fmt::format("  uint64_t args[{}];\n  uint64_t results[1] = {{0}};\n",
                        std::max<size_t>(1, sig.param_types.size()));
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      glue += fmt::format("  args[{}] = {};\n", i, ToSlot(sig.param_types[i], fmt::format("a{}", i)));
    }
    glue += fmt::format("  wow_host_call((void*)host, {}u, args, results);\n", import_index);
    if (!sig.result_types.empty()) glue += fmt::format("  return {};\n", FromSlot(sig.result_types[0], "results[0]"));
    glue += "}\n";
    ++import_index;
  }

  // Export trampolines for callable function exports.
  struct ExportEntry {
    std::string name, sig, trampoline;
  };
  std::vector<ExportEntry> export_entries;
  std::string memory_export;
  for (const wabt::Export* exp : m.exports) {
    if (exp->kind == wabt::ExternalKind::Memory) {
      if (memory_export.empty() || exp->name == "memory") memory_export = exp->name;
      continue;
    }
    if (exp->kind != wabt::ExternalKind::Func) continue;
    const wabt::Func* f = m.GetFunc(exp->var);
    if (f == nullptr) continue;
    const auto& sig = f->decl.sig;
    if (sig.result_types.size() > 1 || !AllNumeric(sig.param_types) || !AllNumeric(sig.result_types)) continue;
    std::string tramp = fmt::format("wow_export_{}", export_entries.size());
    std::string call = fmt::format("{}{}(({}_instance_t*)instance", mod, MangleName(exp->name), mod);
    for (size_t i = 0; i < sig.param_types.size(); ++i) {
      call += ", " + FromSlot(sig.param_types[i], fmt::format("args[{}]", i));
    }
    call += ")";
    glue += fmt::format("static void {}(void* instance, const uint64_t* args, uint64_t* results) {{\n", tramp);
    glue += "  (void)args; (void)results;\n";
    if (sig.result_types.empty()) {
      glue += fmt::format("  {};\n", call);
    } else {
      glue += fmt::format("  results[0] = {};\n", ToSlot(sig.result_types[0], call));
    }
    glue += "}\n";
    export_entries.push_back({exp->name, SigString(sig), tramp});
  }

  // Instantiate: every import module's instance pointer is the same host.
  std::string inst_args;
  for (size_t i = 0; i < import_modules.size(); ++i) inst_args += ", host";
  glue += fmt::format(
      "static void wow_instantiate(void* instance, void* host) {{\n  (void)host;\n  "
      "{}_instantiate(({}_instance_t*)instance{});\n}}\n",
      mod, mod, inst_args);
  glue += fmt::format("static void wow_free(void* instance) {{ {}_free(({}_instance_t*)instance); }}\n", mod, mod);
  if (!memory_export.empty()) {
    glue += fmt::format(
        "static wasm_rt_memory_t* wow_memory(void* instance) {{ return {}{}(({}_instance_t*)instance); }}\n", mod,
        MangleName(memory_export), mod);
  }

  glue += "static const wow_glue_export_t wow_exports[] = {\n";
  for (const auto& e : export_entries) {
    glue += fmt::format("  {{{}, \"{}\", {}}},\n", CStringLiteral(e.name), e.sig, e.trampoline);
  }
  glue += "  {0, 0, 0}\n};\n";
  glue += "static const wow_glue_import_t wow_imports[] = {\n";
  for (const wabt::Import* imp : m.imports) {
    auto* fi = static_cast<const wabt::FuncImport*>(imp);
    glue += fmt::format("  {{{}, {}, \"{}\"}},\n", CStringLiteral(imp->module_name), CStringLiteral(imp->field_name),
                        SigString(fi->func.decl.sig));
  }
  glue += "  {0, 0, 0}\n};\n";
  glue += fmt::format("static const char wow_module_info[] = {};\n", CStringLiteral(EncodeModuleInfo(parsed.info)));
  glue += fmt::format(
      "__attribute__((visibility(\"default\"))) const wow_glue_module_t wow_module_v1 = {{\n"
      "  {}u, (uint32_t)sizeof({}_instance_t), {}_init_module, wow_instantiate, wow_free, {},\n"
      "  {}u, wow_exports, {}u, wow_imports, wow_module_info\n}};\n",
      kGlueAbiVersion, mod, mod, memory_export.empty() ? "0" : "wow_memory", export_entries.size(), m.imports.size());

  out.source += glue;
  return out;
}

}  // namespace wow::wasm::aot
