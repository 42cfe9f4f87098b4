// `wow serve` end to end: OpenWhisk's REST API (/api/v1) spoken over real
// HTTP to the real binary on 127.0.0.1 port 0 with a temporary data
// directory (tests/serve_fixture.h). One server serves the ServeTest suite
// (each test uses its own action names) and must exit 0 on SIGTERM; the
// cold-start, restart, kill -9 and SIGTERM tests start their own servers.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "common/files.h"
#include "serve_fixture.h"
#include "wasm/testing/module_generator.h"

namespace wow::test {
namespace {

using http::Verb;

constexpr char kNotFoundMessage[] = "The requested resource does not exist.";

// WASI command in WebAssembly text: one log line, then its result.
constexpr char kWatHello[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello from text\n")   ;; 16 bytes
  (data (i32.const 96) "{\"text\":\"ok\"}\n")   ;; 14 bytes
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $write (i32.const 64) (i32.const 16))
    (call $write (i32.const 96) (i32.const 14)))))";

// WASI command whose result is an application error.
constexpr char kWatAppError[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"error\":\"x\"}\n")   ;; 14 bytes
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 14))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))";

constexpr char kWatTrap[] = R"((module (memory (export "memory") 1) (func (export "_start") unreachable)))";

// Never returns; writes a global each iteration so the C compiler keeps the loop.
constexpr char kWatLoop[] = R"((module
  (memory (export "memory") 1)
  (global $ticks (mut i64) (i64.const 0))
  (func (export "_start")
    (loop $forever
      (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
      (br $forever)))))";

// Grows memory 1 MiB at a time, touching every new MiB, until refused; then traps.
constexpr char kWatMemoryBomb[] = R"((module
  (memory (export "memory") 1)
  (func (export "_start")
    (local $old i32)
    (loop $more
      (local.set $old (memory.grow (i32.const 16)))
      (if (i32.eq (local.get $old) (i32.const -1)) (then unreachable))
      (i32.store8 (i32.mul (local.get $old) (i32.const 65536)) (i32.const 1))
      (br $more)))))";

// Imports something no host provides.
constexpr char kWatUnknownImport[] = R"((module
  (import "nowhere" "nothing" (func $f))
  (memory (export "memory") 1)
  (func (export "_start") (call $f))))";

bool IsActivationId(const json::value& v) {
  static const std::regex kId("^[0-9a-f]{32}$");
  return v.is_string() && std::regex_match(std::string(v.as_string()), kId);
}

int64_t Int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64());
  return -1;
}

json::object Params(std::initializer_list<std::pair<std::string_view, json::value>> kv) {
  json::object o;
  for (const auto& [k, v] : kv) o[k] = v;
  return o;
}

#define ASSERT_STATUS(reply, code) ASSERT_EQ((reply).status, code##u) << (reply)
#define EXPECT_STATUS(reply, code) EXPECT_EQ((reply).status, code##u) << (reply)

// ---------------------------------------------------------------------------
// One server for the API tests.

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir("wow-serve-test");
    server_ = Serve::Start({data_dir_->path(), {}}).release();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      std::string logs = server_->Describe();
      EXPECT_EQ(server_->Stop(), 0) << "wow serve did not exit 0 on SIGTERM\n" << logs;
      delete server_;
      server_ = nullptr;
    }
    delete data_dir_;
    data_dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "wow serve did not start";
    ASSERT_TRUE(server_->Running()) << "wow serve died\n" << server_->Describe();
  }
  void TearDown() override {
    EXPECT_TRUE(server_ == nullptr || server_->Running()) << "wow serve died\n" << server_->Describe();
  }

  static Serve& server() { return *server_; }

  // Creates `name` from a module file; asserts 200.
  static void CreateFrom(std::string_view name, const fs::path& module, json::object extra = {}) {
    ApiReply r = server().CreateAction(name, WasmExec(module), std::move(extra));
    ASSERT_STATUS(r, 200) << "creating " << name << "\n" << server().Describe();
  }

  static TempDir* data_dir_;
  static Serve* server_;
};

TempDir* ServeTest::data_dir_ = nullptr;
Serve* ServeTest::server_ = nullptr;

TEST_F(ServeTest, PrintsAddressAndCredentialAndStoresIt) {
  EXPECT_EQ(server().address(), server().service().host() + ":" + std::to_string(server().service().port()));
  EXPECT_EQ(server().apihost(), "http://" + server().address());
  static const std::regex kCredential("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[A-Za-z0-9]{64}$");
  EXPECT_TRUE(std::regex_match(server().auth(), kCredential)) << server().wsk_line();
  // Stored in the data directory, readable by its owner only.
  fs::path stored = server().data_dir() / "guest.auth";
  EXPECT_NE(ReadText(stored).find(server().auth()), std::string::npos) << stored;
  struct stat st {};
  ASSERT_EQ(::stat(stored.c_str(), &st), 0) << stored;
  EXPECT_EQ(st.st_mode & 0077, 0u) << "guest.auth is readable by others: " << std::oct << st.st_mode;
}

TEST_F(ServeTest, ListsNamespaces) {
  ApiReply r = server().Get("/api/v1/namespaces");
  ASSERT_STATUS(r, 200);
  EXPECT_EQ(r.json, Json(R"(["guest"])")) << r;
  EXPECT_NE(r.Header("content-type").find("application/json"), std::string::npos) << r.Header("content-type");
}

