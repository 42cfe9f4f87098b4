// An action's annotations and limits as the executor applies them at /init (src/executor/executor.cc,
// capability_policy.h): `dir` (the operator's --allow-dir policy and private directories), `net_access`, `memory`,
// `engine`, anything else. Input: one byte choosing limits.memory and the owner, then JSON: an object (as /init's
// value.annotations) or an array of {"key","value"} (as an action document stores them). A fixed valid module is
// loaded with them on the interpreter, then destroyed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/json.h"
#include "executor/executor.h"
#include "fuzz_util.h"

namespace {

constexpr char kModule[] = R"((module (memory (export "memory") 1) (func (export "_start"))))";

wow::executor::Executor* MakeExecutor() {
  std::filesystem::path dir = wow::fuzz::MakeTempDir("annotations");
  std::filesystem::create_directories(dir / "shared" / "inbox");
  std::filesystem::create_directories(dir / "data");
  wow::executor::ExecutorOptions options;
  options.engine = "interp";
  options.engine_options.data_dir = dir / "data";
  options.engine_options.cc = "false";  // an `engine` annotation naming aot or tiered fails fast, never compiles
  options.workers = 1;
  options.allowed_dirs = {dir / "shared"};
  auto executor = wow::executor::Executor::Create(options);
  if (!executor.ok()) {
    std::fprintf(stderr, "fuzz: %s\n", executor.status().message().c_str());
    std::abort();
  }
  return executor->release();  // never destroyed
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static wow::executor::Executor* executor = MakeExecutor();
  if (size < 1) return 0;
  auto parsed = wow::ParseJson(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (!parsed.ok()) return 0;
  wow::executor::InitRequest init;
  init.code = kModule;
  init.binary = false;
  if (data[0] & 1) init.memory_mb = 1 + (data[0] >> 2);
  if (data[0] & 2) init.owner = "guest/../../pkg/act";
  if (const auto* object = parsed->if_object()) {
    init.annotations = *object;
  } else if (const auto* array = parsed->if_array()) {
    for (const auto& a : *array) {
      const auto* o = a.if_object();
      if (o == nullptr || !o->contains("key") || !o->at("key").is_string()) return 0;  // the REST API refuses it
      init.annotations[o->at("key").as_string()] = o->contains("value") ? o->at("value") : boost::json::value();
    }
  } else {
    return 0;
  }
  auto container = executor->Init("c", init);
  executor->Destroy("c");
  return 0;
}
