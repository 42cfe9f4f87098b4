#include "wasm/aot/aot_engine.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include "wasm/aot/aot_runtime.h"
#include "wasm/aot/artifact_info.h"
#include "wasm/aot/c_codegen.h"
#include "wasm/aot/compiler.h"
#include "wasm/aot/glue_abi.h"
#include "wasm/call_checks.h"

namespace wow::wasm::aot {
namespace {

Result<FuncSig> ParseSig(const char* text) {
  FuncSig sig;
  bool results = false;
  for (const char* p = text; *p; ++p) {
    ValType t;
    switch (*p) {
      case ':': results = true; continue;
      case 'i': t = ValType::kI32; break;
      case 'I': t = ValType::kI64; break;
      case 'f': t = ValType::kF32; break;
      case 'F': t = ValType::kF64; break;
      default: return Status::Internal(fmt::format("artifact has a malformed signature '{}'", text));
    }
    (results ? sig.results : sig.params).push_back(t);
  }
  return sig;
}

// A dlopen'ed artifact; closed when the last Module using it goes.
class Artifact {
 public:
  static Result<std::shared_ptr<Artifact>> Open(const std::filesystem::path& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = ::dlerror();
      return Status::Error(Code::kLinkError, Phase::kLinking,
                           fmt::format("cannot load artifact {}: {}", path.string(), err ? err : "unknown error"));
    }
    auto* glue = static_cast<const GlueModule*>(::dlsym(handle, "wow_module_v1"));
    if (glue == nullptr || glue->abi_version != kGlueAbiVersion) {
      ::dlclose(handle);
      return Status::Error(Code::kLinkError, Phase::kLinking,
                           fmt::format("artifact {} was not built by this version of wow", path.string()));
    }
    auto artifact = std::shared_ptr<Artifact>(new Artifact(handle, glue));
    WOW_RETURN_IF_ERROR(artifact->Describe());
    glue->init_module();  // registers function types; runs no guest code
    return artifact;
  }

  ~Artifact() { ::dlclose(handle_); }

  const GlueModule& glue() const { return *glue_; }
  const ModuleInfo& info() const { return info_; }
  const std::vector<FuncSig>& export_sigs() const { return export_sigs_; }
  const GlueExport* FindExport(std::string_view name, size_t* index) const {
    auto it = exports_.find(std::string(name));
    if (it == exports_.end()) return nullptr;
    *index = it->second;
    return &glue_->exports[it->second];
  }

 private:
  Artifact(void* handle, const GlueModule* glue) : handle_(handle), glue_(glue) {}

  Status Describe() {
    WOW_ASSIGN_OR_RETURN(info_, DecodeModuleInfo(glue_->module_info_json));
    // Callable exports and their glue trampolines, by name.
    for (uint32_t i = 0; i < glue_->num_exports; ++i) {
      const GlueExport& exp = glue_->exports[i];
      WOW_ASSIGN_OR_RETURN(FuncSig sig, ParseSig(exp.sig));
      export_sigs_.push_back(std::move(sig));
      exports_.emplace(exp.name, i);
    }
    return Status::Ok();
  }

  void* handle_;
  const GlueModule* glue_;
  ModuleInfo info_;
  std::vector<FuncSig> export_sigs_;
  std::unordered_map<std::string, size_t> exports_;
};

class AotModule;

class AotMemory : public GuestMemory {
 public:
  explicit AotMemory(wasm_rt_memory_t* mem) : mem_(mem) {}
  uint8_t* base() const override { return mem_->data; }
  uint64_t size() const override { return mem_->size; }

 private:
  wasm_rt_memory_t* mem_;
};

class AotInstance : public Instance {
 public:
  AotInstance(std::shared_ptr<const AotModule> module, const Artifact& artifact, const HostFunction* const* imports,
              const InstanceOptions& options)
      : module_(std::move(module)), artifact_(artifact) {
    ctx_.budget = MemoryBudget(options.memory_limit_bytes);
    if (options.deadline) {
      // libstdc++'s steady_clock is CLOCK_MONOTONIC; never 0 (= none).
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options.deadline->time_since_epoch()).count();
      ctx_.deadline_ns = ns > 0 ? ns : 1;
    }
    ctx_.imports = imports;
    ctx_.host_call.data = options.host_data;
  }

  ~AotInstance() override {
    if (storage_ != nullptr) {
      artifact_.glue().free_instance(storage_);
      std::free(storage_);
    }
  }

  Status Init() {
    const GlueModule& glue = artifact_.glue();
    storage_ = std::calloc(1, glue.instance_size);
    if (storage_ == nullptr) {
      return Status::Error(Code::kResourceExhausted, Phase::kInstantiation, "out of memory for an instance");
    }
    if (glue.memory != nullptr) {
      memory_.emplace(glue.memory(storage_));
      ctx_.host_call.memory = &*memory_;
    }
    Status s = RunGuest(ctx_, &AotInstance::RunInstantiate, this);
    if (!s.ok()) {
      dead_ = true;
      Status failed = Status::Error(s.code(), Phase::kInstantiation, s.message());
      if (s.code() == Code::kTrap) failed = Status::Trap(s.trap(), "during instantiation: " + s.message());
      return failed;
    }
    if (ctx_.exited) {
      dead_ = true;
      return Status::Trap(TrapKind::kHostError, fmt::format("the start function called proc_exit({})", ctx_.exit_code));
    }
    return Status::Ok();
  }