TEST_F(ServeTest, RequiresValidBasicAuth) {
  const std::string none;
  const std::string uuid = server().auth().substr(0, server().auth().find(':'));
  const std::string wrong_key = uuid + ":" + std::string(64, 'x');
  const std::string wrong_uuid = "00000000-0000-0000-0000-000000000000" + server().auth().substr(uuid.size());
  const std::string no_colon = "justsomething";
  for (const std::string* auth : {&none, &wrong_key, &wrong_uuid, &no_colon}) {
    for (const char* target : {"/api/v1/namespaces", "/api/v1/namespaces/_/actions",
                               "/api/v1/namespaces/guest/activations", "/api/v1/namespaces/_/actions/x"}) {
      ApiReply r = server().Request(Verb::get, target, {}, auth);
      EXPECT_EQ(r.status, 401u) << "auth '" << *auth << "' " << target << ": " << r;
      EXPECT_FALSE(r.Error().empty()) << r;
      EXPECT_NE(r.Header("www-authenticate").find("Basic"), std::string::npos)
          << "no WWW-Authenticate: Basic header on " << target << ": " << r;
    }
  }
  // An Authorization header that is not Basic, or not base64.
  for (const char* header : {"Bearer abc", "Basic !!!not-base64!!!", "Basic", ""}) {
    ApiReply r =
        server().Request(Verb::get, "/api/v1/namespaces", {}, &none, milliseconds(10'000), {{"Authorization", header}});
    EXPECT_EQ(r.status, 401u) << "'" << header << "': " << r;
  }
  // Unauthenticated invocations run nothing.
  ApiReply invoke = server().Request(Verb::post, "/api/v1/namespaces/_/actions/x?blocking=true", "{}", &none);
  EXPECT_STATUS(invoke, 401);
}

TEST_F(ServeTest, OtherNamespacesAreForbidden) {
  for (const char* target : {"/api/v1/namespaces/other/actions", "/api/v1/namespaces/whisk.system/actions/x",
                             "/api/v1/namespaces/other/activations"}) {
    ApiReply r = server().Get(target);
    EXPECT_EQ(r.status, 403u) << target << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << r;
  }
  ApiReply put = server().Put("/api/v1/namespaces/other/actions/x", json::object{{"exec", WatExec(kWatTrap)}});
  EXPECT_STATUS(put, 403);
  EXPECT_STATUS(server().Get("/api/v1/namespaces/_/actions"), 200);
  EXPECT_STATUS(server().Get("/api/v1/namespaces/guest/actions"), 200);
}

TEST_F(ServeTest, UnknownResourcesAre404WithOpenWhisksBody) {
  for (auto [verb, target] : std::vector<std::pair<Verb, std::string>>{
           {Verb::get, Serve::ActionPath("no-such-action")},
           {Verb::delete_, Serve::ActionPath("no-such-action")},
           {Verb::post, Serve::ActionPath("no-such-action", "blocking=true")},
           {Verb::get, Serve::ActionPath("no-such-package/no-such-action")},
           {Verb::get, Serve::ActivationPath("0123456789abcdef0123456789abcdef")},
           {Verb::get, Serve::ActivationPath("0123456789abcdef0123456789abcdef", "logs")},
           {Verb::get, Serve::ActivationPath("0123456789abcdef0123456789abcdef", "result")},
           {Verb::get, std::string("/api/v1/namespaces/_/nothing-here")},
       }) {
    ApiReply r = server().Request(verb, target, verb == Verb::post ? "{}" : "");
    EXPECT_EQ(r.status, 404u) << target << ": " << r;
    ASSERT_TRUE(r.json.is_object()) << r;
    EXPECT_EQ(r.json.as_object().size(), 2u) << r;
    EXPECT_EQ(r.Member("error"), json::value(kNotFoundMessage)) << r;
    EXPECT_TRUE(r.Member("code").is_string() && !r.Member("code").as_string().empty()) << r;
  }
}

TEST_F(ServeTest, ActionLifecycle) {
  REQUIRE_MODULES(Example("add"), Example("echo"));
  const std::string code = Base64File(Example("add"));
  json::object exec{{"kind", "wasm"}, {"code", code}, {"binary", true}};
  ApiReply created = server().CreateAction("life-add", exec);
  ASSERT_STATUS(created, 200) << server().Describe();
  EXPECT_EQ(created.Member("name"), json::value("life-add")) << created;
  EXPECT_EQ(created.Member("namespace"), json::value("guest")) << created;
  EXPECT_EQ(created.Member("version"), json::value("0.0.1")) << created;
  EXPECT_EQ(At(created.json, "exec.kind"), json::value("wasm")) << created;
  EXPECT_EQ(At(created.json, "limits"), Json(R"({"timeout":60000,"memory":256,"logs":10,"concurrency":1})")) << created;

  // Again without overwrite: 409, nothing changes.
  ApiReply again = server().CreateAction("life-add", exec);
  EXPECT_STATUS(again, 409);
  EXPECT_FALSE(again.Error().empty()) << again;
  EXPECT_EQ(At(server().Get(Serve::ActionPath("life-add")).json, "version"), json::value("0.0.1"));

  // With overwrite: the version bumps, the new limits apply.
  json::object update{{"exec", exec}, {"limits", json::object{{"timeout", 1000}}}};
  ApiReply updated = server().PutAction("life-add", update, /*overwrite=*/true);
  ASSERT_STATUS(updated, 200);
  EXPECT_EQ(updated.Member("version"), json::value("0.0.2")) << updated;
  EXPECT_EQ(At(updated.json, "limits.timeout"), json::value(1000)) << updated;
  ApiReply third = server().PutAction("life-add", update, true);
  EXPECT_EQ(third.Member("version"), json::value("0.0.3")) << third;

  // GET with and without code.
  ApiReply got = server().Get(Serve::ActionPath("life-add"));
  ASSERT_STATUS(got, 200);
  EXPECT_EQ(At(got.json, "exec.code"), json::value(code)) << "GET does not give the code back";
  EXPECT_EQ(At(got.json, "exec.binary"), json::value(true)) << got;
  EXPECT_EQ(got.Member("version"), json::value("0.0.3")) << got;
  ApiReply no_code = server().Get(Serve::ActionPath("life-add", "code=false"));
  ASSERT_STATUS(no_code, 200);
  EXPECT_TRUE(At(no_code.json, "exec.code").is_null()) << no_code;
  EXPECT_EQ(At(no_code.json, "exec.kind"), json::value("wasm")) << no_code;

  // The invocation runs the action's current version.
  ApiReply run = server().Invoke("life-add", Params({{"param1", 2}, {"param2", 3}}));
  ASSERT_STATUS(run, 200);
  EXPECT_EQ(At(run.json, "response.result"), Json(R"({"result":5})")) << run;
  EXPECT_EQ(run.Member("version"), json::value("0.0.3")) << run;

  // DELETE answers the action; then it is gone.
  ApiReply deleted = server().Delete(Serve::ActionPath("life-add"));
  ASSERT_STATUS(deleted, 200);
  EXPECT_EQ(deleted.Member("name"), json::value("life-add")) << deleted;
  EXPECT_STATUS(server().Get(Serve::ActionPath("life-add")), 404);
  EXPECT_STATUS(server().Invoke("life-add", {}), 404);
  EXPECT_STATUS(server().Delete(Serve::ActionPath("life-add")), 404);
  // ... and can be created again, from version 0.0.1, with other code: that
  // code runs (warm: the create left its container), never the deleted one's.
  ApiReply recreated =
      server().CreateAction("life-add", json::object{{"kind", "wasm"}, {"code", Base64File(Example("echo"))}});
  ASSERT_STATUS(recreated, 200);
  EXPECT_EQ(recreated.Member("version"), json::value("0.0.1")) << recreated;
  ApiReply echoed = server().Invoke("life-add", Params({{"param1", 2}, {"param2", 3}}));
  ASSERT_STATUS(echoed, 200);
  EXPECT_EQ(At(echoed.json, "response.result"), Json(R"({"param1":2,"param2":3})")) << echoed;
  EXPECT_FALSE(Annotation(echoed.json, "initTime").has_value()) << "the create left no warm container: " << echoed;
  EXPECT_STATUS(server().Delete(Serve::ActionPath("life-add")), 200);
}

TEST_F(ServeTest, ListsActionsWithLimitAndSkip) {
  REQUIRE_MODULES(Example("add"));
  for (const char* name : {"list-c", "list-a", "list-e", "list-b", "list-d"}) CreateFrom(name, Example("add"));
  ApiReply all = server().Get("/api/v1/namespaces/_/actions?limit=200");
  ASSERT_STATUS(all, 200);
  ASSERT_TRUE(all.json.is_array()) << all;
  std::vector<std::string> names;
  for (const auto& a : all.json.as_array()) {
    names.push_back(Str(At(a, "name")));
    EXPECT_TRUE(At(a, "exec.code").is_null()) << "a listed action carries its code: " << Str(At(a, "name"));
    EXPECT_EQ(At(a, "namespace"), json::value("guest"));
  }
  std::vector<std::string> ours;
  for (const auto& n : names) {
    if (n.rfind("list-", 0) == 0) ours.push_back(n);
  }
  EXPECT_EQ(ours, (std::vector<std::string>{"list-a", "list-b", "list-c", "list-d", "list-e"}));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end())) << testing::PrintToString(names);
  // Pages of the same order.
  size_t first = std::find(names.begin(), names.end(), "list-a") - names.begin();
  ApiReply page = server().Get("/api/v1/namespaces/_/actions?limit=2&skip=" + std::to_string(first + 1));
  ASSERT_STATUS(page, 200);
  ASSERT_TRUE(page.json.is_array()) << page;
  ASSERT_EQ(page.json.as_array().size(), 2u) << page;
  EXPECT_EQ(At(page.json.as_array()[0], "name"), json::value("list-b")) << page;
  EXPECT_EQ(At(page.json.as_array()[1], "name"), json::value("list-c")) << page;
  ApiReply beyond = server().Get("/api/v1/namespaces/_/actions?skip=100000");
  EXPECT_STATUS(beyond, 200);
  EXPECT_EQ(beyond.json, json::value(json::array())) << beyond;
  ApiReply count = server().Get("/api/v1/namespaces/_/actions?count=true");
  EXPECT_STATUS(count, 200);
  EXPECT_EQ(count.json, json::value(json::object{{"actions", names.size()}})) << count;
  for (const char* bad : {"limit=abc", "skip=-1", "limit=201"}) {
    ApiReply r = server().Get(std::string("/api/v1/namespaces/_/actions?") + bad);
    EXPECT_EQ(r.status, 400u) << bad << ": " << r;
  }
  for (const char* name : {"list-a", "list-b", "list-c", "list-d", "list-e"}) {
    EXPECT_STATUS(server().Delete(Serve::ActionPath(name)), 200);
  }
}

TEST_F(ServeTest, RefusesCodeThatCannotRun) {
  struct Case {
    const char* what;
    json::object exec;
    const char* reason;  // a word the error must contain
  };
  std::vector<Case> cases = {
      {"bytes that are not wasm",
       {{"kind", "wasm"}, {"code", Base64Encode("definitely not wasm")}, {"binary", true}},
       "WebAssembly"},
      {"a truncated module",
       {{"kind", "wasm"}, {"code", Base64Encode(std::string("\0asm\1\0\0\0\1", 9))}, {"binary", true}},
       ""},
      {"invalid text", WatExec("(module (func (export \"_start\") (i32.add)))"), ""},
      {"an unknown import", WatExec(kWatUnknownImport), "nowhere"},
  };
  for (auto& c : cases) {
    ApiReply r = server().CreateAction("refused", c.exec);
    EXPECT_EQ(r.status, 400u) << c.what << ": " << r;
    std::string error = r.Error();
    EXPECT_FALSE(error.empty()) << c.what << ": " << r;
    EXPECT_NE(error.find(c.reason), std::string::npos)
        << c.what << ": the error does not name '" << c.reason << "': " << r;
    EXPECT_STATUS(server().Get(Serve::ActionPath("refused")), 404) << c.what << " left an action behind";
  }
  // Not base64 at all.
  ApiReply not_base64 = server().CreateAction("refused", {{"kind", "wasm"}, {"code", "%%%%"}, {"binary", true}});
  EXPECT_STATUS(not_base64, 400);
  EXPECT_FALSE(not_base64.Error().empty()) << not_base64;
  EXPECT_STATUS(server().Get(Serve::ActionPath("refused")), 404);
}

TEST_F(ServeTest, ValidatesKindAndLimits) {
  REQUIRE_MODULES(Example("add"));
  for (const char* kind : {"nodejs:20", "python:3", "blackbox", "sequence", ""}) {
    ApiReply r = server().CreateAction("kinds", WasmExec(Example("add"), kind));
    EXPECT_EQ(r.status, 400u) << "kind '" << kind << "': " << r;
    EXPECT_NE(r.Error().find("kind"), std::string::npos) << "the error does not name the kind: " << r;
  }
  struct Bad {
    const char* field;
    json::value value;
  };
  for (const Bad& bad :
       {Bad{"timeout", 50}, Bad{"timeout", 300001}, Bad{"memory", 1024}, Bad{"memory", 127}, Bad{"logs", 11},
        Bad{"logs", -1}, Bad{"concurrency", 0}, Bad{"timeout", "abc"}, Bad{"memory", 256.5}}) {
    ApiReply r =
        server().CreateAction("limits", WasmExec(Example("add")), {{"limits", json::object{{bad.field, bad.value}}}});
    EXPECT_EQ(r.status, 400u) << bad.field << "=" << json::serialize(bad.value) << ": " << r;
    EXPECT_NE(r.Error().find(bad.field), std::string::npos) << "the error does not name " << bad.field << ": " << r;
    EXPECT_STATUS(server().Get(Serve::ActionPath("limits")), 404);
  }
  // The bounds themselves are fine.
  ApiReply low = server().CreateAction(
      "limits", WasmExec(Example("add")),
      {{"limits", json::object{{"timeout", 100}, {"memory", 128}, {"logs", 0}, {"concurrency", 1}}}});
  ASSERT_STATUS(low, 200);
  EXPECT_EQ(At(low.json, "limits"), Json(R"({"timeout":100,"memory":128,"logs":0,"concurrency":1})")) << low;
  ApiReply high = server().PutAction(
      "limits",
      {{"exec", WasmExec(Example("add"))},
       {"limits", json::object{{"timeout", 300000}, {"memory", 512}, {"logs", 10}, {"concurrency", 500}}}},
      true);
  ASSERT_STATUS(high, 200);
  // An update without limits keeps them.
  ApiReply kept = server().PutAction("limits", {{"exec", WasmExec(Example("add"))}}, true);
  ASSERT_STATUS(kept, 200);
  EXPECT_EQ(At(kept.json, "limits"), Json(R"({"timeout":300000,"memory":512,"logs":10,"concurrency":500})")) << kept;
  EXPECT_STATUS(server().Delete(Serve::ActionPath("limits")), 200);

  // WOW's own kind name is an alias.
  ApiReply wow_kind = server().CreateAction("kind-wasm01", WasmExec(Example("add"), "wasm:0.1"));
  ASSERT_STATUS(wow_kind, 200);
  ApiReply run = server().Invoke("kind-wasm01", Params({{"param1", 20}, {"param2", 22}}));
  EXPECT_STATUS(run, 200);
  EXPECT_EQ(At(run.json, "response.result"), Json(R"({"result":42})")) << run;
  EXPECT_STATUS(server().Delete(Serve::ActionPath("kind-wasm01")), 200);
}

