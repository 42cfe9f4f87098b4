// The client commands (`wow action ...`, `wow activation ...`): the pure parts
// (wsk properties, API hosts, entity names, request bodies, tables), then the
// commands against a fake OpenWhisk API that records every request, run
// in-process and through the real `wow` binary.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cli/client_command.h"
#include "cli/commands.h"
#include "cli/wskprops.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "http/server.h"

extern char** environ;

namespace wow::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << ": " << text;
  return v.ok() ? std::move(v).value() : json::value();
}

void WriteFile(const fs::path& path, std::string_view content) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(content.data(), 1, content.size(), f), content.size());
  std::fclose(f);
}

const std::string kWasm("\0asm\1\0\0\0", 8);

// ---------------------------------------------------------------- wsk properties

TEST(WskProps, ParsesKeyValueLinesIgnoringCommentsAndBlanks) {
  auto props = ParseWskProps(
      "# a comment\n"
      "\n"
      "  APIHOST = http://localhost:3233  \r\n"
      "AUTH=23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP\n"
      "NAMESPACE=guest\n"
      "not a property\n"
      "=no key\n"
      "EXTRA=a=b\n"
      "NAMESPACE=later\n");
  EXPECT_EQ(props.size(), 4u);
  EXPECT_EQ(props["APIHOST"], "http://localhost:3233");
  EXPECT_EQ(props["AUTH"],
            "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP");
  EXPECT_EQ(props["EXTRA"], "a=b");        // split at the first '='
  EXPECT_EQ(props["NAMESPACE"], "later");  // the last line wins
  EXPECT_TRUE(ParseWskProps("").empty());
  EXPECT_TRUE(ParseWskProps("# APIHOST=x\n").empty());
}

TEST(WskProps, PathFromWskConfigFileElseHome) {
  std::string old_file = std::getenv("WSK_CONFIG_FILE") ? std::getenv("WSK_CONFIG_FILE") : "";
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  setenv("WSK_CONFIG_FILE", "/some/where/props", 1);
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(WskPropsPath(), fs::path("/some/where/props"));
  setenv("WSK_CONFIG_FILE", "", 1);
  EXPECT_EQ(WskPropsPath(), fs::path("/home/someone/.wskprops"));
  unsetenv("WSK_CONFIG_FILE");
  EXPECT_EQ(WskPropsPath(), fs::path("/home/someone/.wskprops"));
  if (!old_file.empty()) setenv("WSK_CONFIG_FILE", old_file.c_str(), 1);
  setenv("HOME", old_home.c_str(), 1);
}

TEST(WskProps, ReadsAFileAndAMissingFileHasNoProperties) {
  TempDir dir("wow-client-test");
  auto missing = ReadWskProps(dir.path() / "none");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_TRUE(missing->empty());
  WriteFile(dir.path() / "props", "APIHOST=127.0.0.1:1\nAUTH=u:k\n");
  auto props = ReadWskProps(dir.path() / "props");
  ASSERT_TRUE(props.ok()) << props.status().ToString();
  EXPECT_EQ((*props)["APIHOST"], "127.0.0.1:1");
  EXPECT_EQ((*props)["AUTH"], "u:k");
}

// ---------------------------------------------------------------- API hosts

ApiHost Api(std::string host, uint16_t port, std::string base = {}) { return ApiHost{host, port, base}; }

TEST(ApiHostTest, NormalisesTheFormsWskAccepts) {
  struct Case {
    const char* text;
    ApiHost want;
  } cases[] = {
      {"localhost:3233", Api("localhost", 3233)},
      {"localhost", Api("localhost", 80)},
      {"http://localhost:3233", Api("localhost", 3233)},
      {"http://localhost:3233/", Api("localhost", 3233)},
      {"HTTP://10.0.0.2", Api("10.0.0.2", 80)},
      {"  172.17.0.1:8080  ", Api("172.17.0.1", 8080)},
      {"[::1]:3233", Api("::1", 3233)},
      {"http://[::1]", Api("::1", 80)},
      {"http://edge.example:8080/openwhisk/", Api("edge.example", 8080, "/openwhisk")},
  };
  for (const auto& c : cases) {
    auto api = ParseApiHost(c.text);
    ASSERT_TRUE(api.ok()) << c.text << ": " << api.status().ToString();
    EXPECT_EQ(api->host, c.want.host) << c.text;
    EXPECT_EQ(api->port, c.want.port) << c.text;
    EXPECT_EQ(api->base_path, c.want.base_path) << c.text;
  }
}

