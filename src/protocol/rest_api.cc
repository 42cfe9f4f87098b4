#include "protocol/rest_api.h"

#include <fmt/format.h>

#include <any>
#include <boost/url.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

#include "common/base64.h"
#include "common/json.h"

namespace wow::protocol {

namespace json = boost::json;
using http::HttpStatus;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kNotFound[] = "The requested resource does not exist.";

// The `code` of error bodies and the x-request-id header: half an activation id.
std::string TransactionId() { return controller::Invoker::NewActivationId().substr(0, 16); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<uint64_t> ParseUint(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "0.0.1" -> "0.0.2"; anything unparsable restarts at "0.0.1".
std::string BumpVersion(std::string_view version) {
  unsigned a = 0, b = 0, c = 0;
  if (std::sscanf(std::string(version).c_str(), "%u.%u.%u", &a, &b, &c) != 3) return "0.0.1";
  return fmt::format("{}.{}.{}", a, b, c + 1);
}

// Whole number in [lo, hi] or an error naming the field.
std::optional<std::string> CheckRange(const json::object& limits, const char* field, int64_t lo, int64_t hi,
                                      const char* unit, int64_t& out) {
  const json::value* v = limits.if_contains(field);
  if (v == nullptr || v->is_null()) return std::nullopt;
  int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= uint64_t(INT64_MAX)) {
    n = static_cast<int64_t>(v->get_uint64());
  } else {
    return fmt::format("limits.{} must be a whole number of {}", field, unit);
  }
  if (n < lo || n > hi) {
    return fmt::format("limits.{} {} {} is out of range: it must be between {} and {} {}", field, n, unit, lo, hi,
                       unit);
  }
  out = n;
  return std::nullopt;
}

// [{key, value}] with string keys, or an error.
std::optional<std::string> CheckKeyValues(const json::value* v, const char* what) {
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_array()) return fmt::format("{} must be an array of {{\"key\", \"value\"}} objects", what);
  for (const json::value& e : v->as_array()) {
    const json::object* o = e.if_object();
    if (o == nullptr || !o->contains("key") || !o->at("key").is_string()) {
      return fmt::format("{} must be an array of {{\"key\", \"value\"}} objects", what);
    }
  }
  return std::nullopt;
}

// An answer of the API: JSON with the transaction id, and the challenge on 401.
http::Response ApiReply(const http::Request& request, HttpStatus status, std::string json_body,
                        const std::string& txid) {
  http::Response r(status, request.version());
  r.set(boost::beast::http::field::server, "wow");
  r.set(boost::beast::http::field::content_type, "application/json");
  r.set("x-request-id", txid);
  if (status == HttpStatus::unauthorized)
    r.set(boost::beast::http::field::www_authenticate, "Basic realm=\"whisk rest service\"");
  r.keep_alive(request.keep_alive());
  r.body() = std::move(json_body);
  r.prepare_payload();
  return r;
}

// OpenWhisk's error body: {"error": message, "code": transaction id}.
std::string ApiError(std::string_view message, const std::string& txid) {
  json::object o;
  o["error"] = message;
  o["code"] = txid;
  return ToJson(o);
}

// The decoded path segments after /api/v1, or nullopt for a target that is no /api/v1 URL path.
std::optional<std::vector<std::string>> ApiSegments(const boost::urls::url_view& url) {
  std::vector<std::string> segments;
  for (auto seg : url.segments()) segments.push_back(std::string(seg));
  if (segments.size() < 2 || segments[0] != "api" || segments[1] != "v1") return std::nullopt;
  segments.erase(segments.begin(), segments.begin() + 2);
  return segments;
}

// Every /api/v1 route but the API's description needs authentication.
bool NeedsAuth(const std::vector<std::string>& api_segments) { return !api_segments.empty(); }

// /namespaces/{ns}/actions/{name...}
bool IsActionPath(const std::vector<std::string>& api_segments) {
  return api_segments.size() >= 4 && api_segments[0] == "namespaces" && api_segments[2] == "actions";
}

// The action as list and get show it without code.
json::object WithoutCode(json::object doc) {
  if (json::value* exec = doc.if_contains("exec"); exec && exec->is_object()) exec->as_object().erase("code");
  return doc;
}

}  // namespace

