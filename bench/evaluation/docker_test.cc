#include "docker.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/files.h"
#include "common/json.h"
#include "rootfs.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

#define ASSERT_OK(expr)                    \
  do {                                     \
    ::wow::Status _s = (expr);             \
    ASSERT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)

// ---- ldd ------------------------------------------------------------------------------------------------------

TEST(LddOutputTest, DynamicExecutableListsLibrariesAndLoaderButNotTheVdso) {
  const char* output =
      "\tlinux-vdso.so.1 (0x00007ffd4e5f2000)\n"
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f1d6e000000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d6dc1f000)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f1d6e3c4000)\n";
  EXPECT_EQ(ParseLddOutput(output),
            (std::vector<fs::path>{"/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libc.so.6",
                                   "/lib64/ld-linux-x86-64.so.2"}));
}

TEST(LddOutputTest, StaticAndNonDynamicGiveNothing) {
  EXPECT_TRUE(ParseLddOutput("\tstatically linked\n").empty());
  EXPECT_TRUE(ParseLddOutput("\tnot a dynamic executable\n").empty());
  EXPECT_TRUE(ParseLddOutput("").empty());
}

TEST(LddOutputTest, SkipsNotFoundAndDuplicatesAndToleratesMissingAddress) {
  const char* output =
      "\tlibmissing.so.1 => not found\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d6dc1f000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d6dc1f000)\n"
      "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6\n";
  EXPECT_EQ(ParseLddOutput(output),
            (std::vector<fs::path>{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6"}));
}

// ---- cgroup memory --------------------------------------------------------------------------------------------

TEST(CgroupMemoryTest, V1UsesTotalInactiveFile) {
  const char* stat =
      "cache 12288\nrss 94208\ninactive_file 4096\nactive_file 0\n"
      "total_cache 12288\ntotal_rss 94208\ntotal_inactive_file 8192\n";
  auto memory = ParseCgroupV1("446464\n", stat);
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_EQ(memory->usage, 446464u);
  EXPECT_EQ(memory->inactive_file, 8192u);
  EXPECT_EQ(memory->stats_bytes(), 446464u - 8192u);
}

TEST(CgroupMemoryTest, V2UsesInactiveFile) {
  const char* stat = "anon 110592\nfile 40960\nkernel 303104\nactive_anon 0\ninactive_file 36864\nactive_file 4096\n";
  auto memory = ParseCgroupV2("528384\n", stat);
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_EQ(memory->usage, 528384u);
  EXPECT_EQ(memory->inactive_file, 36864u);
  EXPECT_EQ(memory->stats_bytes(), 528384u - 36864u);
}

TEST(CgroupMemoryTest, StatsBytesFloorsAtZero) {
  CgroupMemory memory{100, 200};
  EXPECT_EQ(memory.stats_bytes(), 0u);
}

TEST(CgroupMemoryTest, MissingKeysAndGarbageAreErrors) {
  EXPECT_FALSE(ParseCgroupV1("4096\n", "cache 1\ninactive_file 5\n").ok());  // v1 needs total_inactive_file
  EXPECT_FALSE(ParseCgroupV2("4096\n", "total_inactive_file 5\n").ok());     // a v1 key is not v2's
  EXPECT_FALSE(ParseCgroupV2("4096\n", "inactive_file_x 5\n").ok());
  EXPECT_FALSE(ParseCgroupV2("4096\n", "inactive_file five\n").ok());
  EXPECT_FALSE(ParseCgroupV1("max\n", "total_inactive_file 0\n").ok());
  EXPECT_FALSE(ParseCgroupV2("", "inactive_file 0\n").ok());
  EXPECT_FALSE(ParseCgroupV2("12 34", "inactive_file 0\n").ok());
  auto error = ParseCgroupV1("4096", "rss 1\n");
  EXPECT_NE(error.status().message().find("total_inactive_file"), std::string::npos) << error.status().message();
}

TEST(CgroupMemoryTest, ReadContainerMemorySaysWhereItLooked) {
  auto memory = ReadContainerMemory("wow-no-such-parent", "0123456789abcdef0123");
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.status().code(), Code::kNotFound);
  EXPECT_NE(memory.status().message().find("/sys/fs/cgroup/"), std::string::npos) << memory.status().message();
  EXPECT_NE(memory.status().message().find("wow-no-such-parent/0123456789abcdef0123"), std::string::npos);
}

// ---- PSS ------------------------------------------------------------------------------------------------------

TEST(SmapsRollupTest, ParsesPssNotItsParts) {
  const char* text =
      "55d0c8a00000-7ffc5a3f1000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:                4480 kB\n"
      "Pss_Anon:            900 kB\n"
      "Pss:                1234 kB\n"
      "Pss_File:            334 kB\n"
      "Shared_Clean:        860 kB\n";
  auto pss = ParseSmapsRollupPss(text);
  ASSERT_TRUE(pss.ok()) << pss.status().ToString();
  EXPECT_EQ(*pss, 1234u * 1024);
  EXPECT_FALSE(ParseSmapsRollupPss("Rss: 10 kB\nPss_Anon: 5 kB\n").ok());
  EXPECT_FALSE(ParseSmapsRollupPss("Pss: lots kB\n").ok());
}

TEST(SmapsRollupTest, OwnProcessHasPss) {
  auto pss = ProcessPssBytes(::getpid());
  ASSERT_TRUE(pss.ok()) << pss.status().ToString();
  EXPECT_GT(*pss, 100u * 1024);
  EXPECT_FALSE(ProcessPssBytes(0x7ffffff0).ok());
}

TEST(ShimPidTest, UnknownContainerIsNotFound) {
  auto pid = ShimPid("0000000000000000000000000000000000000000000000000000000000000000");
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), Code::kNotFound);
}

