// WOW's executor protocol in process (src/protocol/executor_protocol.h): up to four requests per input against one
// ExecutorProtocol over a real Executor (interpreter engine), each through the header check (secret, body limits)
// and the handler, as `wow executor` runs them. Input: requests in fuzz_util.h's text format, the auth line being the
// X-Wow-Secret header ("none" sends none). Containers an input created are destroyed after it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "executor/executor.h"
#include "fuzz_util.h"
#include "protocol/executor_protocol.h"

namespace {

constexpr char kSecret[] = "fuzz-secret";

struct Face {
  std::unique_ptr<wow::executor::Executor> executor;
  std::unique_ptr<wow::protocol::ActionLogWriter> logs;
  std::unique_ptr<wow::protocol::ExecutorProtocol> protocol;
};

Face* MakeFace() {
  auto* face = new Face;  // never destroyed: libFuzzer exits with activations possibly running
  wow::executor::ExecutorOptions options;
  options.engine = "interp";
  options.engine_options.data_dir = wow::fuzz::MakeTempDir("executor");
  options.engine_options.cc = "false";  // an `engine` annotation naming aot or tiered fails fast, never compiles
  options.workers = 2;
  options.default_memory_mb = 16;
  options.default_timeout = std::chrono::milliseconds(200);
  options.max_time_limit = std::chrono::milliseconds(1000);
  options.max_containers = 64;
  auto executor = wow::executor::Executor::Create(options);
  if (!executor.ok()) {
    std::fprintf(stderr, "fuzz: %s\n", executor.status().message().c_str());
    std::abort();
  }
  face->executor = std::move(*executor);
  face->logs = std::make_unique<wow::protocol::ActionLogWriter>(false);
  wow::protocol::BodyLimits limits;
  limits.init_bytes = 1 << 20;
  limits.run_bytes = 64 << 10;
  face->protocol = std::make_unique<wow::protocol::ExecutorProtocol>(*face->executor, *face->logs, limits, kSecret);
  return face;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Face* face = MakeFace();
  std::set<std::string> ids;
  for (const auto& t : wow::fuzz::ParseRequests(std::string_view(reinterpret_cast<const char*>(data), size), 4)) {
    auto request = wow::fuzz::ToHttpRequest(t);
    if (!request) continue;
    if (t.auth != "none") request->set(wow::protocol::kSecretHeader, t.auth == "valid" ? kSecret : t.auth);
    // The container id, to destroy it afterwards: the first path segment (the handler decides what it means).
    if (size_t slash = t.target.find('/', 1); t.target.size() > 1 && slash != std::string::npos) {
      ids.insert(t.target.substr(1, slash - 1));
    }
    wow::http::HeaderVerdict verdict = face->protocol->CheckHeader(*request);
    if (verdict.reject) continue;
    if (verdict.body_limit && request->body().size() > *verdict.body_limit) continue;  // the server answers 413
    wow::fuzz::Answer answer;
    face->protocol->Handle(std::move(*request), answer.Responder());
    answer.Wait();
  }
  for (const auto& id : ids) face->executor->Destroy(id);
  return 0;
}