TEST_F(ServeTest, RejectsInvalidEntityNames) {
  // OpenWhisk's entity names: \A([\w]|[\w][\w@ .-]*[\w@.-]+)\z, at most 256 characters.
  for (std::string name : {std::string(257, 'n'), std::string("-leading-dash"), std::string("trailing%20"),
                           std::string("control%01char"), std::string("new%0Aline")}) {
    ApiReply r = server().CreateAction(name, WatExec(kWatTrap));
    EXPECT_EQ(r.status, 400u) << "name '" << name << "': " << r;
    server().Delete(Serve::ActionPath(name));
  }
  // Valid ones.
  for (std::string name : {std::string(256, 'n'), std::string("with%20space"), std::string("a@b.c-d_e")}) {
    ApiReply r = server().CreateAction(name, WatExec(kWatTrap));
    EXPECT_EQ(r.status, 200u) << "name '" << name << "': " << r;
    EXPECT_STATUS(server().Delete(Serve::ActionPath(name)), 200);
  }
}

TEST_F(ServeTest, LogsLimitIsEnforced) {
  REQUIRE_MODULES(Example("echo"));
  CreateFrom("logs0-echo", Example("echo"), {{"limits", json::object{{"logs", 0}}}});
  ApiReply r = server().Invoke("logs0-echo", Params({{"a", 1}}));
  ASSERT_STATUS(r, 200);
  EXPECT_EQ(At(r.json, "response.result"), Json(R"({"a":1})")) << r;
  const json::value logs = r.Member("logs");
  ASSERT_TRUE(logs.is_array()) << r;
  for (const auto& line : logs.as_array()) {
    EXPECT_EQ(Str(line).find("echo: "), std::string::npos)
        << "an action with limits.logs 0 MB kept its log lines: " << logs;
  }
}

// Issue 12: a deeply nested module was answered 200, then its background
// compile killed the server (and again after every restart). It is refused
// at deploy with the limit, and the server keeps serving.
TEST_F(ServeTest, RefusesModulesOverTheStructuralLimits) {
  const std::vector<uint8_t> nested = wasm::testing::NestedBlocksModule(20000);
  // 80 bytes on which wabt's binary reader asserted (found by wow_difftest).
  auto reader_assert = ReadFile(std::filesystem::path(WOW_SOURCE_DIR) /
                                "fuzz/corpus/fuzz_module/crash-wabt-reader-init-expr.wasm");
  ASSERT_TRUE(reader_assert.ok()) << reader_assert.status().ToString();
  struct Case {
    const char* what;
    json::object exec;
    const char* reason;
  };
  std::vector<Case> cases = {
      {"20,000 nested blocks",
       {{"kind", "wasm"}, {"code", Base64Encode(std::string(nested.begin(), nested.end()))}, {"binary", true}},
       "function 0 nests blocks 20000 deep; at most 1024 are allowed"},
      {"100,000 nested blocks in text", WatExec(wasm::testing::NestedBlocksText(100000, true)),
       "the WebAssembly text nests 100002 deep"},
      {"a block in a global's initialiser",
       {{"kind", "wasm"}, {"code", Base64Encode(*reader_assert)}, {"binary", true}},
       "the initialiser of global 5 is not a constant expression"},
  };
  for (auto& c : cases) {
    ApiReply r = server().CreateAction("too-deep", c.exec);
    EXPECT_EQ(r.status, 400u) << c.what << ": " << r;
    EXPECT_NE(r.Error().find(c.reason), std::string::npos) << c.what << ": " << r;
    EXPECT_STATUS(server().Get(Serve::ActionPath("too-deep")), 404) << c.what << " left an action behind";
    ASSERT_TRUE(server().Running()) << c.what << "\n" << server().Describe();
  }
  // Still serving: an action deploys and runs.
  ASSERT_STATUS(server().CreateAction("after-too-deep", WatExec(kWatHello)), 200) << server().Describe();
  ApiReply run = server().Invoke("after-too-deep", {});
  ASSERT_STATUS(run, 200);
  EXPECT_EQ(At(run.json, "response.result"), Json(R"({"text":"ok"})")) << run;
}

TEST_F(ServeTest, WebAssemblyTextCode) {
  ApiReply created = server().CreateAction("text-hello", WatExec(kWatHello));
  ASSERT_STATUS(created, 200) << server().Describe();
  EXPECT_EQ(At(created.json, "exec.binary"), json::value(false)) << created;
  ApiReply run = server().Invoke("text-hello", {});
  ASSERT_STATUS(run, 200);
  EXPECT_EQ(At(run.json, "response.result"), Json(R"({"text":"ok"})")) << run;
  const json::value logs = run.Member("logs");
  ASSERT_TRUE(logs.is_array()) << run;
  ASSERT_EQ(logs.as_array().size(), 1u) << run;
  EXPECT_NE(Str(logs.as_array()[0]).find("stdout: hello from text"), std::string::npos) << run;
  // Text code without "binary": inferred.
  ApiReply inferred = server().CreateAction("text-inferred", {{"kind", "wasm"}, {"code", kWatHello}});
  ASSERT_STATUS(inferred, 200);
  EXPECT_EQ(At(server().Invoke("text-inferred", {}).json, "response.result"), Json(R"({"text":"ok"})"));
}

TEST_F(ServeTest, ActionsInPackages) {
  REQUIRE_MODULES(Example("add"));
  ApiReply created = server().CreateAction("pkg/add", WasmExec(Example("add")));
  ASSERT_STATUS(created, 200) << server().Describe();
  EXPECT_EQ(created.Member("namespace"), json::value("guest/pkg")) << created;
  EXPECT_EQ(created.Member("name"), json::value("add")) << created;
  ApiReply got = server().Get(Serve::ActionPath("pkg/add"));
  EXPECT_STATUS(got, 200);
  EXPECT_EQ(got.Member("namespace"), json::value("guest/pkg")) << got;
  // A percent-encoded slash names the same action.
  EXPECT_STATUS(server().Get(Serve::ActionPath("pkg%2Fadd")), 200);
  ApiReply run = server().Invoke("pkg/add", Params({{"param1", 1}, {"param2", 2}}));
  ASSERT_STATUS(run, 200);
  EXPECT_EQ(At(run.json, "response.result"), Json(R"({"result":3})")) << run;
  EXPECT_EQ(Annotation(run.json, "path"), json::value("guest/pkg/add")) << run;
  std::string id = Str(run.Member("activationId"));
  ApiReply listed = server().Get("/api/v1/namespaces/_/activations?name=pkg/add");
  ASSERT_STATUS(listed, 200);
  ASSERT_TRUE(listed.json.is_array()) << listed;
  bool found = false;
  for (const auto& a : listed.json.as_array()) found |= At(a, "activationId") == json::value(id);
  EXPECT_TRUE(found) << "activation " << id << " not listed under name=pkg/add: " << listed;
  // An unqualified "add" is another action.
  EXPECT_STATUS(server().Get(Serve::ActionPath("add")), 404);
  // Deeper paths do not exist.
  EXPECT_STATUS(server().Get(Serve::ActionPath("a/b/c")), 404);
  EXPECT_STATUS(server().Delete(Serve::ActionPath("pkg/add")), 200);
  EXPECT_STATUS(server().Get(Serve::ActionPath("pkg/add")), 404);
}

TEST_F(ServeTest, DefaultParametersMergeUnderInvocationParameters) {
  REQUIRE_MODULES(Example("add"), Example("echo"));
  json::array defaults{json::object{{"key", "param1"}, {"value", 10}}, json::object{{"key", "param2"}, {"value", 20}}};
  CreateFrom("defaults-add", Example("add"), {{"parameters", defaults}});
  ApiReply both = server().Invoke("defaults-add", {});
  EXPECT_EQ(At(both.json, "response.result"), Json(R"({"result":30})")) << both;
  ApiReply one = server().Invoke("defaults-add", Params({{"param2", 5}}));
  EXPECT_EQ(At(one.json, "response.result"), Json(R"({"result":15})")) << one;
  ApiReply none = server().Invoke("defaults-add", Params({{"param1", 1}, {"param2", 1}}));
  EXPECT_EQ(At(none.json, "response.result"), Json(R"({"result":2})")) << none;
  // echo shows the merge exactly, with structured values.
  json::array echo_defaults{json::object{{"key", "a"}, {"value", json::object{{"deep", json::array{1, 2}}}}},
                            json::object{{"key", "b"}, {"value", "default"}}};
  CreateFrom("defaults-echo", Example("echo"), {{"parameters", echo_defaults}});
  ApiReply echo = server().Invoke("defaults-echo", Params({{"b", "given"}, {"c", nullptr}}));
  ASSERT_STATUS(echo, 200);
  EXPECT_EQ(At(echo.json, "response.result"), Json(R"({"a":{"deep":[1,2]},"b":"given","c":null})")) << echo;
}

TEST_F(ServeTest, BlockingInvocationAnswersTheRecord) {
  REQUIRE_MODULES(Example("echo"));
  CreateFrom("record-echo", Example("echo"));
  auto before = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ApiReply r = server().Invoke("record-echo", Params({{"x", 1}}));
  auto after = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_STATUS(r, 200);
  const json::value& rec = r.json;
  EXPECT_TRUE(IsActivationId(r.Member("activationId"))) << r;
  EXPECT_EQ(r.Header("x-openwhisk-activation-id"), Str(r.Member("activationId")));
  EXPECT_EQ(r.Member("namespace"), json::value("guest")) << r;
  EXPECT_EQ(r.Member("name"), json::value("record-echo")) << r;
  EXPECT_EQ(r.Member("version"), json::value("0.0.1")) << r;
  EXPECT_EQ(r.Member("subject"), json::value("guest")) << r;
  int64_t start = Int(r.Member("start")), end = Int(r.Member("end"));
  EXPECT_GE(start, before - 5) << r;
  EXPECT_LE(start, end) << r;
  EXPECT_LE(end, after + 5) << r;
  EXPECT_EQ(Int(r.Member("duration")), end - start) << r;
  EXPECT_EQ(At(rec, "response.status"), json::value("success")) << r;
  EXPECT_EQ(At(rec, "response.statusCode"), json::value(0)) << r;
  EXPECT_EQ(At(rec, "response.success"), json::value(true)) << r;
  EXPECT_EQ(At(rec, "response.result"), Json(R"({"x":1})")) << r;
  EXPECT_EQ(At(rec, "response.size"), json::value(7)) << r;
  ASSERT_TRUE(r.Member("logs").is_array()) << r;
  EXPECT_EQ(r.Member("logs").as_array().size(), 2u) << r;
  EXPECT_EQ(Annotation(rec, "path"), json::value("guest/record-echo")) << r;
  EXPECT_EQ(Annotation(rec, "kind"), json::value("wasm")) << r;
  EXPECT_EQ(Annotation(rec, "limits"), Json(R"({"timeout":60000,"memory":256,"logs":10,"concurrency":1})")) << r;
  EXPECT_EQ(Annotation(rec, "timeout"), json::value(false)) << r;
  // The backend that served it: the node's engine is tiered (the default), so
  // its fast tier or AoT.
  auto engine = Annotation(rec, "engine");
  ASSERT_TRUE(engine.has_value()) << r;
  EXPECT_TRUE(*engine == json::value("aot") || *engine == json::value("interp") || *engine == json::value("jit")) << r;
  auto wait = Annotation(rec, "waitTime");
  ASSERT_TRUE(wait.has_value()) << r;
  EXPECT_GE(Int(*wait), 0) << r;
  EXPECT_LE(Int(*wait), end - start + 1000) << r;
  // Create left a warm container: no initTime.
  EXPECT_FALSE(Annotation(rec, "initTime").has_value()) << "a warm start has initTime: " << r;
  // The stored record is the one answered.
  ApiReply stored = server().WaitForActivation(Str(r.Member("activationId")));
  ASSERT_STATUS(stored, 200);
  EXPECT_EQ(stored.json, r.json);
}