// ---- Engine API helpers -----------------------------------------------------------------------------------------

TEST(ApiErrorTest, DockerMessageAndStatusInTheError) {
  Status s = ApiErrorStatus(404, R"({"message":"No such container: abc"})", "DELETE /v1.41/containers/abc");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "DELETE /v1.41/containers/abc: HTTP 404: No such container: abc");
  EXPECT_EQ(ApiErrorStatus(409, R"({"message":"Conflict"})", "x").code(), Code::kAlreadyExists);
  EXPECT_EQ(ApiErrorStatus(400, R"({"message":"bad"})", "x").code(), Code::kInvalidArgument);
  Status plain = ApiErrorStatus(500, "page not found\n", "GET /x");
  EXPECT_EQ(plain.code(), Code::kIoError);
  EXPECT_EQ(plain.message(), "GET /x: HTTP 500: page not found");
  EXPECT_EQ(ApiErrorStatus(502, "", "GET /x").message(), "GET /x: HTTP 502: (no message)");
}

TEST(ImportProgressTest, AnswersTheLastStatus) {
  auto id = ParseImportProgress("{\"status\":\"Importing\"}\r\n{\"status\":\"sha256:aaa057c4\"}\r\n");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "sha256:aaa057c4");
  auto no_newlines = ParseImportProgress(R"({"status":"a"}{"status":"b"})");
  ASSERT_TRUE(no_newlines.ok());
  EXPECT_EQ(*no_newlines, "b");
}

TEST(ImportProgressTest, ErrorsInTheStreamAreErrors) {
  auto error = ParseImportProgress(
      "{\"status\":\"Importing\",\"progressDetail\":{\"current\":512}}\r\n"
      "{\"errorDetail\":{\"message\":\"archive/tar: invalid tar header\"},\"error\":\"archive/tar: invalid tar "
      "header\"}\r\n");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), "archive/tar: invalid tar header");
  auto detail_only = ParseImportProgress(R"({"errorDetail":{"message":"no space left"}})");
  ASSERT_FALSE(detail_only.ok());
  EXPECT_EQ(detail_only.status().message(), "no space left");
  EXPECT_FALSE(ParseImportProgress("{\"status\":\"a\"}\r\n{\"stat").ok());
  EXPECT_FALSE(ParseImportProgress("").ok());
  EXPECT_FALSE(ParseImportProgress("<html>").ok());
}

TEST(UrlEncodeTest, EncodesAllButUnreserved) {
  EXPECT_EQ(UrlEncode(R"(CMD ["/bin/sleep","30"])"), "CMD%20%5B%22%2Fbin%2Fsleep%22%2C%2230%22%5D");
  EXPECT_EQ(UrlEncode("a-Z_0.9~"), "a-Z_0.9~");
}

// ---- DockerApi against a fake daemon ------------------------------------------------------------------------------

