// Runs the real `wow` binary (WOW_BINARY_DIR/wow) as a child process and
// checks its stdout, stderr and exit status: `wow run` and `wow compile` with
// the examples and small .wat modules. Exit codes: 0 success, 1 the action or
// the compile failed, 2 usage errors.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "common/files.h"
#include "common/json.h"
#include "wasm/testing/module_generator.h"

extern char** environ;

namespace wow {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kWow = fs::path(WOW_BINARY_DIR) / "wow";
const fs::path kExamples = fs::path(WOW_BINARY_DIR) / "examples";

struct Output {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Output& o) {
  return os << "exit " << o.exit_code << "\n--- stdout\n" << o.out << "--- stderr\n" << o.err;
}

json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << ": " << text;
  return v.ok() ? std::move(v).value() : json::value();
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { data_dir_ = new TempDir("wow-cli-test"); }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(fs::exists(kWow)) << kWow << " not built"; }

  // Runs `wow args...` with stdin from /dev/null and stdout/stderr captured in
  // files (no pipes, so no deadlock however much it prints).
  Output Wow(std::vector<std::string> args, bool with_data_dir = true) {
    if (with_data_dir) {
      args.push_back("--data-dir");
      args.push_back(data_dir_->path().string());
    }
    std::vector<char*> argv;
    std::string program = kWow.string();
    argv.push_back(program.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    fs::path out_file = tmp_.path() / "stdout", err_file = tmp_.path() / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Output result;
    pid_t pid = 0;
    int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn: " << strerror(rc);
      return result;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.out = ReadFile(out_file).value();
    result.err = ReadFile(err_file).value();
    return result;
  }

  std::string Example(const std::string& name) { return (kExamples / (name + ".wasm")).string(); }

  fs::path WriteFile(const std::string& name, std::string_view content) {
    fs::path path = tmp_.path() / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static TempDir* data_dir_;
  TempDir tmp_{"wow-cli"};
};

TempDir* CliTest::data_dir_ = nullptr;

#define REQUIRE_EXAMPLES()                                                 \
  if (!fs::exists(kExamples / "add.wasm") || !fs::exists(kExamples / "echo.wasm")) \
  GTEST_SKIP() << "the .wasm examples were not built (needs clang-16 + wasi-libc)"

TEST_F(CliTest, RunAddPrintsTheResult) {
  REQUIRE_EXAMPLES();
  Output o = Wow({"run", Example("add"), "-p", "param1", "2", "-p", "param2", "40"});
  EXPECT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.out, "{\"result\":42}\n") << o;
}

TEST_F(CliTest, ParamValuesAreJsonElseStrings) {
  REQUIRE_EXAMPLES();
  Output o = Wow({"run", Example("echo"), "-p", "s", "hello", "-p", "n", "3", "-p", "o", R"({"a":1})", "-p", "t",
                  "true", "-p", "q", "\"quoted\"", "-p", "bad", "{not json"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"s":"hello","n":3,"o":{"a":1},"t":true,"q":"quoted","bad":"{not json"})")) << o;
  // echo's logs go to stderr.
  EXPECT_NE(o.err.find("echo: "), std::string::npos) << o;
}

TEST_F(CliTest, ParamFileIsMergedAndSingleParamsOverride) {
  REQUIRE_EXAMPLES();
  fs::path file = WriteFile("params.json", R"({"s":"from file","k":1,"nested":{"x":[1,2]}})");
  Output o = Wow({"run", Example("echo"), "-P", file.string(), "-p", "s", "from flag", "-p", "extra", "2"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"s":"from flag","k":1,"nested":{"x":[1,2]},"extra":2})")) << o;
  // -p wins whatever the order on the command line.
  Output reordered = Wow({"run", Example("echo"), "-p", "s", "from flag", "-P", file.string()});
  ASSERT_EQ(reordered.exit_code, 0) << reordered;
  EXPECT_EQ(Json(reordered.out).at("s"), json::value("from flag")) << reordered;
}

