#pragma once

// End-to-end tests of `wow serve`: starts the real binary (WOW_BINARY_DIR/wow
// serve --listen 127.0.0.1:0 --data-dir DIR) through service_fixture.h's
// Service, reads the bound address (stdout line 1) and the guest credential
// from the `wsk property set --apihost ... --auth UUID:KEY` line (stdout line
// 2), and talks OpenWhisk's REST API to it with Basic auth over
// wow::http::Fetch, keeping the response headers.
//
// Compiled artifacts: every data directory's `aot` is a symlink to one cache
// directory in the build tree, so each module compiles once, not once per
// server and test process (the cache is keyed by the module's content, the
// engine version and the compiler, and written with flock + rename, so
// sharing it is safe). The rest of the data directory (database, journal,
// credential) is the server's own and temporary.

#include <sys/stat.h>

#include <map>
#include <regex>

#include "service_fixture.h"

namespace wow::test {

// One REST answer with its headers (names lowercased).
struct ApiReply : Reply {
  std::map<std::string, std::string> headers;
  double ms = 0;  // round trip

  std::string Header(std::string name) const {
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  // A member of a JSON object body, or null.
  json::value Member(std::string_view key) const {
    if (const auto* o = json.if_object()) {
      if (const auto* v = o->if_contains(key)) return *v;
    }
    return nullptr;
  }
};

inline ApiReply ToApiReply(Result<http::Response> response) {
  ApiReply r;
  if (response.ok()) {
    for (const auto& field : *response) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
  }
  static_cast<Reply&>(r) = ToReply(std::move(response));
  return r;
}

// The annotation `key` of an OpenWhisk document ([{key, value}]), if present.
inline std::optional<json::value> Annotation(const json::value& doc, std::string_view key) {
  const auto* o = doc.if_object();
  if (o == nullptr) return std::nullopt;
  const auto* a = o->if_contains("annotations");
  if (a == nullptr || !a->is_array()) return std::nullopt;
  for (const auto& e : a->as_array()) {
    const auto* kv = e.if_object();
    if (kv != nullptr && kv->contains("key") && kv->at("key").is_string() && kv->at("key").as_string() == key) {
      return kv->contains("value") ? kv->at("value") : json::value();
    }
  }
  return std::nullopt;
}

// A path inside a JSON value ("response.result.error"), or null.
inline json::value At(const json::value& v, std::string_view path) {
  const json::value* cur = &v;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    const auto* o = cur->if_object();
    if (o == nullptr) return nullptr;
    cur = o->if_contains(key);
    if (cur == nullptr) return nullptr;
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return *cur;
}

inline std::string Str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }

// The artifact cache every server's data directory shares: in the build
// directory, so that ctest's one process per test does not compile every
// module again.
inline const fs::path& SharedArtifactCache() {
  static const fs::path aot = [] {
    fs::path dir = fs::path(WOW_BINARY_DIR) / "tests" / "serve_test_artifacts" / "aot";
    fs::create_directories(dir);
    return dir;
  }();
  return aot;
}

// {"kind":"wasm","code":<base64 of the file>,"binary":true}
inline json::object WasmExec(const fs::path& module, std::string kind = "wasm") {
  return json::object{{"kind", std::move(kind)}, {"code", Base64File(module)}, {"binary", true}};
}
// {"kind":"wasm","code":<text>,"binary":false}
inline json::object WatExec(std::string_view wat) {
  return json::object{{"kind", "wasm"}, {"code", wat}, {"binary", false}};
}

// A running `wow serve`.
class Serve {
 public:
  struct Options {
    fs::path data_dir;              // required; reused across restarts
    std::vector<std::string> args;  // extra flags, e.g. {"--keep-alive-ms", "0"}
  };