// Serves canned responses on a unix socket, one per connection, and records the requests.
class FakeDaemon {
 public:
  explicit FakeDaemon(const fs::path& socket_path) : socket_path_(socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  void Answer(std::string response) {
    std::lock_guard lock(mu_);
    responses_.push_back(std::move(response));
  }
  std::string Request(size_t i) {
    std::lock_guard lock(mu_);
    return i < requests_.size() ? requests_[i] : std::string();
  }

  static std::string Http(int status, std::string_view reason, std::string_view body,
                          std::string_view type = "application/json") {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\nContent-Type: " + std::string(type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + std::string(body);
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::string request = ReadRequest(conn);
      std::string response;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
        if (!responses_.empty()) {
          response = std::move(responses_.front());
          responses_.pop_front();
        }
      }
      if (response.empty()) response = Http(500, "Internal Server Error", R"({"message":"no canned response"})");
      (void)!::write(conn, response.data(), response.size());
      ::close(conn);
    }
  }

  static std::string ReadRequest(int conn) {
    std::string data;
    char buf[65536];
    size_t header_end = std::string::npos, length = 0;
    for (;;) {
      if (header_end != std::string::npos && data.size() >= header_end + 4 + length) break;
      ssize_t n = ::read(conn, buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        std::string lower = data.substr(0, header_end);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (size_t at = lower.find("content-length: "); at != std::string::npos) {
          length = std::stoul(lower.substr(at + 16));
        }
      }
    }
    return data;
  }

  fs::path socket_path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::deque<std::string> responses_;
  std::vector<std::string> requests_;
};

class DockerApiTest : public ::testing::Test {
 protected:
  TempDir dir_{"wow-docker-api"};
  FakeDaemon daemon_{dir_.path() / "d.sock"};
  DockerApi api_{dir_.path() / "d.sock"};
};

TEST_F(DockerApiTest, CallPrefixesTheApiVersionAndParsesJson) {
  daemon_.Answer(FakeDaemon::Http(200, "OK", R"({"Version":"20.10.24+dfsg1","ApiVersion":"1.41"})"));
  auto version = api_.Version();
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, "20.10.24+dfsg1");
  EXPECT_TRUE(daemon_.Request(0).starts_with("GET /v1.41/version HTTP/1.1\r\n")) << daemon_.Request(0);

  daemon_.Answer(FakeDaemon::Http(200, "OK", "OK", "text/plain"));
  auto ping = api_.Call(DockerApi::Verb::get, "/_ping");
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->as_string(), "OK");
  daemon_.Answer(FakeDaemon::Http(200, "OK", "[]"));
  ASSERT_TRUE(api_.Call(DockerApi::Verb::get, "/v1.40/info").ok());
  EXPECT_TRUE(daemon_.Request(2).starts_with("GET /v1.40/info ")) << daemon_.Request(2);
}

TEST_F(DockerApiTest, CreateContainerSendsTheSpec) {
  daemon_.Answer(FakeDaemon::Http(201, "Created", R"({"Id":"abc123","Warnings":[]})"));
  ContainerSpec spec;
  spec.image = "wowtest:sleep";
  spec.cmd = {"/bin/sleep", "30"};
  spec.env = {"A=1"};
  spec.network_mode = "host";
  spec.memory_bytes = 64 << 20;
  spec.name = "wow bench/1";
  spec.labels = {{"wow.bench", "1"}};
  auto id = api_.CreateContainer(spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "abc123");
  std::string request = daemon_.Request(0);
  EXPECT_TRUE(request.starts_with("POST /v1.41/containers/create?name=wow%20bench%2F1 ")) << request;
  auto body = ParseJson(request.substr(request.find("\r\n\r\n") + 4));
  ASSERT_TRUE(body.ok()) << request;
  const auto& o = body->as_object();
  EXPECT_EQ(o.at("Image"), "wowtest:sleep");
  EXPECT_EQ(o.at("Cmd"), (json::array{"/bin/sleep", "30"}));
  EXPECT_EQ(o.at("Env"), (json::array{"A=1"}));
  EXPECT_EQ(o.at("Labels").at("wow.bench"), "1");
  EXPECT_EQ(o.at("StopTimeout"), 1);
  EXPECT_EQ(o.at("HostConfig").at("NetworkMode"), "host");
  EXPECT_EQ(o.at("HostConfig").at("Memory").to_number<uint64_t>(), 64u << 20);
  EXPECT_EQ(o.at("HostConfig").at("MemorySwap").to_number<uint64_t>(), 64u << 20);
}