TEST(ApiHostTest, RefusesTlsAndMalformedHosts) {
  auto tls = ParseApiHost("https://openwhisk.example:443");
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), Code::kUnsupported);
  EXPECT_NE(tls.status().message().find("TLS is not supported"), std::string::npos) << tls.status().message();
  for (const char* bad : {"", "http://", ":3233", "host:port", "host:70000", "host:0", "::1", "ftp://host",
                          "http://user:pw@host:1", "ho st:1", "http://host:1/?x"}) {
    auto api = ParseApiHost(bad);
    EXPECT_FALSE(api.ok()) << "'" << bad << "' parsed as " << api->host << ":" << api->port;
    if (!api.ok()) {
      EXPECT_EQ(api.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

TEST(ClientConfigTest, FlagsWinOverThePropertiesFile) {
  std::map<std::string, std::string> props = {
      {"APIHOST", "http://props-host:1"}, {"AUTH", "props:key"}, {"NAMESPACE", "guest"}};
  auto from_props = ResolveClientConfig("", "", props, "/p");
  ASSERT_TRUE(from_props.ok()) << from_props.status().ToString();
  EXPECT_EQ(from_props->apihost, Api("props-host", 1));
  EXPECT_EQ(from_props->auth, "props:key");
  EXPECT_EQ(from_props->namespace_, "guest");

  auto from_flags = ResolveClientConfig("flag-host:2", "flag:key", props, "/p");
  ASSERT_TRUE(from_flags.ok()) << from_flags.status().ToString();
  EXPECT_EQ(from_flags->apihost, Api("flag-host", 2));
  EXPECT_EQ(from_flags->auth, "flag:key");

  auto defaults = ResolveClientConfig("h:1", "a:b", {}, "/p");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->namespace_, "_");
}

TEST(ClientConfigTest, MissingApiHostOrAuthNamesBothSources) {
  auto no_host = ResolveClientConfig("", "a:b", {}, "/etc/my.wskprops");
  ASSERT_FALSE(no_host.ok());
  EXPECT_NE(no_host.status().message().find("--apihost"), std::string::npos) << no_host.status().message();
  EXPECT_NE(no_host.status().message().find("APIHOST in /etc/my.wskprops"), std::string::npos);
  auto no_auth = ResolveClientConfig("h:1", "", {{"APIHOST", "x:1"}}, "/etc/my.wskprops");
  ASSERT_FALSE(no_auth.ok());
  EXPECT_NE(no_auth.status().message().find("--auth"), std::string::npos) << no_auth.status().message();
  EXPECT_NE(no_auth.status().message().find("AUTH in /etc/my.wskprops"), std::string::npos);
  auto tls = ResolveClientConfig("https://h", "a:b", {}, "/p");
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), Code::kUnsupported);
}

// ---------------------------------------------------------------- entity names

TEST(EntityNameTest, ParsesEveryQualifiedForm) {
  struct Case {
    const char* text;
    const char *ns, *pkg, *name, *qualified;
  } cases[] = {
      {"hello", "_", "", "hello", "/_/hello"},
      {"pkg/hello", "_", "pkg", "hello", "/_/pkg/hello"},
      {"/guest/hello", "guest", "", "hello", "/guest/hello"},
      {"/guest/pkg/hello", "guest", "pkg", "hello", "/guest/pkg/hello"},
      {"my action", "_", "", "my action", "/_/my action"},
  };
  for (const auto& c : cases) {
    auto e = ParseEntityName(c.text);
    ASSERT_TRUE(e.ok()) << c.text << ": " << e.status().ToString();
    EXPECT_EQ(e->namespace_, c.ns) << c.text;
    EXPECT_EQ(e->package, c.pkg) << c.text;
    EXPECT_EQ(e->name, c.name) << c.text;
    EXPECT_EQ(e->qualified(), c.qualified) << c.text;
  }
  auto with_default = ParseEntityName("pkg/hello", "guest");
  ASSERT_TRUE(with_default.ok());
  EXPECT_EQ(with_default->qualified(), "/guest/pkg/hello");
}

TEST(EntityNameTest, RefusesMalformedNames) {
  for (const char* bad : {"", "/", "/guest", "/guest/", "a/b/c", "/a/b/c/d", "a//b", "//a", "hello/", "/guest//x"}) {
    auto e = ParseEntityName(bad);
    EXPECT_FALSE(e.ok()) << "'" << bad << "' parsed as " << e->qualified();
  }
}

