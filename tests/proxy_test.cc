// `wow proxy` end to end: OpenWhisk's action-runtime protocol (POST /init
// once, POST /run per activation) spoken over real HTTP to the real binary,
// one proxy process per test, all sharing one data dir so each module
// compiles once. Activation logs and the end-of-activation sentinels are read
// back from the proxy's captured stdout and stderr.

#include <zip.h>

#include <algorithm>
#include <atomic>
#include <regex>
#include <set>

#include "service_fixture.h"
#include "wasm/testing/module_generator.h"

namespace wow::test {
namespace {

class ProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { data_dir_ = new TempDir("wow-proxy-test"); }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void TearDown() override {
    if (proxy_ == nullptr) return;
    std::string logs = proxy_->Describe();
    EXPECT_EQ(proxy_->Stop(), 0) << "wow proxy did not exit 0 on SIGTERM\n" << logs;
  }

  // Starts this test's proxy; false (with a failure added) if it did not come up.
  bool StartProxy(std::vector<std::string> args = {}, std::vector<std::string> env = {}) {
    if (proxy_ != nullptr) {
      EXPECT_EQ(proxy_->Stop(), 0) << proxy_->Describe();
    }
    proxy_ = Service::Start({"proxy", data_dir_->path(), std::move(args), std::move(env)});
    return proxy_ != nullptr;
  }

  Service& proxy() { return *proxy_; }

  static TempDir* data_dir_;
  std::unique_ptr<Service> proxy_;
  TempDir tmp_{"wow-proxy"};
};

TempDir* ProxyTest::data_dir_ = nullptr;

const fs::path kRuntime = Guest("abi_runtime");

#define START_PROXY(...) ASSERT_TRUE(StartProxy(__VA_ARGS__))
#define ASSERT_OK(reply) ASSERT_EQ((reply).status, 200u) << (reply) << "\n" << proxy().Describe()
#define EXPECT_JSON(reply, text) EXPECT_EQ((reply).json, Json(text)) << (reply)

TEST_F(ProxyTest, PrintsItsAddressAndStopsOnSigterm) {
  START_PROXY();
  EXPECT_EQ(proxy().host(), "127.0.0.1");
  EXPECT_NE(proxy().port(), 0);
  EXPECT_TRUE(proxy().Running());
  // Only the address on stdout until an activation runs.
  EXPECT_EQ(proxy().Stdout(), "127.0.0.1:" + std::to_string(proxy().port()) + "\n");
  EXPECT_EQ(proxy().Stop(), 0) << proxy().Describe();
  proxy_.reset();
}

TEST_F(ProxyTest, InitTwiceIsRefusedWithoutASentinel) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  Reply first = proxy().Post("/init", InitModule(kRuntime));
  ASSERT_OK(first);
  EXPECT_JSON(first, R"({"ok":true})");
  Reply second = proxy().Post("/init", InitModule(kRuntime));
  EXPECT_EQ(second.status, 403u) << second;
  EXPECT_JSON(second, R"({"error":"Cannot initialize the action more than once."})");
  // The logs are written before the answer: nothing for either init.
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), 0u) << proxy().Describe();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStderr), 0u) << proxy().Describe();

  // The first action is still the one that runs, and its run ends with one
  // sentinel per stream.
  Reply run = proxy().Post("/run", RunBody(json::object{{"still", "here"}}));
  ASSERT_OK(run);
  EXPECT_JSON(run, R"({"still":"here"})");
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), 1u) << proxy().Describe();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStderr), 1u) << proxy().Describe();
}

TEST_F(ProxyTest, InitWithoutCodeIsRefused) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  for (const char* body : {R"({})", R"({"value":{}})", R"({"value":null})", R"({"value":{"main":"main","code":""}})",
                           R"({"value":{"name":"x","binary":true}})"}) {
    Reply r = proxy().Post("/init", body);
    EXPECT_EQ(r.status, 403u) << body << ": " << r;
    EXPECT_JSON(r, R"({"error":"Missing main/no code to execute."})") << body;
  }
  // None of them initialised the proxy.
  Reply run = proxy().Post("/run", RunBody(json::object{}));
  EXPECT_EQ(run.status, 403u) << run;
  Reply init = proxy().Post("/init", InitModule(kRuntime));
  ASSERT_OK(init);
}

TEST_F(ProxyTest, MalformedJsonIsABadRequest) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  for (const char* body : {"{", "not json", "", R"({"value":{"code":"x"})", "[1,2]", "\"init\""}) {
    Reply r = proxy().Post("/init", body);
    EXPECT_EQ(r.status, 400u) << "'" << body << "': " << r;
    EXPECT_FALSE(r.Error().empty()) << "'" << body << "': " << r;
  }
  // Fields of the wrong type.
  for (const char* body : {R"({"value":{"code":5}})", R"({"value":{"code":"x","binary":"yes"}})",
                           R"({"value":{"code":"x","env":[1]}})", R"({"value":"code"})"}) {
    Reply r = proxy().Post("/init", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << body << ": " << r;
  }
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  for (const char* body : {"{", "{\"value\":{}", "nope", "[]"}) {
    Reply r = proxy().Post("/run", body);
    EXPECT_EQ(r.status, 400u) << "'" << body << "': " << r;
    EXPECT_FALSE(r.Error().empty()) << "'" << body << "': " << r;
  }
  // Still serving.
  Reply run = proxy().Post("/run", RunBody(json::object{{"a", 1}}));
  ASSERT_OK(run);
  EXPECT_JSON(run, R"({"a":1})");
}

