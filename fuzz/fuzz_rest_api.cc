// OpenWhisk's REST API in process (src/protocol/rest_api.h): every route, with valid, foreign and invalid Basic
// auth, against a real store (SQLite in a temporary directory), invoker and executor (interpreter engine). Each
// request passes the header check (auth and body limit before the body) and then the handler with the check's
// context, as in `wow serve`.
// Input: up to four requests in fuzz_util.h's text format; the auth line is "valid" (the guest namespace's key),
// "other" (another namespace's key), "none" (no header), or the raw Authorization value.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/base64.h"
#include "controller/invoker.h"
#include "controller/store.h"
#include "executor/executor.h"
#include "fuzz_util.h"
#include "protocol/rest_api.h"

namespace {

const wow::controller::Subject kGuest{"23bc46b1-71f6-4ed5-8c54-816aa4f8c502", "guestkey", "guest", "guest"};
const wow::controller::Subject kOther{"0a1b2c3d-0000-4000-8000-000000000001", "otherkey", "other", "other"};

std::string BasicAuth(const wow::controller::Subject& s) { return "Basic " + wow::Base64Encode(s.uuid + ":" + s.key); }

[[noreturn]] void Fail(const wow::Status& s) {
  std::fprintf(stderr, "fuzz: %s\n", s.message().c_str());
  std::abort();
}

// Never destroyed: libFuzzer exits with activations possibly running.
struct Service {
  std::unique_ptr<wow::controller::Store> store;
  std::unique_ptr<wow::executor::Executor> executor;
  std::unique_ptr<wow::controller::Invoker> invoker;
  std::unique_ptr<wow::protocol::RestApi> api;
};

Service* MakeService() {
  auto* s = new Service;
  std::filesystem::path dir = wow::fuzz::MakeTempDir("rest");
  auto store = wow::controller::Store::Open(dir);
  if (!store.ok()) Fail(store.status());
  s->store = std::move(*store);
  for (const auto& subject : {kGuest, kOther}) {
    if (auto st = s->store->PutSubject(subject); !st.ok()) Fail(st);
  }
  wow::executor::ExecutorOptions options;
  options.engine = "interp";
  options.engine_options.data_dir = dir;
  options.engine_options.cc = "false";  // an `engine` annotation naming aot or tiered fails fast, never compiles
  options.workers = 2;
  options.default_memory_mb = 16;
  options.default_timeout = std::chrono::milliseconds(1000);
  options.max_time_limit = std::chrono::milliseconds(1000);  // a deployed limits.timeout above it is refused
  // Every PUT of a new name leaves a warm container: bounded here so that long runs stay under libFuzzer's RSS
  // limit (the defaults, 1024 containers and a 2 GiB budget, are a server's).
  options.max_containers = 32;
  auto executor = wow::executor::Executor::Create(options);
  if (!executor.ok()) Fail(executor.status());
  s->executor = std::move(*executor);
  wow::controller::InvokerOptions invoker_options;
  invoker_options.memory_budget_bytes = 512ull << 20;
  s->invoker = std::make_unique<wow::controller::Invoker>(*s->executor, *s->store, invoker_options);
  wow::protocol::RestApiOptions api_options;
  api_options.max_code_bytes = 1 << 20;
  api_options.max_blocking_wait = std::chrono::milliseconds(100);
  api_options.api_host = "http://127.0.0.1:1";
  s->api = std::make_unique<wow::protocol::RestApi>(*s->store, *s->invoker, api_options);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Service* service = MakeService();
  for (const auto& t : wow::fuzz::ParseRequests(std::string_view(reinterpret_cast<const char*>(data), size), 4)) {
    auto request = wow::fuzz::ToHttpRequest(t);
    if (!request) continue;
    if (t.auth == "valid") {
      request->set(boost::beast::http::field::authorization, BasicAuth(kGuest));
    } else if (t.auth == "other") {
      request->set(boost::beast::http::field::authorization, BasicAuth(kOther));
    } else if (t.auth != "none") {
      request->set(boost::beast::http::field::authorization, t.auth);
    }
    wow::http::HeaderVerdict verdict = service->api->CheckHeader(*request);
    if (verdict.reject) continue;
    if (verdict.body_limit && request->body().size() > *verdict.body_limit) continue;  // the server answers 413
    wow::fuzz::Answer answer;
    service->api->Handle(std::move(*request), answer.Responder(std::move(verdict.context)));
    answer.Wait();
  }
  return 0;
}