TEST(EntityNameTest, TargetsEncodeEachSegment) {
  EXPECT_EQ(PercentEncode("a b/c%d~_.-"), "a%20b%2Fc%25d~_.-");
  EXPECT_EQ(PercentEncode("pkg/a b", "/"), "pkg/a%20b");
  auto e = ParseEntityName("/my ns/pkg/my action");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(ActionTarget(Api("h", 1), *e), "/api/v1/namespaces/my%20ns/actions/pkg/my%20action");
  EXPECT_EQ(ActionTarget(Api("h", 1, "/ow"), *ParseEntityName("x")), "/ow/api/v1/namespaces/_/actions/x");
}

// ---------------------------------------------------------------- bodies

TEST(ActionBodyTest, BinaryFilesAreBase64AndTextIsSentAsItIs) {
  auto wasm = ExecFromFile("dir/add.wasm", kWasm, "wasm", "");
  EXPECT_EQ(json::value(wasm), Json(R"({"kind":"wasm","code":"AGFzbQEAAAA=","binary":true})"));
  auto zip = ExecFromFile("bundle.ZIP", "PK\3\4", "wasm", "run.wasm");
  EXPECT_EQ(json::value(zip), Json(R"({"kind":"wasm","code":"UEsDBA==","binary":true,"main":"run.wasm"})"));
  auto wat = ExecFromFile("add.wat", "(module)\n", "wasm", "");
  EXPECT_EQ(json::value(wat), Json(R"({"kind":"wasm","code":"(module)\n","binary":false})"));
  // The Wasm magic, or bytes that are not UTF-8, are binary whatever the name says.
  EXPECT_EQ(ExecFromFile("module.bin", kWasm, "wasm", "")["binary"], true);
  EXPECT_EQ(ExecFromFile("x.txt", "\xff\xfe", "wasm", "")["binary"], true);
  EXPECT_EQ(ExecFromFile("x.js", "héllo", "nodejs:20", "")["binary"], false);
}

TEST(ActionBodyTest, CreateCarriesEverythingGivenAndOnlyTheLimitsGiven) {
  TempDir dir("wow-client-test");
  WriteFile(dir.path() / "add.wasm", kWasm);
  WriteFile(dir.path() / "p.json", R"({"a":0,"from_file":[1,2]})");
  ActionFlags f;
  f.verb = ActionFlags::Verb::kCreate;
  f.file = (dir.path() / "add.wasm").string();
  f.main = "handler";
  f.param_files = {(dir.path() / "p.json").string()};
  f.params = {{"a", "1"}, {"s", "two words"}, {"o", R"({"x":true})"}};
  f.annotations = {{"net_access", "true"}, {"dir", "/tmp/x"}};
  f.timeout_ms = 5000;
  f.concurrency = 4;
  auto body = BuildActionBody(f, *ParseEntityName("/guest/pkg/add"));
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(json::value(*body), Json(R"({
    "namespace": "guest/pkg", "name": "add",
    "exec": {"kind": "wasm", "code": "AGFzbQEAAAA=", "binary": true, "main": "handler"},
    "parameters": [{"key": "a", "value": 1}, {"key": "from_file", "value": [1, 2]},
                   {"key": "s", "value": "two words"}, {"key": "o", "value": {"x": true}}],
    "annotations": [{"key": "net_access", "value": true}, {"key": "dir", "value": "/tmp/x"}],
    "limits": {"timeout": 5000, "concurrency": 4}})"));
}