std::string NestedBlocks(uint32_t depth) {
  std::vector<uint8_t> wasm = wasm::testing::NestedBlocksModule(depth);
  return std::string(wasm.begin(), wasm.end());
}

TEST_F(ProxyTest, ModulesThatCannotBecomeActionsFailInitWith502) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  struct Case {
    std::string name;
    std::string body;
    std::string reason;  // a word the error must contain
  };
  std::vector<Case> cases = {
      {"wasm magic then garbage", InitBody(Base64Encode(std::string("\0asm\x01\0\0\0\xff\xff\xff\xff", 12))), ""},
      {"not a module", InitBody(Base64Encode("these are notes, not a module")), "neither"},
      {"invalid text", InitBody(R"((module (func (result i32) (i64.const 1))))", false), "type mismatch"},
      {"text that does not parse", InitBody("(module (func (oops", false), ""},
      {"not base64", InitBody("%%% not base64 %%%"), "base64"},
      {"no _start", InitBody(R"((module (memory (export "memory") 1) (func (export "f"))))", false), "_start"},
      // Issue 12: deep nesting crashed the engines; refused with the limit.
      {"20,000 nested blocks", InitBody(Base64Encode(NestedBlocks(20000))),
       "function 0 nests blocks 20000 deep; at most 1024 are allowed"},
      {"100,000 nested blocks in text", InitBody(wasm::testing::NestedBlocksText(100000, false), false),
       "the WebAssembly text nests 100002 deep"},
  };
  size_t failed = 0;
  for (const Case& c : cases) {
    Reply r = proxy().Post("/init", c.body);
    EXPECT_EQ(r.status, 502u) << c.name << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << c.name << ": " << r;
    EXPECT_NE(r.Error().find(c.reason), std::string::npos) << c.name << ": " << r;
    ++failed;
    // A failed init ends like an activation: one sentinel per stream.
    EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), failed) << c.name << "\n" << proxy().Describe();
    EXPECT_EQ(proxy().CountSentinels(Stream::kStderr), failed) << c.name << "\n" << proxy().Describe();
  }
  // The proxy stays uninitialised, then accepts a good action.
  Reply run = proxy().Post("/run", RunBody(json::object{}));
  EXPECT_EQ(run.status, 403u) << run;
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  Reply ok = proxy().Post("/run", RunBody(json::object{{"b", 2}}));
  ASSERT_OK(ok);
  EXPECT_JSON(ok, R"({"b":2})");
}

TEST_F(ProxyTest, RunBeforeInitIsRefused) {
  START_PROXY();
  Reply r = proxy().Post("/run", RunBody(json::object{{"a", 1}}));
  EXPECT_EQ(r.status, 403u) << r;
  EXPECT_FALSE(r.Error().empty()) << r;
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), 0u) << proxy().Describe();
}

TEST_F(ProxyTest, RunValueMustBeAnObjectOrArray) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  for (const char* body : {R"({"value":"a string"})", R"({"value":42})", R"({"value":true})"}) {
    Reply r = proxy().Post("/run", body);
    EXPECT_EQ(r.status, 403u) << body << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << body << ": " << r;
  }
}

TEST_F(ProxyTest, NonObjectResultIsADeveloperError) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  Reply r = proxy().Post("/run", RunBody(json::object{{"mode", "scalar"}}));
  EXPECT_EQ(r.status, 502u) << r;
  EXPECT_JSON(r, R"({"error":"The action did not return a dictionary or array."})");
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();

  Reply exit = proxy().Post("/run", RunBody(json::object{{"mode", "exit"}, {"code", 3}}));
  EXPECT_EQ(exit.status, 502u) << exit;
  EXPECT_NE(exit.Error().find("exited with code 3"), std::string::npos) << exit;
}

TEST_F(ProxyTest, TrapInATextActionIsADeveloperError) {
  START_PROXY();
  ASSERT_OK(proxy().Post(
      "/init", InitBody(R"((module (memory (export "memory") 1) (func (export "_start") unreachable)))", false)));
  Reply r = proxy().Post("/run", RunBody(json::object{}));
  EXPECT_EQ(r.status, 502u) << r;
  EXPECT_NE(r.Error().find("unreachable"), std::string::npos) << r;
  EXPECT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  EXPECT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();
  // A trap does not end the proxy: the next run traps the same way.
  Reply again = proxy().Post("/run", RunBody(json::object{}));
  EXPECT_EQ(again.status, 502u) << again;
  EXPECT_EQ(again.json, r.json);
}

// A WASI command whose _start and `hello` print different results; main
// picks the export to call.
constexpr char kTwoEntries[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"entry\":\"start\"}\n")
  (data (i32.const 48) "{\"entry\":\"hello\"}\n")
  (func $print (param $at i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.const 18))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $print (i32.const 16)))
  (func (export "hello") (call $print (i32.const 48))))
)";

TEST_F(ProxyTest, ANonStandardMainNamesTheExportToCall) {
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitBody(kTwoEntries, false, {{"main", "hello"}})));
  Reply r = proxy().Post("/run", RunBody(json::object{}));
  ASSERT_EQ(r.status, 200u) << r;
  EXPECT_EQ(r.json, json::parse(R"({"entry":"hello"})")) << r;
}

TEST_F(ProxyTest, TheDefaultMainRunsStart) {
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitBody(kTwoEntries, false, {{"main", "main"}})));
  Reply r = proxy().Post("/run", RunBody(json::object{}));
  ASSERT_EQ(r.status, 200u) << r;
  EXPECT_EQ(r.json, json::parse(R"({"entry":"start"})")) << r;
}

