#include "wasi/wasi_host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "wasi/net.h"
#include "wasi/preview1.h"
#include "wasi/wasi_context.h"
#include "wasm/guest_memory.h"

namespace wow::wasi {
namespace {

namespace fs = std::filesystem;
using wasm::HostAction;
using wasm::HostCall;
using wasm::RawValue;
using wasm::ValType;

// Linear memory backed by a vector, as an engine would expose it.
class FakeMemory : public wasm::GuestMemory {
 public:
  explicit FakeMemory(size_t size) : bytes_(size) {}
  uint8_t* base() const override { return bytes_.data(); }
  uint64_t size() const override { return bytes_.size(); }

 private:
  mutable std::vector<uint8_t> bytes_;
};

constexpr uint32_t kMemSize = 1 << 16;
// Guest addresses the tests use.
constexpr uint32_t kOut = 64;  // result slots (u32/u64)
constexpr uint32_t kOut2 = 80;
constexpr uint32_t kPath = 256;  // path strings
constexpr uint32_t kPath2 = 768;
constexpr uint32_t kIovs = 1280;  // iovec arrays
constexpr uint32_t kBuf = 4096;   // data buffers
constexpr uint32_t kBuf2 = 8192;

constexpr uint64_t kRead =
    rights::kFdRead | rights::kFdSeek | rights::kFdTell | rights::kFdFilestatGet | rights::kFdReaddir;
constexpr uint64_t kReadWrite = kRead | rights::kFdWrite | rights::kFdFilestatSetSize | rights::kFdFdstatSetFlags;

uint64_t E(Errno e) { return static_cast<uint64_t>(e); }

class WasiHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddWasiFunctions(host_);
    AddNetFunctions(host_);
    char tmpl[] = "/tmp/wow_wasi_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    sandbox_ = root_ / "sandbox";
    outside_ = root_ / "outside";
    fs::create_directory(sandbox_);
    fs::create_directory(outside_);
    WriteHostFile(outside_ / "victim", "secret");
  }
  void TearDown() override {
    ctx_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  WasiOptions Options() {
    WasiOptions options;
    options.preopens.push_back(Preopen{sandbox_.string(), "/sandbox"});
    return options;
  }
  void MakeContext(WasiOptions options) {
    auto ctx = WasiContext::Create(std::move(options));
    ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
    ctx_ = std::move(ctx).value();
  }
  void MakeContext() { MakeContext(Options()); }

  // Calls a registered function and returns its errno (or 0 when it has no
  // result); `action` receives what it told the engine.
  uint64_t Call(const std::string& module, const std::string& name, std::vector<RawValue> args,
                HostAction* action = nullptr, bool with_memory = true) {
    const wasm::HostFunction* f = host_.Find(module, name);
    EXPECT_NE(f, nullptr) << name;
    if (f == nullptr) return ~0ull;
    EXPECT_EQ(args.size(), f->sig.params.size()) << name;
    call_ = HostCall{};
    call_.memory = with_memory ? &mem_ : nullptr;
    call_.data = ctx_.get();
    RawValue result = 0;
    std::span<RawValue> results(&result, f->sig.results.size());
    HostAction a = f->fn(call_, args, results);
    if (action != nullptr) {
      *action = a;
    } else {
      EXPECT_EQ(a, HostAction::kContinue) << name << ": " << call_.trap_message;
    }
    return result;
  }
  uint64_t Wasi(const std::string& name, std::vector<RawValue> args) {
    return Call(kWasiModule, name, std::move(args));
  }

  void PutBytes(uint32_t addr, std::string_view s) { ASSERT_TRUE(mem_.WriteBytes(addr, s)); }
  uint32_t U32(uint32_t addr) { return *mem_.Read<uint32_t>(addr); }
  uint64_t U64(uint32_t addr) { return *mem_.Read<uint64_t>(addr); }
  std::string Str(uint32_t addr, uint32_t len) { return *mem_.ReadString(addr, len); }

  // Writes one iovec {buf, len} at `at`.
  void PutIovec(uint32_t at, uint32_t buf, uint32_t len) {
    ASSERT_TRUE(mem_.Write<uint32_t>(at, buf));
    ASSERT_TRUE(mem_.Write<uint32_t>(at + 4, len));
  }

  uint64_t WriteFd(uint32_t fd, std::string_view data) {
    PutBytes(kBuf, data);
    PutIovec(kIovs, kBuf, uint32_t(data.size()));
    return Wasi("fd_write", {fd, kIovs, 1, kOut});
  }
  // Reads up to `max` bytes; returns the errno and stores the data in `out`.
  uint64_t ReadFd(uint32_t fd, uint32_t max, std::string* out) {
    PutIovec(kIovs, kBuf, max);
    uint64_t e = Wasi("fd_read", {fd, kIovs, 1, kOut});
    if (e == 0) *out = Str(kBuf, U32(kOut));
    return e;
  }

  // path_open beneath `dirfd`; returns the errno and the new fd in `fd`.
  uint64_t Open(uint32_t dirfd, std::string_view path, uint32_t oflags, uint64_t rights, uint32_t* fd = nullptr,
                uint32_t lookup = kLookupSymlinkFollow, uint32_t fdflags = 0) {
    PutBytes(kPath, path);
    uint64_t e =
        Wasi("path_open", {dirfd, lookup, kPath, uint32_t(path.size()), oflags, rights, rights, fdflags, kOut2});
    if (e == 0 && fd != nullptr) *fd = U32(kOut2);
    return e;
  }
  // A path call of shape (fd, path, path_len).
  uint64_t PathCall(const std::string& name, uint32_t dirfd, std::string_view path) {
    PutBytes(kPath, path);
    return Wasi(name, {dirfd, kPath, uint32_t(path.size())});
  }
  uint64_t Rename(std::string_view from, std::string_view to) {
    PutBytes(kPath, from);
    PutBytes(kPath2, to);
    return Wasi("path_rename", {3, kPath, uint32_t(from.size()), 3, kPath2, uint32_t(to.size())});
  }
  uint64_t Symlink(std::string_view target, std::string_view path) {
    PutBytes(kPath, target);
    PutBytes(kPath2, path);
    return Wasi("path_symlink", {kPath, uint32_t(target.size()), 3, kPath2, uint32_t(path.size())});
  }
  uint64_t Link(std::string_view from, std::string_view to, uint32_t flags) {
    PutBytes(kPath, from);
    PutBytes(kPath2, to);
    return Wasi("path_link", {3, flags, kPath, uint32_t(from.size()), 3, kPath2, uint32_t(to.size())});
  }
  uint64_t Stat(std::string_view path, uint32_t flags) {
    PutBytes(kPath, path);
    return Wasi("path_filestat_get", {3, flags, kPath, uint32_t(path.size()), kBuf2});
  }

  static void WriteHostFile(const fs::path& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }
  static std::string ReadHostFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Every path below `dir`, to prove nothing appeared outside the sandbox.
  static std::set<std::string> Tree(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(e.path().string());
    return out;
  }

  wasm::HostFunctions host_;
  FakeMemory mem_{kMemSize};
  std::unique_ptr<WasiContext> ctx_;
  HostCall call_;
  fs::path root_, sandbox_, outside_;
};

TEST_F(WasiHostTest, RegistersPreview1Signatures) {
  const char* names[] = {"args_get",
                         "args_sizes_get",
                         "environ_get",
                         "environ_sizes_get",
                         "clock_time_get",
                         "clock_res_get",
                         "random_get",
                         "fd_write",
                         "fd_read",
                         "fd_pread",
                         "fd_pwrite",
                         "fd_fdstat_get",
                         "fd_fdstat_set_flags",
                         "fd_fdstat_set_rights",
                         "fd_filestat_get",
                         "fd_filestat_set_size",
                         "fd_filestat_set_times",
                         "fd_close",
                         "fd_seek",
                         "fd_tell",
                         "fd_sync",
                         "fd_datasync",
                         "fd_advise",
                         "fd_allocate",
                         "fd_prestat_get",
                         "fd_prestat_dir_name",
                         "fd_readdir",
                         "fd_renumber",
                         "path_open",
                         "path_filestat_get",
                         "path_filestat_set_times",
                         "path_create_directory",
                         "path_remove_directory",
                         "path_unlink_file",
                         "path_rename",
                         "path_readlink",
                         "path_symlink",
                         "path_link",
                         "poll_oneoff",
                         "sched_yield",
                         "proc_exit",
                         "proc_raise",
                         "sock_accept",
                         "sock_recv",
                         "sock_send",
                         "sock_shutdown"};
  for (const char* name : names) EXPECT_NE(host_.Find(kWasiModule, name), nullptr) << name;

  using V = ValType;
  auto sig = [&](const char* module, const char* name) { return host_.Find(module, name)->sig; };
  EXPECT_EQ(
      sig(kWasiModule, "path_open"),
      (wasm::FuncSig{{V::kI32, V::kI32, V::kI32, V::kI32, V::kI32, V::kI64, V::kI64, V::kI32, V::kI32}, {V::kI32}}));
  EXPECT_EQ(sig(kWasiModule, "fd_seek"), (wasm::FuncSig{{V::kI32, V::kI64, V::kI32, V::kI32}, {V::kI32}}));
  EXPECT_EQ(sig(kWasiModule, "clock_time_get"), (wasm::FuncSig{{V::kI32, V::kI64, V::kI32}, {V::kI32}}));
  EXPECT_EQ(sig(kWasiModule, "fd_readdir"), (wasm::FuncSig{{V::kI32, V::kI32, V::kI32, V::kI64, V::kI32}, {V::kI32}}));
  EXPECT_EQ(sig(kWasiModule, "path_filestat_set_times"),
            (wasm::FuncSig{{V::kI32, V::kI32, V::kI32, V::kI32, V::kI64, V::kI64, V::kI32}, {V::kI32}}));
  EXPECT_EQ(sig(kWasiModule, "proc_exit"), (wasm::FuncSig{{V::kI32}, {}}));
  EXPECT_EQ(sig(kWasiModule, "sched_yield"), (wasm::FuncSig{{}, {V::kI32}}));
  EXPECT_EQ(sig("http", "get"), (wasm::FuncSig{{}, {V::kI32}}));
}

TEST_F(WasiHostTest, ArgsAndEnvironRoundTrip) {
  WasiOptions options = Options();
  options.args = {"action.wasm", "", "{\"x\":1}"};
  options.env = {"A=1", "EMPTY="};
  MakeContext(std::move(options));

  ASSERT_EQ(Wasi("args_sizes_get", {kOut, kOut + 4}), 0u);
  EXPECT_EQ(U32(kOut), 3u);
  EXPECT_EQ(U32(kOut + 4), 12u + 1 + 8);
  ASSERT_EQ(Wasi("args_get", {kIovs, kBuf}), 0u);
  EXPECT_EQ(U32(kIovs), kBuf);
  EXPECT_EQ(Str(U32(kIovs), 12), std::string("action.wasm\0", 12));
  EXPECT_EQ(Str(U32(kIovs + 4), 1), std::string("\0", 1));
  EXPECT_EQ(Str(U32(kIovs + 8), 8), std::string("{\"x\":1}\0", 8));

  ASSERT_EQ(Wasi("environ_sizes_get", {kOut, kOut + 4}), 0u);
  EXPECT_EQ(U32(kOut), 2u);
  EXPECT_EQ(U32(kOut + 4), 4u + 7);
  ASSERT_EQ(Wasi("environ_get", {kIovs, kBuf}), 0u);
  EXPECT_EQ(Str(U32(kIovs), 4), std::string("A=1\0", 4));
  EXPECT_EQ(Str(U32(kIovs + 4), 7), std::string("EMPTY=\0", 7));
}

TEST_F(WasiHostTest, CreateRejectsBadOptions) {
  WasiOptions missing;
  missing.preopens.push_back(Preopen{(root_ / "nope").string(), "/x"});
  EXPECT_EQ(WasiContext::Create(std::move(missing)).status().code(), Code::kNotFound);
  WasiOptions bad_env;
  bad_env.env = {"NOEQUALS"};
  EXPECT_EQ(WasiContext::Create(std::move(bad_env)).status().code(), Code::kInvalidArgument);
}

TEST_F(WasiHostTest, StdoutAndStderrAreCaptured) {
  MakeContext();
  ASSERT_EQ(WriteFd(1, "hello "), 0u);
  EXPECT_EQ(U32(kOut), 6u);
  // Two iovecs in one call.
  PutBytes(kBuf, "worldXX\n");
  PutIovec(kIovs, kBuf, 5);
  PutIovec(kIovs + 8, kBuf + 7, 1);
  ASSERT_EQ(Wasi("fd_write", {1, kIovs, 2, kOut}), 0u);
  EXPECT_EQ(U32(kOut), 6u);
  ASSERT_EQ(WriteFd(2, "oops\n"), 0u);
  EXPECT_EQ(ctx_->stdout_text(), "hello world\n");
  EXPECT_EQ(ctx_->stderr_text(), "oops\n");
  EXPECT_FALSE(ctx_->output_truncated());
  // Writing to stdin is refused.
  EXPECT_EQ(WriteFd(0, "x"), E(Errno::kNotCapable));
}

TEST_F(WasiHostTest, OutputLimitKeepsWhatFitsAndFlagsTruncation) {
  WasiOptions options = Options();
  options.output_limit_bytes = 10;
  MakeContext(std::move(options));
  ASSERT_EQ(WriteFd(1, "abcdef"), 0u);
  ASSERT_EQ(WriteFd(2, "ghijkl"), 0u);
  // The guest is told everything was written, so it does not retry forever.
  EXPECT_EQ(U32(kOut), 6u);
  ASSERT_EQ(WriteFd(1, "more"), 0u);
  EXPECT_EQ(ctx_->stdout_text(), "abcdef");
  EXPECT_EQ(ctx_->stderr_text(), "ghij");
  EXPECT_TRUE(ctx_->output_truncated());
}

// ---- output marks ----------------------------------------------------------

// A time `us` microseconds after an arbitrary base, and back.
WallClock::time_point At(int us) {
  return WallClock::time_point(std::chrono::seconds(1'800'000'000)) + std::chrono::microseconds(us);
}

// The marks as "out:<bytes>:<nl|->@<us>" (or "err:..."), one per mark, times
// relative to At(0).
std::string Marks(const WasiContext& ctx) {
  std::string s;
  for (const OutputMark& m : ctx.output_marks()) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(m.time - At(0)).count();
    s += (s.empty() ? "" : " ") + std::string(m.stream == OutputStream::kStdout ? "out" : "err") + ":" +
         std::to_string(m.bytes) + ":" + (m.has_newline ? "nl" : "-") + "@" + std::to_string(us);
  }
  return s;
}

void Write(WasiContext& ctx, OutputStream stream, std::string_view text, WallClock::time_point time) {
  ctx.WriteOutput(stream, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, time);
}

constexpr OutputStream kO = OutputStream::kStdout;
constexpr OutputStream kE = OutputStream::kStderr;

TEST_F(WasiHostTest, OutputMarksFollowWritesAcrossStreams) {
  MakeContext();
  Write(*ctx_, kO, "a\n", At(1));
  Write(*ctx_, kE, "e1\n", At(2));
  Write(*ctx_, kO, "b\nc", At(3));
  Write(*ctx_, kO, "d", At(4));   // after a newline written earlier: a new mark
  Write(*ctx_, kO, "\n", At(5));  // ends the line "cd" begun by a mark without newline: joins it
  Write(*ctx_, kE, "x", At(6));
  Write(*ctx_, kE, "y", At(7));  // no newline on either side: joins, with the later time
  Write(*ctx_, kE, "", At(8));   // nothing kept, no mark
  Write(*ctx_, kO, "partial", At(9));
  EXPECT_EQ(Marks(*ctx_), "out:2:nl@1 err:3:nl@2 out:3:nl@3 out:2:nl@5 err:2:-@7 out:7:-@9");
  EXPECT_EQ(ctx_->stdout_text(), "a\nb\ncd\npartial");
  EXPECT_EQ(ctx_->stderr_text(), "e1\nxy");
}

TEST_F(WasiHostTest, OutputMarksJoinWritesOfOneTimeAndClampAClockSteppedBack) {
  MakeContext();
  Write(*ctx_, kO, "one\n", At(10));
  Write(*ctx_, kO, "two\n", At(10));  // lines of one time share a mark
  Write(*ctx_, kE, "back\n", At(4));  // the clock went back: clamped, order kept
  Write(*ctx_, kE, "same\n", At(7));  // still behind: clamped to 10, so it joins
  Write(*ctx_, kO, "later\n", At(12));
  EXPECT_EQ(Marks(*ctx_), "out:8:nl@10 err:10:nl@10 out:6:nl@12");
}

TEST_F(WasiHostTest, OutputMarksCoverOnlyKeptBytes) {
  WasiOptions options = Options();
  options.output_limit_bytes = 10;
  MakeContext(std::move(options));
  Write(*ctx_, kO, "abc\nef", At(1));
  Write(*ctx_, kE, "gh\nijkl", At(2));  // 4 bytes kept: "gh\ni"
  Write(*ctx_, kO, "\nmore\n", At(3));  // nothing kept, no mark
  Write(*ctx_, kE, "x", At(4));
  EXPECT_TRUE(ctx_->output_truncated());
  EXPECT_EQ(Marks(*ctx_), "out:6:nl@1 err:4:nl@2");
  EXPECT_EQ(ctx_->stdout_text(), "abc\nef");
  EXPECT_EQ(ctx_->stderr_text(), "gh\ni");
  // Moving the text out leaves the marks.
  ctx_->TakeStdout();
  EXPECT_EQ(Marks(*ctx_), "out:6:nl@1 err:4:nl@2");
}

// A hostile guest alternating one-byte writes between stdout and stderr
// needs a mark per byte: marks are capped at limit / 16 + 2, and output past
// the cap is dropped and flagged like output past the limit.
TEST_F(WasiHostTest, OutputMarksAreCappedAgainstAlternatingWrites) {
  WasiOptions options = Options();
  options.output_limit_bytes = 1600;  // cap: 102 marks
  MakeContext(std::move(options));
  for (int i = 0; i < 1000; ++i) Write(*ctx_, i % 2 ? kE : kO, "x", At(i));
  EXPECT_EQ(ctx_->output_marks().size(), 102u);
  // Writes joining the last mark are still kept; the other stream's are not.
  EXPECT_LT(ctx_->stdout_text().size() + ctx_->stderr_text().size(), 1000u);
  EXPECT_TRUE(ctx_->output_truncated());
}

// fd_write reads the wall clock once per call: its buffers share a mark, and
// the times lie within the calls and never decrease.
TEST_F(WasiHostTest, FdWriteStampsOutputWithTheWallClock) {
  MakeContext();
  auto before = WallClock::now();
  PutBytes(kBuf, "one\ntwo\n");
  PutIovec(kIovs, kBuf, 4);
  PutIovec(kIovs + 8, kBuf + 4, 4);
  ASSERT_EQ(Wasi("fd_write", {1, kIovs, 2, kOut}), 0u);
  ASSERT_EQ(WriteFd(2, "err\n"), 0u);
  ASSERT_EQ(WriteFd(1, "three\n"), 0u);
  auto after = WallClock::now();
  const auto& marks = ctx_->output_marks();
  ASSERT_EQ(marks.size(), 3u);
  EXPECT_EQ(marks[0].bytes, 8u);
  EXPECT_EQ(marks[0].stream, kO);
  EXPECT_EQ(marks[1].stream, kE);
  EXPECT_EQ(marks[2].bytes, 6u);
  for (size_t i = 0; i < marks.size(); ++i) {
    EXPECT_GE(marks[i].time, before) << i;
    EXPECT_LE(marks[i].time, after) << i;
    if (i > 0) {
      EXPECT_GE(marks[i].time, marks[i - 1].time) << i;
    }
  }
}

// A guest writing "\n" per call (its worst case) gets at most a mark per call.
TEST_F(WasiHostTest, OutputMarksAreBoundedByWriteCalls) {
  MakeContext();
  constexpr int kCalls = 10'000;
  for (int i = 0; i < kCalls; ++i) ASSERT_EQ(WriteFd(i % 100 == 0 ? 2 : 1, "\n"), 0u);
  ASSERT_EQ(WriteFd(2, "e"), 0u);
  for (int i = 0; i < kCalls; ++i) ASSERT_EQ(WriteFd(1, "x"), 0u);  // no newline: one mark
  EXPECT_LE(ctx_->output_marks().size(), size_t(kCalls) + 2);
  EXPECT_FALSE(ctx_->output_marks().back().has_newline);
  EXPECT_EQ(ctx_->output_marks().back().bytes, uint32_t(kCalls));
  uint64_t out = 0, err = 0;
  for (const OutputMark& m : ctx_->output_marks()) (m.stream == kO ? out : err) += m.bytes;
  EXPECT_EQ(out, ctx_->stdout_text().size());
  EXPECT_EQ(err, ctx_->stderr_text().size());
}

TEST_F(WasiHostTest, StdinReadsThenEof) {
  WasiOptions options = Options();
  options.stdin_data = "hello world";
  MakeContext(std::move(options));
  // Scatter into two iovecs.
  PutIovec(kIovs, kBuf, 4);
  PutIovec(kIovs + 8, kBuf2, 3);
  ASSERT_EQ(Wasi("fd_read", {0, kIovs, 2, kOut}), 0u);
  EXPECT_EQ(U32(kOut), 7u);
  EXPECT_EQ(Str(kBuf, 4), "hell");
  EXPECT_EQ(Str(kBuf2, 3), "o w");
  std::string got;
  ASSERT_EQ(ReadFd(0, 100, &got), 0u);
  EXPECT_EQ(got, "orld");
  ASSERT_EQ(ReadFd(0, 100, &got), 0u);
  EXPECT_EQ(got, "");  // EOF
  EXPECT_EQ(ReadFd(1, 10, &got), E(Errno::kNotCapable));
}

TEST_F(WasiHostTest, Clocks) {
  MakeContext();
  ASSERT_EQ(Wasi("clock_time_get", {kClockMonotonic, 1, kOut}), 0u);
  uint64_t first = U64(kOut);
  usleep(2000);
  ASSERT_EQ(Wasi("clock_time_get", {kClockMonotonic, 1, kOut}), 0u);
  EXPECT_GE(U64(kOut) - first, 2'000'000u);

  ASSERT_EQ(Wasi("clock_time_get", {kClockRealtime, 1, kOut}), 0u);
  auto host_now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LT(std::llabs(int64_t(U64(kOut)) - host_now), 1'000'000'000);

  ASSERT_EQ(Wasi("clock_time_get", {kClockProcessCputime, 1, kOut}), 0u);
  uint64_t cpu0 = U64(kOut);
  volatile uint64_t spin = 0;
  for (int i = 0; i < 5'000'000; ++i) spin = spin + i;
  ASSERT_EQ(Wasi("clock_time_get", {kClockThreadCputime, 1, kOut}), 0u);
  EXPECT_GT(U64(kOut), cpu0);

  ASSERT_EQ(Wasi("clock_res_get", {kClockMonotonic, kOut}), 0u);
  EXPECT_GT(U64(kOut), 0u);
  EXPECT_EQ(Wasi("clock_time_get", {9, 1, kOut}), E(Errno::kInval));
  EXPECT_EQ(Wasi("clock_res_get", {9, kOut}), E(Errno::kInval));
}

TEST_F(WasiHostTest, RandomGetFills) {
  MakeContext();
  ASSERT_EQ(Wasi("random_get", {kBuf, 64}), 0u);
  ASSERT_EQ(Wasi("random_get", {kBuf2, 64}), 0u);
  std::string a = Str(kBuf, 64), b = Str(kBuf2, 64);
  EXPECT_NE(a, std::string(64, '\0'));
  EXPECT_NE(a, b);
  EXPECT_EQ(Wasi("random_get", {0, 0}), 0u);
}

TEST_F(WasiHostTest, BadPointersGiveEfault) {
  WasiOptions options = Options();
  options.args = {"a"};
  MakeContext(std::move(options));
  const uint64_t kFault = E(Errno::kFault);
  EXPECT_EQ(Wasi("args_sizes_get", {kMemSize - 2, kOut}), kFault);
  EXPECT_EQ(Wasi("args_get", {kMemSize, kBuf}), kFault);
  EXPECT_EQ(Wasi("clock_time_get", {kClockMonotonic, 0, kMemSize - 4}), kFault);
  EXPECT_EQ(Wasi("random_get", {kMemSize - 8, 9}), kFault);
  EXPECT_EQ(Wasi("random_get", {0xffffffff, 2}), kFault);  // wraps past 4 GiB
  // iovec array, iovec buffer and the result pointer.
  EXPECT_EQ(Wasi("fd_write", {1, kMemSize - 4, 1, kOut}), kFault);
  EXPECT_EQ(Wasi("fd_write", {1, kIovs, 0x20000000, kOut}), kFault);  // len * 8 overflows u32
  PutIovec(kIovs, kMemSize - 2, 4);
  EXPECT_EQ(Wasi("fd_write", {1, kIovs, 1, kOut}), kFault);
  EXPECT_EQ(Wasi("fd_read", {0, kIovs, 1, kOut}), kFault);
  PutIovec(kIovs, kBuf, 1);
  EXPECT_EQ(Wasi("fd_write", {1, kIovs, 1, kMemSize}), kFault);
  EXPECT_EQ(ctx_->stdout_text(), "");  // nothing written on a fault
  EXPECT_EQ(Wasi("fd_fdstat_get", {1, kMemSize - 8}), kFault);
  EXPECT_EQ(Wasi("fd_prestat_get", {3, kMemSize - 4}), kFault);
  EXPECT_EQ(Wasi("path_open", {3, 0, kMemSize - 2, 10, 0, kRead, kRead, 0, kOut}), kFault);
  EXPECT_EQ(Wasi("poll_oneoff", {kMemSize - 40, kBuf, 1, kOut}), kFault);
  // A module without memory.
  EXPECT_EQ(Call(kWasiModule, "args_sizes_get", {kOut, kOut}, nullptr, /*with_memory=*/false), kFault);
}

TEST_F(WasiHostTest, UnknownFdIsEbadf) {
  MakeContext();
  const uint64_t kBadf = E(Errno::kBadf);
  PutIovec(kIovs, kBuf, 1);
  EXPECT_EQ(Wasi("fd_write", {99, kIovs, 1, kOut}), kBadf);
  EXPECT_EQ(Wasi("fd_read", {99, kIovs, 1, kOut}), kBadf);
  EXPECT_EQ(Wasi("fd_close", {99}), kBadf);
  EXPECT_EQ(Wasi("fd_seek", {99, 0, kWhenceSet, kOut}), kBadf);
  EXPECT_EQ(Wasi("fd_fdstat_get", {99, kBuf}), kBadf);
  EXPECT_EQ(Wasi("fd_filestat_get", {99, kBuf}), kBadf);
  EXPECT_EQ(Wasi("fd_readdir", {99, kBuf, 100, 0, kOut}), kBadf);
  EXPECT_EQ(Wasi("fd_renumber", {99, 1}), kBadf);
  EXPECT_EQ(Open(99, "x", 0, kRead), kBadf);
  EXPECT_EQ(Wasi("sock_accept", {99, 0, kOut}), kBadf);
  EXPECT_EQ(Wasi("fd_prestat_get", {0xffffffff, kBuf}), kBadf);
}

TEST_F(WasiHostTest, UnsupportedCallsReturnErrno) {
  MakeContext();
  EXPECT_EQ(Wasi("proc_raise", {9}), E(Errno::kNoSys));
  EXPECT_EQ(Wasi("sched_yield", {}), 0u);
  EXPECT_EQ(Wasi("sock_accept", {1, 0, kOut}), E(Errno::kNotSock));
  EXPECT_EQ(Wasi("sock_recv", {3, kIovs, 1, 0, kOut, kOut2}), E(Errno::kNotSock));
  EXPECT_EQ(Wasi("sock_send", {3, kIovs, 1, 0, kOut}), E(Errno::kNotSock));
  EXPECT_EQ(Wasi("sock_shutdown", {3, 0}), E(Errno::kNotSock));
  EXPECT_EQ(Wasi("fd_seek", {1, 0, kWhenceCur, kOut}), E(Errno::kSpipe));
}

TEST_F(WasiHostTest, HostFunctionsTrapWithoutContext) {
  HostAction action;
  Call(kWasiModule, "fd_write", {1, kIovs, 1, kOut}, &action);
  EXPECT_EQ(action, HostAction::kTrap);
  EXPECT_NE(call_.trap_message.find("WasiContext"), std::string::npos);
  Call("http", "get", {}, &action);
  EXPECT_EQ(action, HostAction::kTrap);
}

TEST_F(WasiHostTest, PrestatAndDirName) {
  WasiOptions options = Options();
  fs::create_directory(root_ / "second");
  options.preopens.push_back(Preopen{(root_ / "second").string(), "."});
  MakeContext(std::move(options));

  ASSERT_EQ(Wasi("fd_prestat_get", {3, kBuf}), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf), kPreopentypeDir);
  EXPECT_EQ(U32(kBuf + 4), 8u);
  ASSERT_EQ(Wasi("fd_prestat_dir_name", {3, kBuf2, 8}), 0u);
  EXPECT_EQ(Str(kBuf2, 8), "/sandbox");
  EXPECT_EQ(Wasi("fd_prestat_dir_name", {3, kBuf2, 7}), E(Errno::kNameTooLong));

  ASSERT_EQ(Wasi("fd_prestat_get", {4, kBuf}), 0u);
  EXPECT_EQ(U32(kBuf + 4), 1u);
  // The scan that wasi-libc does ends at the first EBADF.
  EXPECT_EQ(Wasi("fd_prestat_get", {5, kBuf}), E(Errno::kBadf));
  EXPECT_EQ(Wasi("fd_prestat_get", {1, kBuf}), E(Errno::kBadf));

  ASSERT_EQ(Wasi("fd_fdstat_get", {3, kBuf}), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf), kFiletypeDirectory);
  EXPECT_NE(U64(kBuf + 8) & rights::kPathOpen, 0u);
}

TEST_F(WasiHostTest, FileWriteReadSeekClose) {
  MakeContext();
  uint32_t fd = 0;
  ASSERT_EQ(Open(3, "data.txt", kOflagCreat | kOflagTrunc, kReadWrite, &fd), 0u);
  EXPECT_GE(fd, 4u);
  ASSERT_EQ(WriteFd(fd, "hello, file"), 0u);
  EXPECT_EQ(U32(kOut), 11u);
  EXPECT_EQ(ReadHostFile(sandbox_ / "data.txt"), "hello, file");

  ASSERT_EQ(Wasi("fd_tell", {fd, kOut}), 0u);
  EXPECT_EQ(U64(kOut), 11u);
  ASSERT_EQ(Wasi("fd_seek", {fd, uint64_t(-4), kWhenceCur, kOut}), 0u);
  EXPECT_EQ(U64(kOut), 7u);
  std::string got;
  ASSERT_EQ(ReadFd(fd, 100, &got), 0u);
  EXPECT_EQ(got, "file");
  ASSERT_EQ(Wasi("fd_seek", {fd, 0, kWhenceSet, kOut}), 0u);
  ASSERT_EQ(ReadFd(fd, 5, &got), 0u);
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(Wasi("fd_seek", {fd, 0, 7, kOut}), E(Errno::kInval));

  // Positional I/O leaves the offset alone.
  PutIovec(kIovs, kBuf2, 4);
  ASSERT_EQ(Wasi("fd_pread", {fd, kIovs, 1, 7, kOut}), 0u);
  EXPECT_EQ(Str(kBuf2, U32(kOut)), "file");
  PutBytes(kBuf2, "HELLO");
  PutIovec(kIovs, kBuf2, 5);
  ASSERT_EQ(Wasi("fd_pwrite", {fd, kIovs, 1, 0, kOut}), 0u);
  ASSERT_EQ(Wasi("fd_tell", {fd, kOut}), 0u);
  EXPECT_EQ(U64(kOut), 5u);

  ASSERT_EQ(Wasi("fd_filestat_get", {fd, kBuf}), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf + 16), kFiletypeRegularFile);
  EXPECT_EQ(U64(kBuf + 32), 11u);
  ASSERT_EQ(Wasi("fd_filestat_set_size", {fd, 5}), 0u);
  ASSERT_EQ(Wasi("fd_fdstat_get", {fd, kBuf}), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf), kFiletypeRegularFile);
  EXPECT_NE(U64(kBuf + 8) & rights::kFdWrite, 0u);
  ASSERT_EQ(Wasi("fd_sync", {fd}), E(Errno::kNotCapable));  // not requested
  ASSERT_EQ(Wasi("fd_close", {fd}), 0u);
  EXPECT_EQ(Wasi("fd_close", {fd}), E(Errno::kBadf));
  EXPECT_EQ(ReadHostFile(sandbox_ / "data.txt"), "HELLO");

  // Read-only descriptors refuse writes; O_EXCL refuses existing files.
  ASSERT_EQ(Open(3, "data.txt", 0, kRead, &fd), 0u);
  EXPECT_EQ(WriteFd(fd, "x"), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "data.txt", kOflagCreat | kOflagExcl, kReadWrite), E(Errno::kExist));
  EXPECT_EQ(Open(3, "missing", 0, kRead), E(Errno::kNoEnt));
  EXPECT_EQ(Open(3, "data.txt", kOflagDirectory, kRead), E(Errno::kNotDir));
}