// What RestApi::CheckHeader learns of a request: its target, parsed, and its principal. Immutable once made; it
// travels to Handle as the HeaderVerdict's context, so each request is parsed and authenticated once.
struct RestApi::Target {
  bool valid_url = false;  // the request target is a URL path (origin form)
  // The decoded path segments after /api/v1; unset: the path is not under /api/v1.
  std::optional<std::vector<std::string>> segments;
  std::map<std::string, std::string> query;
  // Set for every route that needs authentication (NeedsAuth): the request had a valid credential.
  std::optional<controller::Subject> subject;
};

// One request: its checked target and the answer helpers.
class RestApi::Call : public std::enable_shared_from_this<RestApi::Call> {
 public:
  Call(RestApi& api, http::Request&& request, http::Responder respond, std::shared_ptr<const Target> target)
      : api_(api),
        request_(std::move(request)),
        respond_(std::move(respond)),
        txid_(TransactionId()),
        target_(std::move(target)) {}

  void Reply(HttpStatus status, std::string json_body, bool with_activation_header = false,
             const std::string& activation_id = "") {
    http::Response r = ApiReply(request_, status, std::move(json_body), txid_);
    if (with_activation_header) r.set("x-openwhisk-activation-id", activation_id);
    respond_(std::move(r));
  }
  void ReplyJson(HttpStatus status, const json::value& v) { Reply(status, ToJson(v)); }
  void Error(HttpStatus status, std::string_view message) { Reply(status, ApiError(message, txid_)); }

  void Run();

 private:
  // The principal; only for routes that need authentication (NeedsAuth), which the header check guarantees.
  const controller::Subject& subject() const { return *target_->subject; }
  std::optional<std::string> Query(std::string_view key) const {
    auto it = target_->query.find(std::string(key));
    if (it == target_->query.end()) return std::nullopt;
    return it->second;
  }
  bool QueryFlag(std::string_view key) const {
    auto v = Query(key);
    return v && (*v == "true" || *v == "1" || v->empty());
  }

  void ListNamespaces();
  void ListActions();
  void GetAction(const std::string& name);
  void PutAction(const std::string& name);
  void DeleteAction(const std::string& name);
  void InvokeAction(const std::string& name);
  void ListActivations();
  void GetActivation(const std::string& id, std::string_view part);

  RestApi& api_;
  http::Request request_;
  http::Responder respond_;
  std::string txid_;
  const std::shared_ptr<const Target> target_;
  std::string ns_;  // the resolved namespace
};

RestApi::RestApi(controller::Store& store, controller::Invoker& invoker, RestApiOptions options)
    : store_(store), invoker_(invoker), options_(std::move(options)), timer_thread_([this] { TimerLoop(); }) {}

RestApi::~RestApi() {
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  timer_thread_.join();
}

RestApi::TimerKey RestApi::At(Clock::time_point when, std::function<void()> fn) {
  TimerKey key;
  bool earliest = false;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    key = {when, next_timer_++};
    auto it = timers_.emplace(key, std::move(fn)).first;
    earliest = it == timers_.begin();
  }
  // The timer thread sleeps until the earliest timer: only a new earliest
  // one needs to wake it (not every blocking invocation).
  if (earliest) timer_cv_.notify_all();
  return key;
}

void RestApi::Cancel(const TimerKey& key) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(timer_mu_);
  auto it = timers_.find(key);
  if (it == timers_.end()) return;
  dropped = std::move(it->second);
  timers_.erase(it);
}