TEST(ActionBodyTest, UpdateSendsOnlyWhatIsGiven) {
  ActionFlags f;
  f.verb = ActionFlags::Verb::kUpdate;
  f.memory_mb = 128;
  auto body = BuildActionBody(f, *ParseEntityName("hello"));
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(json::value(*body), Json(R"({"namespace":"_","name":"hello","limits":{"memory":128}})"));

  f.verb = ActionFlags::Verb::kCreate;  // create needs the code
  EXPECT_FALSE(BuildActionBody(f, *ParseEntityName("hello")).ok());
  f.file = "/nonexistent/add.wasm";
  auto missing = BuildActionBody(f, *ParseEntityName("hello"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(ActionBodyTest, InvokeParamsMergeFilesThenPairs) {
  TempDir dir("wow-client-test");
  WriteFile(dir.path() / "p.json", R"({"a":0,"b":"file"})");
  WriteFile(dir.path() / "array.json", "[1]");
  ActionFlags f;
  f.param_files = {(dir.path() / "p.json").string()};
  f.params = {{"a", "1"}, {"c", "not json"}};
  auto params = BuildInvokeParams(f);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(json::value(*params), Json(R"({"a":1,"b":"file","c":"not json"})"));
  f.param_files = {(dir.path() / "array.json").string()};
  EXPECT_FALSE(BuildInvokeParams(f).ok());
}

// ---------------------------------------------------------------- output

TEST(OutputTest, PrettyJsonIndentsByTwoSpaces) {
  EXPECT_EQ(PrettyJson(Json(R"({"a":1,"b":[true,null,"x\"y"],"c":{},"d":[],"e":{"f":1.5}})")),
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [\n"
            "    true,\n"
            "    null,\n"
            "    \"x\\\"y\"\n"
            "  ],\n"
            "  \"c\": {},\n"
            "  \"d\": [],\n"
            "  \"e\": {\n"
            "    \"f\": 1.5\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(PrettyJson(Json("3")), "3\n");
}

TEST(OutputTest, ActionListIsATable) {
  auto table = FormatActionList(Json(R"([
    {"namespace":"guest","name":"add","publish":false,"exec":{"kind":"wasm","binary":true}},
    {"namespace":"guest/pkg","name":"longer_name","publish":true,
     "annotations":[{"key":"exec","value":"nodejs:20"}],"exec":{"binary":false}}])"));
  EXPECT_EQ(table,
            "actions\n"
            "/guest/add              private  wasm\n"
            "/guest/pkg/longer_name  shared   nodejs:20\n");
  EXPECT_EQ(FormatActionList(Json("[]")), "actions\n");
}

class LocalTime : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    old_tz_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (old_tz_) {
      setenv("TZ", old_tz_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::optional<std::string> old_tz_;
};

TEST_F(LocalTime, ActivationListShowsStartIdNameAndStatus) {
  auto table = FormatActivationList(Json(R"([
    {"activationId":"aaaa","name":"add","namespace":"guest","start":1700000000123,"statusCode":0},
    {"activationId":"bbbbbbbb","name":"x","namespace":"guest","start":1700000001000,"statusCode":2},
    {"activationId":"cc","name":"hash","start":1700000002000,"response":{"status":"application error"}},
    {"activationId":"dd","name":"pending"}])"));
  EXPECT_EQ(table,
            "activations\n"
            "2023-11-14 22:13:20 aaaa      add      success\n"
            "2023-11-14 22:13:21 bbbbbbbb  x        action developer error\n"
            "2023-11-14 22:13:22 cc        hash     application error\n"
            "------------------- dd        pending  -\n");
}

// ---------------------------------------------------------------- against a fake API

struct Recorded {
  std::string method, target, authorization, content_type, body;
};

// An OpenWhisk API that answers what the test queues (else 200 {}) and records every request.
class FakeApi {
 public:
  FakeApi() {
    http::ServerOptions options;
    options.port = 0;
    auto server = http::Server::Start(options, [this](http::Request&& req, http::Responder respond) {
      std::lock_guard lock(mu_);
      requests_.push_back({std::string(req.method_string()), std::string(req.target()),
                           std::string(req[http::beast_http::field::authorization]),
                           std::string(req[http::beast_http::field::content_type]), req.body()});
      std::pair<unsigned, std::string> answer{200, "{}"};
      if (!answers_.empty()) {
        answer = answers_.front();
        answers_.pop_front();
      }
      respond(http::JsonResponse(req, static_cast<http::HttpStatus>(answer.first), answer.second));
    });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(server).value();
  }
  void Answer(unsigned status, std::string body) {
    std::lock_guard lock(mu_);
    answers_.emplace_back(status, std::move(body));
  }
  std::vector<Recorded> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  Recorded last() {
    auto all = requests();
    EXPECT_FALSE(all.empty());
    return all.empty() ? Recorded{} : all.back();
  }
  std::string address() const { return server_ ? server_->bound_address() : "127.0.0.1:1"; }

 private:
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::deque<std::pair<unsigned, std::string>> answers_;
  std::vector<Recorded> requests_;
};

struct Output {
  int exit_code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Output& o) {
  return os << "exit " << o.exit_code << "\n--- stdout\n" << o.out << "--- stderr\n" << o.err;
}

// Runs a command in-process with stdout and stderr captured.
Output Capture(const std::function<int(ClientIo)>& command) {
  char *out_buf = nullptr, *err_buf = nullptr;
  size_t out_len = 0, err_len = 0;
  FILE* out = open_memstream(&out_buf, &out_len);
  FILE* err = open_memstream(&err_buf, &err_len);
  Output o;
  o.exit_code = command(ClientIo{out, err});
  std::fclose(out);
  std::fclose(err);
  o.out.assign(out_buf, out_len);
  o.err.assign(err_buf, err_len);
  std::free(out_buf);
  std::free(err_buf);
  return o;
}

const std::string kAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:secret";

class ClientCommandTest : public ::testing::Test {
 protected:
  ClientFlags Client() {
    ClientFlags c;
    c.apihost = api_.address();
    c.auth = kAuth;
    c.props_path = dir_.path() / "no-such-wskprops";
    return c;
  }
  ActionFlags Action(ActionFlags::Verb verb, std::string name) {
    ActionFlags f;
    f.verb = verb;
    f.client = Client();
    f.name = std::move(name);
    return f;
  }
  ActivationFlags Activation(ActivationFlags::Verb verb, std::string name_or_id = {}) {
    ActivationFlags f;
    f.verb = verb;
    f.client = Client();
    f.name_or_id = std::move(name_or_id);
    return f;
  }
  Output Run(const ActionFlags& f) {
    return Capture([&](ClientIo io) { return RunAction(f, io); });
  }
  Output Run(const ActivationFlags& f) {
    return Capture([&](ClientIo io) { return RunActivation(f, io); });
  }
  void ExpectAuthorized(const Recorded& r) { EXPECT_EQ(r.authorization, "Basic " + Base64Encode(kAuth)); }

  TempDir dir_{"wow-client-test"};
  FakeApi api_;
};

TEST_F(ClientCommandTest, CreatePutsTheActionWithoutOverwrite) {
  WriteFile(dir_.path() / "add.wasm", kWasm);
  auto f = Action(ActionFlags::Verb::kCreate, "add");
  f.file = (dir_.path() / "add.wasm").string();
  f.params = {{"a", "1"}};
  f.annotations = {{"net_access", "true"}};
  f.timeout_ms = 3000;
  f.memory_mb = 64;
  f.logsize_mb = 1;
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "ok: created action add\n");
  ASSERT_EQ(api_.requests().size(), 1u);
  auto r = api_.last();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/actions/add?overwrite=false");
  ExpectAuthorized(r);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Json(r.body), Json(R"({"namespace":"_","name":"add",
      "exec":{"kind":"wasm","code":"AGFzbQEAAAA=","binary":true},
      "parameters":[{"key":"a","value":1}],"annotations":[{"key":"net_access","value":true}],
      "limits":{"timeout":3000,"memory":64,"logs":1}})"));
}

TEST_F(ClientCommandTest, UpdateOverwritesAndSendsTextCode) {
  WriteFile(dir_.path() / "add.wat", "(module (func (export \"_start\")))\n");
  auto f = Action(ActionFlags::Verb::kUpdate, "/guest/tools/add");
  f.file = (dir_.path() / "add.wat").string();
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "ok: updated action /guest/tools/add\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/api/v1/namespaces/guest/actions/tools/add?overwrite=true");
  ExpectAuthorized(r);
  EXPECT_EQ(Json(r.body), Json(R"({"namespace":"guest/tools","name":"add",
      "exec":{"kind":"wasm","code":"(module (func (export \"_start\")))\n","binary":false}})"));
}

TEST_F(ClientCommandTest, CreateRefusedByTheServerPrintsItsErrorAndCode) {
  WriteFile(dir_.path() / "add.wasm", kWasm);
  api_.Answer(409, R"({"error":"resource already exists","code":"7a3f"})");
  auto f = Action(ActionFlags::Verb::kCreate, "add");
  f.file = (dir_.path() / "add.wasm").string();
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("resource already exists (code 7a3f)"), std::string::npos) << o;
  EXPECT_NE(o.err.find("409"), std::string::npos) << o;
}

TEST_F(ClientCommandTest, UsageErrorsSendNothing) {
  auto f = Action(ActionFlags::Verb::kCreate, "add");
  f.file = (dir_.path() / "missing.wasm").string();
  EXPECT_EQ(Run(f).exit_code, kExitUsage);
  auto bad_name = Action(ActionFlags::Verb::kGet, "/only-namespace");
  auto o = Run(bad_name);
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  EXPECT_NE(o.err.find("not a valid entity name"), std::string::npos) << o;
  auto bad_params = Action(ActionFlags::Verb::kInvoke, "add");
  WriteFile(dir_.path() / "bad.json", "{");
  bad_params.param_files = {(dir_.path() / "bad.json").string()};
  EXPECT_EQ(Run(bad_params).exit_code, kExitUsage);
  auto tls = Action(ActionFlags::Verb::kGet, "add");
  tls.client.apihost = "https://" + api_.address();
  o = Run(tls);
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  EXPECT_NE(o.err.find("TLS is not supported"), std::string::npos) << o;
  auto no_auth = Action(ActionFlags::Verb::kGet, "add");
  no_auth.client.auth.clear();
  o = Run(no_auth);
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  EXPECT_NE(o.err.find("--auth"), std::string::npos) << o;
  EXPECT_TRUE(api_.requests().empty());
}

TEST_F(ClientCommandTest, GetPrintsPrettyJsonWithoutCodeByDefault) {
  api_.Answer(200, R"({"name":"add","namespace":"_","exec":{"kind":"wasm","binary":true}})");
  api_.Answer(200, R"({"name":"add","exec":{"code":"AGFzbQEAAAA="}})");
  auto f = Action(ActionFlags::Verb::kGet, "add");
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out,
            "{\n  \"name\": \"add\",\n  \"namespace\": \"_\",\n  \"exec\": {\n    \"kind\": \"wasm\",\n"
            "    \"binary\": true\n  }\n}\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/actions/add?code=false");
  ExpectAuthorized(r);
  f.code = true;
  o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/actions/add?code=true");
  EXPECT_NE(o.out.find("AGFzbQEAAAA="), std::string::npos) << o;
}