TEST_F(ProxyTest, AMainThatIsNotAnExportFailsInit) {
  START_PROXY();
  Reply r = proxy().Post("/init", InitBody(kTwoEntries, false, {{"main", "nothere"}}));
  EXPECT_EQ(r.status, 502u) << r;
  EXPECT_NE(r.Error().find("nothere"), std::string::npos) << r;
}

// Activations run on fiber stacks: unbounded recursion must hit the fiber's
// guard page and come back as a trap, and the proxy must go on serving.
TEST_F(ProxyTest, StackExhaustionOnAWorkerFiberIsATrap) {
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitBody(R"((module (memory (export "memory") 1)
    (func $r (param $d i32) (result i32)
      (i32.store (i32.const 0) (local.get $d))
      (if (result i32) (i32.eqz (i32.load (i32.const 4)))
        (then (i32.add (call $r (i32.add (local.get $d) (i32.const 1))) (i32.load (i32.const 0))))
        (else (local.get $d))))
    (func (export "_start") (drop (call $r (i32.const 0)))))
)", false)));
  for (int i = 0; i < 3; ++i) {
    Reply r = proxy().Post("/run", RunBody(json::object{}));
    EXPECT_EQ(r.status, 502u) << r;
    EXPECT_NE(r.Error().find("stack"), std::string::npos) << r;
  }
}

TEST_F(ProxyTest, LogsOfEachRunAreFollowedBySentinels) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  std::vector<std::string> want_out = {proxy().host() + ":" + std::to_string(proxy().port())};
  std::vector<std::string> want_err;
  for (int i = 0; i < 4; ++i) {
    std::string out = "stdout line " + std::to_string(i), err = "stderr line " + std::to_string(i);
    json::object params{{"mode", "log"}, {"out", out}, {"err", err}};
    Reply r = proxy().Post("/run", RunBody(params));
    ASSERT_OK(r);
    EXPECT_EQ(r.json, json::value(params)) << r;
    want_out.insert(want_out.end(), {out, std::string(kSentinel)});
    want_err.insert(want_err.end(), {err, std::string(kSentinel)});
  }
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 4)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 4)) << proxy().Describe();
  // stdout holds exactly the address, then each run's line and sentinel.
  EXPECT_EQ(proxy().Lines(Stream::kStdout), want_out) << proxy().Describe();
  // stderr: the proxy's own messages ("wow proxy: ...") and the runs' lines.
  std::vector<std::string> err;
  for (auto& line : proxy().Lines(Stream::kStderr)) {
    if (line.rfind("wow proxy:", 0) != 0) err.push_back(line);
  }
  EXPECT_EQ(err, want_err) << proxy().Describe();
}

// OpenWhisk's invoker stops collecting an activation's logs at the first
// line containing the sentinel; a guest printing it gets it defused, so each
// run still has exactly one sentinel per stream, after all its lines.
TEST_F(ProxyTest, AGuestPrintingTheSentinelCannotEndLogCollection) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  const std::string sentinel(kSentinel);
  const std::string defused = "x" + sentinel.substr(1);
  Reply r = proxy().Post(
      "/run", RunBody(json::object{{"mode", "log"}, {"out", sentinel}, {"err", "before " + sentinel + " after"}}));
  ASSERT_OK(r);
  ASSERT_OK(proxy().Post("/run", RunBody(json::object{{"mode", "log"}, {"out", "second run"}})));
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 2)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 2)) << proxy().Describe();
  std::vector<std::string> want_out = {proxy().host() + ":" + std::to_string(proxy().port()), defused, sentinel,
                                       "second run", sentinel};
  EXPECT_EQ(proxy().Lines(Stream::kStdout), want_out) << proxy().Describe();
  std::vector<std::string> err;
  for (auto& line : proxy().Lines(Stream::kStderr)) {
    if (line.rfind("wow proxy:", 0) != 0) err.push_back(line);
  }
  EXPECT_EQ(err, (std::vector<std::string>{"before " + defused + " after", sentinel, sentinel})) << proxy().Describe();
}

// Concurrent activations: each one's lines come together, with its sentinel.
TEST_F(ProxyTest, ConcurrentRunsDoNotInterleaveTheirLogs) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  constexpr int kThreads = 8, kRuns = 4;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = proxy().Connect();
      for (int i = 0; i < kRuns; ++i) {
        std::string tag = std::to_string(t) + "." + std::to_string(i);
        json::object params{{"mode", "log"}, {"out", "out " + tag}, {"err", "err " + tag}};
        Reply r = ToReply(client.Send(http::Verb::post, "/run", RunBody(params)));
        good += r.status == 200 && r.json == json::value(params);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kRuns);
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, kThreads * kRuns)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, kThreads * kRuns)) << proxy().Describe();
  for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
    std::vector<std::string> lines;
    for (auto& line : proxy().Lines(stream)) {
      if (line.rfind("wow proxy:", 0) != 0) lines.push_back(line);
    }
    if (stream == Stream::kStdout) lines.erase(lines.begin());  // the address
    const std::string prefix = stream == Stream::kStdout ? "out " : "err ";
    ASSERT_EQ(lines.size(), 2u * kThreads * kRuns) << proxy().Describe();
    std::set<std::string> seen;
    for (size_t i = 0; i < lines.size(); i += 2) {
      EXPECT_EQ(lines[i].rfind(prefix, 0), 0u) << i << ": " << lines[i];
      EXPECT_EQ(lines[i + 1], kSentinel) << i + 1;
      seen.insert(lines[i]);
    }
    EXPECT_EQ(seen.size(), size_t{kThreads * kRuns});
  }
}

