#include "wasi/confine.h"

#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace wow::wasi {
namespace {

// RESOLVE_BENEATH fails with EAGAIN when a rename elsewhere on the system
// races with the lookup; the kernel asks callers to retry.
constexpr int kMaxResolveRetries = 64;

}  // namespace

Errno CheckGuestPath(const std::string& path) {
  if (path.empty()) return Errno::kNoEnt;
  if (path.find('\0') != std::string::npos) return Errno::kInval;
  if (path.front() == '/') return Errno::kNotCapable;
  return Errno::kSuccess;
}

Errno OpenBeneath(int dirfd, const std::string& path, int flags, mode_t mode, UniqueFd* out) {
  open_how how{};
  // openat2, unlike openat, rejects O_PATH combined with other open flags.
  int extra = (flags & O_PATH) ? O_CLOEXEC : O_CLOEXEC | O_NOCTTY;
  how.flags = static_cast<uint64_t>(static_cast<unsigned>(flags | extra));
  // openat2 rejects a mode without O_CREAT/O_TMPFILE.
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
    if (fd >= 0) {
      out->Reset(static_cast<int>(fd));
      return Errno::kSuccess;
    }
    int err = errno;
    if (err == EINTR || (err == EAGAIN && attempt < kMaxResolveRetries)) continue;
    // EXDEV: the path tried to leave dirfd (via "..", an absolute symlink or
    // a symlink pointing above it). ENOSYS (old kernel, seccomp filter): fail
    // closed rather than fall back to an unconfined openat.
    if (err == EXDEV) return Errno::kNotCapable;
    return ErrnoFromHost(err);
  }
}

Errno OpenParent(int dirfd, const std::string& path, ParentAndName* out) {
  Errno check = CheckGuestPath(path);
  if (check != Errno::kSuccess) return check;

  size_t end = path.size();
  while (end > 0 && path[end - 1] == '/') --end;
  out->trailing_slash = end != path.size();
  // CheckGuestPath rejected "/..." so something other than slashes remains.
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) {
    out->name = path.substr(0, end);
    out->parent_fd = dirfd;
    out->owned.Reset();
    return Errno::kSuccess;
  }
  out->name = path.substr(slash + 1, end - slash - 1);
  std::string parent = path.substr(0, slash + 1);
  Errno err = OpenBeneath(dirfd, parent, O_PATH | O_DIRECTORY, 0, &out->owned);
  if (err != Errno::kSuccess) return err;
  out->parent_fd = out->owned.get();
  return Errno::kSuccess;
}

}  // namespace wow::wasi