TEST_F(DockerApiTest, RemoveTreatsGoneAsDoneAndReportsOtherErrors) {
  daemon_.Answer(FakeDaemon::Http(404, "Not Found", R"({"message":"No such container: abc"})"));
  ASSERT_OK(api_.RemoveContainer("abc"));
  EXPECT_TRUE(daemon_.Request(0).starts_with("DELETE /v1.41/containers/abc?v=true&force=true ")) << daemon_.Request(0);
  daemon_.Answer(FakeDaemon::Http(500, "Internal Server Error", R"({"message":"driver failed"})"));
  Status s = api_.RemoveContainer("abc");
  EXPECT_EQ(s.message(), "DELETE /v1.41/containers/abc: HTTP 500: driver failed");
}

TEST_F(DockerApiTest, StartAcceptsAlreadyStarted) {
  daemon_.Answer(FakeDaemon::Http(304, "Not Modified", ""));
  ASSERT_OK(api_.StartContainer("abc"));
  daemon_.Answer(FakeDaemon::Http(404, "Not Found", R"({"message":"No such container: abc"})"));
  EXPECT_EQ(api_.StartContainer("abc").code(), Code::kNotFound);
}

TEST_F(DockerApiTest, InspectAndList) {
  daemon_.Answer(FakeDaemon::Http(
      200, "OK",
      R"({"Id":"abc","State":{"Status":"exited","Running":false,"OOMKilled":true,"Pid":0,"ExitCode":137}})"));
  auto state = api_.Inspect("abc");
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_FALSE(state->running);
  EXPECT_TRUE(state->oom_killed);
  EXPECT_EQ(state->exit_code, 137);
  EXPECT_EQ(state->status, "exited");

  daemon_.Answer(FakeDaemon::Http(200, "OK", R"([{"Id":"a1"},{"Id":"b2"}])"));
  auto ids = api_.ListContainers(true, "wow.bench=1");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"a1", "b2"}));
  EXPECT_TRUE(daemon_.Request(1).starts_with(
      "GET /v1.41/containers/json?all=true&filters=%7B%22label%22%3A%5B%22wow.bench%3D1%22%5D%7D "))
      << daemon_.Request(1);
}

TEST_F(DockerApiTest, ImportStreamsTheTarAndReadsTheProgress) {
  fs::path tar = dir_.path() / "r.tar";
  ASSERT_OK(WriteFileAtomically(tar, std::string(3000, 'x')));
  daemon_.Answer(FakeDaemon::Http(200, "OK", "{\"status\":\"sha256:0123\"}\r\n"));
  ASSERT_OK(api_.ImportImage(tar, "wowtest", "v1", {"/bin/sleep", "30"}));
  std::string request = daemon_.Request(0);
  EXPECT_TRUE(
      request.starts_with("POST /v1.41/images/create?fromSrc=-&repo=wowtest&tag=v1&changes="
                          "CMD%20%5B%22%2Fbin%2Fsleep%22%2C%2230%22%5D "))
      << request;
  EXPECT_NE(request.find("Content-Type: application/x-tar\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.substr(request.find("\r\n\r\n") + 4), std::string(3000, 'x'));

  daemon_.Answer(FakeDaemon::Http(200, "OK", "{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}\r\n"));
  Status failed = api_.ImportImage(tar, "wowtest", "v1", {});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("bad tar"), std::string::npos) << failed.message();
  EXPECT_EQ(daemon_.Request(1).find("changes="), std::string::npos);

  EXPECT_FALSE(api_.ImportImage(dir_.path() / "missing.tar", "wowtest", "v1", {}).ok());
}

TEST(DockerApiErrorsTest, MissingSocketIsAnIoErrorNamingIt) {
  DockerApi api("/nonexistent/wow.sock");
  auto version = api.Version();
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.status().code(), Code::kIoError);
  EXPECT_NE(version.status().message().find("/nonexistent/wow.sock"), std::string::npos);
}

// ---- rootfs ------------------------------------------------------------------------------------------------------