TEST_F(ProxyTest, DeeplyNestedParamsRoundTrip) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  for (int depth : {16, 40, 100}) {
    std::string params;
    for (int i = 0; i < depth; ++i) params += i % 2 == 0 ? R"({"a":)" : "[";
    params += "1";
    for (int i = depth - 1; i >= 0; --i) params += i % 2 == 0 ? "}" : "]";
    Reply r = proxy().Post("/run", R"({"value":)" + params + "}");
    EXPECT_EQ(r.status, 200u) << "depth " << depth << ": " << r;
    EXPECT_EQ(r.body, params) << "depth " << depth;
  }
}

TEST_F(ProxyTest, ChattyActionsLogsAreCappedAndSaySo) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY({"--log-limit-mb", "1"});
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  // 3 MB of logs against a 1 MB limit; the result still comes back.
  json::object params{{"mode", "spam"}, {"lines", 3000}, {"size", 1000}};
  Reply r = proxy().Post("/run", RunBody(params));
  ASSERT_OK(r);
  EXPECT_EQ(r.json, json::value(params)) << r;
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();
  std::string out = proxy().Stdout();
  EXPECT_LT(out.size(), (1u << 20) + 4096);
  EXPECT_GT(out.size(), (1u << 20) - 4096);
  EXPECT_NE(out.find("spam 0 xxx"), std::string::npos);
  EXPECT_EQ(out.find("spam 2999 xxx"), std::string::npos);
  auto err = proxy().Lines(Stream::kStderr);
  ASSERT_GE(err.size(), 2u);
  EXPECT_EQ(err[err.size() - 2], "Logs were truncated because the total bytes size exceeds the limit.")
      << proxy().Describe();
  EXPECT_EQ(err.back(), kSentinel);
  // Under the limit nothing is cut.
  json::object small{{"mode", "spam"}, {"lines", 100}, {"size", 100}};
  ASSERT_OK(proxy().Post("/run", RunBody(small)));
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 2)) << proxy().Describe();
  EXPECT_NE(proxy().Stdout().find("spam 99 xxx"), std::string::npos);
}

TEST_F(ProxyTest, UnicodeRoundTripsThroughParamsResultsAndLogs) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  const std::string greek = "καλημέρα 😀";
  // The same text escaped; and escapes of controls, quotes and a NUL.
  std::string body = R"({"value":{"mode":"log","out":"καλημέρα 😀",)"
                     R"("err":"\u03ba\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \ud83d\ude00",)"
                     R"("escaped":"\u00e9\n\t\"\\\/\u0001\u0000end","日本":["ü",{"ключ":"値"}]}})";
  Reply r = proxy().Post("/run", body);
  ASSERT_OK(r);
  json::value want = Json(body).at("value");
  EXPECT_EQ(r.json, want) << r;
  EXPECT_EQ(r.json.at("err"), json::value(greek)) << r;
  EXPECT_EQ(r.json.at("escaped").as_string().size(), std::string_view("é\n\t\"\\/\x01").size() + 1 + 3) << r;
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();
  auto out = proxy().Lines(Stream::kStdout);
  auto err = proxy().Lines(Stream::kStderr);
  EXPECT_NE(std::find(out.begin(), out.end(), greek), out.end()) << proxy().Describe();
  EXPECT_NE(std::find(err.begin(), err.end(), greek), err.end()) << proxy().Describe();
}

TEST_F(ProxyTest, InitEnvReachesTheAction) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post(
      "/init",
      InitModule(kRuntime,
                 {{"env", json::object{{"GREETING", "hello world"}, {"NUMBER", 7}, {"UNICODE", "καλημέρα"}}}})));
  Reply r = proxy().Post("/run", RunBody(json::object{{"mode", "env"}, {"names", "GREETING,NUMBER,UNICODE,MISSING"}}));
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"GREETING":"hello world","NUMBER":"7","UNICODE":"καλημέρα","MISSING":null})");
  // Every activation sees it.
  Reply again = proxy().Post("/run", RunBody(json::object{{"mode", "env"}, {"names", "GREETING"}}));
  ASSERT_OK(again);
  EXPECT_JSON(again, R"({"GREETING":"hello world"})");
}

