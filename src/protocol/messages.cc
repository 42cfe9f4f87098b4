#include "protocol/messages.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/json.h"
#include "common/sha256.h"
#include "executor/deadline.h"

namespace wow::protocol {
namespace {

namespace json = boost::json;
using http::HttpStatus;

Reply Error(HttpStatus status, std::string_view message) { return Reply{status, http::JsonError(message)}; }

// Env values are strings; other JSON values are passed as their JSON text.
std::string EnvValue(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  return ToJson(v);
}

std::optional<Reply> ParseObject(std::string_view body, json::object& out) {
  auto parsed = ParseJson(body);
  if (!parsed.ok())
    return Error(HttpStatus::bad_request, "The request body is not valid JSON: " + parsed.status().message());
  if (!parsed->is_object()) return Error(HttpStatus::bad_request, "The request body must be a JSON object.");
  out = std::move(parsed->as_object());
  return std::nullopt;
}

// A whole non-negative number from a JSON number or a string of digits.
std::optional<uint64_t> WholeNumberOrDigits(const json::value& v) {
  if (auto n = WholeNumber(v)) return n;
  if (const auto* s = v.if_string()) {
    uint64_t ms = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), ms);
    if (ec == std::errc() && end == s->data() + s->size() && !s->empty()) return ms;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Reply> ParseInitBody(std::string_view body, executor::InitRequest& out) {
  json::object root;
  if (auto error = ParseObject(body, root)) return error;
  const json::value* value = root.if_contains("value");
  if (value == nullptr || value->is_null()) return Error(HttpStatus::forbidden, "Missing main/no code to execute.");
  if (!value->is_object()) return Error(HttpStatus::bad_request, "The init body's value must be a JSON object.");
  const json::object& v = value->as_object();
  const json::value* code = v.if_contains("code");
  if (code == nullptr || code->is_null() || (code->is_string() && code->as_string().empty())) {
    return Error(HttpStatus::forbidden, "Missing main/no code to execute.");
  }
  if (!code->is_string()) return Error(HttpStatus::bad_request, "The action's code must be a string.");
  out.code = std::string(code->as_string());
  auto string_field = [&](const char* name, std::string& field) -> std::optional<Reply> {
    const json::value* f = v.if_contains(name);
    if (f == nullptr || f->is_null()) return std::nullopt;
    if (!f->is_string())
      return Error(HttpStatus::bad_request, fmt::format("The init field `{}` must be a string.", name));
    field = std::string(f->as_string());
    return std::nullopt;
  };
  if (auto e = string_field("name", out.name)) return e;
  if (auto e = string_field("main", out.main)) return e;
  if (const json::value* binary = v.if_contains("binary"); binary != nullptr && !binary->is_null()) {
    if (!binary->is_bool()) return Error(HttpStatus::bad_request, "The init field `binary` must be true or false.");
    out.binary = binary->get_bool();
  }
  if (const json::value* env = v.if_contains("env"); env != nullptr && !env->is_null()) {
    if (!env->is_object()) return Error(HttpStatus::bad_request, "The init field `env` must be an object.");
    for (const auto& [key, val] : env->as_object()) out.env.emplace_back(std::string(key), EnvValue(val));
  }
  if (const json::value* annotations = v.if_contains("annotations");
      annotations != nullptr && !annotations->is_null()) {
    if (!annotations->is_object()) {
      return Error(HttpStatus::bad_request, "The init field `annotations` must be an object.");
    }
    out.annotations = annotations->as_object();
  }
  if (const json::value* limits = v.if_contains("limits"); limits != nullptr && !limits->is_null()) {
    if (!limits->is_object()) return Error(HttpStatus::bad_request, "The init field `limits` must be an object.");
    const json::object& l = limits->as_object();
    if (const json::value* memory = l.if_contains("memory")) {
      auto mb = WholeNumberOrDigits(*memory);
      if (!mb || *mb == 0 || *mb >= 4096) {
        return Error(HttpStatus::bad_request, "limits.memory must be a whole number of MB between 1 and 4095.");
      }
      out.memory_mb = *mb;
    }
    if (const json::value* timeout = l.if_contains("timeout")) {
      auto ms = WholeNumberOrDigits(*timeout);
      if (!ms || *ms == 0) return Error(HttpStatus::bad_request, "limits.timeout must be a positive number of ms.");
      out.timeout_ms = *ms;
    }
  }
  return std::nullopt;
}

std::optional<Reply> ParseRunBody(std::string_view body, executor::RunRequest& out) {
  json::object root;
  if (auto error = ParseObject(body, root)) return error;
  out.env.clear();
  for (const auto& [key, val] : root) {
    if (key == "value") {
      if (!val.is_object() && !val.is_array()) {
        return Error(HttpStatus::forbidden, "The action's parameters (value) must be a JSON object or array.");
      }
      out.params_json = ToJson(val);
      continue;
    }
    if (key == "deadline") {
      auto ms = WholeNumberOrDigits(val);
      if (!ms) return Error(HttpStatus::bad_request, "deadline must be a time in milliseconds since the epoch.");
      out.deadline = executor::EpochMsToTimePoint(*ms);  // saturates: 2^64-1 is "far ahead", not the past
    }
    if (key == "activation_id" && val.is_string()) out.activation_id = std::string(val.as_string());
    if (!val.is_string()) continue;
    std::string name = "__OW_";
    bool usable = !key.empty();
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') usable = false;
      name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const auto& text = val.as_string();
    if (usable && text.find('\0') == json::string::npos) out.env.push_back(name + "=" + std::string(text));
  }
  // The platform's own API host, unless the run names one.
  bool has_api_host = false;
  for (const auto& e : out.env) has_api_host |= e.starts_with("__OW_API_HOST=");
  const char* api_host = std::getenv("__OW_API_HOST");
  if (api_host != nullptr && !has_api_host) out.env.push_back(std::string("__OW_API_HOST=") + api_host);
  return std::nullopt;
}

std::optional<Reply> CheckSecret(const http::Request& request, std::string_view secret) {
  if (secret.empty()) return std::nullopt;
  auto given = request.find(kSecretHeader);
  std::string_view value = given == request.end() ? std::string_view() : std::string_view(given->value());
  // Digests have one length, so neither the loop nor an early exit tells how
  // much of the secret matched, nor how long it is.
  std::string a = Sha256Hex(value);
  std::string b = Sha256Hex(secret);
  unsigned char differ = given == request.end() ? 1 : 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) differ |= static_cast<unsigned char>(a[i] ^ b[i]);
  if (differ == 0) return std::nullopt;
  return Error(HttpStatus::unauthorized,
               fmt::format("This endpoint requires its shared secret in the {} header.", kSecretHeader));
}

Reply InitReply(const Result<std::shared_ptr<const executor::Container>>& result) {
  if (result.ok()) return Reply{HttpStatus::ok, R"({"ok":true})"};
  const Status& s = result.status();
  switch (s.code()) {
    case Code::kAlreadyExists: return Error(HttpStatus::forbidden, s.message());
    case Code::kIoError:
    case Code::kInternal: return Error(HttpStatus::internal_server_error, s.message());
    default: return Error(HttpStatus::bad_gateway, s.message());
  }
}

Reply RunReply(const Result<abi::ActivationResult>& result) {
  if (!result.ok()) {
    const Status& s = result.status();
    switch (s.code()) {
      case Code::kResourceExhausted: return Error(HttpStatus::service_unavailable, s.message());
      case Code::kInvalidArgument: return Error(HttpStatus::bad_request, s.message());
      default: return Error(HttpStatus::internal_server_error, s.message());
    }
  }
  HttpStatus status =
      result->status == abi::ActivationStatus::kDeveloperError ? HttpStatus::bad_gateway : HttpStatus::ok;
  return Reply{status, ToJson(result->result), result->engine};
}

Replier ReplierFor(const http::Request& request, http::Responder respond) {
  return [version = request.version(), keep_alive = request.keep_alive(), respond = std::move(respond)](Reply r) {
    respond(ToResponse(version, keep_alive, std::move(r)));
  };
}

std::string_view TargetPath(const http::Request& request) {
  std::string_view target = request.target();
  return target.substr(0, target.find('?'));
}

http::Response ToResponse(unsigned version, bool keep_alive, Reply reply) {
  http::Response response(reply.status, version);
  response.set(boost::beast::http::field::server, "wow");
  response.set(boost::beast::http::field::content_type, "application/json");
  if (!reply.engine.empty()) response.set("x-wow-engine", reply.engine);
  response.keep_alive(keep_alive);
  response.body() = std::move(reply.json);
  response.prepare_payload();
  return response;
}

http::HeaderVerdict HeaderVerdictFor(const http::Request& header, const BodyLimits& limits, std::string_view secret,
                                     std::string_view op) {
  http::HeaderVerdict verdict;
  if (auto refused = CheckSecret(header, secret)) {
    verdict.reject = ToResponse(header.version(), header.keep_alive(), std::move(*refused));
    return verdict;
  }
  verdict.body_limit = op == "init" ? limits.init_bytes : op == "run" ? limits.run_bytes : limits.other_bytes;
  return verdict;
}

}  // namespace wow::protocol