TEST_F(WasiHostTest, AppendFlag) {
  MakeContext();
  WriteHostFile(sandbox_ / "log", "a");
  uint32_t fd = 0;
  ASSERT_EQ(Open(3, "log", 0, kReadWrite, &fd, kLookupSymlinkFollow, kFdflagAppend), 0u);
  ASSERT_EQ(WriteFd(fd, "b"), 0u);
  ASSERT_EQ(Wasi("fd_fdstat_get", {fd, kBuf}), 0u);
  EXPECT_EQ(*mem_.Read<uint16_t>(kBuf + 2), kFdflagAppend);
  EXPECT_EQ(Wasi("fd_fdstat_set_flags", {fd, kFdflagSync}), E(Errno::kNotSup));
  EXPECT_EQ(ReadHostFile(sandbox_ / "log"), "ab");
}

TEST_F(WasiHostTest, ReaddirListsAndResumesFromCookies) {
  MakeContext();
  WriteHostFile(sandbox_ / "alpha", "1");
  WriteHostFile(sandbox_ / "beta", "22");
  fs::create_directory(sandbox_ / "gamma_dir");

  auto parse = [&](uint32_t used, uint64_t* last_cookie) {
    std::map<std::string, uint8_t> out;
    uint32_t pos = 0;
    while (pos + layout::kDirentSize <= used) {
      uint32_t namlen = U32(kBuf + pos + 16);
      if (pos + layout::kDirentSize + namlen > used) break;  // cut off
      *last_cookie = U64(kBuf + pos);
      out[Str(kBuf + pos + layout::kDirentSize, namlen)] = *mem_.Read<uint8_t>(kBuf + pos + 20);
      pos += layout::kDirentSize + namlen;
    }
    return out;
  };

  uint64_t cookie = 0;
  ASSERT_EQ(Wasi("fd_readdir", {3, kBuf, 4096, 0, kOut}), 0u);
  auto all = parse(U32(kOut), &cookie);
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(all["."], kFiletypeDirectory);
  EXPECT_EQ(all[".."], kFiletypeDirectory);
  EXPECT_EQ(all["alpha"], kFiletypeRegularFile);
  EXPECT_EQ(all["beta"], kFiletypeRegularFile);
  EXPECT_EQ(all["gamma_dir"], kFiletypeDirectory);

  // A small buffer: fill it completely, resume from the last whole entry.
  std::set<std::string> seen;
  cookie = 0;
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(Wasi("fd_readdir", {3, kBuf, 40, cookie, kOut}), 0u);
    uint32_t used = U32(kOut);
    uint64_t last = cookie;
    for (auto& [name, type] : parse(used, &last)) seen.insert(name);
    if (used < 40) break;
    ASSERT_NE(last, cookie) << "no progress";
    cookie = last;
  }
  EXPECT_EQ(seen.size(), 5u);

  // Past the end: nothing.
  ASSERT_EQ(Wasi("fd_readdir", {3, kBuf, 4096, 1000, kOut}), 0u);
  EXPECT_EQ(U32(kOut), 0u);
  // Files cannot be listed.
  uint32_t fd = 0;
  ASSERT_EQ(Open(3, "alpha", 0, kRead, &fd), 0u);
  EXPECT_NE(Wasi("fd_readdir", {fd, kBuf, 4096, 0, kOut}), 0u);
  // A subdirectory opened with path_open can be listed.
  ASSERT_EQ(Open(3, "gamma_dir", kOflagDirectory, kRead, &fd), 0u);
  ASSERT_EQ(Wasi("fd_readdir", {fd, kBuf, 4096, 0, kOut}), 0u);
  EXPECT_EQ(parse(U32(kOut), &cookie).size(), 2u);
}