TEST_F(CliTest, TimeoutStopsALoopingAction) {
  fs::path spin = WriteFile("spin.wat", R"((module (memory (export "memory") 1)
    (global $n (mut i64) (i64.const 0))
    (func (export "_start") (loop $l (global.set $n (i64.add (global.get $n) (i64.const 1))) (br $l)))))");
  Output o = Wow({"run", spin.string(), "--timeout-ms", "200"});
  EXPECT_EQ(o.exit_code, 1) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"error":"The action exceeded its time limits of 200 milliseconds."})")) << o;
}

TEST_F(CliTest, BadParamFilesAreUsageErrors) {
  REQUIRE_EXAMPLES();
  fs::path not_json = WriteFile("bad.json", "{\"a\":");
  fs::path not_object = WriteFile("list.json", "[1,2]");
  for (const std::string& file : {not_json.string(), not_object.string(), (tmp_.path() / "missing.json").string()}) {
    Output o = Wow({"run", Example("echo"), "-P", file});
    EXPECT_EQ(o.exit_code, 2) << file << "\n" << o;
    EXPECT_NE(o.err.find(fs::path(file).filename().string()), std::string::npos) << o;
    EXPECT_EQ(o.out, "") << o;
  }
}

TEST_F(CliTest, MissingModuleIsAUsageError) {
  Output o = Wow({"run", (tmp_.path() / "nope.wasm").string()});
  EXPECT_EQ(o.exit_code, 2) << o;
  EXPECT_NE(o.err.find("nope.wasm"), std::string::npos) << o;
  Output c = Wow({"compile", (tmp_.path() / "nope.wasm").string()});
  EXPECT_EQ(c.exit_code, 2) << c;
}

TEST_F(CliTest, FileThatIsNotAModuleFailsClearly) {
  fs::path text = WriteFile("notes.wasm", "these are notes, not a module\n");
  Output o = Wow({"run", text.string()});
  EXPECT_EQ(o.exit_code, 1) << o;
  EXPECT_NE(o.err.find("notes.wasm"), std::string::npos) << o;
  EXPECT_EQ(o.out, "") << o;
  // Wasm magic followed by garbage.
  fs::path broken = WriteFile("broken.wasm", std::string("\0asm\x01\0\0\0\xff\xff\xff", 11));
  Output b = Wow({"run", broken.string()});
  EXPECT_EQ(b.exit_code, 1) << b;
  EXPECT_NE(b.err.find("malformed"), std::string::npos) << b;
  EXPECT_EQ(b.out, "") << b;
}

// Errors from Engine::Prepare (decoding, validation) name the module's path,
// not a placeholder. (Regression: `wow compile invalid.wat` used to print
// "validation: invalid module: module.wasm:000001a: error: ...".)
TEST_F(CliTest, ModuleErrorsNameTheFile) {
  fs::path broken = WriteFile("broken.wasm", std::string("\0asm\x01\0\0\0\xff\xff\xff", 11));
  Output b = Wow({"run", broken.string()});
  EXPECT_EQ(b.exit_code, 1) << b;
  EXPECT_NE(b.err.find("broken.wasm"), std::string::npos) << b;
  fs::path invalid = WriteFile("invalid.wat", R"((module (func (result i32) (i64.const 1))))");
  Output c = Wow({"compile", invalid.string()});
  EXPECT_EQ(c.exit_code, 1) << c;
  EXPECT_NE(c.err.find("invalid.wat"), std::string::npos) << c;
  EXPECT_EQ(c.err.find("module.wasm"), std::string::npos) << c;
}