TEST_F(ServeTest, BlockingResultOnly) {
  REQUIRE_MODULES(Example("add"));
  CreateFrom("result-add", Example("add"));
  ApiReply r = server().Invoke("result-add", Params({{"param1", 40}, {"param2", 2}}), "blocking=true&result=true");
  ASSERT_STATUS(r, 200);
  EXPECT_EQ(r.json, Json(R"({"result":42})")) << r;
  // result=true without blocking is still non-blocking.
  ApiReply nb = server().Invoke("result-add", Params({{"param1", 1}, {"param2", 1}}), "result=true");
  EXPECT_STATUS(nb, 202);
  EXPECT_TRUE(IsActivationId(nb.Member("activationId"))) << nb;
}

TEST_F(ServeTest, ApplicationErrorIs502WithTheRecord) {
  REQUIRE_MODULES(Example("add"));
  CreateFrom("apperr-add", Example("add"));
  ApiReply r = server().Invoke("apperr-add", {});  // add requires param1 and param2
  ASSERT_STATUS(r, 502);
  EXPECT_TRUE(IsActivationId(r.Member("activationId"))) << r;
  EXPECT_EQ(At(r.json, "response.statusCode"), json::value(1)) << r;
  EXPECT_EQ(At(r.json, "response.status"), json::value("application error")) << r;
  EXPECT_EQ(At(r.json, "response.success"), json::value(false)) << r;
  EXPECT_TRUE(At(r.json, "response.result.error").is_string()) << r;
  EXPECT_NE(Str(At(r.json, "response.result.error")).find("param1"), std::string::npos) << r;
  ApiReply only = server().Invoke("apperr-add", {}, "blocking=true&result=true");
  ASSERT_STATUS(only, 502);
  EXPECT_EQ(only.json, At(r.json, "response.result")) << only;
  // A text action whose result is {"error":"x"}.
  ASSERT_STATUS(server().CreateAction("apperr-text", WatExec(kWatAppError)), 200);
  ApiReply x = server().Invoke("apperr-text", {}, "blocking=true&result=true");
  EXPECT_STATUS(x, 502);
  EXPECT_EQ(x.json, Json(R"({"error":"x"})")) << x;
  ApiReply stored = server().WaitForActivation(Str(r.Member("activationId")));
  EXPECT_EQ(At(stored.json, "response.statusCode"), json::value(1)) << stored;
}

TEST_F(ServeTest, DeveloperErrorIs502WithStatusCode2) {
  ASSERT_STATUS(server().CreateAction("deverr-trap", WatExec(kWatTrap)), 200) << server().Describe();
  ApiReply r = server().Invoke("deverr-trap", {});
  ASSERT_STATUS(r, 502);
  EXPECT_EQ(At(r.json, "response.statusCode"), json::value(2)) << r;
  EXPECT_EQ(At(r.json, "response.status"), json::value("action developer error")) << r;
  EXPECT_EQ(At(r.json, "response.success"), json::value(false)) << r;
  EXPECT_NE(Str(At(r.json, "response.result.error")).find("unreachable"), std::string::npos) << r;
  ApiReply only = server().Invoke("deverr-trap", {}, "blocking=true&result=true");
  EXPECT_STATUS(only, 502);
  EXPECT_EQ(only.json, At(r.json, "response.result")) << only;
  // The container survives its trap.
  EXPECT_STATUS(server().Invoke("deverr-trap", {}), 502);
}

TEST_F(ServeTest, NonBlockingInvocationThenActivationLogsAndResult) {
  REQUIRE_MODULES(Example("echo"));
  CreateFrom("nb-echo", Example("echo"));
  ApiReply r = server().Invoke("nb-echo", Params({{"hello", "world"}}), "");
  ASSERT_STATUS(r, 202);
  ASSERT_TRUE(r.json.is_object()) << r;
  EXPECT_EQ(r.json.as_object().size(), 1u) << r;
  ASSERT_TRUE(IsActivationId(r.Member("activationId"))) << r;
  std::string id = Str(r.Member("activationId"));
  EXPECT_EQ(r.Header("x-openwhisk-activation-id"), id);
  ApiReply blocking_false = server().Invoke("nb-echo", {}, "blocking=false");
  EXPECT_STATUS(blocking_false, 202);

  ApiReply rec = server().WaitForActivation(id);
  ASSERT_STATUS(rec, 200);
  EXPECT_EQ(rec.Member("activationId"), json::value(id)) << rec;
  EXPECT_EQ(At(rec.json, "response.result"), Json(R"({"hello":"world"})")) << rec;
  EXPECT_EQ(At(rec.json, "response.statusCode"), json::value(0)) << rec;

  ApiReply logs = server().Get(Serve::ActivationPath(id, "logs"));
  ASSERT_STATUS(logs, 200);
  ASSERT_TRUE(logs.json.is_object()) << logs;
  EXPECT_EQ(logs.json.as_object().size(), 1u) << logs;
  const json::value lines = logs.Member("logs");
  ASSERT_TRUE(lines.is_array()) << logs;
  ASSERT_EQ(lines.as_array().size(), 2u) << logs;
  static const std::regex kStdout(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\s+stdout: echo: 17 bytes$)");
  static const std::regex kStderr(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\s+stderr: echo: returning the parameters unchanged$)");
  EXPECT_TRUE(std::regex_match(Str(lines.as_array()[0]), kStdout)) << logs;
  EXPECT_TRUE(std::regex_match(Str(lines.as_array()[1]), kStderr)) << logs;
  EXPECT_EQ(lines, rec.Member("logs"));

  ApiReply result = server().Get(Serve::ActivationPath(id, "result"));
  ASSERT_STATUS(result, 200);
  EXPECT_EQ(At(result.json, "result"), Json(R"({"hello":"world"})")) << result;
  EXPECT_EQ(At(result.json, "success"), json::value(true)) << result;
  EXPECT_EQ(At(result.json, "status"), json::value("success")) << result;
  // Activations are addressed under "guest" as well as "_".
  EXPECT_STATUS(server().Get("/api/v1/namespaces/guest/activations/" + id), 200);
}

TEST_F(ServeTest, ListsActivationsWithFilters) {
  REQUIRE_MODULES(Example("add"));
  CreateFrom("acts-add", Example("add"));
  constexpr int kRuns = 5;
  std::vector<std::string> ids;  // oldest first
  std::vector<int64_t> starts;
  for (int i = 0; i < kRuns; ++i) {
    ApiReply r = server().Invoke("acts-add", Params({{"param1", i}, {"param2", 0}}));
    ASSERT_STATUS(r, 200);
    ids.push_back(Str(r.Member("activationId")));
    starts.push_back(Int(r.Member("start")));
    std::this_thread::sleep_for(milliseconds(15));  // distinct start times
  }
  ApiReply list = server().Get("/api/v1/namespaces/_/activations?name=acts-add");
  ASSERT_STATUS(list, 200);
  ASSERT_TRUE(list.json.is_array()) << list;
  ASSERT_EQ(list.json.as_array().size(), size_t(kRuns)) << list;
  for (int i = 0; i < kRuns; ++i) {  // newest first
    const json::value& a = list.json.as_array()[i];
    EXPECT_EQ(At(a, "activationId"), json::value(ids[kRuns - 1 - i])) << list;
    EXPECT_EQ(At(a, "name"), json::value("acts-add"));
    EXPECT_EQ(At(a, "namespace"), json::value("guest"));
    EXPECT_TRUE(At(a, "logs").is_null()) << "a summary carries logs: " << a;
    EXPECT_TRUE(At(a, "response").is_null()) << "a summary carries the response: " << a;
    EXPECT_EQ(At(a, "statusCode"), json::value(0)) << a;
    EXPECT_EQ(Int(At(a, "start")), starts[kRuns - 1 - i]) << a;
  }
  ApiReply docs = server().Get("/api/v1/namespaces/_/activations?name=acts-add&docs=true&limit=1");
  ASSERT_STATUS(docs, 200);
  ASSERT_EQ(docs.json.as_array().size(), 1u) << docs;
  EXPECT_EQ(At(docs.json.as_array()[0], "response.result"), Json(R"({"result":4})")) << docs;
  EXPECT_TRUE(At(docs.json.as_array()[0], "logs").is_array()) << docs;

  auto listed_ids = [&](const std::string& query) {
    std::vector<std::string> out;
    ApiReply r = server().Get("/api/v1/namespaces/_/activations?name=acts-add&" + query);
    EXPECT_EQ(r.status, 200u) << query << ": " << r;
    if (r.json.is_array()) {
      for (const auto& a : r.json.as_array()) out.push_back(Str(At(a, "activationId")));
    }
    return out;
  };
  EXPECT_EQ(listed_ids("limit=2"), (std::vector<std::string>{ids[4], ids[3]}));
  EXPECT_EQ(listed_ids("limit=2&skip=2"), (std::vector<std::string>{ids[2], ids[1]}));
  EXPECT_EQ(listed_ids("skip=4"), (std::vector<std::string>{ids[0]}));
  // since/upto between start times (inclusive or exclusive: either way the same answer).
  std::string since = std::to_string((starts[1] + starts[2]) / 2), upto = std::to_string((starts[3] + starts[4]) / 2);
  EXPECT_EQ(listed_ids("since=" + since), (std::vector<std::string>{ids[4], ids[3], ids[2]})) << since;
  EXPECT_EQ(listed_ids("upto=" + upto), (std::vector<std::string>{ids[3], ids[2], ids[1], ids[0]})) << upto;
  EXPECT_EQ(listed_ids("since=" + since + "&upto=" + upto), (std::vector<std::string>{ids[3], ids[2]}));
  // Another name, an unknown name.
  ApiReply other = server().Get("/api/v1/namespaces/_/activations?name=no-such-action");
  EXPECT_STATUS(other, 200);
  EXPECT_EQ(other.json, json::value(json::array())) << other;
  // Without a name: every action's, newest first, ours among them.
  ApiReply all = server().Get("/api/v1/namespaces/_/activations?limit=200");
  ASSERT_STATUS(all, 200);
  std::vector<int64_t> all_starts;
  std::set<std::string> all_ids;
  for (const auto& a : all.json.as_array()) {
    all_starts.push_back(Int(At(a, "start")));
    all_ids.insert(Str(At(a, "activationId")));
  }
  EXPECT_TRUE(std::is_sorted(all_starts.rbegin(), all_starts.rend())) << all;
  for (const auto& id : ids) EXPECT_TRUE(all_ids.count(id)) << id;
  for (const char* bad : {"limit=abc", "skip=x", "since=yesterday", "limit=201"}) {
    ApiReply r = server().Get(std::string("/api/v1/namespaces/_/activations?") + bad);
    EXPECT_EQ(r.status, 400u) << bad << ": " << r;
  }
}