TEST_F(ProxyTest, OpenWhiskVariablesReachTheAction) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY({}, {"__OW_API_HOST=https://openwhisk.example:443"});
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  const std::string names =
      "__OW_API_KEY,__OW_NAMESPACE,__OW_ACTION_NAME,__OW_ACTION_VERSION,__OW_ACTIVATION_ID,"
      "__OW_TRANSACTION_ID,__OW_DEADLINE,__OW_API_HOST,__OW_VALUE,PATH,HOME";
  std::string deadline = DeadlineIn(milliseconds(60'000));
  Reply r =
      proxy().Post("/run", RunBody(json::object{{"mode", "env"}, {"names", names}}, {{"api_key", "23bc46b1:secret"},
                                                                                     {"namespace", "guest"},
                                                                                     {"action_name", "/guest/hello"},
                                                                                     {"action_version", "0.0.7"},
                                                                                     {"activation_id", "9f8e7d6c5b4a"},
                                                                                     {"transaction_id", "tid-42"},
                                                                                     {"deadline", deadline}}));
  ASSERT_OK(r);
  json::object want{{"__OW_API_KEY", "23bc46b1:secret"},
                    {"__OW_NAMESPACE", "guest"},
                    {"__OW_ACTION_NAME", "/guest/hello"},
                    {"__OW_ACTION_VERSION", "0.0.7"},
                    {"__OW_ACTIVATION_ID", "9f8e7d6c5b4a"},
                    {"__OW_TRANSACTION_ID", "tid-42"},
                    {"__OW_DEADLINE", deadline},
                    {"__OW_API_HOST", "https://openwhisk.example:443"},
                    {"__OW_VALUE", nullptr},
                    // The proxy's own environment stays outside the sandbox.
                    {"PATH", nullptr},
                    {"HOME", nullptr}};
  EXPECT_EQ(r.json, json::value(want)) << r;

  // Per activation: a run without them does not see the previous run's.
  Reply next =
      proxy().Post("/run", RunBody(json::object{{"mode", "env"}, {"names", names}}, {{"activation_id", "second"}}));
  ASSERT_OK(next);
  json::object want_next;
  for (const auto& [key, value] : want) want_next[key] = nullptr;
  want_next["__OW_ACTIVATION_ID"] = "second";
  want_next["__OW_API_HOST"] = "https://openwhisk.example:443";
  EXPECT_EQ(next.json, json::value(want_next)) << next;
}

// OpenWhisk's runtimes set a run's __OW_* variables over the environment the
// action was initialised with.
TEST_F(ProxyTest, RunVariablesOverrideInitEnv) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post(
      "/init", InitModule(kRuntime, {{"env", json::object{{"__OW_API_KEY", "from-init"}, {"OTHER", "kept"}}}})));
  Reply r = proxy().Post(
      "/run", RunBody(json::object{{"mode", "env"}, {"names", "__OW_API_KEY,OTHER"}}, {{"api_key", "from-run"}}));
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"__OW_API_KEY":"from-run","OTHER":"kept"})");
}

TEST_F(ProxyTest, LargeParameterIsEchoedExactly) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  // The result may be up to 1 MiB: a string that keeps {"s":"..."} within it.
  std::string big;
  big.reserve(1 << 20);
  for (size_t i = 0; big.size() < (1u << 20) - 16; ++i) big += static_cast<char>('a' + i % 26);
  Reply r = proxy().Post("/run", RunBody(json::object{{"s", big}}));
  ASSERT_OK(r);
  ASSERT_TRUE(r.json.is_object()) << r.body.substr(0, 200);
  EXPECT_EQ(r.json.at("s").as_string().size(), big.size());
  EXPECT_TRUE(r.json.at("s") == json::value(big));
  EXPECT_EQ(r.body, ToJson(json::object{{"s", big}}));

  // A parameter of a full 1 MiB cannot come back: the result would exceed the limit.
  std::string too_big(1 << 20, 'z');
  Reply over = proxy().Post("/run", RunBody(json::object{{"s", too_big}}));
  EXPECT_EQ(over.status, 502u) << over;
  EXPECT_NE(over.Error().find("exceeded the allowed length"), std::string::npos) << over;
  // And the proxy goes on.
  Reply small = proxy().Post("/run", RunBody(json::object{{"s", "small"}}));
  ASSERT_OK(small);
  EXPECT_JSON(small, R"({"s":"small"})");
}

TEST_F(ProxyTest, ArrayInArrayOut) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  const char* params = R"([1,"two",{"three":3},[4,[5]],null,true,-6.5])";
  Reply r = proxy().Post("/run", std::string(R"({"value":)") + params + "}");
  ASSERT_OK(r);
  ASSERT_TRUE(r.json.is_array()) << r;
  EXPECT_JSON(r, params);
  Reply empty = proxy().Post("/run", R"({"value":[]})");
  ASSERT_OK(empty);
  EXPECT_JSON(empty, "[]");
}

// A zip archive of `entries` (name, bytes), made with libzip.
std::string Zip(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& entries) {
  fs::path path = dir / "action.zip";
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    ADD_FAILURE() << "zip_open " << path << ": error " << error;
    return {};
  }
  for (const auto& [name, bytes] : entries) {
    zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
    if (source == nullptr || zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8) < 0) {
      ADD_FAILURE() << "zip_file_add " << name << ": " << zip_strerror(archive);
      zip_source_free(source);
    }
  }
  if (zip_close(archive) != 0) {
    ADD_FAILURE() << "zip_close: " << zip_strerror(archive);
    zip_discard(archive);
    return {};
  }
  return ReadFile(path).value();
}

TEST_F(ProxyTest, ZipPackagedAction) {
  REQUIRE_MODULES(kRuntime, Example("add"));
  std::string runtime = ReadFile(kRuntime).value();
  std::string add = ReadFile(Example("add")).value();
  std::string zip = Base64Encode(
      Zip(tmp_.path(), {{"README.txt", "not a module\n"}, {"bin/decoy.wasm", add}, {"bin/runtime.wasm", runtime}}));

  // main names the entry.
  START_PROXY();
  Reply init = proxy().Post("/init", InitBody(zip, true, {{"main", "bin/runtime.wasm"}}));
  ASSERT_OK(init);
  Reply r = proxy().Post("/run", RunBody(json::object{{"zipped", true}}));
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"zipped":true})");

  // main "main": the first .wasm entry, here add.
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitBody(zip, true, {{"main", "main"}})));
  Reply sum = proxy().Post("/run", RunBody(json::object{{"param1", 2}, {"param2", 40}}));
  ASSERT_OK(sum);
  EXPECT_JSON(sum, R"({"result":42})");

  // main naming an entry that is not there.
  START_PROXY();
  Reply missing = proxy().Post("/init", InitBody(zip, true, {{"main", "bin/missing.wasm"}}));
  EXPECT_EQ(missing.status, 502u) << missing;
  EXPECT_NE(missing.Error().find("bin/missing.wasm"), std::string::npos) << missing;
}