// `tar -tvf` of a tarball.
std::string ListTar(const fs::path& tar) {
  std::string out;
  FILE* pipe = ::popen(("LC_ALL=C tar --numeric-owner -tvf '" + tar.string() + "'").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

TEST(RootfsTest, CopiesTheExecutableItsLibrariesAndTheSkeleton) {
  TempDir dir("wow-rootfs");
  fs::path tar = dir.path() / "out" / "rootfs.tar";
  ASSERT_OK(BuildRootfsTar({{"/bin/sleep", "/bin/sleep"}, {"/etc/hostname", "/opt/data/hostname"}}, tar,
                           dir.path() / "scratch"));
  std::string listing = ListTar(tar);
  EXPECT_NE(listing.find("-rwxr-xr-x 0/0"), std::string::npos) << listing;
  for (const char* entry :
       {" ./bin/sleep\n", " ./lib/x86_64-linux-gnu/libc.so.6\n", " ./lib64/ld-linux-x86-64.so.2\n", " ./etc/passwd\n",
        " ./etc/group\n", " ./action/\n", " ./proc/\n", " ./sys/\n", " ./dev/\n", " ./opt/data/hostname\n"}) {
    EXPECT_NE(listing.find(entry), std::string::npos) << entry << " missing in\n" << listing;
  }
  EXPECT_NE(listing.find("drwxrwxrwt 0/0"), std::string::npos) << listing;  // /tmp
  // The assembly directory is gone.
  EXPECT_TRUE(fs::is_empty(dir.path() / "scratch"));
}

TEST(RootfsTest, BadEntriesAreErrors) {
  TempDir dir("wow-rootfs");
  Status missing = BuildRootfsTar({{"/nonexistent/file", "/x"}}, dir.path() / "a.tar", dir.path() / "s");
  EXPECT_EQ(missing.code(), Code::kNotFound) << missing.ToString();
  Status relative = BuildRootfsTar({{"/bin/sleep", "bin/sleep"}}, dir.path() / "a.tar", dir.path() / "s");
  EXPECT_EQ(relative.code(), Code::kInvalidArgument) << relative.ToString();
  Status escape = BuildRootfsTar({{"/bin/sleep", "/../sleep"}}, dir.path() / "a.tar", dir.path() / "s");
  EXPECT_EQ(escape.code(), Code::kInvalidArgument) << escape.ToString();
}

// ---- the private daemon -----------------------------------------------------------------------------------------

TEST(DockerdTest, MissingDockerdSaysWhatToInstall) {
  DockerdOptions options;
  options.dockerd = "/nonexistent/dockerd";
  auto daemon = Dockerd::Start(options);
  ASSERT_FALSE(daemon.ok());
  EXPECT_NE(daemon.status().message().find("docker.io"), std::string::npos) << daemon.status().message();
}

TEST(DockerdTest, DaemonExitingEarlyIsReportedAndCleanedUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir parent("wow-dockerd");
  DockerdOptions options;
  options.dockerd = "/bin/false";  // exits at once, like a dockerd that cannot start
  options.root_parent = parent.path();
  options.cgroup_parent = "wowtest-early-" + std::to_string(::getpid());
  auto daemon = Dockerd::Start(options);
  ASSERT_FALSE(daemon.ok());
  EXPECT_NE(daemon.status().message().find("exited early (code 1)"), std::string::npos) << daemon.status().message();
  EXPECT_TRUE(fs::is_empty(parent.path()));  // its root is gone
}

TEST(DockerdTest, RootTooLongForUnixSocketsIsRefusedAndRemoved) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir parent("wow-dockerd");
  DockerdOptions options;
  options.root_parent = parent.path() / std::string(80, 'a');
  options.cgroup_parent = "wowtest-long-" + std::to_string(::getpid());
  auto daemon = Dockerd::Start(options);
  ASSERT_FALSE(daemon.ok());
  EXPECT_NE(daemon.status().message().find("too long"), std::string::npos) << daemon.status().message();
  EXPECT_TRUE(fs::is_empty(options.root_parent));
}

bool MountedUnder(const fs::path& root) {
  auto mountinfo = ReadFile("/proc/self/mountinfo");
  return mountinfo.ok() && mountinfo->find(root.string()) != std::string::npos;
}

std::vector<fs::path> CgroupDirsNamed(const std::string& name) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::exists(fs::path("/sys/fs/cgroup") / name, ec)) out.push_back(fs::path("/sys/fs/cgroup") / name);
  for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    if (fs::exists(entry.path() / name, ec)) out.push_back(entry.path() / name);
  }
  return out;
}

