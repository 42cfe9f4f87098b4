#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "controller/invoker.h"
#include "controller/store.h"
#include "http/server.h"

namespace wow::protocol {

struct RestApiOptions {
  size_t max_code_bytes = 48ull << 20;   // OpenWhisk's action size limit
  size_t max_params_bytes = 1ull << 20;  // parameters of an action or an invocation
  // The body of an action PUT beyond its code (parameters, annotations, limits, JSON and base64 framing): the PUT
  // body may have max_code_bytes + this (default 1 MiB).
  size_t max_action_overhead_bytes = 1ull << 20;
  // The body of every other route (default 64 KiB): none of them carries more than a small JSON object.
  size_t max_other_body_bytes = 64ull << 10;
  // What actions see as __OW_API_HOST, e.g. "http://127.0.0.1:3233".
  std::string api_host;
  // How long a blocking invocation waits at most before answering 202.
  std::chrono::milliseconds max_blocking_wait{60'000};
};

// OpenWhisk's REST API (/api/v1, apiv1swagger.json) over the store and the
// invoker: namespaces, actions (CRUD, invoke) and activations, with Basic
// auth. Packages, triggers and rules answer 501 for now. Thread-safe.
class RestApi {
 public:
  RestApi(controller::Store& store, controller::Invoker& invoker, RestApiOptions options);
  ~RestApi();

  // An http::Handler. It routes with what CheckHeader learned of the request (the respond's context(), as
  // http::Server hands it over with header_check set); without that, it runs the same check on the whole request
  // first (with the body's size for the Content-Length).
  void Handle(http::Request&& request, http::Responder respond);

  // An http::HeaderCheck, run before any body byte is read: every /api/v1 route that needs authentication is
  // answered 401 without valid Basic auth, and each route gets its body limit (action PUT: max_code_bytes +
  // max_action_overhead_bytes; invocation: max_params_bytes; others: max_other_body_bytes), with a 413 when the
  // Content-Length says more. The parsed target and the principal go to Handle as the verdict's context.
  http::HeaderVerdict CheckHeader(const http::Request& header);

  class Call;

 private:
  struct Target;  // what CheckHeader learned, for Handle
  // CheckHeader's rules, with the body's size taken as `body_bytes` (unset: unknown, e.g. chunked).
  http::HeaderVerdict Check(const http::Request& request, std::optional<uint64_t> body_bytes);

  // Runs `fn` at `when` on the API's timer thread (blocking waits), unless
  // cancelled first with the returned key.
  using TimerKey = std::pair<std::chrono::steady_clock::time_point, uint64_t>;
  TimerKey At(std::chrono::steady_clock::time_point when, std::function<void()> fn);
  void Cancel(const TimerKey& key);
  void TimerLoop();

  controller::Store& store_;
  controller::Invoker& invoker_;
  RestApiOptions options_;

  // Actions without their code, by "namespace/name": an invocation needs
  // everything but the code, which only a cold start reads (from the store).
  // Only this process writes the store, so PUT and DELETE keep it exact.
  std::shared_ptr<const controller::StoredAction> CachedAction(const std::string& ns, const std::string& name,
                                                               Status* error);
  void ForgetAction(const std::string& ns, const std::string& name);
  void CacheAction(const controller::StoredAction& action);
  // Marks "namespace/name" as being updated until the token is released (or
  // destroyed); null when another update of it is in flight.
  class UpdateToken {
   public:
    UpdateToken(RestApi* api, std::string key) : api_(api), key_(std::move(key)) {}
    ~UpdateToken();
    void Release();  // idempotent

   private:
    RestApi* api_;
    std::string key_;
  };
  std::shared_ptr<UpdateToken> BeginUpdate(const std::string& key);
  std::mutex actions_mu_;
  std::unordered_map<std::string, std::shared_ptr<const controller::StoredAction>> actions_;
  std::unordered_set<std::string> updating_;  // actions with a PUT in flight

  // The subject of a Basic `Authorization` header value, or the 401 message. Successes are cached.
  std::optional<std::string> Authenticate(std::string_view authorization, controller::Subject* subject);
  std::mutex auth_mu_;
  std::unordered_map<std::string, controller::Subject> auth_cache_;  // by "uuid:key"

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::map<TimerKey, std::function<void()>> timers_;
  uint64_t next_timer_ = 0;
  bool stopping_ = false;
  std::thread timer_thread_;
};

}  // namespace wow::protocol