TEST_F(ServeTest, BlockingInvocationThatOutlivesItsWaitAnswers202) {
  REQUIRE_MODULES(Example("block"));
  json::array net{json::object{{"key", "net_access"}, {"value", true}}};
  CreateFrom("wait-block", Example("block"), {{"annotations", net}});
  // A plain blocking call waits the 300 ms.
  ApiReply full = server().Invoke("wait-block", {});
  ASSERT_STATUS(full, 200);
  EXPECT_EQ(At(full.json, "response.result"), Json(R"({"status":0})")) << full;
  EXPECT_GE(full.ms, 290) << full;
  // With ?timeout=100 it gives up waiting after ~100 ms.
  ApiReply r = server().Invoke("wait-block", {}, "blocking=true&timeout=100");
  ASSERT_STATUS(r, 202);
  EXPECT_TRUE(IsActivationId(r.Member("activationId"))) << r;
  EXPECT_EQ(r.json.as_object().size(), 1u) << r;
  EXPECT_EQ(r.Header("x-openwhisk-activation-id"), Str(r.Member("activationId")));
  EXPECT_GE(r.ms, 95) << r;  // (a 202 means it did not wait for the end: that would have been a 200)
  std::string id = Str(r.Member("activationId"));
  EXPECT_STATUS(server().Get(Serve::ActivationPath(id)), 404) << "the record exists before the activation ended";
  ApiReply rec = server().WaitForActivation(id);
  ASSERT_STATUS(rec, 200);
  EXPECT_EQ(At(rec.json, "response.result"), Json(R"({"status":0})")) << rec;
  EXPECT_GE(Int(rec.Member("duration")), 290) << rec;
  // Without net_access the module cannot be created.
  ApiReply no_net = server().CreateAction("wait-block-no-net", WasmExec(Example("block")));
  EXPECT_STATUS(no_net, 400);
  EXPECT_NE(no_net.Error().find("http"), std::string::npos) << no_net;
  for (const char* bad : {"blocking=true&timeout=abc", "blocking=true&timeout=-5"}) {
    EXPECT_STATUS(server().Invoke("wait-block", {}, bad), 400) << bad;
  }
  // Regression (issue 12): the largest timeout wrapped to a negative wait
  // and answered 202 at once; it is capped at the longest wait instead.
  ApiReply huge = server().Invoke("wait-block", {}, "blocking=true&timeout=18446744073709551615");
  ASSERT_STATUS(huge, 200);
  EXPECT_GE(huge.ms, 290) << huge;
}

TEST_F(ServeTest, OversizedBodiesAre413) {
  REQUIRE_MODULES(Example("echo"));
  CreateFrom("big-echo", Example("echo"));
  // Invocation parameters just over 1 MiB.
  json::object big{{"data", std::string((1u << 20) + 16, 'a')}};
  ApiReply r = server().Invoke("big-echo", big);
  EXPECT_STATUS(r, 413);
  EXPECT_FALSE(r.Error().empty()) << r;
  EXPECT_STATUS(server().Invoke("big-echo", big, ""), 413);
  // Just under is fine.
  json::object fits{{"data", std::string((1u << 20) - 1000, 'b')}};
  ApiReply ok = server().Invoke("big-echo", fits, "blocking=true&result=true");
  EXPECT_STATUS(ok, 200);
  EXPECT_EQ(ok.json, json::value(fits));
  // Default parameters over 1 MiB.
  json::array params{json::object{{"key", "data"}, {"value", std::string((1u << 20) + 16, 'c')}}};
  ApiReply defaults =
      server().PutAction("big-echo", {{"exec", WasmExec(Example("echo"))}, {"parameters", params}}, true);
  EXPECT_STATUS(defaults, 413);
  EXPECT_FALSE(defaults.Error().empty()) << defaults;
  // Code over OpenWhisk's 48 MiB.
  std::string huge = ToJson(
      json::object{{"exec", json::object{{"kind", "wasm"}, {"binary", true}, {"code", std::string(50u << 20, 'A')}}}});
  ApiReply code = server().Request(Verb::put, Serve::ActionPath("big-code"), std::move(huge));
  EXPECT_STATUS(code, 413);
  EXPECT_STATUS(server().Get(Serve::ActionPath("big-code")), 404);
}

// The header of a request with a body of `length` bytes that is never sent; `auth` empty: none.
std::string UploadHeader(std::string_view method, std::string_view target, uint64_t length, std::string_view auth) {
  std::string header = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!auth.empty()) header += "Authorization: Basic " + Base64Encode(auth) + "\r\n";
  return header + "Content-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

// Answers come before the body: the client sends the header, half-closes and still gets them.
TEST_F(ServeTest, AuthAndSizeAreCheckedBeforeTheBody) {
  const uint16_t port = server().service().port();
  std::string answer = RawExchange(port, UploadHeader("PUT", Serve::ActionPath("upload"), 60'000'000, ""), true);
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 401") << answer;
  EXPECT_NE(answer.find("WWW-Authenticate: Basic"), std::string::npos) << answer;
  EXPECT_NE(answer.find("requires authentication"), std::string::npos) << answer;
  const std::string wrong = server().auth().substr(0, server().auth().find(':')) + ":" + std::string(64, 'x');
  answer = RawExchange(port, UploadHeader("POST", Serve::ActionPath("upload"), 60'000'000, wrong), true);
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 401") << answer;
  // Authenticated: each route's limit, from its Content-Length.
  struct Case {
    const char* method;
    std::string target;
    uint64_t length;
    const char* says;
  };
  for (const Case& c : {Case{"POST", Serve::ActionPath("upload"), (1u << 20) + 1, "parameters of an invocation"},
                        Case{"PUT", Serve::ActionPath("upload"), (49u << 20) + 1, "for an action"},
                        Case{"GET", "/api/v1/namespaces/_/activations", (64u << 10) + 1, "more than the allowed"}}) {
    answer = RawExchange(port, UploadHeader(c.method, c.target, c.length, server().auth()), true);
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 413") << c.method << " " << c.target << ": " << answer;
    EXPECT_NE(answer.find(c.says), std::string::npos) << answer;
    EXPECT_NE(answer.find("\"code\""), std::string::npos) << "not OpenWhisk's error body: " << answer;
  }
  EXPECT_STATUS(server().Get(Serve::ActionPath("upload")), 404);
}