// Some clients send binary code with binary=false: base64 of a module.
TEST_F(ProxyTest, Base64CodeSentAsText) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitBody(Base64File(kRuntime), false)));
  Reply r = proxy().Post("/run", RunBody(json::object{{"as", "text"}}));
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"as":"text"})");
}

TEST_F(ProxyTest, WebAssemblyTextAction) {
  START_PROXY();
  std::string wat = ReadFile(kGuestSources / "abi_wasi_cat.wat").value();
  ASSERT_OK(proxy().Post("/init", InitBody(wat, false)));
  Reply r = proxy().Post("/run", RunBody(json::object{{"greeting", "hi"}, {"n", 3}}));
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"greeting":"hi","n":3})");
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 1)) << proxy().Describe();
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 1)) << proxy().Describe();
  auto out = proxy().Lines(Stream::kStdout);
  auto err = proxy().Lines(Stream::kStderr);
  EXPECT_NE(std::find(out.begin(), out.end(), "cat: first log line"), out.end()) << proxy().Describe();
  EXPECT_NE(std::find(err.begin(), err.end(), "cat: a line on stderr"), err.end()) << proxy().Describe();
  // The result line is not a log line.
  EXPECT_EQ(proxy().Stdout().find("greeting"), std::string::npos) << proxy().Describe();
}

int TimeLimitIn(const Reply& r) {
  static const std::regex kTimeout(R"(The action exceeded its time limits of (\d+) milliseconds\.)");
  std::smatch m;
  std::string error = r.Error();
  if (!std::regex_match(error, m, kTimeout)) return -1;
  return std::stoi(m[1]);
}

TEST_F(ProxyTest, DeadlineStopsATightLoop) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  // Warm up so the first run does not pay for memory set-up.
  ASSERT_OK(proxy().Post("/run", RunBody(json::object{})));
  auto start = Clock::now();
  Reply r =
      proxy().Post("/run", RunBody(json::object{{"mode", "spin"}}, {{"deadline", DeadlineIn(milliseconds(300))}}));
  double ms = MsSince(start);
  EXPECT_EQ(r.status, 502u) << r;
  int limit = TimeLimitIn(r);
  EXPECT_GE(limit, 200) << r;
  EXPECT_LE(limit, 300) << r;
  EXPECT_GE(ms, 250) << r;
  EXPECT_LT(ms, 1500) << r;
  std::printf("[ proxy    ] a tight loop with a deadline 300 ms ahead was stopped after %.0f ms\n", ms);
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, 2)) << proxy().Describe();
  // The next run is served.
  Reply next = proxy().Post("/run", RunBody(json::object{{"after", "timeout"}}));
  ASSERT_OK(next);
  EXPECT_JSON(next, R"({"after":"timeout"})");
}

TEST_F(ProxyTest, TimeLimitWithoutDeadline) {
  REQUIRE_MODULES(kRuntime);
  // --timeout-ms applies when a run carries no deadline.
  START_PROXY({"--timeout-ms", "300"});
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  auto start = Clock::now();
  Reply r = proxy().Post("/run", RunBody(json::object{{"mode", "spin"}}));
  double ms = MsSince(start);
  EXPECT_EQ(r.status, 502u) << r;
  EXPECT_JSON(r, R"({"error":"The action exceeded its time limits of 300 milliseconds."})");
  EXPECT_LT(ms, 1500) << r;
  Reply next = proxy().Post("/run", RunBody(json::object{{"x", 1}}));
  ASSERT_OK(next);

  // limits.timeout of the action.
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime, {{"limits", json::object{{"timeout", 250}}}})));
  Reply limited = proxy().Post("/run", RunBody(json::object{{"mode", "spin"}}));
  EXPECT_EQ(limited.status, 502u) << limited;
  EXPECT_JSON(limited, R"({"error":"The action exceeded its time limits of 250 milliseconds."})");
}

// The action's limits.timeout stops it even when the run's deadline lies
// further ahead, and the message names the limit that stopped it.
TEST_F(ProxyTest, ActionTimeoutAppliesEvenWithALaterDeadline) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime, {{"limits", json::object{{"timeout", 250}}}})));
  auto start = Clock::now();
  Reply r =
      proxy().Post("/run", RunBody(json::object{{"mode", "spin"}}, {{"deadline", DeadlineIn(milliseconds(3000))}}));
  double ms = MsSince(start);
  EXPECT_EQ(r.status, 502u) << r;
  EXPECT_JSON(r, R"({"error":"The action exceeded its time limits of 250 milliseconds."})");
  EXPECT_LT(ms, 1500) << "stopped after " << ms << " ms, not at its 250 ms limit: " << r;
}

