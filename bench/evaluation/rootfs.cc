#include "rootfs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/files.h"

extern char** environ;

namespace wow::bench::eval {

namespace fs = std::filesystem;
using std::filesystem::path;

namespace {

struct Output {
  int exit_code = -1;
  std::string text;  // stdout and stderr together
};

// Runs `args` (args[0] looked up on PATH) with LC_ALL=C, so that messages are the ones we parse.
Result<Output> RunCapture(const std::vector<std::string>& args) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with("LC_ALL=") && !entry.starts_with("LANGUAGE=")) env.emplace_back(entry);
  }
  env.emplace_back("LC_ALL=C");
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  pid_t pid = 0;
  int err = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (err != 0) {
    ::close(fds[0]);
    return Status::IoError("cannot run " + args[0] + ": " + std::strerror(err));
  }
  Output out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.text.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

std::string FirstLine(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  text.remove_prefix(begin);
  return std::string(text.substr(0, text.find('\n')));
}

bool IsElf(const path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4] = {};
  bool elf = ::read(fd, magic, sizeof magic) == sizeof magic && std::memcmp(magic,
                                                                            "\x7f"
                                                                            "ELF",
                                                                            4) == 0;
  ::close(fd);
  return elf;
}

// Creates `dir` and its missing parents with mode 0755.
Status MakeDirs(const path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

// Copies `source` (following symlinks) to `dest` with the same permission bits.
Status CopyWithMode(const path& source, const path& dest) {
  std::error_code ec;
  WOW_RETURN_IF_ERROR(MakeDirs(dest.parent_path()));
  fs::copy_file(source, dest, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::IoError("cannot copy " + source.string() + " to " + dest.string() + ": " + ec.message());
  fs::perms mode = fs::status(source, ec).permissions();
  if (!ec) fs::permissions(dest, mode, fs::perm_options::replace, ec);
  if (ec) return Status::IoError("cannot set the mode of " + dest.string() + ": " + ec.message());
  return Status::Ok();
}

// The shared libraries (and loader) an ELF file needs, from ldd; none for a static one.
Result<std::vector<path>> SharedLibraries(const path& elf) {
  WOW_ASSIGN_OR_RETURN(Output out, RunCapture({"ldd", elf.string()}));
  if (out.text.find("not a dynamic executable") != std::string::npos) return std::vector<path>{};
  if (size_t missing = out.text.find("=> not found"); missing != std::string::npos) {
    size_t line = out.text.rfind('\n', missing);
    return Status::NotFound("ldd " + elf.string() + ": " +
                            FirstLine(std::string_view(out.text).substr(line == std::string::npos ? 0 : line + 1)));
  }
  if (out.exit_code != 0) {
    return Status::IoError("ldd " + elf.string() + " failed (code " + std::to_string(out.exit_code) +
                           "): " + FirstLine(out.text));
  }
  return ParseLddOutput(out.text);
}

// Where `dest` (absolute, without "..") lands under `tree`.
Result<path> InTree(const path& tree, std::string_view dest) {
  path p(dest);
  if (!p.is_absolute()) return Status::InvalidArgument("image path \"" + std::string(dest) + "\" is not absolute");
  for (const auto& part : p) {
    if (part == "..") return Status::InvalidArgument("image path \"" + std::string(dest) + "\" contains ..");
  }
  return tree / p.relative_path();
}

// The skeleton every image has.
Status MakeSkeleton(const path& tree) {
  std::error_code ec;
  for (const char* dir : {"tmp", "action", "proc", "sys", "dev", "etc"}) {
    WOW_RETURN_IF_ERROR(MakeDirs(tree / dir));
    fs::permissions(tree / dir, fs::perms(0755), fs::perm_options::replace, ec);
  }
  fs::permissions(tree / "tmp", fs::perms(01777), fs::perm_options::replace, ec);  // sticky, world-writable
  if (ec) return Status::IoError("cannot set modes under " + tree.string() + ": " + ec.message());
  WOW_RETURN_IF_ERROR(WriteFileAtomically(tree / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"));
  WOW_RETURN_IF_ERROR(WriteFileAtomically(tree / "etc/group", "root:x:0:\n"));
  return Status::Ok();
}

class RootfsBuilder {
 public:
  explicit RootfsBuilder(path tree) : tree_(std::move(tree)) {}

  Status Add(const RootfsEntry& entry) {
    WOW_ASSIGN_OR_RETURN(path dest, InTree(tree_, entry.dest));
    std::error_code ec;
    if (fs::is_directory(entry.source, ec)) {
      WOW_RETURN_IF_ERROR(MakeDirs(dest));
      for (auto it = fs::recursive_directory_iterator(entry.source, ec); !ec && it != fs::end(it); it.increment(ec)) {
        path target = dest / fs::relative(it->path(), entry.source);
        if (it->is_directory(ec)) {
          WOW_RETURN_IF_ERROR(MakeDirs(target));
        } else {
          WOW_RETURN_IF_ERROR(AddFile(it->path(), target));
        }
      }
      if (ec) return Status::IoError("cannot list " + entry.source.string() + ": " + ec.message());
      return Status::Ok();
    }
    if (!fs::exists(entry.source, ec))
      return Status::NotFound("rootfs entry " + entry.source.string() + " does not exist");
    return AddFile(entry.source, dest);
  }

 private:
  Status AddFile(const path& source, const path& dest) {
    WOW_RETURN_IF_ERROR(CopyWithMode(source, dest));
    if (!IsElf(source)) return Status::Ok();
    WOW_ASSIGN_OR_RETURN(std::vector<path> libraries, SharedLibraries(source));
    for (const auto& library : libraries) {
      if (!copied_libraries_.insert(library.string()).second) continue;
      WOW_ASSIGN_OR_RETURN(path library_dest, InTree(tree_, library.string()));
      WOW_RETURN_IF_ERROR(CopyWithMode(library, library_dest));
    }
    return Status::Ok();
  }

  path tree_;
  std::set<std::string> copied_libraries_;
};

}  // namespace

std::vector<path> ParseLddOutput(std::string_view output) {
  std::vector<path> out;
  std::string_view rest = output;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    size_t arrow = line.find("=>");
    std::string_view candidate = arrow == std::string_view::npos ? line : line.substr(arrow + 2);
    size_t begin = candidate.find_first_not_of(" \t");
    if (begin == std::string_view::npos || candidate[begin] != '/') continue;  // vDSO, "not found", messages
    candidate.remove_prefix(begin);
    size_t address = candidate.rfind(" (0x");
    if (address != std::string_view::npos) candidate = candidate.substr(0, address);
    while (!candidate.empty() && (candidate.back() == ' ' || candidate.back() == '\t' || candidate.back() == '\r')) {
      candidate.remove_suffix(1);
    }
    path p(candidate);
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  }
  return out;
}

Status BuildRootfsTar(const std::vector<RootfsEntry>& entries, const path& tar_out, const path& scratch_dir) {
  WOW_RETURN_IF_ERROR(MakeDirs(scratch_dir));
  std::string templ = (scratch_dir / "rootfs.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return Status::IoError("cannot create a directory in " + scratch_dir.string() + ": " + std::strerror(errno));
  }
  const path tree(templ);
  auto build = [&]() -> Status {
    WOW_RETURN_IF_ERROR(MakeSkeleton(tree));
    RootfsBuilder builder(tree);
    for (const auto& entry : entries) WOW_RETURN_IF_ERROR(builder.Add(entry));
    if (!tar_out.parent_path().empty()) WOW_RETURN_IF_ERROR(MakeDirs(tar_out.parent_path()));
    // The root directory itself is world-readable, as in any image (mkdtemp made it 0700).
    std::error_code ec;
    fs::permissions(tree, fs::perms(0755), fs::perm_options::replace, ec);
    WOW_ASSIGN_OR_RETURN(Output tar, RunCapture({"tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name",
                                                 "-C", tree.string(), "-cf", tar_out.string(), "."}));
    if (tar.exit_code != 0) {
      return Status::IoError("tar of " + tree.string() + " failed (code " + std::to_string(tar.exit_code) +
                             "): " + FirstLine(tar.text));
    }
    return Status::Ok();
  };
  Status status = build();
  std::error_code ec;
  fs::remove_all(tree, ec);
  return status;
}

}  // namespace wow::bench::eval