TEST_F(ServeTest, MalformedBodiesAre400) {
  REQUIRE_MODULES(Example("add"));
  CreateFrom("malformed-add", Example("add"));
  std::string code = Base64File(Example("add"));
  for (std::string body :
       {std::string("{"), std::string("not json"), std::string(""), std::string("[]"), std::string("\"s\""),
        std::string(R"({"exec":"wasm"})"), std::string(R"({"exec":{"kind":"wasm","code":7}})"),
        std::string(R"({"exec":{"kind":"wasm"}})"),
        std::string(R"({"exec":{"kind":"wasm","code":")") + code + R"(","binary":"yes"}})",
        std::string(R"({"exec":{"kind":"wasm","code":")") + code + R"("},"parameters":{"a":1}})",
        std::string(R"({"exec":{"kind":"wasm","code":")") + code + R"("},"parameters":[{"value":1}]})",
        std::string(R"({"exec":{"kind":"wasm","code":")") + code + R"("},"annotations":[1]})",
        std::string(R"({"exec":{"kind":"wasm","code":")") + code + R"("},"limits":[]})"}) {
    ApiReply r = server().Request(Verb::put, Serve::ActionPath("malformed-new"), body);
    EXPECT_EQ(r.status, 400u) << body.substr(0, 80) << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << r;
  }
  EXPECT_STATUS(server().Get(Serve::ActionPath("malformed-new")), 404);
  for (const char* body : {"{", "[1]", "\"s\"", "42", "null", "{\"a\":}"}) {
    ApiReply r = server().Request(Verb::post, Serve::ActionPath("malformed-add", "blocking=true"), body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << r;
  }
  // Regression (issue 12): a number beyond a double was infinity, then a 502.
  for (const char* body : {"{\"param1\":1e999999,\"param2\":1}", "{\"a\":[-1e400]}"}) {
    ApiReply r = server().Request(Verb::post, Serve::ActionPath("malformed-add", "blocking=true"), body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r;
  }
  // An empty invocation body is an empty parameter object.
  ApiReply empty = server().Request(Verb::post, Serve::ActionPath("malformed-add", "blocking=true"), "");
  EXPECT_STATUS(empty, 502);
  EXPECT_NE(Str(At(empty.json, "response.result.error")).find("param1"), std::string::npos) << empty;
}

// Regression (issue 12): a deployer cannot grant itself the host. `dir: "/"`
// is a private directory of the action's; the data dir stays out of reach.
TEST_F(ServeTest, DirAnnotationCannotReachTheHostOrTheDataDir) {
  REQUIRE_MODULES(Example("filesys"));
  json::array root{json::object{{"key", "dir"}, {"value", "/"}}};
  CreateFrom("fs-root", Example("filesys"), {{"annotations", root}});
  fs::path credential = data_dir_->path() / "guest.auth";
  std::string before = ReadText(credential);
  ASSERT_FALSE(before.empty());
  // Overwrite (then read back) the credential through the grant: the write
  // lands in the private directory, or fails; the host file is untouched.
  ApiReply r = server().Invoke("fs-root", Params({{"dir", "/"}, {"path", json::value(credential.string())}, {"content", "x"}}),
                               "blocking=true&result=true");
  EXPECT_TRUE(r.status == 200 || r.status == 502) << r;
  EXPECT_EQ(ReadText(credential), before);
  // A file the action writes at "/f" lives under <data-dir>/files.
  ApiReply w = server().Invoke("fs-root", Params({{"dir", "/"}, {"path", "/f"}, {"content", "mine"}}),
                               "blocking=true&result=true");
  ASSERT_STATUS(w, 200);
  EXPECT_FALSE(fs::exists("/f"));
  EXPECT_TRUE(fs::exists(data_dir_->path() / "files" / "guest%2Ffs-root" / "%2F" / "f"));
}

// Regression (issue 12): the `memory` annotation cannot raise the memory
// that limits.memory (what the platform budgets for) allows.
TEST_F(ServeTest, MemoryAnnotationCannotExceedTheLimits) {
  REQUIRE_MODULES(Example("add"));
  json::array big{json::object{{"key", "memory"}, {"value", 4095}}};
  ApiReply r = server().CreateAction("mem-over", WasmExec(Example("add")),
                                     {{"annotations", big}, {"limits", json::object{{"memory", 128}}}});
  EXPECT_STATUS(r, 400);
  EXPECT_NE(r.Error().find("limits.memory"), std::string::npos) << r;
  json::array small{json::object{{"key", "memory"}, {"value", 64}}};
  CreateFrom("mem-under", Example("add"), {{"annotations", small}, {"limits", json::object{{"memory", 128}}}});
}

// Regression (issue 12): concurrent updates of one action produced the same
// version, and a warm container ran code other than the stored one. Updates
// are one at a time (a concurrent one is a 409, as OpenWhisk's conflicts),
// versions never repeat, and what runs is what is stored.
TEST_F(ServeTest, ConcurrentUpdatesGetDistinctVersionsAndRunTheStoredCode) {
  REQUIRE_MODULES(Example("add"), Example("echo"));
  CreateFrom("racy", Example("add"));
  std::vector<std::string> versions;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      ApiReply r = server().PutAction("racy", {{"exec", WasmExec(Example(i % 2 ? "echo" : "add"))}}, true);
      EXPECT_TRUE(r.status == 200 || r.status == 409) << r;
      std::lock_guard<std::mutex> lock(mu);
      if (r.status == 200) versions.push_back(Str(r.Member("version")));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(versions.empty());
  std::set<std::string> distinct(versions.begin(), versions.end());
  EXPECT_EQ(distinct.size(), versions.size()) << "a version was written twice";
  ApiReply stored = server().Get(Serve::ActionPath("racy"));
  ASSERT_STATUS(stored, 200);
  bool is_echo = Str(At(stored.json, "exec.code")) == Base64File(Example("echo"));
  ApiReply ran = server().Invoke("racy", Params({{"param1", 1}, {"param2", 2}}), "blocking=true&result=true");
  ASSERT_STATUS(ran, 200);
  if (is_echo) {
    EXPECT_EQ(ran.json, Json(R"({"param1":1,"param2":2})")) << ran;
  } else {
    EXPECT_EQ(ran.json, Json(R"({"result":3})")) << ran;
  }
}

TEST_F(ServeTest, PackagesTriggersAndRulesAre501) {
  for (auto [verb, target] : std::vector<std::pair<Verb, std::string>>{
           {Verb::get, "/api/v1/namespaces/_/packages"},
           {Verb::put, "/api/v1/namespaces/_/packages/p"},
           {Verb::get, "/api/v1/namespaces/_/triggers"},
           {Verb::post, "/api/v1/namespaces/_/triggers/t"},
           {Verb::get, "/api/v1/namespaces/_/rules"},
           {Verb::delete_, "/api/v1/namespaces/_/rules/r"},
       }) {
    ApiReply r = server().Request(verb, target, verb == Verb::get || verb == Verb::delete_ ? "" : "{}");
    EXPECT_EQ(r.status, 501u) << target << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << target << ": " << r;
  }
}

TEST_F(ServeTest, HostileActionsDoNotDisturbOthers) {
  REQUIRE_MODULES(Example("add"));
  CreateFrom("calm-add", Example("add"));
  ASSERT_STATUS(server().CreateAction("hostile-loop", WatExec(kWatLoop), {{"limits", json::object{{"timeout", 200}}}}),
                200);
  ASSERT_STATUS(
      server().CreateAction("hostile-bomb", WatExec(kWatMemoryBomb), {{"limits", json::object{{"memory", 128}}}}), 200);

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<double> calm_ms;
  int loops = 0, bombs = 0;
  auto fail = [&](std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(std::move(what));
  };
  std::thread calm([&] {
    for (int i = 0; !stop; ++i) {
      ApiReply r = server().Invoke("calm-add", Params({{"param1", i}, {"param2", 1}}), "blocking=true&result=true");
      if (r.status != 200 || r.json != json::value(json::object{{"result", i + 1}})) {
        fail("calm-add: " + testing::PrintToString(r));
      }
      std::lock_guard<std::mutex> lock(mu);
      calm_ms.push_back(r.ms);
    }
  });
  std::thread loop([&] {
    for (int i = 0; i < 6; ++i) {
      ApiReply r = server().Invoke("hostile-loop", {});
      if (r.status != 502 || At(r.json, "response.statusCode") != json::value(2) ||
          Str(At(r.json, "response.result.error")) != "The action exceeded its time limits of 200 milliseconds." ||
          Annotation(r.json, "timeout") != json::value(true)) {
        fail("hostile-loop: " + testing::PrintToString(r));
      }
      if (r.ms > 1500) fail("hostile-loop took " + std::to_string(r.ms) + " ms");
      std::lock_guard<std::mutex> lock(mu);
      ++loops;
    }
  });
  std::thread bomb([&] {
    for (int i = 0; i < 4; ++i) {
      ApiReply r = server().Invoke("hostile-bomb", {});
      if (r.status != 502 || At(r.json, "response.statusCode") != json::value(2) ||
          Str(At(r.json, "response.result.error")).find("memory limit of 128 MB") == std::string::npos) {
        fail("hostile-bomb: " + testing::PrintToString(r));
      }
      std::lock_guard<std::mutex> lock(mu);
      ++bombs;
    }
  });
  loop.join();
  bomb.join();
  stop = true;
  calm.join();
  EXPECT_TRUE(failures.empty()) << testing::PrintToString(failures);
  EXPECT_EQ(loops, 6);
  EXPECT_EQ(bombs, 4);
  ASSERT_FALSE(calm_ms.empty());
  std::sort(calm_ms.begin(), calm_ms.end());
  double p50 = calm_ms[calm_ms.size() / 2], max = calm_ms.back();
  std::printf("[ measure  ] calm-add beside hostile actions: %zu calls, p50 %.2f ms, max %.2f ms\n", calm_ms.size(),
              p50, max);
  EXPECT_LT(max, 1000) << "a well-behaved action waited behind hostile ones";
  // Still fine afterwards.
  EXPECT_EQ(server().Invoke("calm-add", Params({{"param1", 1}, {"param2", 2}}), "blocking=true&result=true").json,
            Json(R"({"result":3})"));
}

// ---------------------------------------------------------------------------
// Engines: the node's (--engine) and an action's own (the `engine`
// annotation); records say which backend served.

json::array EngineAnnotation(json::value engine) {
  return json::array{json::object{{"key", "engine"}, {"value", std::move(engine)}}};
}

TEST(ServeEngineTest, ActionAnnotationChoosesTheEngineAndRecordsSayWhichServed) {
  TempDir data("wow-serve-engine");
  auto server = Serve::Start({data.path(), {"--engine", "aot"}});
  ASSERT_NE(server, nullptr);
  ASSERT_STATUS(server->CreateAction("node-engine", WatExec(kWatHello)), 200) << server->Describe();
  ASSERT_STATUS(server->CreateAction("own-engine", WatExec(kWatHello), {{"annotations", EngineAnnotation("interp")}}),
                200);
  ApiReply node = server->Invoke("node-engine", {});
  ApiReply own = server->Invoke("own-engine", {});
  ASSERT_STATUS(node, 200);
  ASSERT_STATUS(own, 200);
  EXPECT_EQ(Annotation(node.json, "engine"), json::value("aot")) << node;
  EXPECT_EQ(Annotation(own.json, "engine"), json::value("interp")) << own;
  EXPECT_EQ(At(own.json, "response.result"), Json(R"({"text":"ok"})")) << own;
  EXPECT_EQ(At(node.json, "response.result"), At(own.json, "response.result"));
  // The stored record says so too, and the action keeps its annotation.
  ApiReply stored = server->WaitForActivation(Str(own.Member("activationId")));
  EXPECT_EQ(Annotation(stored.json, "engine"), json::value("interp")) << stored;
  EXPECT_EQ(Annotation(server->Get(Serve::ActionPath("own-engine")).json, "engine"), json::value("interp"));
  // A new version with another engine runs on it.
  ASSERT_STATUS(server->PutAction("own-engine",
                                  {{"exec", WatExec(kWatHello)}, {"annotations", EngineAnnotation("tiered")}}, true),
                200);
  ApiReply tiered = server->Invoke("own-engine", {});
  ASSERT_STATUS(tiered, 200);
  auto tier = Annotation(tiered.json, "engine");
  EXPECT_TRUE(tier == json::value("aot") || tier == json::value("interp") || tier == json::value("jit")) << tiered;
  // An engine that does not exist is refused, naming the choices; nothing is stored.
  for (json::value bad : {json::value("warp"), json::value(3)}) {
    ApiReply r = server->CreateAction("bad-engine", WatExec(kWatHello), {{"annotations", EngineAnnotation(bad)}});
    EXPECT_STATUS(r, 400);
    std::string error = Str(r.Member("error"));
    EXPECT_NE(error.find("the `engine` annotation must be one of aot, interp"), std::string::npos) << r;
    EXPECT_NE(error.find("tiered"), std::string::npos) << r;
    EXPECT_STATUS(server->Get(Serve::ActionPath("bad-engine")), 404);
  }
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// ---------------------------------------------------------------------------
// Every invocation is a cold start with --keep-alive-ms 0; --auth sets the
// credential.

TEST(ServeColdTest, EveryInvocationIsColdWithKeepAliveZero) {
  REQUIRE_MODULES(Example("add"));
  TempDir data("wow-serve-cold");
  const std::string auth = "11111111-2222-3333-4444-555555555555:" + std::string(64, 'k');
  auto server = Serve::Start({data.path(), {"--keep-alive-ms", "0", "--auth", auth}});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->auth(), auth) << server->wsk_line();
  ASSERT_STATUS(server->CreateAction("cold-add", WasmExec(Example("add"))), 200) << server->Describe();
  std::vector<int64_t> init_times;
  for (int i = 0; i < 3; ++i) {
    ApiReply r = server->Invoke("cold-add", Params({{"param1", i}, {"param2", 1}}));
    ASSERT_STATUS(r, 200);
    EXPECT_EQ(At(r.json, "response.result"), json::value(json::object{{"result", i + 1}})) << r;
    auto init = Annotation(r.json, "initTime");
    ASSERT_TRUE(init.has_value()) << "a cold start has no initTime: " << r;
    EXPECT_GE(Int(*init), 0) << r;
    EXPECT_LE(Int(*init), Int(r.Member("duration"))) << "initTime is part of duration: " << r;
    init_times.push_back(Int(*init));
  }
  std::printf("[ measure  ] initTime of cold starts (cached artifact): %s ms\n",
              testing::PrintToString(init_times).c_str());
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
  // Restarted with another --auth: the new one replaces the old.
  const std::string other = "aaaaaaaa-2222-3333-4444-555555555555:" + std::string(64, 'z');
  server = Serve::Start({data.path(), {"--keep-alive-ms", "0", "--auth", other}});
  ASSERT_NE(server, nullptr);
  EXPECT_STATUS(server->Get("/api/v1/namespaces"), 200);
  EXPECT_STATUS(server->Request(Verb::get, "/api/v1/namespaces", {}, &auth), 401);
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// ---------------------------------------------------------------------------
// Unauthenticated uploads are refused before their body: the server's peak
// memory does not grow with them (issue 12: four 60 MB uploads took it from
// 29 to 265 MB).

// A "VmHWM"/"VmRSS" line of /proc/<pid>/status in kB, or -1.
int64_t StatusKb(pid_t pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(std::string(key) + ":", 0) == 0) return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

TEST(ServeUploadTest, UnauthenticatedUploadsDoNotGrowTheServer) {
  TempDir data("wow-serve-upload");
  auto server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  const pid_t pid = server->service().pid();
  const int64_t peak_before = StatusKb(pid, "VmHWM");
  ASSERT_GT(peak_before, 0);
  constexpr size_t kUpload = 60'000'000;
  const std::string upload = UploadHeader("PUT", Serve::ActionPath("upload"), kUpload, "") + std::string(kUpload, 'A');
  for (int round = 0; round < 2; ++round) {  // four at once, twice
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) clients.emplace_back([&] { RawExchange(server->service().port(), upload, true); });
    for (auto& t : clients) t.join();
  }
  const int64_t peak_after = StatusKb(pid, "VmHWM");
  std::printf("[ measure  ] wow serve peak RSS before/after 8 unauthenticated 60 MB uploads: %lld / %lld kB\n",
              static_cast<long long>(peak_before), static_cast<long long>(peak_after));
  EXPECT_LT(peak_after - peak_before, 50 * 1024) << "the server buffered unauthenticated bodies";
  EXPECT_LT(StatusKb(pid, "VmRSS") - peak_before, 50 * 1024);
  // And it still serves.
  EXPECT_STATUS(server->Get("/api/v1/namespaces"), 200);
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// --max-connections-per-address: an address's connections beyond it are closed at accept, and a freed place can
// be taken again.
TEST(ServeConnectionTest, OneAddressMayHoldOnlyItsShareOfConnections) {
  TempDir data("wow-serve-connections");
  auto server = Serve::Start({data.path(), {"--max-connections-per-address", "2"}});
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->service().port();
  auto connect_and_get = [&]() -> std::optional<http::Client> {
    auto client = http::Client::Connect("127.0.0.1", port, milliseconds(10'000));
    if (!client.ok()) return std::nullopt;  // the connection was closed at accept
    auto res = client->Send(Verb::get, "/api/v1");
    if (!res.ok()) return std::nullopt;
    EXPECT_EQ(res->result_int(), 200u);
    return std::move(*client);
  };
  std::vector<http::Client> held;
  for (int i = 0; i < 2; ++i) {
    auto client = connect_and_get();
    ASSERT_TRUE(client) << "connection " << i << "\n" << server->Describe();
    held.push_back(std::move(*client));
  }
  EXPECT_FALSE(connect_and_get()) << "a third connection from 127.0.0.1 was served";
  held.pop_back();
  std::optional<http::Client> again;  // once the server has seen the close
  for (auto deadline = Clock::now() + milliseconds(10'000); !again && Clock::now() < deadline;) {
    again = connect_and_get();
    if (!again) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(again) << "a freed place was not given to a new connection";
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// ---------------------------------------------------------------------------
// Durability.

TEST(ServeDurabilityTest, RestartKeepsCredentialActionsAndActivations) {
  REQUIRE_MODULES(Example("add"), Example("echo"));
  TempDir data("wow-serve-restart");
  auto server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  const std::string auth = server->auth();
  ASSERT_STATUS(server->CreateAction("keep-add", WasmExec(Example("add")),
                                     {{"parameters", json::array{json::object{{"key", "param2"}, {"value", 100}}}}}),
                200);
  ASSERT_STATUS(server->CreateAction("pkg/keep-echo", WasmExec(Example("echo"))), 200);
  ASSERT_STATUS(server->PutAction("pkg/keep-echo", {{"exec", WasmExec(Example("echo"))}}, true), 200);
  ApiReply blocking = server->Invoke("keep-add", Params({{"param1", 1}}));
  ASSERT_STATUS(blocking, 200);
  ApiReply nb = server->Invoke("pkg/keep-echo", Params({{"n", 1}}), "");
  ASSERT_STATUS(nb, 202);
  std::string nb_id = Str(nb.Member("activationId"));
  ApiReply nb_rec = server->WaitForActivation(nb_id);
  ASSERT_STATUS(nb_rec, 200);
  ApiReply action_before = server->Get(Serve::ActionPath("keep-add"));
  ApiReply echo_before = server->Get(Serve::ActionPath("pkg/keep-echo"));
  ApiReply list_before = server->Get("/api/v1/namespaces/_/activations?docs=true");
  ASSERT_EQ(server->Stop(), 0) << server->Describe();

  server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->auth(), auth) << "the credential changed across a restart";
  EXPECT_EQ(server->Get(Serve::ActionPath("keep-add")).json, action_before.json);
  ApiReply echo_after = server->Get(Serve::ActionPath("pkg/keep-echo"));
  EXPECT_EQ(echo_after.json, echo_before.json);
  EXPECT_EQ(echo_after.Member("version"), json::value("0.0.2")) << echo_after;
  EXPECT_EQ(server->Get(Serve::ActivationPath(Str(blocking.Member("activationId")))).json, blocking.json);
  EXPECT_EQ(server->Get(Serve::ActivationPath(nb_id)).json, nb_rec.json);
  EXPECT_EQ(server->Get(Serve::ActivationPath(nb_id, "logs")).Member("logs"), nb_rec.Member("logs"));
  EXPECT_EQ(server->Get("/api/v1/namespaces/_/activations?docs=true").json, list_before.json);
  // The actions still run, with their default parameters; versions go on.
  ApiReply run = server->Invoke("keep-add", Params({{"param1", 1}}), "blocking=true&result=true");
  EXPECT_EQ(run.json, Json(R"({"result":101})")) << run;
  ApiReply bumped = server->PutAction("pkg/keep-echo", {{"exec", WasmExec(Example("echo"))}}, true);
  EXPECT_EQ(bumped.Member("version"), json::value("0.0.3")) << bumped;
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// Fires non-blocking invocations of `block` (300 ms each) from `threads`
// threads until `stop` (or kMaxIds); collects every activation id answered
// with 202.
struct Burst {
  // Fewer than the invoker's default queue bound (1024): none is refused.
  static constexpr size_t kMaxIds = 700;
  std::mutex mu;
  std::vector<std::string> ids;
  std::vector<std::string> unexpected;  // answers other than 202 (while running)
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;

  void Start(const Serve& server, std::string action, int n_threads) {
    for (int t = 0; t < n_threads; ++t) {
      threads.emplace_back([this, &server, action] {
        while (!stop && Count() < kMaxIds) {
          std::this_thread::sleep_for(milliseconds(3));
          ApiReply r = server.Invoke(action, {}, "");
          std::lock_guard<std::mutex> lock(mu);
          if (r.status == 202 && IsActivationId(r.Member("activationId"))) {
            ids.push_back(Str(r.Member("activationId")));
          } else if (r.status != 0 && !stop) {
            unexpected.push_back(testing::PrintToString(r));
          }
          if (r.status == 0) return;  // the server is gone
        }
      });
    }
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return ids.size();
  }
  void Join() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

TEST(ServeDurabilityTest, KillDuringBurstLosesNoActivationId) {
  REQUIRE_MODULES(Example("block"));
  TempDir data("wow-serve-kill");
  auto server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  json::array net{json::object{{"key", "net_access"}, {"value", true}}};
  ASSERT_STATUS(server->CreateAction("kill-block", WasmExec(Example("block")), {{"annotations", net}}), 200);
  // Some completed before the burst.
  for (int i = 0; i < 3; ++i) ASSERT_STATUS(server->Invoke("kill-block", {}, ""), 202);
  std::this_thread::sleep_for(milliseconds(400));

  Burst burst;
  burst.Start(*server, "kill-block", 4);
  auto deadline = Clock::now() + milliseconds(10'000);
  while (burst.Count() < 50 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(400));  // the first ones complete, later ones run
  server->Kill();
  burst.Join();
  EXPECT_TRUE(burst.unexpected.empty()) << testing::PrintToString(burst.unexpected);
  ASSERT_GE(burst.ids.size(), 50u);

  server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  size_t completed = 0, interrupted = 0;
  std::vector<std::string> bad;
  for (const auto& id : burst.ids) {
    ApiReply r = server->Get(Serve::ActivationPath(id));
    if (r.status != 200) {
      bad.push_back(id + ": " + testing::PrintToString(r));
      continue;
    }
    EXPECT_EQ(r.Member("activationId"), json::value(id));
    EXPECT_EQ(r.Member("name"), json::value("kill-block")) << r;
    if (At(r.json, "response.statusCode") == json::value(0) &&
        At(r.json, "response.result") == Json(R"({"status":0})")) {
      ++completed;
    } else if (At(r.json, "response.statusCode") == json::value(3) &&
               Str(At(r.json, "response.result.error")).find("interrupted") != std::string::npos) {
      ++interrupted;
      EXPECT_EQ(At(r.json, "response.success"), json::value(false)) << r;
    } else {
      bad.push_back(id + ": " + testing::PrintToString(r));
    }
  }
  std::printf("[ measure  ] kill -9 after %zu accepted block activations: %zu completed, %zu interrupted\n",
              burst.ids.size(), completed, interrupted);
  EXPECT_TRUE(bad.empty()) << bad.size() << " activation ids lost or malformed, e.g. "
                           << testing::PrintToString(
                                  std::vector<std::string>(bad.begin(), bad.begin() + std::min<size_t>(bad.size(), 5)));
  EXPECT_GT(interrupted, 0u) << "the kill interrupted nothing: the test did not test recovery";
  EXPECT_NE(server->Describe().find("interrupted"), std::string::npos) << server->Describe();
  // The interrupted ones are listed too.
  ApiReply list = server->Get("/api/v1/namespaces/_/activations?name=kill-block&limit=200");
  EXPECT_STATUS(list, 200);
  // The platform goes on.
  ApiReply after = server->Invoke("kill-block", {}, "blocking=true&result=true");
  EXPECT_EQ(after.json, Json(R"({"status":0})")) << after;
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

TEST(ServeDurabilityTest, SigtermFinishesRunningActivations) {
  REQUIRE_MODULES(Example("block"));
  TempDir data("wow-serve-term");
  auto server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  json::array net{json::object{{"key", "net_access"}, {"value", true}}};
  // limits.concurrency 100: one container's worth of memory runs them all at once, none queue.
  ASSERT_STATUS(server->CreateAction("term-block", WasmExec(Example("block")),
                                     {{"annotations", net}, {"limits", json::object{{"concurrency", 100}}}}),
                200);
  // Blocking callers in flight get their answer.
  std::vector<ApiReply> blocking(4);
  std::vector<std::thread> callers;
  for (auto& reply : blocking) {
    callers.emplace_back([out = &reply, &server] { *out = server->Invoke("term-block", {}); });
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ApiReply r = server->Invoke("term-block", {}, "");
    ASSERT_STATUS(r, 202);
    ids.push_back(Str(r.Member("activationId")));
  }
  std::this_thread::sleep_for(milliseconds(50));  // the blocking callers' requests are in
  auto stop_start = Clock::now();
  int code = server->Stop();
  double stop_ms = MsSince(stop_start);
  for (auto& t : callers) t.join();
  EXPECT_EQ(code, 0) << server->Describe();
  std::printf("[ measure  ] SIGTERM with %zu running block activations: exited in %.0f ms\n", ids.size() + 4, stop_ms);
  for (const auto& reply : blocking) {
    EXPECT_STATUS(reply, 200);
    EXPECT_EQ(At(reply.json, "response.result"), Json(R"({"status":0})")) << reply;
    if (reply.json.is_object()) ids.push_back(Str(reply.Member("activationId")));
  }

  server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->Describe().find("interrupted by the last stop"), std::string::npos)
      << "a graceful stop interrupted activations\n"
      << server->Describe();
  for (const auto& id : ids) {
    ApiReply r = server->Get(Serve::ActivationPath(id));
    EXPECT_STATUS(r, 200) << id;
    EXPECT_EQ(At(r.json, "response.statusCode"), json::value(0)) << r;
    EXPECT_EQ(At(r.json, "response.result"), Json(R"({"status":0})")) << r;
  }
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// Accepted activations that wait for memory (the invoker's queue) when
// SIGTERM arrives run before the server exits: no accepted activation is lost.
TEST(ServeDurabilityTest, SigtermRunsQueuedActivations) {
  REQUIRE_MODULES(Example("block"));
  TempDir data("wow-serve-term-queue");
  // 1 GiB: a few 256 MB activations at once, the rest queue.
  auto server = Serve::Start({data.path(), {"--memory-budget-mb", "1024"}});
  ASSERT_NE(server, nullptr);
  json::array net{json::object{{"key", "net_access"}, {"value", true}}};
  ASSERT_STATUS(server->CreateAction("queue-block", WasmExec(Example("block")), {{"annotations", net}}), 200);
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ApiReply r = server->Invoke("queue-block", {}, "");
    ASSERT_STATUS(r, 202);
    ids.push_back(Str(r.Member("activationId")));
  }
  auto stop_start = Clock::now();
  int code = server->Stop();
  double stop_ms = MsSince(stop_start);
  EXPECT_EQ(code, 0) << server->Describe();
  std::printf("[ measure  ] SIGTERM with %zu accepted block activations (most queued): exited in %.0f ms\n", ids.size(),
              stop_ms);

  server = Serve::Start({data.path(), {}});
  ASSERT_NE(server, nullptr);
  size_t ran = 0;
  for (const auto& id : ids) {
    ApiReply r = server->Get(Serve::ActivationPath(id));
    EXPECT_STATUS(r, 200) << id;
    if (At(r.json, "response.statusCode") == json::value(0) &&
        At(r.json, "response.result") == Json(R"({"status":0})")) {
      ++ran;
    } else {
      ADD_FAILURE() << "an accepted activation did not run before the graceful stop: " << r;
    }
  }
  EXPECT_EQ(ran, ids.size());
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// Over capacity (memory budget committed, queue full): 503 with a JSON error,
// for blocking and non-blocking invocations alike, and the platform recovers.
TEST(ServeCapacityTest, BeyondTheQueueIs503) {
  REQUIRE_MODULES(Example("block"), Example("add"));
  TempDir data("wow-serve-capacity");
  // One 256 MB activation at a time, two waiting.
  auto server = Serve::Start({data.path(), {"--memory-budget-mb", "256", "--max-queued", "2"}});
  ASSERT_NE(server, nullptr);
  json::array net{json::object{{"key", "net_access"}, {"value", true}}};
  ASSERT_STATUS(server->CreateAction("cap-block", WasmExec(Example("block")), {{"annotations", net}}), 200);
  ASSERT_STATUS(server->CreateAction("cap-add", WasmExec(Example("add"))), 200);
  std::vector<std::string> accepted;
  for (int i = 0; i < 3; ++i) {  // one runs (300 ms), two queue
    ApiReply r = server->Invoke("cap-block", {}, "");
    ASSERT_STATUS(r, 202);
    accepted.push_back(Str(r.Member("activationId")));
  }
  ApiReply blocking = server->Invoke("cap-add", Params({{"param1", 1}, {"param2", 2}}));
  EXPECT_STATUS(blocking, 503);
  EXPECT_FALSE(blocking.Error().empty()) << blocking;
  EXPECT_LT(blocking.ms, 250) << "a refused invocation waited for the running one";
  ApiReply non_blocking = server->Invoke("cap-add", Params({{"param1", 1}, {"param2", 2}}), "");
  EXPECT_STATUS(non_blocking, 503) << "a non-blocking invocation the platform cannot take was accepted";
  if (non_blocking.status == 202) {
    ApiReply rec = server->WaitForActivation(Str(non_blocking.Member("activationId")));
    ADD_FAILURE() << "its record: " << rec;
  }
  // The accepted ones all run; then there is room again.
  for (const auto& id : accepted) {
    ApiReply r = server->WaitForActivation(id, milliseconds(5000));
    EXPECT_STATUS(r, 200);
    EXPECT_EQ(At(r.json, "response.result"), Json(R"({"status":0})")) << r;
  }
  ApiReply after = server->Invoke("cap-add", Params({{"param1", 1}, {"param2", 2}}), "blocking=true&result=true");
  EXPECT_STATUS(after, 200);
  EXPECT_EQ(after.json, Json(R"({"result":3})")) << after;
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

// ---------------------------------------------------------------------------
// Private data directory, hashed credential, retention.

// Entries under `dir` (not following the aot symlink) that others may open.
std::vector<std::string> OpenToOthers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    if ((st.st_mode & 0077) != 0) out.push_back(entry.path().string() + " " + std::to_string(st.st_mode & 07777));
  }
  return out;
}

TEST(ServePrivacyTest, DataDirAndFilesArePrivateAndTheKeyIsNotStored) {
  REQUIRE_MODULES(Example("add"));
  TempDir parent("wow-serve-private");
  const fs::path data = parent.path() / "data";
  fs::create_directories(data);
  ASSERT_EQ(::chmod(data.c_str(), 0755), 0);  // as an older wow created it
  auto server = Serve::Start({data, {}});
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << std::oct << st.st_mode;
  EXPECT_NE(server->service().Stderr().find("was mode 0755; now 0700"), std::string::npos) << server->Describe();

  ASSERT_STATUS(server->CreateAction("private-add", WasmExec(Example("add"))), 200);
  for (int i = 0; i < 3; ++i) {
    ASSERT_STATUS(server->Invoke("private-add", Params({{"param1", i}, {"param2", 1}})), 200);
  }
  ApiReply nb = server->Invoke("private-add", Params({{"param1", 1}, {"param2", 1}}), "");
  ASSERT_STATUS(nb, 202);
  ASSERT_STATUS(server->WaitForActivation(Str(nb.Member("activationId"))), 200);
  EXPECT_TRUE(fs::exists(data / "wow.db-wal"));
  EXPECT_EQ(OpenToOthers(data), std::vector<std::string>{});
  // The key is in guest.auth (0600) for the operator, not in the database.
  const std::string key = server->auth().substr(server->auth().find(':') + 1);
  ASSERT_EQ(key.size(), 64u);
  for (const char* name : {"wow.db", "wow.db-wal"}) {
    EXPECT_EQ(ReadText(data / name).find(key), std::string::npos) << "the key is in " << name << " in plain text";
  }
  const std::string wrong = server->auth().substr(0, server->auth().find(':') + 1) + std::string(64, 'x');
  EXPECT_STATUS(server->Request(Verb::get, "/api/v1/namespaces", {}, &wrong), 401);
  ASSERT_EQ(server->Stop(), 0) << server->Describe();
  EXPECT_EQ(OpenToOthers(data), std::vector<std::string>{});

  // Restarted: the credential still works, and nothing to narrow is said.
  server = Serve::Start({data, {}});
  ASSERT_NE(server, nullptr);
  EXPECT_STATUS(server->Get("/api/v1/namespaces"), 200);
  EXPECT_EQ(server->service().Stderr().find("was mode"), std::string::npos) << server->Describe();
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

TEST(ServeRetentionTest, MaxActivationsStoredKeepsTheLast) {
  REQUIRE_MODULES(Example("add"));
  TempDir data("wow-serve-retention");
  auto server = Serve::Start({data.path(), {"--max-activations-stored", "2", "--activation-retention-hours", "1"}});
  ASSERT_NE(server, nullptr);
  ASSERT_STATUS(server->CreateAction("kept-add", WasmExec(Example("add"))), 200);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ApiReply r = server->Invoke("kept-add", Params({{"param1", i}, {"param2", 1}}));
    ASSERT_STATUS(r, 200);
    ids.push_back(Str(r.Member("activationId")));
  }
  // The writer prunes after its commits; wait for it.
  auto deadline = Clock::now() + milliseconds(10'000);
  std::vector<std::string> listed;
  for (;;) {
    ApiReply list = server->Get("/api/v1/namespaces/_/activations?limit=0");
    ASSERT_STATUS(list, 200);
    listed.clear();
    for (const auto& doc : list.json.as_array()) listed.push_back(Str(doc.at("activationId")));
    if (listed.size() <= 2 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(listed.size(), 2u) << server->Describe();
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), (std::set<std::string>{ids[3], ids[4]}));
  EXPECT_STATUS(server->Get(Serve::ActivationPath(ids[0])), 404);
  EXPECT_EQ(server->Stop(), 0) << server->Describe();
}

}  // namespace
}  // namespace wow::test