// Issue 12: deep nesting crashed every engine. `wow run` and `wow compile`
// refuse it with the limit (exit 1, like any invalid module), binary or text.
TEST_F(CliTest, ModulesOverTheStructuralLimitsAreRefused) {
  const std::vector<uint8_t> nested = wasm::testing::NestedBlocksModule(20000);
  fs::path binary = WriteFile("deep.wasm", std::string(nested.begin(), nested.end()));
  fs::path text = WriteFile("deep.wat", wasm::testing::NestedBlocksText(100000, /*folded=*/false));
  for (const char* command : {"run", "compile"}) {
    Output b = Wow({command, binary.string()});
    EXPECT_EQ(b.exit_code, 1) << command << " " << b;
    EXPECT_NE(b.err.find("function 0 nests blocks 20000 deep; at most 1024 are allowed"), std::string::npos)
        << command << " " << b;
    Output t = Wow({command, text.string()});
    EXPECT_EQ(t.exit_code, 1) << command << " " << t;
    EXPECT_NE(t.err.find("the WebAssembly text nests 100002 deep"), std::string::npos) << command << " " << t;
  }
}

TEST_F(CliTest, UnknownFlagIsAUsageError) {
  Output o = Wow({"run", "x.wasm", "--no-such-flag"}, /*with_data_dir=*/false);
  EXPECT_EQ(o.exit_code, 2) << o;
  Output none = Wow({}, /*with_data_dir=*/false);
  EXPECT_EQ(none.exit_code, 2) << none;
  Output bad_level = Wow({"compile", "x.wasm", "-O", "9"}, /*with_data_dir=*/false);
  EXPECT_EQ(bad_level.exit_code, 2) << bad_level;
}

TEST_F(CliTest, BufferedBodyBudgetBelowTheLargestBodyIsAUsageError) {
  Output proxy = Wow({"proxy", "--listen", "127.0.0.1:0", "--max-buffered-mb", "8", "--body-limit-mb", "64"});
  EXPECT_EQ(proxy.exit_code, 2) << proxy;
  EXPECT_NE(proxy.err.find("--max-buffered-mb 8 is below the largest request body (64 MiB)"), std::string::npos)
      << proxy;
  Output serve = Wow({"serve", "--listen", "127.0.0.1:0", "--max-buffered-mb", "16"});
  EXPECT_EQ(serve.exit_code, 2) << serve;
  EXPECT_NE(serve.err.find("--max-buffered-mb 16 is below the largest request body"), std::string::npos) << serve;
}

TEST_F(CliTest, ApplicationErrorExitsOneWithTheErrorOnStdout) {
  REQUIRE_EXAMPLES();
  Output o = Wow({"run", Example("add"), "-p", "param1", "2"});
  EXPECT_EQ(o.exit_code, 1) << o;
  json::value v = Json(o.out);
  ASSERT_TRUE(v.is_object()) << o;
  EXPECT_NE(std::string(v.at("error").as_string()).find("param2"), std::string::npos) << o;
}

TEST_F(CliTest, MemoryLimitIsReported) {
  // Needs 2 MiB of memory at start.
  fs::path big = WriteFile("big.wat", R"((module (memory (export "memory") 32) (func (export "_start"))))");
  Output o = Wow({"run", big.string(), "--memory-mb", "1"});
  EXPECT_EQ(o.exit_code, 1) << o;
  EXPECT_NE((o.out + o.err).find("memory limit"), std::string::npos) << o;

  // Grows until refused, then traps.
  fs::path grower = fs::path(WOW_SOURCE_DIR) / "tests" / "guests" / "abi_wasi_memory_limit.wat";
  Output g = Wow({"run", grower.string(), "--memory-mb", "2"});
  EXPECT_EQ(g.exit_code, 1) << g;
  EXPECT_NE(g.out.find("memory limit of 2 MB"), std::string::npos) << g;
  EXPECT_NE(g.err.find("growing"), std::string::npos) << g;
}