TEST_F(ClientCommandTest, GetOfAMissingActionFails) {
  api_.Answer(404, R"({"error":"The requested resource does not exist.","code":"x1"})");
  auto o = Run(Action(ActionFlags::Verb::kGet, "nope"));
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("The requested resource does not exist. (code x1)"), std::string::npos) << o;
}

TEST_F(ClientCommandTest, ListSendsLimitAndSkipAndPrintsATable) {
  api_.Answer(200, R"([{"namespace":"guest","name":"add","publish":false,"exec":{"kind":"wasm"}}])");
  auto f = Action(ActionFlags::Verb::kList, "");
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "actions\n/guest/add  private  wasm\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/actions?limit=30&skip=0");
  ExpectAuthorized(r);
  f.name = "/guest";
  f.limit = 5;
  f.skip = 10;
  EXPECT_EQ(Run(f).exit_code, kExitOk);
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/guest/actions?limit=5&skip=10");
}

TEST_F(ClientCommandTest, DeleteSendsDelete) {
  auto o = Run(Action(ActionFlags::Verb::kDelete, "pkg/add"));
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "ok: deleted action pkg/add\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/actions/pkg/add");
  ExpectAuthorized(r);
}

TEST_F(ClientCommandTest, InvokeBlockingPrintsTheActivation) {
  api_.Answer(200, R"({"activationId":"a1","response":{"status":"success","result":{"sum":3}}})");
  auto f = Action(ActionFlags::Verb::kInvoke, "add");
  f.blocking = true;
  f.params = {{"param1", "1"}, {"param2", "2"}};
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"activationId":"a1","response":{"status":"success","result":{"sum":3}}})"));
  EXPECT_NE(o.out.find("\n  \"activationId\": \"a1\",\n"), std::string::npos) << o;
  auto r = api_.last();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/actions/add?blocking=true&result=false");
  ExpectAuthorized(r);
  EXPECT_EQ(Json(r.body), Json(R"({"param1":1,"param2":2})"));
}