TEST_F(ProxyTest, MemoryLimitStopsAGrowingAction) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime, {{"limits", json::object{{"memory", 16}}}})));
  // malloc fails within the limit and the action reports it ...
  Reply report = proxy().Post("/run", RunBody(json::object{{"mode", "grow"}}));
  ASSERT_OK(report);
  ASSERT_TRUE(report.json.is_object()) << report;
  int64_t mb = report.json.at("allocated_mb").to_number<int64_t>();
  EXPECT_GT(mb, 0) << report;
  EXPECT_LT(mb, 16) << report;
  // ... or traps, and the error names the limit.
  Reply trap = proxy().Post("/run", RunBody(json::object{{"mode", "grow"}, {"then", "abort"}}));
  EXPECT_EQ(trap.status, 502u) << trap;
  EXPECT_NE(trap.Error().find("memory limit of 16 MB"), std::string::npos) << trap;
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStderr, 2)) << proxy().Describe();
  EXPECT_NE(proxy().Stderr().find("grow: malloc failed after " + std::to_string(mb) + " MiB"), std::string::npos)
      << proxy().Describe();
  // Other runs are unaffected.
  Reply next = proxy().Post("/run", RunBody(json::object{{"fine", true}}));
  ASSERT_OK(next);
  EXPECT_JSON(next, R"({"fine":true})");

  // Without limits.memory, --memory-mb is the limit.
  START_PROXY({"--memory-mb", "32"});
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  Reply more = proxy().Post("/run", RunBody(json::object{{"mode", "grow"}}));
  ASSERT_OK(more);
  int64_t more_mb = more.json.at("allocated_mb").to_number<int64_t>();
  EXPECT_GT(more_mb, 16) << more;
  EXPECT_LT(more_mb, 32) << more;
}

TEST_F(ProxyTest, AtCapacityARunIsRefusedWith503) {
  REQUIRE_MODULES(Example("block"));
  START_PROXY({"--max-activations", "1"});
  ASSERT_OK(proxy().Post("/init", InitModule(Example("block"), {{"annotations", json::object{{"net_access", true}}}})));
  // Two runs of 300 ms at once: one runs, the other is refused.
  Reply replies[2];
  std::vector<std::thread> threads;
  for (Reply& reply : replies) {
    threads.emplace_back([&] { reply = proxy().Fetch(http::Verb::post, "/run", RunBody(json::object{})); });
  }
  for (auto& t : threads) t.join();
  std::vector<unsigned> statuses = {replies[0].status, replies[1].status};
  std::sort(statuses.begin(), statuses.end());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 503})) << replies[0] << "\n" << replies[1];
  for (const Reply& r : replies) {
    if (r.status == 200) {
      EXPECT_JSON(r, R"({"status":0})");
    } else {
      EXPECT_NE(r.Error().find("capacity"), std::string::npos) << r;
    }
  }
  // Then there is room again. (The slot is released just after the answer is
  // sent, so an immediate next run may still see 503: poll briefly.)
  Reply next;
  for (auto deadline = Clock::now() + milliseconds(2000); Clock::now() < deadline;) {
    next = proxy().Post("/run", RunBody(json::object{}));
    if (next.status != 503) break;
  }
  ASSERT_OK(next);
  EXPECT_JSON(next, R"({"status":0})");
}

TEST_F(ProxyTest, SigtermLetsARunningActivationFinish) {
  REQUIRE_MODULES(Example("block"));
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(Example("block"), {{"annotations", json::object{{"net_access", true}}}})));
  Reply reply;
  std::thread run([&] { reply = proxy().Fetch(http::Verb::post, "/run", RunBody(json::object{})); });
  // The run blocks for 300 ms in the host; stop the proxy in the middle of it.
  std::this_thread::sleep_for(milliseconds(100));
  int exit_code = proxy().Stop();
  run.join();
  EXPECT_EQ(exit_code, 0) << proxy().Describe();
  EXPECT_EQ(reply.status, 200u) << reply << "\n" << proxy().Describe();
  EXPECT_JSON(reply, R"({"status":0})");
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), 1u) << proxy().Describe();
  proxy_.reset();
}

// With a shared secret, every request needs it; a failed /init for want of
// it is no activation (no sentinel).
TEST_F(ProxyTest, SharedSecretFromTheEnvironment) {
  START_PROXY({}, {"WOW_EXECUTOR_SECRET=proxy secret"});
  Reply no =
      proxy().Post("/init", InitBody(R"((module (memory (export "memory") 1) (func (export "_start"))))", false));
  EXPECT_EQ(no.status, 401u) << no;
  EXPECT_EQ(proxy().Post("/run", RunBody()).status, 401u);
  auto init = http::Fetch(proxy().host(), proxy().port(), http::Verb::post, "/init",
                          InitBody(R"((module (memory (export "memory") 1) (func (export "_start"))))", false),
                          "application/json", {{"X-Wow-Secret", "proxy secret"}});
  ASSERT_TRUE(init.ok()) << init.status().ToString();
  EXPECT_EQ(init->result_int(), 200u) << init->body();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), 0u) << proxy().Describe();
}

