#pragma once

// The JSON messages of OpenWhisk's action-runtime protocol, shared by
// `wow proxy` (POST /init, /run) and `wow executor` (POST /{id}/init, /run):
// request bodies in, HTTP status + JSON body out.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "abi/action_runner.h"
#include "common/status.h"
#include "executor/executor.h"
#include "http/server.h"

namespace wow::protocol {

// An HTTP answer before it is bound to a request.
struct Reply {
  Reply(http::HttpStatus status = http::HttpStatus::ok, std::string json = {}, std::string engine = {})
      : status(status), json(std::move(json)), engine(std::move(engine)) {}

  http::HttpStatus status;
  std::string json;
  // The backend that ran the activation, sent as `x-wow-engine` when set.
  std::string engine;
};

inline constexpr char kEndOfActivation[] = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

// The request header carrying the shared secret of `wow executor` and
// `wow proxy` (--secret-file, WOW_EXECUTOR_SECRET).
inline constexpr char kSecretHeader[] = "X-Wow-Secret";

// With a non-empty `secret`: null when the request's X-Wow-Secret header
// equals it, else 401 {"error":...}. The comparison takes the same time
// whatever the header holds (it compares SHA-256 digests in constant time).
// An empty `secret` accepts every request.
std::optional<Reply> CheckSecret(const http::Request& request, std::string_view secret);

// Parses an /init body {"value":{"name","main","binary","code","env","annotations","limits"}}.
// Malformed JSON or wrong field types: 400; no code (also `{}`): 403
// "Missing main/no code to execute."
std::optional<Reply> ParseInitBody(std::string_view body, executor::InitRequest& out);

// Parses a /run body {"value":<params>, "namespace", "action_name", ...,
// "deadline":"<epoch ms>"}: every other string field becomes
// __OW_<FIELD IN UPPER CASE>; __OW_API_HOST comes from this process's
// environment. Malformed JSON: 400; a value that is not an object or array:
// 403.
std::optional<Reply> ParseRunBody(std::string_view body, executor::RunRequest& out);

// The answer to /init: 200 {"ok":true}, or the error with its status.
Reply InitReply(const Result<std::shared_ptr<const executor::Container>>& result);

// The answer to /run: the result with 200 (also an application error, an
// object with an "error" key), 502 for a developer error, 503 when the
// executor is at capacity, 500 when the platform failed. When an instance
// ran, the header `x-wow-engine` names its backend ("aot", "jit", "interp").
Reply RunReply(const Result<abi::ActivationResult>& result);

// Request-body limits of the action-runtime faces, per route; the server applies them before any body byte is read
// (413 when the Content-Length says more, or when a chunked body grows past them).
struct BodyLimits {
  uint64_t init_bytes = 64ull << 20;   // /init: the action's code (default 64 MiB)
  uint64_t run_bytes = 8ull << 20;     // /run: the parameters and the activation's fields (default 8 MiB)
  uint64_t other_bytes = 64ull << 10;  // /destroy and unknown routes (default 64 KiB)
};

// The header verdict for a request to route `op` ("init", "run" or anything
// else): 401 when a non-empty `secret` is not in the header (CheckSecret),
// else the route's body limit.
http::HeaderVerdict HeaderVerdictFor(const http::Request& header, const BodyLimits& limits, std::string_view secret,
                                     std::string_view op);

// Binds a reply to a request's HTTP version and keep-alive.
http::Response ToResponse(unsigned version, bool keep_alive, Reply reply);

// Answers `request` through `respond`: callable from any thread, copyable,
// and it does not keep the request alive.
using Replier = std::function<void(Reply)>;
Replier ReplierFor(const http::Request& request, http::Responder respond);

// The request's path without its query string.
std::string_view TargetPath(const http::Request& request);

}  // namespace wow::protocol