pid_t ParentOf(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return -1;
  // "pid (comm) state ppid ...": comm may hold spaces, so start after the last ')'.
  return std::stoi(stat->substr(stat->rfind(')') + 4));
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Real Docker, end to end; skipped (with the reason) where a private dockerd cannot run.
TEST(DockerdTest, ContainerLifecycleOnAPrivateDaemon) {
  DockerdOptions options;
  options.cgroup_parent = "wowtest-" + std::to_string(::getpid());
  auto t0 = Clock::now();
  auto started = Dockerd::Start(options);
  if (!started.ok()) GTEST_SKIP() << "no private dockerd here: " << started.status().ToString();
  std::unique_ptr<Dockerd> daemon = std::move(started).value();
  auto t_started = Clock::now();
  const fs::path root = daemon->root_dir();
  EXPECT_FALSE(daemon->version().empty());
  EXPECT_TRUE(fs::exists(daemon->log_path()));
  EXPECT_EQ(daemon->cgroup_parent(), options.cgroup_parent);
  const DockerApi& api = daemon->api();

  TempDir scratch("wow-docker-test");
  fs::path tar = scratch.path() / "rootfs.tar";
  ASSERT_OK(BuildRootfsTar({{"/bin/sleep", "/bin/sleep"}}, tar, scratch.path() / "scratch"));
  auto t_tar = Clock::now();
  ASSERT_OK(api.ImportImage(tar, "wowtest", "sleep", {"/bin/sleep", "30"}));
  auto t_imported = Clock::now();

  ContainerSpec spec;
  spec.image = "wowtest:sleep";
  spec.cmd = {"/bin/sleep", "30"};
  spec.network_mode = "none";
  spec.memory_bytes = 64 << 20;
  spec.labels = {{"wow.test", "1"}};
  auto id = api.CreateContainer(spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_OK(api.StartContainer(*id));
  auto t_running = Clock::now();

  auto state = api.Inspect(*id);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_TRUE(state->running);
  EXPECT_GT(state->pid, 0);
  EXPECT_EQ(state->status, "running");

  auto listed = api.ListContainers(false, "wow.test=1");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, std::vector<std::string>{*id});

  auto memory = ReadContainerMemory(daemon->cgroup_parent(), *id);
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_GT(memory->stats_bytes(), 0u);
  EXPECT_LT(memory->stats_bytes(), uint64_t{64} << 20);

  auto shim = ShimPid(*id);
  ASSERT_TRUE(shim.ok()) << shim.status().ToString();
  EXPECT_EQ(ParentOf(state->pid), *shim);  // the shim is the container's parent (and subreaper)
  auto shim_pss = ProcessPssBytes(*shim);
  ASSERT_TRUE(shim_pss.ok()) << shim_pss.status().ToString();
  EXPECT_GT(*shim_pss, 0u);

  auto t_measured = Clock::now();
  ASSERT_OK(api.RemoveContainer(*id));
  auto t_removed = Clock::now();
  ASSERT_OK(api.RemoveContainer(*id));  // already gone
  EXPECT_EQ(api.Inspect(*id).status().code(), Code::kNotFound);

  // A container left running is removed by Stop.
  auto leftover = api.CreateContainer(spec);
  ASSERT_TRUE(leftover.ok()) << leftover.status().ToString();
  ASSERT_OK(api.StartContainer(*leftover));

  auto t_stop = Clock::now();
  ASSERT_OK(daemon->Stop());
  auto t_stopped = Clock::now();
  ASSERT_OK(daemon->Stop());  // idempotent

  EXPECT_FALSE(fs::exists(root));
  EXPECT_FALSE(MountedUnder(root));
  EXPECT_TRUE(CgroupDirsNamed(options.cgroup_parent).empty());
  EXPECT_FALSE(ShimPid(*leftover).ok());

  std::printf(
      "dockerd %s: start %.0f ms, rootfs tar %.0f ms, import %.0f ms, create+start %.0f ms, measure %.1f ms, "
      "remove %.0f ms, stop (with one running container) %.0f ms; container %.0f KiB (docker stats), shim PSS "
      "%.0f KiB\n",
      daemon->version().c_str(), Ms(t_started - t0), Ms(t_tar - t_started), Ms(t_imported - t_tar),
      Ms(t_running - t_imported), Ms(t_measured - t_running), Ms(t_removed - t_measured), Ms(t_stopped - t_stop),
      memory->stats_bytes() / 1024.0, *shim_pss / 1024.0);
}

}  // namespace
}  // namespace wow::bench::eval