TEST_F(ProxyTest, GarbageAndTruncatedRequestsDoNotKillTheServer) {
  REQUIRE_MODULES(kRuntime);
  START_PROXY();
  ASSERT_OK(proxy().Post("/init", InitModule(kRuntime)));
  size_t runs = 0;
  auto still_serving = [&](const std::string& what) {
    ASSERT_TRUE(proxy().Running()) << "after " << what << "\n" << proxy().Describe();
    Reply r = proxy().Fetch(http::Verb::post, "/run", RunBody(json::object{{"after", what}}), milliseconds(10'000));
    ASSERT_EQ(r.status, 200u) << "after " << what << ": " << r << "\n" << proxy().Describe();
    EXPECT_EQ(r.json, json::value(json::object{{"after", what}})) << r;
    ++runs;
  };
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary += static_cast<char>((i * 7919 + 13) & 0xff);

  struct Case {
    std::string name;
    std::string bytes;
    bool read_answer;
    std::string status_line;  // how the answer begins; "" for none
  };
  std::vector<Case> cases = {
      {"binary garbage", binary, true, "HTTP/1.1 400"},
      {"a garbage request line", "GARBAGE\r\n\r\n", true, "HTTP/1.1 400"},
      {"NULs", std::string(64, '\0'), true, "HTTP/1.1 400"},
      {"truncated headers", "POST /run HTTP/1.1\r\nHost: x\r\nContent-Le", false, ""},
      {"truncated body", "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"value\":{\"a\":", false, ""},
      {"body cut at half-close", "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"value\":", true, ""},
      {"bad chunked body", "POST /run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true,
       "HTTP/1.1 400"},
      {"a huge Content-Length", "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n", true,
       "HTTP/1.1 413"},
      {"a bad Content-Length", "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", true, "HTTP/1.1 400"},
      {"an endless header", "POST /run HTTP/1.1\r\nX-Long: " + std::string(1 << 20, 'a'), true, "HTTP/1.1 431"},
      {"a connection closed at once", "", false, ""},
  };
  for (const Case& c : cases) {
    std::string answer = RawExchange(proxy().port(), c.bytes, c.read_answer);
    // An HTTP error when anything comes back, never a success.
    EXPECT_EQ(answer.substr(0, c.status_line.size()), c.status_line) << c.name << ": " << answer.substr(0, 200);
    if (c.status_line.empty()) {
      EXPECT_EQ(answer, "") << c.name;
    }
    still_serving(c.name);
  }
  // Many at once.
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] { RawExchange(proxy().port(), cases[i % cases.size()].bytes, i % 2 == 0); });
  }
  for (auto& t : threads) t.join();
  still_serving("16 bad connections at once");

  // Only the runs that happened wrote sentinels.
  ASSERT_TRUE(proxy().WaitForSentinels(Stream::kStdout, runs)) << proxy().Describe();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStdout), runs) << proxy().Describe();
  EXPECT_EQ(proxy().CountSentinels(Stream::kStderr), runs) << proxy().Describe();
}

TEST_F(ProxyTest, UnknownPathsAndMethods) {
  START_PROXY();
  Reply get = proxy().Send(http::Verb::get, "/run");
  EXPECT_EQ(get.status, 405u) << get;
  Reply put = proxy().Send(http::Verb::put, "/init", "{}");
  EXPECT_EQ(put.status, 405u) << put;
  for (const char* target : {"/", "/nope", "/run/extra", "/action/run"}) {
    Reply r = proxy().Post(target, "{}");
    EXPECT_EQ(r.status, 404u) << target << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << target << ": " << r;
  }
}

// The invoker is a proxy's one caller and may hold a connection per running activation: no per-address cap unless
// --max-connections-per-address asks for one.
TEST_F(ProxyTest, OneAddressMayHoldManyConnectionsUnlessCapped) {
  START_PROXY();
  std::vector<http::Client> clients;
  for (int i = 0; i < 300; ++i) {  // above `wow serve`'s default cap of 256
    auto client = http::Client::Connect(proxy().host(), proxy().port(), milliseconds(10'000));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    auto res = client->Send(http::Verb::get, "/run");
    ASSERT_TRUE(res.ok()) << "connection " << i << ": " << res.status().ToString();
    EXPECT_EQ(res->result_int(), 405u);
    clients.push_back(std::move(*client));
  }
  clients.clear();
  START_PROXY({"--max-connections-per-address", "1"});
  auto first = http::Client::Connect(proxy().host(), proxy().port(), milliseconds(10'000));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->Send(http::Verb::get, "/run").ok());
  auto second = http::Client::Connect(proxy().host(), proxy().port(), milliseconds(10'000));
  if (second.ok()) {  // connected by the kernel's backlog, then closed at accept
    auto res = second->Send(http::Verb::get, "/run");
    EXPECT_FALSE(res.ok()) << "a second connection from 127.0.0.1 was served: " << res->result_int();
  }
  EXPECT_TRUE(first->Send(http::Verb::get, "/run").ok());
}

// Each route's body limit is applied to the header, before any body byte: /run gets --run-body-limit-mb, unknown
// routes 64 KiB, /init --body-limit-mb (the client half-closes after the header and still gets the 413).
TEST_F(ProxyTest, BodyLimitsPerRouteAreCheckedBeforeTheBody) {
  START_PROXY({"--run-body-limit-mb", "2", "--body-limit-mb", "4"});
  auto header = [](std::string_view target, uint64_t length) {
    return "POST " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
  };
  for (auto [target, length] : {std::pair<const char*, uint64_t>{"/run", (2u << 20) + 1},
                                {"/init", (4u << 20) + 1},
                                {"/nope", (64u << 10) + 1}}) {
    std::string answer = RawExchange(proxy().port(), header(target, length), true);
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 413") << target << ": " << answer;
  }
  // Within the limit: the whole body is read and handled.
  std::string params = ToJson(json::object{{"value", json::object{{"s", std::string((2u << 20) - 100, 'r')}}}});
  Reply run = proxy().Post("/run", params);
  EXPECT_EQ(run.status, 403u) << "a run before init: " << run;
}

}  // namespace
}  // namespace wow::test