TEST_F(ClientCommandTest, InvokeResultPrintsOnlyTheResult) {
  api_.Answer(200, R"({"sum":3})");
  auto f = Action(ActionFlags::Verb::kInvoke, "/guest/add");
  f.result = true;  // implies blocking
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "{\n  \"sum\": 3\n}\n");
  auto r = api_.last();
  EXPECT_EQ(r.target, "/api/v1/namespaces/guest/actions/add?blocking=true&result=true");
  EXPECT_EQ(Json(r.body), Json("{}"));
}

TEST_F(ClientCommandTest, InvokeNonBlockingPrintsTheActivationId) {
  api_.Answer(202, R"({"activationId":"5a5bd07ea1f947e99bd07ea1f9c7e9a4"})");
  auto o = Run(Action(ActionFlags::Verb::kInvoke, "pkg/add"));
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "ok: invoked /_/pkg/add with id 5a5bd07ea1f947e99bd07ea1f9c7e9a4\n");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/actions/pkg/add?blocking=false&result=false");
}

TEST_F(ClientCommandTest, InvokeOfAFailingActionPrintsTheBodyAndExitsOne) {
  api_.Answer(502, R"({"error":"The action exceeded its time limits of 100 milliseconds."})");
  auto f = Action(ActionFlags::Verb::kInvoke, "slow");
  f.result = true;
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"error":"The action exceeded its time limits of 100 milliseconds."})"));
  api_.Answer(404, R"({"error":"The requested resource does not exist.","code":"c"})");
  o = Run(f);
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("cannot invoke /_/slow: The requested resource does not exist. (code c)"), std::string::npos)
      << o;
}