  Status Call(std::string_view name, std::span<const RawValue> args, std::span<RawValue> results) override {
    size_t index = 0;
    const GlueExport* exp = dead_ ? nullptr : artifact_.FindExport(name, &index);
    WOW_RETURN_IF_ERROR(
        CheckCall(dead_, name, exp ? &artifact_.export_sigs()[index] : nullptr, args.size(), results.size()));
    call_ = {exp, args.data(), results.data(), storage_};
    Status s = RunGuest(ctx_, &AotInstance::RunCall, &call_);
    if (!s.ok()) dead_ = true;  // after proc_exit, reading results is still fine
    return s;
  }

  std::optional<int> exit_code() const override {
    if (!ctx_.exited) return std::nullopt;
    return ctx_.exit_code;
  }
  GuestMemory* memory() override { return memory_ ? &*memory_ : nullptr; }
  bool memory_limit_hit() const override { return ctx_.budget.limit_hit(); }
  std::string_view engine_name() const override { return "aot"; }

 private:
  struct PendingCall {
    const GlueExport* exp;
    const RawValue* args;
    RawValue* results;
    void* storage;
  };

  static void RunInstantiate(void* self) {
    auto* inst = static_cast<AotInstance*>(self);
    inst->artifact_.glue().instantiate(inst->storage_, &inst->ctx_);
  }
  static void RunCall(void* pending) {
    auto* c = static_cast<PendingCall*>(pending);
    c->exp->call(c->storage, c->args, c->results);
  }

  std::shared_ptr<const AotModule> module_;  // keeps the artifact loaded
  const Artifact& artifact_;
  GuestContext ctx_;
  void* storage_ = nullptr;
  std::optional<AotMemory> memory_;
  PendingCall call_{};
  bool dead_ = false;
};

class AotModule : public Module, public std::enable_shared_from_this<AotModule> {
 public:
  AotModule(std::shared_ptr<Artifact> artifact, HostFunctions host, std::vector<const HostFunction*> imports)
      : artifact_(std::move(artifact)), host_(std::move(host)), imports_(std::move(imports)) {}

  const ModuleInfo& info() const override { return artifact_->info(); }

  Result<std::unique_ptr<Instance>> Instantiate(const InstanceOptions& options) const override {
    auto instance = std::make_unique<AotInstance>(shared_from_this(), *artifact_, imports_.data(), options);
    WOW_RETURN_IF_ERROR(instance->Init());
    return std::unique_ptr<Instance>(std::move(instance));
  }

 private:
  std::shared_ptr<Artifact> artifact_;
  HostFunctions host_;  // keeps the functions in imports_ alive
  std::vector<const HostFunction*> imports_;
};

class AotEngine : public Engine {
 public:
  explicit AotEngine(const EngineOptions& options) : compiler_(options) { InitRuntime(); }

  std::string_view name() const override { return "aot"; }

  Result<PrepareInfo> Prepare(std::span<const uint8_t> wasm) override { return compiler_.Prepare(wasm); }

  ArtifactLookup LookUp(std::span<const uint8_t> wasm) {
    ArtifactLookup lookup;
    lookup.path = compiler_.ArtifactPath(compiler_.KeyFor(wasm));
    std::error_code ec;
    lookup.cached = Compiler::IsCached(lookup.path);
    return lookup;
  }

  void CancelCompiles() { compiler_.Cancel(); }

  Result<std::shared_ptr<const Module>> Load(std::span<const uint8_t> wasm, const HostFunctions& host) override {
    WOW_ASSIGN_OR_RETURN(PrepareInfo prepared, compiler_.Prepare(wasm));
    bool unverified = false;
    auto opened = OpenArtifact(prepared.artifact, &unverified);
    if (unverified) {
      // Damaged or tampered with in the cache: compile it anew, once.
      Compiler::RemoveArtifact(prepared.artifact);
      WOW_ASSIGN_OR_RETURN(prepared, compiler_.Prepare(wasm));
      opened = OpenArtifact(prepared.artifact, &unverified);
    }
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<Artifact> artifact, std::move(opened));
    WOW_ASSIGN_OR_RETURN(std::vector<const HostFunction*> imports, host.Resolve(artifact->info().imports));
    return std::shared_ptr<const Module>(std::make_shared<AotModule>(std::move(artifact), host, std::move(imports)));
  }

 private:
  // The loaded artifact at `path`, dlopen'ing it after VerifyArtifact;
  // `*unverified` says the verification refused it.
  Result<std::shared_ptr<Artifact>> OpenArtifact(const std::filesystem::path& path, bool* unverified) {
    *unverified = false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = loaded_.find(path.string());
    if (it != loaded_.end()) {
      if (auto live = it->second.lock()) return live;
    }
    // Never dlopen what this node's compiler did not write: dlopen runs the
    // object's constructors, native code as the server's user.
    if (Status verified = Compiler::VerifyArtifact(path); !verified.ok()) {
      *unverified = true;
      return verified;
    }
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<Artifact> artifact, Artifact::Open(path));
    loaded_[path.string()] = artifact;
    return artifact;
  }

  Compiler compiler_;
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<Artifact>> loaded_;
};

}  // namespace

std::unique_ptr<Engine> CreateAotEngine(const EngineOptions& options) { return std::make_unique<AotEngine>(options); }

std::optional<ArtifactLookup> LookUpArtifact(Engine& engine, std::span<const uint8_t> wasm) {
  auto* aot = dynamic_cast<AotEngine*>(&engine);
  if (aot == nullptr) return std::nullopt;
  return aot->LookUp(wasm);
}

bool CompilerRuns(const EngineOptions& options) { return Compiler(options).Runs(); }

bool CancelCompiles(Engine& engine) {
  auto* aot = dynamic_cast<AotEngine*>(&engine);
  if (aot == nullptr) return false;
  aot->CancelCompiles();
  return true;
}

}  // namespace wow::wasm::aot