TEST_F(CliTest, CompilePrintsTheArtifactAndCachesIt) {
  fs::path wat = WriteFile("compile_me.wat", R"((module (memory (export "memory") 1) (func (export "_start"))))");
  TempDir data("wow-cli-compile");
  Output first = Wow({"compile", wat.string(), "--data-dir", data.path().string()}, /*with_data_dir=*/false);
  ASSERT_EQ(first.exit_code, 0) << first;
  ASSERT_FALSE(first.out.empty());
  ASSERT_EQ(first.out.back(), '\n');
  fs::path artifact = first.out.substr(0, first.out.size() - 1);
  EXPECT_TRUE(fs::is_regular_file(artifact)) << first;
  EXPECT_EQ(fs::absolute(artifact).string().rfind(fs::absolute(data.path()).string(), 0), 0u) << first;
  EXPECT_EQ(first.err.find("cache hit"), std::string::npos) << first;

  Output second = Wow({"compile", wat.string(), "--data-dir", data.path().string()}, /*with_data_dir=*/false);
  ASSERT_EQ(second.exit_code, 0) << second;
  EXPECT_EQ(second.out, first.out);
  EXPECT_NE(second.err.find("cache hit"), std::string::npos) << second;
}

TEST_F(CliTest, CompileOfAnInvalidModuleFails) {
  fs::path invalid = WriteFile("invalid.wat", R"((module (func (result i32) (i64.const 1))))");
  Output o = Wow({"compile", invalid.string()});
  EXPECT_EQ(o.exit_code, 1) << o;
  EXPECT_NE(o.err.find("type mismatch"), std::string::npos) << o;
  EXPECT_EQ(o.out, "") << o;
}

TEST_F(CliTest, RunsWebAssemblyText) {
  fs::path cat = fs::path(WOW_SOURCE_DIR) / "tests" / "guests" / "abi_wasi_cat.wat";
  Output o = Wow({"run", cat.string(), "-p", "greeting", "hi", "--timings"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"greeting":"hi"})")) << o;
  EXPECT_NE(o.err.find("cat: first log line"), std::string::npos) << o;
  EXPECT_NE(o.err.find("cat: a line on stderr"), std::string::npos) << o;
  EXPECT_NE(o.err.find("wasi-command ABI"), std::string::npos) << o;  // --timings
}

