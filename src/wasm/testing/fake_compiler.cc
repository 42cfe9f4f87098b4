#include "wasm/testing/fake_compiler.h"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

namespace wow::wasm::testing {
namespace {

// State and process group of /proc/<pid>/stat; false when unreadable.
bool ReadStat(pid_t pid, char* state, long* pgid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');  // the command name may contain anything
  long ppid = 0;
  return paren != std::string::npos && std::sscanf(stat.c_str() + paren + 1, " %c %ld %ld", state, &ppid, pgid) == 3;
}

std::vector<std::pair<pid_t, pid_t>> Runs(const std::filesystem::path& dir) {
  std::vector<std::pair<pid_t, pid_t>> runs;
  std::ifstream in(dir / "fake-cc.pids");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    long script = -1;
    long sleep = -1;
    if (fields >> script >> sleep) runs.emplace_back(static_cast<pid_t>(script), static_cast<pid_t>(sleep));
  }
  return runs;
}

}  // namespace

std::filesystem::path WriteSleepingCompiler(const std::filesystem::path& dir) {
  std::filesystem::path script = dir / "fake-cc";
  std::ofstream(script) << "#!/bin/sh\n"
                           "if [ \"$1\" = --version ]; then echo 'fake-cc 1.0'; exit 0; fi\n"
                           "sleep 1000 &\n"
                           "echo \"$$ $!\" >> '"
                        << (dir / "fake-cc.pids").string()
                        << "'\n"
                           "wait\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  return script;
}

std::pair<pid_t, pid_t> WaitForSleepingCompiler(const std::filesystem::path& dir, size_t run,
                                                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    auto runs = Runs(dir);
    if (runs.size() >= run) return runs[run - 1];
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  return {-1, -1};
}

size_t SleepingCompilerRuns(const std::filesystem::path& dir) { return Runs(dir).size(); }

pid_t ProcessGroupOf(pid_t pid) {
  char state = 0;
  long pgid = -1;
  if (!ReadStat(pid, &state, &pgid) || state == 'Z') return -1;
  return static_cast<pid_t>(pgid);
}

bool WaitUntilGroupIsGone(pid_t pgid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool alive = false;
    if (DIR* proc = ::opendir("/proc")) {
      while (dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0' && ProcessGroupOf(static_cast<pid_t>(pid)) == pgid) alive = true;
      }
      ::closedir(proc);
    }
    if (!alive) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace wow::wasm::testing