void RestApi::TimerLoop() {
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    if (first->first.first > Clock::now()) {
      timer_cv_.wait_until(lock, first->first.first);
      continue;
    }
    auto fn = std::move(first->second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

std::shared_ptr<const controller::StoredAction> RestApi::CachedAction(const std::string& ns, const std::string& name,
                                                                      Status* error) {
  std::string key = ns + "/" + name;
  {
    std::lock_guard<std::mutex> lock(actions_mu_);
    auto it = actions_.find(key);
    if (it != actions_.end()) return it->second;
  }
  auto stored = store_.GetAction(ns, name);
  if (!stored.ok()) {
    *error = stored.status();
    return nullptr;
  }
  if (!stored->has_value()) return nullptr;
  auto action = std::make_shared<controller::StoredAction>(std::move(**stored));
  action->doc = WithoutCode(std::move(action->doc));
  std::lock_guard<std::mutex> lock(actions_mu_);
  return actions_.try_emplace(key, std::move(action)).first->second;
}

void RestApi::ForgetAction(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(actions_mu_);
  actions_.erase(ns + "/" + name);
}

void RestApi::CacheAction(const controller::StoredAction& action) {
  auto copy = std::make_shared<controller::StoredAction>(action);
  copy->doc = WithoutCode(std::move(copy->doc));
  std::lock_guard<std::mutex> lock(actions_mu_);
  actions_[action.namespace_ + "/" + action.name] = std::move(copy);
}

RestApi::UpdateToken::~UpdateToken() { Release(); }

void RestApi::UpdateToken::Release() {
  if (api_ == nullptr) return;
  std::lock_guard<std::mutex> lock(api_->actions_mu_);
  api_->updating_.erase(key_);
  api_ = nullptr;
}

std::shared_ptr<RestApi::UpdateToken> RestApi::BeginUpdate(const std::string& key) {
  std::lock_guard<std::mutex> lock(actions_mu_);
  if (!updating_.insert(key).second) return nullptr;
  return std::make_shared<UpdateToken>(this, key);
}

void RestApi::Handle(http::Request&& request, http::Responder respond) {
  std::shared_ptr<const Target> target;
  if (const auto* checked = std::any_cast<std::shared_ptr<const Target>>(&respond.context())) target = *checked;
  if (target == nullptr) {  // driven without the header check (in process): the same rules, on the whole request
    http::HeaderVerdict verdict = Check(request, request.body().size());
    if (verdict.reject) return respond(std::move(*verdict.reject));
    target = std::any_cast<std::shared_ptr<const Target>>(std::move(verdict.context));
  }
  auto call = std::make_shared<Call>(*this, std::move(request), std::move(respond), std::move(target));
  call->Run();
}

std::optional<std::string> RestApi::Authenticate(std::string_view header, controller::Subject* subject) {
  if (header.empty()) return "The resource requires authentication, which was not supplied with the request";
  constexpr std::string_view kBasic = "Basic ";
  std::string credential;
  if (header.size() > kBasic.size() && header.substr(0, kBasic.size()) == kBasic) {
    auto decoded = Base64Decode(header.substr(kBasic.size()));
    if (decoded.ok()) credential = std::move(*decoded);
  }
  {
    std::lock_guard<std::mutex> lock(auth_mu_);
    auto it = auth_cache_.find(credential);
    if (it != auth_cache_.end()) {
      *subject = it->second;
      return std::nullopt;
    }
  }
  size_t colon = credential.find(':');
  if (colon != std::string::npos) {
    auto found = store_.Authenticate(credential.substr(0, colon), credential.substr(colon + 1));
    if (found.ok() && found->has_value()) {
      *subject = **found;
      std::lock_guard<std::mutex> lock(auth_mu_);
      if (auth_cache_.size() > 10'000) auth_cache_.clear();
      auth_cache_.emplace(credential, *subject);
      return std::nullopt;
    }
  }
  return "The supplied authentication is invalid";
}

http::HeaderVerdict RestApi::CheckHeader(const http::Request& header) {
  return Check(header, ParseUint(header[boost::beast::http::field::content_length]));
}

http::HeaderVerdict RestApi::Check(const http::Request& request, std::optional<uint64_t> body_bytes) {
  http::HeaderVerdict verdict;
  auto reject = [&](HttpStatus status, std::string_view message) {
    std::string txid = TransactionId();
    verdict.reject = ApiReply(request, status, ApiError(message, txid), txid);
    return verdict;
  };
  auto target = std::make_shared<Target>();
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(request.target());
  if (url) {
    target->valid_url = true;
    for (auto param : url->params()) target->query[std::string(param.key)] = std::string(param.value);
    target->segments = ApiSegments(*url);
  }
  uint64_t limit = options_.max_other_body_bytes;
  std::string what;
  if (target->segments && NeedsAuth(*target->segments)) {
    controller::Subject subject;
    if (auto error = Authenticate(request[boost::beast::http::field::authorization], &subject)) {
      return reject(HttpStatus::unauthorized, *error);
    }
    target->subject = std::move(subject);
    if (IsActionPath(*target->segments) && request.method() == http::Verb::put) {
      limit = options_.max_code_bytes + options_.max_action_overhead_bytes;
      what = fmt::format(" for an action (its code may have {} bytes)", options_.max_code_bytes);
    } else if (IsActionPath(*target->segments) && request.method() == http::Verb::post) {
      limit = options_.max_params_bytes;
      what = " for the parameters of an invocation";
    }
  }
  // Unauthenticated routes (the description, 404s) and malformed targets get the small limit; the handler answers.
  // (A chunked body is cut off by the server at the same limit.)
  if (body_bytes && *body_bytes > limit) {
    return reject(
        HttpStatus::payload_too_large,
        fmt::format("The request content is {} bytes, more than the allowed {} bytes{}.", *body_bytes, limit, what));
  }
  verdict.body_limit = limit;
  verdict.context = std::shared_ptr<const Target>(std::move(target));
  return verdict;
}

void RestApi::Call::Run() {
  if (!target_->valid_url) return Error(HttpStatus::bad_request, "The request target is not a valid URL path.");
  // /api/v1/...
  if (!target_->segments) return Error(HttpStatus::not_found, kNotFound);
  const std::vector<std::string>& segments = *target_->segments;
  if (!NeedsAuth(segments)) {
    json::object info;
    info["description"] = "OpenWhisk-compatible API of wow serve";
    info["api_paths"] = json::array{"/api/v1"};
    return ReplyJson(HttpStatus::ok, info);
  }
  // From here on every route needs authentication: the check answered 401 to a request without a valid credential.
  if (segments[0] != "namespaces") return Error(HttpStatus::not_found, kNotFound);
  if (segments.size() == 1) {
    if (request_.method() != http::Verb::get) return Error(HttpStatus::method_not_allowed, "Use GET.");
    return ListNamespaces();
  }
  const std::string& ns = segments[1];
  if (ns != "_" && ns != subject().namespace_) {
    return Error(HttpStatus::forbidden,
                 fmt::format("The supplied authentication is not authorized to access '{}'.", ns));
  }
  ns_ = subject().namespace_;
  if (segments.size() < 3) return Error(HttpStatus::not_found, kNotFound);
  const std::string& collection = segments[2];
  // The entity name: the rest of the path ("pkg/name" for an action in a package).
  std::string name;
  for (size_t i = 3; i < segments.size(); ++i) name += (name.empty() ? "" : "/") + segments[i];
  auto verb = request_.method();

  if (collection == "actions") {
    if (name.empty()) {
      if (verb != http::Verb::get) return Error(HttpStatus::method_not_allowed, "Use GET to list actions.");
      return ListActions();
    }
    if (std::count(name.begin(), name.end(), '/') > 1) return Error(HttpStatus::not_found, kNotFound);
    switch (verb) {
      case http::Verb::get: return GetAction(name);
      case http::Verb::put: return PutAction(name);
      case http::Verb::delete_: return DeleteAction(name);
      case http::Verb::post: return InvokeAction(name);
      default: return Error(HttpStatus::method_not_allowed, "Use GET, PUT, DELETE or POST.");
    }
  }
  if (collection == "activations") {
    if (verb != http::Verb::get) return Error(HttpStatus::method_not_allowed, "Use GET.");
    if (segments.size() == 3) return ListActivations();
    if (segments.size() == 4) return GetActivation(segments[3], "");
    if (segments.size() == 5 && (segments[4] == "logs" || segments[4] == "result")) {
      return GetActivation(segments[3], segments[4]);
    }
    return Error(HttpStatus::not_found, kNotFound);
  }
  if (collection == "packages" || collection == "triggers" || collection == "rules") {
    return Error(HttpStatus::not_implemented,
                 fmt::format("{} are not supported by wow serve yet; actions and activations are.", collection));
  }
  Error(HttpStatus::not_found, kNotFound);
}

void RestApi::Call::ListNamespaces() { ReplyJson(HttpStatus::ok, json::array{json::value(subject().namespace_)}); }

void RestApi::Call::ListActions() {
  size_t limit = 30, skip = 0;
  if (auto l = Query("limit")) {
    auto v = ParseUint(*l);
    if (!v || *v > 200) return Error(HttpStatus::bad_request, "limit must be a number between 0 and 200.");
    limit = *v;
  }
  if (auto s = Query("skip")) {
    auto v = ParseUint(*s);
    if (!v) return Error(HttpStatus::bad_request, "skip must be a non-negative number.");
    skip = *v;
  }
  if (QueryFlag("count")) {
    auto n = api_.store_.CountActions(ns_);
    if (!n.ok()) return Error(HttpStatus::internal_server_error, n.status().message());
    json::object o;
    o["actions"] = *n;
    return ReplyJson(HttpStatus::ok, o);
  }
  auto actions = api_.store_.ListActions(ns_, limit, skip);
  if (!actions.ok()) return Error(HttpStatus::internal_server_error, actions.status().message());
  json::array out;
  for (auto& a : *actions) out.push_back(WithoutCode(std::move(a.doc)));
  ReplyJson(HttpStatus::ok, out);
}

void RestApi::Call::GetAction(const std::string& name) {
  auto action = api_.store_.GetAction(ns_, name);
  if (!action.ok()) return Error(HttpStatus::internal_server_error, action.status().message());
  if (!action->has_value()) return Error(HttpStatus::not_found, kNotFound);
  json::object doc = std::move((*action)->doc);
  auto code = Query("code");
  if (code && *code == "false") doc = WithoutCode(std::move(doc));
  ReplyJson(HttpStatus::ok, doc);
}

namespace {

// OpenWhisk's entity names: \A([\w]|[\w][\w@ .-]*[\w@.-]+)\z, at most 256 characters.
bool ValidEntityName(std::string_view n) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (n.empty() || n.size() > 256 || !word(n.front())) return false;
  for (char c : n.substr(1)) {
    if (!word(c) && c != '@' && c != ' ' && c != '.' && c != '-') return false;
  }
  return n.size() == 1 || n.back() != ' ';
}

}  // namespace

void RestApi::Call::PutAction(const std::string& name) {
  for (size_t start = 0; start <= name.size();) {
    size_t end = std::min(name.find('/', start), name.size());
    if (!ValidEntityName(std::string_view(name).substr(start, end - start))) {
      return Error(HttpStatus::bad_request,
                   "The name of an action (and of its package) must start with a letter, digit or underscore, "
                   "hold only those, '@', ' ', '.' and '-', not end with a space, and have at most 256 characters.");
    }
    start = end + 1;
  }
  // The body's size is within the header check's limit for an action.
  auto parsed = ParseJson(request_.body());
  if (!parsed.ok() || !parsed->is_object()) {
    return Error(HttpStatus::bad_request, "The request content was malformed: the body must be a JSON object.");
  }
  json::object& body = parsed->as_object();
  bool overwrite = Query("overwrite").value_or("false") == "true";
  // One update of an action at a time, from reading its version to storing
  // the next: concurrent ones would both write the same version (and a warm
  // container of one would serve the other's code). The later one gets 409,
  // as OpenWhisk answers a document update conflict.
  auto update = api_.BeginUpdate(ns_ + "/" + name);
  if (!update) {
    return Error(HttpStatus::conflict, "The action is being updated by another request; try again when it is done.");
  }
  auto existing = api_.store_.GetAction(ns_, name);
  if (!existing.ok()) return Error(HttpStatus::internal_server_error, existing.status().message());
  if (existing->has_value() && !overwrite) return Error(HttpStatus::conflict, "resource already exists");

  // exec: required on create; on update an absent exec keeps the old one.
  json::object exec;
  if (const json::value* e = body.if_contains("exec"); e && !e->is_null()) {
    if (!e->is_object()) return Error(HttpStatus::bad_request, "exec must be an object.");
    exec = e->as_object();
  } else if (existing->has_value() && (*existing)->doc.contains("exec")) {
    exec = (*existing)->doc.at("exec").as_object();
  } else {
    return Error(HttpStatus::bad_request, "The request content was malformed: exec is required.");
  }
  const json::value* kind = exec.if_contains("kind");
  if (kind == nullptr || !kind->is_string() || (kind->as_string() != "wasm" && kind->as_string() != "wasm:0.1")) {
    return Error(HttpStatus::bad_request,
                 "The request content was malformed: exec.kind must be \"wasm\" (or WOW's \"wasm:0.1\").");
  }
  const json::value* code = exec.if_contains("code");
  if (code == nullptr || !code->is_string() || code->as_string().empty()) {
    return Error(HttpStatus::bad_request, "The request content was malformed: exec.code is required.");
  }
  if (code->as_string().size() > api_.options_.max_code_bytes) {
    return Error(HttpStatus::payload_too_large,
                 fmt::format("The action's code is {} bytes, more than the allowed {} bytes.", code->as_string().size(),
                             api_.options_.max_code_bytes));
  }
  if (const json::value* b = exec.if_contains("binary"); b && !b->is_bool()) {
    return Error(HttpStatus::bad_request, "exec.binary must be true or false.");
  }
  if (const json::value* m = exec.if_contains("main"); m && !m->is_string()) {
    return Error(HttpStatus::bad_request, "exec.main must be a string.");
  }
  if (!exec.contains("binary")) exec["binary"] = code->as_string().front() != '(' && code->as_string().front() != ';';
  if (auto e = CheckKeyValues(body.if_contains("parameters"), "parameters")) return Error(HttpStatus::bad_request, *e);
  if (auto e = CheckKeyValues(body.if_contains("annotations"), "annotations")) {
    return Error(HttpStatus::bad_request, *e);
  }
  if (const json::value* p = body.if_contains("parameters"); p && ToJson(*p).size() > api_.options_.max_params_bytes) {
    return Error(HttpStatus::payload_too_large, "The action's default parameters exceed 1 MiB.");
  }
  // Limits: OpenWhisk's ranges; absent ones keep the previous or the default.
  json::object limits;
  limits["timeout"] = 60000;
  limits["memory"] = 256;
  limits["logs"] = 10;
  limits["concurrency"] = 1;
  if (existing->has_value()) {
    if (const json::value* old = (*existing)->doc.if_contains("limits"); old && old->is_object()) {
      for (const auto& [k, v] : old->as_object()) limits[k] = v;
    }
  }
  if (const json::value* l = body.if_contains("limits"); l && !l->is_null()) {
    if (!l->is_object()) return Error(HttpStatus::bad_request, "limits must be an object.");
    const json::object& given = l->as_object();
    int64_t v = 0;
    if (auto e = CheckRange(given, "timeout", 100, 300000, "milliseconds", v))
      return Error(HttpStatus::bad_request, *e);
    if (given.contains("timeout")) limits["timeout"] = v;
    if (auto e = CheckRange(given, "memory", 128, 512, "MB", v)) return Error(HttpStatus::bad_request, *e);
    if (given.contains("memory")) limits["memory"] = v;
    if (auto e = CheckRange(given, "logs", 0, 10, "MB", v)) return Error(HttpStatus::bad_request, *e);
    if (given.contains("logs")) limits["logs"] = v;
    if (auto e = CheckRange(given, "concurrency", 1, 500, "activations", v)) return Error(HttpStatus::bad_request, *e);
    if (given.contains("concurrency")) limits["concurrency"] = v;
  }

  controller::StoredAction action;
  action.namespace_ = ns_;
  action.name = name;
  json::object& doc = action.doc;
  size_t slash = name.find('/');
  doc["namespace"] = slash == std::string::npos ? ns_ : ns_ + "/" + name.substr(0, slash);
  doc["name"] = slash == std::string::npos ? name : name.substr(slash + 1);
  std::string version = "0.0.1";
  if (existing->has_value()) {
    const json::value* old = (*existing)->doc.if_contains("version");
    version = BumpVersion(old && old->is_string() ? std::string_view(old->as_string()) : "");
  }
  doc["version"] = version;
  doc["publish"] = body.contains("publish") && body.at("publish").is_bool() && body.at("publish").get_bool();
  exec["kind"] = "wasm";
  doc["exec"] = std::move(exec);
  const json::value* params = body.if_contains("parameters");
  doc["parameters"] = params && params->is_array() ? *params : json::array();
  json::array annotations;
  if (const json::value* a = body.if_contains("annotations"); a && a->is_array()) annotations = a->as_array();
  bool has_exec = false;
  for (const auto& a : annotations) has_exec |= a.as_object().at("key") == "exec";
  if (!has_exec) annotations.push_back(json::object{{"key", "exec"}, {"value", "wasm"}});
  doc["annotations"] = std::move(annotations);
  doc["limits"] = std::move(limits);
  doc["updated"] = NowMs();
  // The version's revision names its container from the deploy on, so that
  // no other code (an older version, a deleted action of the same name and
  // version) ever shares it.
  auto revision = api_.store_.NewActionRevision();
  if (!revision.ok()) return Error(HttpStatus::internal_server_error, revision.status().message());
  action.revision = *revision;

  // Deploy-time compilation: refuse code that cannot become an action, and
  // leave a warm container behind so the first invocation is warm. The
  // compile runs on the executor's blocking pool, off every request path.
  auto self = shared_from_this();
  api_.invoker_.Deploy(action, [self, action, overwrite, update = std::move(update)](Status deployed) {
    Status put = deployed.ok() ? self->api_.store_.PutAction(action, overwrite) : Status::Ok();
    if (deployed.ok() && put.ok()) self->api_.CacheAction(action);
    update->Release();  // before the client hears: its next update may come at once
    if (!deployed.ok()) {
      // Its code, or an annotation (`engine`, `dir`, `memory`, ...).
      return self->Error(HttpStatus::bad_request, "The action cannot run: " + deployed.message());
    }
    if (put.code() == Code::kAlreadyExists) return self->Error(HttpStatus::conflict, "resource already exists");
    if (!put.ok()) return self->Error(HttpStatus::internal_server_error, put.message());
    self->ReplyJson(HttpStatus::ok, action.doc);
  });
}

void RestApi::Call::DeleteAction(const std::string& name) {
  auto action = api_.store_.GetAction(ns_, name);
  if (!action.ok()) return Error(HttpStatus::internal_server_error, action.status().message());
  if (!action->has_value()) return Error(HttpStatus::not_found, kNotFound);
  auto deleted = api_.store_.DeleteAction(ns_, name);
  if (!deleted.ok()) return Error(HttpStatus::internal_server_error, deleted.status().message());
  if (!*deleted) return Error(HttpStatus::not_found, kNotFound);
  api_.ForgetAction(ns_, name);
  api_.invoker_.Undeploy(ns_, name);
  ReplyJson(HttpStatus::ok, WithoutCode(std::move((*action)->doc)));
}

void RestApi::Call::InvokeAction(const std::string& name) {
  // The body's size is within the header check's limit for the parameters of an invocation.
  json::object params;
  if (!request_.body().empty()) {
    auto parsed = ParseJson(request_.body());
    if (!parsed.ok() || !parsed->is_object()) {
      return Error(HttpStatus::bad_request, "The request content was malformed: parameters must be a JSON object.");
    }
    params = std::move(parsed->as_object());
  }
  std::chrono::milliseconds wait = api_.options_.max_blocking_wait;
  if (auto t = Query("timeout")) {
    auto v = ParseUint(*t);
    if (!v) return Error(HttpStatus::bad_request, "timeout must be a number of milliseconds.");
    // Compared as numbers first: a huge value must not wrap the duration.
    wait = std::chrono::milliseconds(std::min<uint64_t>(*v, static_cast<uint64_t>(wait.count())));
  }
  Status lookup;
  auto action = api_.CachedAction(ns_, name, &lookup);
  if (!lookup.ok()) return Error(HttpStatus::internal_server_error, lookup.message());
  if (action == nullptr) return Error(HttpStatus::not_found, kNotFound);

  controller::Invocation inv;
  inv.action = *action;
  // Default parameters merge under the invocation's.
  if (const json::value* defaults = inv.action.doc.if_contains("parameters"); defaults && defaults->is_array()) {
    for (const json::value& p : defaults->as_array()) {
      const json::object& kv = p.as_object();
      std::string key(kv.at("key").as_string());
      if (!params.contains(key)) params[key] = kv.contains("value") ? kv.at("value") : json::value();
    }
  }
  inv.params_json = ToJson(params);
  inv.subject = subject().name;
  inv.activation_id = controller::Invoker::NewActivationId();
  inv.api_host = api_.options_.api_host;
  std::string id = inv.activation_id;
  // The id is durable before anyone hears of it.
  if (Status s = api_.store_.AcceptActivation(id, ns_, name, NowMs()); !s.ok()) {
    return Error(HttpStatus::internal_server_error, s.message());
  }
  bool blocking = QueryFlag("blocking");
  bool result_only = QueryFlag("result");
  json::object accepted;
  accepted["activationId"] = id;
  if (!blocking) {
    if (!api_.invoker_.Invoke(std::move(inv), [](json::object, bool) {})) {
      return Error(HttpStatus::service_unavailable,
                   "The platform is at capacity; the activation did not run. Try again later.");
    }
    return Reply(HttpStatus::accepted, ToJson(accepted), true, id);
  }
  auto self = shared_from_this();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  // The wait's timer must not keep the call (and its request) alive for the
  // whole wait once answered: the answer cancels it.
  auto timer = std::make_shared<TimerKey>();
  *timer = api_.At(Clock::now() + wait, [self, answered, accepted, id] {
    if (!answered->exchange(true)) self->Reply(HttpStatus::accepted, ToJson(accepted), true, id);
  });
  api_.invoker_.Invoke(std::move(inv), [self, answered, result_only, id, timer](json::object record, bool overloaded) {
    self->api_.Cancel(*timer);
    if (answered->exchange(true)) return;  // the client already has the id
    if (overloaded) {
      return self->Error(HttpStatus::service_unavailable,
                         "The platform is at capacity; the activation did not run. Try again later.");
    }
    const json::object& response = record.at("response").as_object();
    bool success = response.at("success").as_bool();
    HttpStatus status = success ? HttpStatus::ok : HttpStatus::bad_gateway;
    if (result_only) return self->Reply(status, ToJson(response.at("result")), true, id);
    self->Reply(status, ToJson(record), true, id);
  });
}

void RestApi::Call::ListActivations() {
  controller::ActivationQuery q;
  q.namespace_ = ns_;
  if (auto n = Query("name"); n && !n->empty()) q.name = *n;
  auto number = [&](const char* key, auto& out) -> bool {
    if (auto v = Query(key)) {
      auto parsed = ParseUint(*v);
      if (!parsed) {
        Error(HttpStatus::bad_request, fmt::format("{} must be a non-negative number.", key));
        return false;
      }
      out = *parsed;
    }
    return true;
  };
  uint64_t limit = 30, skip = 0, since = 0, upto = 0;
  if (!number("limit", limit) || !number("skip", skip) || !number("since", since) || !number("upto", upto)) return;
  if (limit > 200) return Error(HttpStatus::bad_request, "limit must be between 0 and 200.");
  q.limit = limit == 0 ? 200 : limit;
  q.skip = skip;
  if (Query("since")) q.since_ms = static_cast<int64_t>(since);
  if (Query("upto")) q.upto_ms = static_cast<int64_t>(upto);
  auto records = api_.store_.ListActivations(q);
  if (!records.ok()) return Error(HttpStatus::internal_server_error, records.status().message());
  bool docs = QueryFlag("docs");
  json::array out;
  for (auto& r : *records) {
    if (!docs) {
      // The summary OpenWhisk lists: no logs, the status code instead of the response.
      if (const json::value* resp = r.if_contains("response"); resp && resp->is_object()) {
        r["statusCode"] = resp->as_object().at("statusCode");
      }
      r.erase("response");
      r.erase("logs");
    }
    out.push_back(std::move(r));
  }
  ReplyJson(HttpStatus::ok, out);
}

void RestApi::Call::GetActivation(const std::string& id, std::string_view part) {
  auto record = api_.store_.GetActivation(ns_, id);
  if (!record.ok()) return Error(HttpStatus::internal_server_error, record.status().message());
  if (!record->has_value()) return Error(HttpStatus::not_found, kNotFound);
  json::object& r = **record;
  if (part == "logs") {
    json::object o;
    o["logs"] = r.contains("logs") ? r.at("logs") : json::array();
    return ReplyJson(HttpStatus::ok, o);
  }
  if (part == "result") return ReplyJson(HttpStatus::ok, r.contains("response") ? r.at("response") : json::object());
  ReplyJson(HttpStatus::ok, r);
}

}  // namespace wow::protocol