TEST_F(CliTest, EngineFlag) {
  fs::path hello = WriteFile("hello.wat", R"((module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 64) "{\"ok\":1}\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 9))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))");
  for (const char* engine : {"aot", "interp", "tiered"}) {
    Output o = Wow({"run", hello.string(), "--engine", engine, "--timings"});
    ASSERT_EQ(o.exit_code, 0) << engine << ": " << o;
    EXPECT_EQ(Json(o.out), Json(R"({"ok":1})")) << o;
    // --timings names the backend that ran it (tiered: its fast tier, or AoT when cached).
    if (std::string_view(engine) != "tiered") {
      EXPECT_NE(o.err.find(std::string(engine) + " engine"), std::string::npos) << o;
    }
  }
  // Without a C compiler the default is the fast engine, not aot.
  Output no_cc = Wow({"run", hello.string(), "--cc", (tmp_.path() / "no-such-cc").string(), "--timings"});
  ASSERT_EQ(no_cc.exit_code, 0) << no_cc;
  EXPECT_EQ(no_cc.err.find("aot engine"), std::string::npos) << no_cc;

  // compile: a backend without artifacts says so instead of printing an empty path.
  Output interp = Wow({"compile", hello.string(), "--engine", "interp"});
  EXPECT_EQ(interp.exit_code, 0) << interp;
  EXPECT_EQ(interp.out, "") << interp;
  EXPECT_NE(interp.err.find("the interp engine keeps no artifact"), std::string::npos) << interp;
  Output tiered = Wow({"compile", hello.string(), "--engine", "tiered"});
  EXPECT_EQ(tiered.exit_code, 2) << "compile takes concrete backends only: " << tiered;

  // Unknown engines are usage errors listing the choices, on every face.
  for (const char* command : {"run", "serve", "executor", "proxy"}) {
    std::vector<std::string> args = {command, "--engine", "warp"};
    if (std::string_view(command) == "run") args.insert(args.begin() + 1, hello.string());
    Output o = Wow(args);
    EXPECT_EQ(o.exit_code, 2) << command << ": " << o;
    EXPECT_NE(o.err.find("aot,interp"), std::string::npos) << command << ": " << o;
  }
  Output help = Wow({"serve", "--help"}, /*with_data_dir=*/false);
  EXPECT_NE(help.out.find("Wasm engine: aot, interp"), std::string::npos) << help;
  EXPECT_NE(help.out.find("default: tiered when the C compiler runs"), std::string::npos) << help;
}

TEST_F(CliTest, DeveloperErrorExitsOne) {
  fs::path trap = WriteFile("trap.wat", R"((module (memory (export "memory") 1) (func (export "_start") unreachable)))");
  Output o = Wow({"run", trap.string()});
  EXPECT_EQ(o.exit_code, 1) << o;
  json::value v = Json(o.out);
  ASSERT_TRUE(v.is_object()) << o;
  EXPECT_NE(std::string(v.at("error").as_string()).find("unreachable"), std::string::npos) << o;
}

// The operator's --allow-dir may not hand out wow's own data directory.
TEST_F(CliTest, AllowDirInsideTheDataDirIsRefusedAtStart) {
  for (const char* face : {"executor", "proxy", "serve"}) {
    Output o = Wow({face, "--listen", "127.0.0.1:0", "--allow-dir", (data_dir_->path() / "aot").string()});
    EXPECT_EQ(o.exit_code, 2) << face << "\n" << o;
    EXPECT_NE(o.err.find("never granted"), std::string::npos) << face << "\n" << o;
  }
}

TEST_F(CliTest, DirGrantsFilesys) {
  REQUIRE_EXAMPLES();
  TempDir dir("wow-cli-dir");
  fs::path file = dir.path() / "f.txt";
  Output o = Wow({"run", Example("filesys"), "--dir", dir.path().string(), "-p", "dir", dir.path().string(), "-p",
                  "path", file.string(), "-p", "content", "via cli"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(Json(o.out).at("content"), json::value("via cli")) << o;
  EXPECT_EQ(ReadFile(file).value(), "via cli");

  fs::path denied = dir.path() / "denied.txt";
  Output without = Wow({"run", Example("filesys"), "-p", "dir", dir.path().string(), "-p", "path", denied.string()});
  EXPECT_EQ(without.exit_code, 1) << without;
  EXPECT_NE(without.out.find("error"), std::string::npos) << without;
  EXPECT_FALSE(fs::exists(denied));
}

TEST_F(CliTest, NetGrantsBlock) {
  REQUIRE_EXAMPLES();
  Output o = Wow({"run", Example("block"), "--net"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.out, "{\"status\":0}\n") << o;

  Output without = Wow({"run", Example("block")});
  EXPECT_EQ(without.exit_code, 1) << without;
  EXPECT_NE(without.err.find("http.get"), std::string::npos) << without;
}

TEST_F(CliTest, EnvReachesTheAction) {
  // Prints {"env":"<the environment>"}, assuming one entry: the host passes
  // only --env entries, none of its own environment, or the output breaks.
  fs::path env = WriteFile("env.wat", R"((module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "{\"env\":\"")
  (func (export "_start") (local $size i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $size (i32.load (i32.const 4)))
    (drop (call $get (i32.const 100) (i32.const 208)))
    ;; replace the entry's NUL with a quote and close the object
    (i32.store8 (i32.add (i32.const 207) (local.get $size)) (i32.const 34))
    (i32.store8 (i32.add (i32.const 208) (local.get $size)) (i32.const 125))
    (i32.store (i32.const 16) (i32.const 200))
    (i32.store (i32.const 20) (i32.add (local.get $size) (i32.const 9)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
)");
  Output o = Wow({"run", env.string(), "--env", "GREETING=hello"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(Json(o.out), Json(R"({"env":"GREETING=hello"})")) << o;
}

}  // namespace
}  // namespace wow