TEST_F(ClientCommandTest, AnUnreachableHostFails) {
  auto f = Action(ActionFlags::Verb::kGet, "add");
  // A port nobody listens on: bind one, then close it.
  {
    http::ServerOptions options;
    auto s = http::Server::Start(options, [](http::Request&&, http::Responder) {});
    ASSERT_TRUE(s.ok());
    f.client.apihost = (*s)->bound_address();
  }
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_NE(o.err.find("cannot connect"), std::string::npos) << o;
}

TEST_F(ClientCommandTest, UsesTheWskPropsFile) {
  WriteFile(dir_.path() / "wskprops",
            "# written by a test\nAPIHOST=http://" + api_.address() + "/\nAUTH=" + kAuth + "\nNAMESPACE=guest\n");
  auto f = Action(ActionFlags::Verb::kDelete, "add");
  f.client.apihost.clear();
  f.client.auth.clear();
  f.client.props_path = dir_.path() / "wskprops";
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  auto r = api_.last();
  EXPECT_EQ(r.target, "/api/v1/namespaces/guest/actions/add");
  ExpectAuthorized(r);
  f.client.auth = "other:key";  // a flag wins
  EXPECT_EQ(Run(f).exit_code, kExitOk);
  EXPECT_EQ(api_.last().authorization, "Basic " + Base64Encode("other:key"));
}

struct ScopedUtc {
  ScopedUtc() {
    if (const char* tz = std::getenv("TZ")) old = tz;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ~ScopedUtc() {
    if (old) {
      setenv("TZ", old->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::optional<std::string> old;
};

TEST_F(ClientCommandTest, ActivationListFiltersByNameAndTime) {
  ScopedUtc utc;
  api_.Answer(200, R"([{"activationId":"a1","name":"add","start":1700000000000,"statusCode":1}])");
  auto f = Activation(ActivationFlags::Verb::kList);
  auto o = Run(f);
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "activations\n2023-11-14 22:13:20 a1  add  application error\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/v1/namespaces/_/activations?limit=30&skip=0");
  ExpectAuthorized(r);
  f.name_or_id = "/guest/pkg/add";
  f.limit = 2;
  f.skip = 1;
  f.since_ms = 1700000000000;
  f.upto_ms = 1700000009999;
  EXPECT_EQ(Run(f).exit_code, kExitOk);
  EXPECT_EQ(api_.last().target,
            "/api/v1/namespaces/guest/activations?name=pkg/add&limit=2&skip=1&since=1700000000000&upto=1700000009999");
}

TEST_F(ClientCommandTest, ActivationGetLogsAndResult) {
  api_.Answer(200, R"({"activationId":"a1","logs":["l1"],"response":{"result":{"sum":3},"success":true}})");
  auto o = Run(Activation(ActivationFlags::Verb::kGet, "a1"));
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"activationId":"a1","logs":["l1"],"response":{"result":{"sum":3},"success":true}})"));
  EXPECT_EQ(api_.last().method, "GET");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/activations/a1");
  ExpectAuthorized(api_.last());

  api_.Answer(200, R"({"logs":["2024-01-01T00:00:00.000Z stdout: hello","2024-01-01T00:00:00.001Z stderr: oops"]})");
  o = Run(Activation(ActivationFlags::Verb::kLogs, "a1"));
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "2024-01-01T00:00:00.000Z stdout: hello\n2024-01-01T00:00:00.001Z stderr: oops\n");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/activations/a1/logs");

  api_.Answer(200, R"({"result":{"result":3},"status":"success","success":true})");
  o = Run(Activation(ActivationFlags::Verb::kResult, "a1"));
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "{\n  \"result\": 3\n}\n");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/activations/a1/result");

  api_.Answer(404, R"({"error":"The requested resource does not exist.","code":"z"})");
  o = Run(Activation(ActivationFlags::Verb::kResult, "nope"));
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_NE(o.err.find("cannot get activation nope: The requested resource does not exist."), std::string::npos) << o;
}