  // Starts the server, waits for both stdout lines and parses them. On
  // failure, adds a test failure and returns null.
  static std::unique_ptr<Serve> Start(Options options) {
    std::error_code ec;
    fs::create_directories(options.data_dir, ec);
    if (!fs::exists(options.data_dir / "aot"))
      fs::create_directory_symlink(SharedArtifactCache(), options.data_dir / "aot", ec);
    if (ec) {
      ADD_FAILURE() << "cannot prepare " << options.data_dir << ": " << ec.message();
      return nullptr;
    }
    std::unique_ptr<Serve> s(new Serve());
    s->data_dir_ = options.data_dir;
    s->service_ = Service::Start({"serve", options.data_dir, std::move(options.args), {}});
    if (!s->service_) return nullptr;
    // Line 2: wsk property set --apihost http://ADDR --auth UUID:KEY
    auto deadline = Clock::now() + milliseconds(10'000);
    for (;;) {
      std::string out = s->service_->Stdout();
      if (std::count(out.begin(), out.end(), '\n') >= 2) {
        auto lines = SplitLines(out);
        s->address_ = lines[0];
        s->wsk_line_ = lines[1];
        break;
      }
      if (Clock::now() > deadline || !s->service_->Running()) {
        ADD_FAILURE() << "wow serve printed no second stdout line\n" << s->service_->Describe();
        return nullptr;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    static const std::regex kWsk(R"(^wsk property set --apihost (\S+) --auth (\S+:\S+)$)");
    std::smatch m;
    if (!std::regex_match(s->wsk_line_, m, kWsk)) {
      ADD_FAILURE() << "the second stdout line is not 'wsk property set --apihost URL --auth UUID:KEY': '"
                    << s->wsk_line_ << "'";
      return nullptr;
    }
    s->apihost_ = m[1];
    s->auth_ = m[2];
    return s;
  }

  Service& service() { return *service_; }
  const fs::path& data_dir() const { return data_dir_; }
  const std::string& address() const { return address_; }    // stdout line 1
  const std::string& wsk_line() const { return wsk_line_; }  // stdout line 2
  const std::string& apihost() const { return apihost_; }    // from line 2
  const std::string& auth() const { return auth_; }          // "uuid:key" from line 2
  bool Running() { return service_->Running(); }
  std::string Describe() const { return service_->Describe(); }

  // SIGTERM; the exit code (see Service::Stop).
  int Stop(milliseconds timeout = milliseconds(30'000)) { return service_->Stop(timeout); }
  // kill -9 and reap.
  void Kill() {
    ::kill(service_->pid(), SIGKILL);
    while (service_->Running()) std::this_thread::sleep_for(milliseconds(1));
  }

  // One request on a fresh connection (thread-safe) with Basic auth `auth`
  // (the server's own when null; "" sends no Authorization header).
  ApiReply Request(http::Verb verb, std::string_view target, std::string body = {}, const std::string* auth = nullptr,
                   milliseconds timeout = milliseconds(60'000), http::Headers extra_headers = {}) const {
    http::Headers headers = std::move(extra_headers);
    const std::string& credential = auth != nullptr ? *auth : auth_;
    if (!credential.empty()) headers.emplace_back("Authorization", "Basic " + Base64Encode(credential));
    auto start = Clock::now();
    ApiReply r = ToApiReply(http::Fetch(service_->host(), service_->port(), verb, target, std::move(body),
                                        "application/json", headers, timeout));
    r.ms = MsSince(start);
    return r;
  }
  ApiReply Get(std::string_view target) const { return Request(http::Verb::get, target); }
  ApiReply Delete(std::string_view target) const { return Request(http::Verb::delete_, target); }
  ApiReply Put(std::string_view target, const json::value& body) const {
    return Request(http::Verb::put, target, ToJson(body));
  }
  ApiReply Post(std::string_view target, const json::value& body) const {
    return Request(http::Verb::post, target, ToJson(body));
  }

  // ---- actions (namespace "_")
  static std::string ActionPath(std::string_view name, std::string_view query = {}) {
    std::string p = "/api/v1/namespaces/_/actions/" + std::string(name);
    if (!query.empty()) p += "?" + std::string(query);
    return p;
  }
  ApiReply PutAction(std::string_view name, json::object body, bool overwrite = false) const {
    return Put(ActionPath(name, overwrite ? "overwrite=true" : ""), body);
  }
  // {"exec": exec, ...extra}
  ApiReply CreateAction(std::string_view name, json::object exec, json::object extra = {}) const {
    extra["exec"] = std::move(exec);
    return PutAction(name, std::move(extra));
  }
  ApiReply Invoke(std::string_view name, json::object params, std::string_view query = "blocking=true") const {
    return Post(ActionPath(name, query), params);
  }

  // ---- activations
  static std::string ActivationPath(std::string_view id, std::string_view part = {}) {
    std::string p = "/api/v1/namespaces/_/activations/" + std::string(id);
    if (!part.empty()) p += "/" + std::string(part);
    return p;
  }
  // Polls GET /activations/{id} until it answers 200 (the record is written)
  // or `timeout`; returns the last answer.
  ApiReply WaitForActivation(std::string_view id, milliseconds timeout = milliseconds(10'000)) const {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      ApiReply r = Get(ActivationPath(id));
      if (r.status == 200 || Clock::now() > deadline) return r;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

 private:
  Serve() = default;

  fs::path data_dir_;
  std::unique_ptr<Service> service_;
  std::string address_, wsk_line_, apihost_, auth_;
};

}  // namespace wow::test