TEST_F(WasiHostTest, DirectoryOperations) {
  MakeContext();
  ASSERT_EQ(PathCall("path_create_directory", 3, "d"), 0u);
  EXPECT_TRUE(fs::is_directory(sandbox_ / "d"));
  EXPECT_EQ(PathCall("path_create_directory", 3, "d"), E(Errno::kExist));
  ASSERT_EQ(PathCall("path_create_directory", 3, "d/e/"), 0u);

  WriteHostFile(sandbox_ / "d" / "f", "xyz");
  ASSERT_EQ(Stat("d/f", 0), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf2 + 16), kFiletypeRegularFile);
  EXPECT_EQ(U64(kBuf2 + 32), 3u);
  ASSERT_EQ(Stat(".", 0), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf2 + 16), kFiletypeDirectory);
  ASSERT_EQ(Stat("d/e/..", 0), 0u);  // ".." that stays inside is fine
  EXPECT_EQ(Stat("d/missing", 0), E(Errno::kNoEnt));

  ASSERT_EQ(Rename("d/f", "d/g"), 0u);
  EXPECT_TRUE(fs::exists(sandbox_ / "d" / "g"));
  EXPECT_EQ(Rename("d/g/", "d/h"), E(Errno::kNotDir));

  ASSERT_EQ(Symlink("g", "d/link"), 0u);
  PutBytes(kPath, "d/link");
  ASSERT_EQ(Wasi("path_readlink", {3, kPath, 6, kBuf, 100, kOut}), 0u);
  EXPECT_EQ(Str(kBuf, U32(kOut)), "g");
  ASSERT_EQ(Wasi("path_readlink", {3, kPath, 6, kBuf, 0, kOut}), 0u);  // truncated
  EXPECT_EQ(U32(kOut), 0u);
  ASSERT_EQ(Stat("d/link", 0), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf2 + 16), kFiletypeSymbolicLink);
  ASSERT_EQ(Stat("d/link", kLookupSymlinkFollow), 0u);
  EXPECT_EQ(mem_.Read<uint8_t>(kBuf2 + 16), kFiletypeRegularFile);
  // Opening a final symlink without the follow flag fails.
  EXPECT_EQ(Open(3, "d/link", 0, kRead, nullptr, /*lookup=*/0), E(Errno::kLoop));

  ASSERT_EQ(Link("d/g", "d/hard", 0), 0u);
  ASSERT_EQ(Link("d/link", "d/hard2", kLookupSymlinkFollow), 0u);
  struct stat a {
  }, b{}, c{};
  ASSERT_EQ(stat((sandbox_ / "d" / "g").c_str(), &a), 0);
  ASSERT_EQ(stat((sandbox_ / "d" / "hard").c_str(), &b), 0);
  ASSERT_EQ(lstat((sandbox_ / "d" / "hard2").c_str(), &c), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_ino, c.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);

  PutBytes(kPath, "d/g");
  ASSERT_EQ(Wasi("path_filestat_set_times",
                 {3, 0, kPath, 3, 1'000'000'000ull, 2'000'000'000ull, kFstflagAtim | kFstflagMtim}),
            0u);
  ASSERT_EQ(stat((sandbox_ / "d" / "g").c_str(), &a), 0);
  EXPECT_EQ(a.st_atim.tv_sec, 1);
  EXPECT_EQ(a.st_mtim.tv_sec, 2);
  EXPECT_EQ(Wasi("path_filestat_set_times", {3, 0, kPath, 3, 0, 0, kFstflagAtim | kFstflagAtimNow}), E(Errno::kInval));
  // Without the follow flag the link itself gets the times.
  PutBytes(kPath, "d/link");
  ASSERT_EQ(Wasi("path_filestat_set_times", {3, 0, kPath, 6, 0, 5'000'000'000ull, kFstflagMtim}), 0u);
  ASSERT_EQ(lstat((sandbox_ / "d" / "link").c_str(), &c), 0);
  EXPECT_EQ(c.st_mtim.tv_sec, 5);
  ASSERT_EQ(stat((sandbox_ / "d" / "g").c_str(), &a), 0);
  EXPECT_EQ(a.st_mtim.tv_sec, 2);

  EXPECT_EQ(PathCall("path_remove_directory", 3, "d"), E(Errno::kNotEmpty));
  EXPECT_EQ(PathCall("path_unlink_file", 3, "d/e"), E(Errno::kIsDir));
  EXPECT_EQ(PathCall("path_unlink_file", 3, "d/g/"), E(Errno::kNotDir));
  for (const char* f : {"d/g", "d/hard", "d/hard2", "d/link"}) {
    ASSERT_EQ(PathCall("path_unlink_file", 3, f), 0u) << f;
  }
  ASSERT_EQ(PathCall("path_remove_directory", 3, "d/e"), 0u);
  ASSERT_EQ(PathCall("path_remove_directory", 3, "d"), 0u);
  EXPECT_FALSE(fs::exists(sandbox_ / "d"));
  EXPECT_EQ(PathCall("path_remove_directory", 3, "."), E(Errno::kInval));
}

TEST_F(WasiHostTest, ConfinementBlocksEscapes) {
  MakeContext();
  fs::create_directory(sandbox_ / "sub");
  WriteHostFile(sandbox_ / "inside", "ok");
  fs::create_symlink("/etc", sandbox_ / "etc_link");
  fs::create_symlink("..", sandbox_ / "up");
  fs::create_symlink(outside_ / "victim", sandbox_ / "abs_victim");
  fs::create_symlink("../outside/victim", sandbox_ / "rel_victim");
  auto outside_before = Tree(root_);

  const uint64_t kNotCapable = E(Errno::kNotCapable);
  // Escapes via "..", absolute paths and symlinks read as a missing
  // capability; without the follow flag a final symlink is ELOOP instead.
  for (const char* path :
       {"../escape", "/etc/passwd", "/", "etc_link/passwd", "up/escape", "sub/../../escape", "up/outside/victim",
        "sub/../up/escape", "..", "up", "rel_victim", "abs_victim", "etc_link"}) {
    EXPECT_EQ(Open(3, path, kOflagCreat, kReadWrite, nullptr, kLookupSymlinkFollow), E(Errno::kNotCapable)) << path;
    uint64_t e = Open(3, path, kOflagCreat, kReadWrite, nullptr, /*lookup=*/0);
    EXPECT_TRUE(e == E(Errno::kNotCapable) || e == E(Errno::kLoop)) << path << ": " << e;
  }
  EXPECT_EQ(Open(3, "/etc/passwd", 0, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "etc_link/passwd", 0, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "etc_link", kOflagDirectory, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "abs_victim", 0, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "rel_victim", 0, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "sub/../../outside/victim", 0, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "rel_victim", kOflagTrunc, kReadWrite), E(Errno::kNotCapable));
  // Paths that stay inside work.
  EXPECT_EQ(Open(3, "sub/../inside", 0, kRead), 0u);
  EXPECT_EQ(Open(3, "./sub/./", kOflagDirectory, kRead), 0u);

  // Every other path operation. A last component of ".." is refused before
  // it reaches the kernel, with the errno POSIX gives for it.
  EXPECT_EQ(PathCall("path_create_directory", 3, "../evil"), kNotCapable);
  EXPECT_EQ(PathCall("path_create_directory", 3, "up/evil"), kNotCapable);
  EXPECT_EQ(PathCall("path_create_directory", 3, "etc_link/evil"), kNotCapable);
  EXPECT_EQ(PathCall("path_unlink_file", 3, "../outside/victim"), kNotCapable);
  EXPECT_EQ(PathCall("path_unlink_file", 3, "up/outside/victim"), kNotCapable);
  EXPECT_EQ(PathCall("path_remove_directory", 3, "../outside"), kNotCapable);
  EXPECT_EQ(PathCall("path_remove_directory", 3, ".."), E(Errno::kNotEmpty));
  EXPECT_EQ(PathCall("path_remove_directory", 3, "sub/../.."), E(Errno::kNotEmpty));
  EXPECT_EQ(Rename("inside", "../moved"), kNotCapable);
  EXPECT_EQ(Rename("inside", "up/moved"), kNotCapable);
  EXPECT_EQ(Rename("up/outside/victim", "stolen"), kNotCapable);
  EXPECT_EQ(Rename("..", "stolen"), E(Errno::kBusy));
  EXPECT_EQ(Link("up/outside/victim", "stolen", 0), kNotCapable);
  EXPECT_EQ(Link("rel_victim", "stolen", kLookupSymlinkFollow), kNotCapable);
  EXPECT_EQ(Link("inside", "../planted", 0), kNotCapable);
  EXPECT_EQ(Symlink("/etc/passwd", "planted"), E(Errno::kPerm));
  EXPECT_EQ(Symlink("x", "up/planted"), kNotCapable);
  EXPECT_EQ(Stat("..", 0), kNotCapable);
  EXPECT_EQ(Stat("up", kLookupSymlinkFollow), kNotCapable);
  EXPECT_EQ(Stat("etc_link/passwd", 0), kNotCapable);
  EXPECT_EQ(Stat("/etc", 0), kNotCapable);
  PutBytes(kPath, "rel_victim");
  EXPECT_EQ(Wasi("path_filestat_set_times", {3, kLookupSymlinkFollow, kPath, 10, 0, 0, kFstflagMtimNow}),
            E(Errno::kNotCapable));
  PutBytes(kPath, "up/outside/victim");
  EXPECT_EQ(Wasi("path_readlink", {3, kPath, 17, kBuf, 100, kOut}), kNotCapable);
  // Reading a link that is inside is fine; following it is not.
  PutBytes(kPath, "up");
  ASSERT_EQ(Wasi("path_readlink", {3, kPath, 2, kBuf, 100, kOut}), 0u);
  EXPECT_EQ(Str(kBuf, U32(kOut)), "..");

  EXPECT_EQ(Tree(root_), outside_before);
  EXPECT_EQ(ReadHostFile(outside_ / "victim"), "secret");
  EXPECT_FALSE(fs::exists(root_ / "escape"));

  // A directory descriptor is a capability for its own subtree only.
  uint32_t sub = 0;
  ASSERT_EQ(Open(3, "sub", kOflagDirectory, kRead | rights::kPathOpen, &sub), 0u);
  EXPECT_EQ(Open(sub, "../inside", 0, kRead), kNotCapable);
  // A NUL byte would silently shorten the path on the host.
  EXPECT_EQ(Open(3, std::string_view("inside\0/../x", 13), 0, kRead), E(Errno::kInval));
  // Removing a link that points outside removes the link, not its target.
  EXPECT_EQ(PathCall("path_unlink_file", 3, "abs_victim/"), E(Errno::kNotDir));
  EXPECT_EQ(PathCall("path_unlink_file", 3, "abs_victim"), 0u);
  EXPECT_EQ(Rename("rel_victim", "renamed_link"), 0u);
  EXPECT_TRUE(fs::is_symlink(sandbox_ / "renamed_link"));
  EXPECT_EQ(ReadHostFile(outside_ / "victim"), "secret");

  // Regression (issue 12): relative links that climb out are refused too;
  // ones that stay inside still work.
  EXPECT_EQ(Symlink("../outside/victim", "planted"), E(Errno::kPerm));
  EXPECT_EQ(Symlink("../../x", "sub/planted"), E(Errno::kPerm));
  EXPECT_EQ(Symlink("a/../../x", "planted"), E(Errno::kPerm));
  EXPECT_FALSE(fs::is_symlink(sandbox_ / "planted"));
  EXPECT_FALSE(fs::is_symlink(sandbox_ / "sub" / "planted"));
  EXPECT_EQ(Symlink("../inside", "sub/ok_link"), 0u);
  EXPECT_EQ(Symlink("sub/../inside", "ok_link2"), 0u);
  EXPECT_EQ(ReadHostFile(sandbox_ / "sub" / "ok_link"), "ok");
}

// Regression (issue 12): every activation could hold 1,024 descriptors, so a
// few dozen with a directory grant exhausted the process's. All activations
// together stay under FdTable::ProcessLimit(); closing gives them back.
TEST_F(WasiHostTest, GuestDescriptorsHaveAProcessWideCap) {
  uint64_t before = FdTable::ProcessOpen();
  MakeContext();
  WriteHostFile(sandbox_ / "f", "data");
  uint64_t base = FdTable::ProcessOpen();  // this context's stdio and preopen
  uint64_t saved = FdTable::ProcessLimit();
  FdTable::SetProcessLimit(base + 2);
  uint32_t a = 0, b = 0;
  EXPECT_EQ(Open(3, "f", 0, kRead, &a), 0u);
  EXPECT_EQ(Open(3, "f", 0, kRead, &b), 0u);
  EXPECT_EQ(Open(3, "f", 0, kRead), E(Errno::kMfile));
  EXPECT_EQ(FdTable::ProcessOpen(), base + 2);
  EXPECT_EQ(Wasi("fd_close", {a}), 0u);
  EXPECT_EQ(Open(3, "f", 0, kRead), 0u);
  ctx_.reset();  // an ended activation gives back all of its descriptors
  EXPECT_EQ(FdTable::ProcessOpen(), before);
  FdTable::SetProcessLimit(saved);
}

TEST_F(WasiHostTest, ReadOnlyPreopen) {
  WasiOptions options;
  options.preopens.push_back(Preopen{sandbox_.string(), "/ro", /*read_only=*/true});
  MakeContext(std::move(options));
  WriteHostFile(sandbox_ / "f", "data");
  uint32_t fd = 0;
  // Broad rights requests (as Rust's std makes) still open for reading.
  ASSERT_EQ(
      Open(3, "f", 0,
           rights::kAll & ~(rights::kFdWrite | rights::kFdDatasync | rights::kFdAllocate | rights::kFdFilestatSetSize),
           &fd),
      0u);
  std::string got;
  ASSERT_EQ(ReadFd(fd, 10, &got), 0u);
  EXPECT_EQ(got, "data");
  EXPECT_EQ(WriteFd(fd, "x"), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "f", 0, kReadWrite), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "new", kOflagCreat, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(Open(3, "f", kOflagTrunc, kRead), E(Errno::kNotCapable));
  EXPECT_EQ(PathCall("path_create_directory", 3, "d"), E(Errno::kNotCapable));
  EXPECT_EQ(PathCall("path_unlink_file", 3, "f"), E(Errno::kNotCapable));
  EXPECT_EQ(Rename("f", "g"), E(Errno::kNotCapable));
  EXPECT_EQ(ReadHostFile(sandbox_ / "f"), "data");
  EXPECT_FALSE(fs::exists(sandbox_ / "new"));
}

TEST_F(WasiHostTest, DescriptorLimitAndRenumber) {
  WasiOptions options = Options();
  options.max_open_fds = 5;  // stdio, the preopen and one more
  MakeContext(std::move(options));
  WriteHostFile(sandbox_ / "f", "data");
  uint32_t fd = 0;
  ASSERT_EQ(Open(3, "f", 0, kRead, &fd), 0u);
  EXPECT_EQ(fd, 4u);
  EXPECT_EQ(Open(3, "f", 0, kRead), E(Errno::kMfile));

  // Move the file over stdout: fd 1 now reads the file, fd 4 is gone.
  ASSERT_EQ(Wasi("fd_renumber", {4, 1}), 0u);
  std::string got;
  ASSERT_EQ(ReadFd(1, 10, &got), 0u);
  EXPECT_EQ(got, "data");
  EXPECT_EQ(Wasi("fd_close", {4}), E(Errno::kBadf));
  ASSERT_EQ(Open(3, "f", 0, kRead, &fd), 0u);
  EXPECT_EQ(fd, 4u);
  EXPECT_EQ(Wasi("fd_renumber", {4, 9}), E(Errno::kBadf));
}

TEST_F(WasiHostTest, RightsCanOnlyBeDropped) {
  MakeContext();
  WriteHostFile(sandbox_ / "f", "data");
  uint32_t fd = 0;
  ASSERT_EQ(Open(3, "f", 0, kReadWrite, &fd), 0u);
  ASSERT_EQ(Wasi("fd_fdstat_set_rights", {fd, rights::kFdWrite, 0}), 0u);
  std::string got;
  EXPECT_EQ(ReadFd(fd, 4, &got), E(Errno::kNotCapable));
  EXPECT_EQ(Wasi("fd_fdstat_set_rights", {fd, rights::kFdWrite | rights::kFdRead, 0}), E(Errno::kNotCapable));
  // A directory whose inheriting rights were dropped hands out no more.
  ASSERT_EQ(Wasi("fd_fdstat_set_rights", {3, rights::kDirectory, rights::kFdRead}), 0u);
  EXPECT_EQ(Open(3, "f", 0, kReadWrite), E(Errno::kNotCapable));
  ASSERT_EQ(Open(3, "f", 0, kRead, &fd), 0u);
  ASSERT_EQ(Wasi("fd_fdstat_get", {fd, kBuf}), 0u);
  EXPECT_EQ(U64(kBuf + 8), rights::kFdRead);
}

TEST_F(WasiHostTest, OpeningAFifoDoesNotBlock) {
  MakeContext();
  ASSERT_EQ(mkfifo((sandbox_ / "fifo").c_str(), 0600), 0);
  uint32_t fd = 0;
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Open(3, "fifo", 0, kRead, &fd), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  std::string got = "x";
  ASSERT_EQ(ReadFd(fd, 4, &got), 0u);  // no writer: end of file
  EXPECT_EQ(got, "");
}

TEST_F(WasiHostTest, ProcExitReturnsExitAction) {
  MakeContext();
  HostAction action;
  Call(kWasiModule, "proc_exit", {42}, &action);
  EXPECT_EQ(action, HostAction::kExit);
  EXPECT_EQ(call_.exit_code, 42);
  ASSERT_TRUE(ctx_->exit_code().has_value());
  EXPECT_EQ(*ctx_->exit_code(), 42);
}

// Writes a subscription at `at`.
void PutClockSub(wasm::GuestMemory& mem, uint32_t at, uint64_t userdata, uint32_t clock, uint64_t timeout,
                 uint16_t flags) {
  std::vector<uint8_t> sub(layout::kSubscriptionSize, 0);
  std::memcpy(&sub[0], &userdata, 8);
  sub[8] = kEventtypeClock;
  std::memcpy(&sub[16], &clock, 4);
  std::memcpy(&sub[24], &timeout, 8);
  std::memcpy(&sub[40], &flags, 2);
  mem.WriteBytes(at, std::string_view(reinterpret_cast<char*>(sub.data()), sub.size()));
}

void PutFdSub(wasm::GuestMemory& mem, uint32_t at, uint64_t userdata, uint8_t type, uint32_t fd) {
  std::vector<uint8_t> sub(layout::kSubscriptionSize, 0);
  std::memcpy(&sub[0], &userdata, 8);
  sub[8] = type;
  std::memcpy(&sub[16], &fd, 4);
  mem.WriteBytes(at, std::string_view(reinterpret_cast<char*>(sub.data()), sub.size()));
}

TEST_F(WasiHostTest, PollOneoffSleepsForARelativeClock) {
  MakeContext();
  PutClockSub(mem_, kBuf, 77, kClockMonotonic, 50'000'000, 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Wasi("poll_oneoff", {kBuf, kBuf2, 1, kOut}), 0u);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(50));
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
  ASSERT_EQ(U32(kOut), 1u);
  EXPECT_EQ(U64(kBuf2), 77u);
  EXPECT_EQ(*mem_.Read<uint16_t>(kBuf2 + 8), 0u);
  EXPECT_EQ(*mem_.Read<uint8_t>(kBuf2 + 10), kEventtypeClock);

  // Two clocks: only the earlier fires.
  PutClockSub(mem_, kBuf, 1, kClockMonotonic, 10'000'000, 0);
  PutClockSub(mem_, kBuf + 48, 2, kClockMonotonic, 10'000'000'000ull, 0);
  ASSERT_EQ(Wasi("poll_oneoff", {kBuf, kBuf2, 2, kOut}), 0u);
  ASSERT_EQ(U32(kOut), 1u);
  EXPECT_EQ(U64(kBuf2), 1u);
  EXPECT_EQ(Wasi("poll_oneoff", {kBuf, kBuf2, 0, kOut}), E(Errno::kInval));
}

TEST_F(WasiHostTest, PollOneoffReportsReadyStdioAtOnce) {
  WasiOptions options = Options();
  options.stdin_data = "abc";
  MakeContext(std::move(options));
  PutClockSub(mem_, kBuf, 1, kClockMonotonic, 10'000'000'000ull, 0);
  PutFdSub(mem_, kBuf + 48, 2, kEventtypeFdRead, 0);
  PutFdSub(mem_, kBuf + 96, 3, kEventtypeFdWrite, 1);
  PutFdSub(mem_, kBuf + 144, 4, kEventtypeFdRead, 99);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Wasi("poll_oneoff", {kBuf, kBuf2, 4, kOut}), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  ASSERT_EQ(U32(kOut), 3u);
  EXPECT_EQ(U64(kBuf2), 2u);
  EXPECT_EQ(U64(kBuf2 + 16), 3u);  // stdin bytes available
  EXPECT_EQ(U64(kBuf2 + 32), 3u);
  EXPECT_EQ(*mem_.Read<uint8_t>(kBuf2 + 32 + 10), kEventtypeFdWrite);
  EXPECT_EQ(U64(kBuf2 + 64), 4u);
  EXPECT_EQ(*mem_.Read<uint16_t>(kBuf2 + 64 + 8), static_cast<uint16_t>(Errno::kBadf));
}

TEST_F(WasiHostTest, SleepsStopAtTheDeadline) {
  WasiOptions options = Options();
  options.net_access = true;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  MakeContext(std::move(options));
  PutClockSub(mem_, kBuf, 1, kClockMonotonic, 10'000'000'000ull, 0);
  HostAction action;
  auto start = std::chrono::steady_clock::now();
  Call(kWasiModule, "poll_oneoff", {kBuf, kBuf2, 1, kOut}, &action);
  EXPECT_EQ(action, HostAction::kTrap);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  Call("http", "get", {}, &action);
  EXPECT_EQ(action, HostAction::kTrap);
  EXPECT_NE(call_.trap_message.find("deadline"), std::string::npos);
}

TEST_F(WasiHostTest, HttpGetBlocksThreeHundredMilliseconds) {
  WasiOptions options = Options();
  options.net_access = true;
  MakeContext(std::move(options));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call("http", "get", {}), 0u);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, kHttpGetDelay);
  EXPECT_LT(elapsed, kHttpGetDelay + std::chrono::milliseconds(500));
}

TEST_F(WasiHostTest, HttpGetWithoutNetAccessIsRefused) {
  MakeContext();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call("http", "get", {}), E(Errno::kNotCapable));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace wow::wasi