// ---------------------------------------------------------------- the wow binary

const fs::path kWow = fs::path(WOW_BINARY_DIR) / "wow";

class WowBinaryTest : public ClientCommandTest {
 protected:
  void SetUp() override { ASSERT_TRUE(fs::exists(kWow)) << kWow << " not built"; }

  // Runs `wow args...` with WSK_CONFIG_FILE and HOME pointing into the test's directory.
  Output Wow(std::vector<std::string> args) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view v = *e;
      if (v.starts_with("WSK_CONFIG_FILE=") || v.starts_with("HOME=")) continue;
      env_strings.emplace_back(v);
    }
    env_strings.push_back("WSK_CONFIG_FILE=" + (dir_.path() / "wskprops").string());
    env_strings.push_back("HOME=" + dir_.path().string());
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string program = kWow.string();
    std::vector<char*> argv{program.data()};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    fs::path out_file = dir_.path() / "stdout", err_file = dir_.path() / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Output result;
    pid_t pid;
    int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "posix_spawn failed";
    if (rc != 0) return result;
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.out = ReadFile(out_file).value();
    result.err = ReadFile(err_file).value();
    return result;
  }
};

TEST_F(WowBinaryTest, CreateWithEveryFlag) {
  WriteFile(dir_.path() / "add.wasm", kWasm);
  auto o = Wow({"action",
                "create",
                "/guest/add",
                (dir_.path() / "add.wasm").string(),
                "-p",
                "a",
                "1",
                "-p",
                "s",
                "x y",
                "-a",
                "net_access",
                "true",
                "--main",
                "handler",
                "--timeout",
                "100",
                "--memory",
                "32",
                "--logsize",
                "2",
                "--concurrency",
                "3",
                "--apihost",
                "http://" + api_.address(),
                "--auth",
                kAuth,
                "-i"});
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "ok: created action /guest/add\n");
  auto r = api_.last();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/api/v1/namespaces/guest/actions/add?overwrite=false");
  ExpectAuthorized(r);
  EXPECT_EQ(Json(r.body), Json(R"({"namespace":"guest","name":"add",
      "exec":{"kind":"wasm","code":"AGFzbQEAAAA=","binary":true,"main":"handler"},
      "parameters":[{"key":"a","value":1},{"key":"s","value":"x y"}],
      "annotations":[{"key":"net_access","value":true}],
      "limits":{"timeout":100,"memory":32,"logs":2,"concurrency":3}})"));
}

TEST_F(WowBinaryTest, InvokeWithConnectionFlagsBeforeTheVerbAndPropsFile) {
  api_.Answer(200, R"({"sum":3})");
  auto o = Wow({"action", "--apihost", api_.address(), "-u", kAuth, "invoke", "add", "-r", "-p", "x", "1"});
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "{\n  \"sum\": 3\n}\n");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/actions/add?blocking=true&result=true");
  EXPECT_EQ(Json(api_.last().body), Json(R"({"x":1})"));

  WriteFile(dir_.path() / "wskprops", "APIHOST=" + api_.address() + "\nAUTH=" + kAuth + "\n");
  api_.Answer(200, R"({"logs":["one","two"]})");
  o = Wow({"activation", "logs", "abc"});
  EXPECT_EQ(o.exit_code, kExitOk) << o;
  EXPECT_EQ(o.out, "one\ntwo\n");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/_/activations/abc/logs");
  ExpectAuthorized(api_.last());

  api_.Answer(502, R"({"activationId":"f","response":{"status":"application error"}})");
  o = Wow({"action", "invoke", "add", "--blocking"});
  EXPECT_EQ(o.exit_code, kExitFailed) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"activationId":"f","response":{"status":"application error"}})"));
}

TEST_F(WowBinaryTest, UsageErrorsExitTwo) {
  auto o = Wow({"action", "create", "add", "--apihost", api_.address(), "--auth", kAuth});  // no FILE
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  o = Wow({"action"});  // no verb
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  o = Wow({"activation", "list"});  // no wskprops, no flags
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  EXPECT_NE(o.err.find("no API host"), std::string::npos) << o;
  o = Wow({"action", "get", "add", "--apihost", "https://h:443", "--auth", kAuth});
  EXPECT_EQ(o.exit_code, kExitUsage) << o;
  EXPECT_NE(o.err.find("TLS is not supported"), std::string::npos) << o;
  EXPECT_TRUE(api_.requests().empty());
}

}  // namespace
}  // namespace wow::cli
