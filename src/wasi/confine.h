#pragma once

// Path confinement for the WASI host: every guest path is resolved by the
// kernel with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to a
// directory descriptor, so "..", absolute paths and symlinks that lead outside
// that directory fail instead of escaping. Operations that have no openat2
// form (mkdirat, unlinkat, renameat, ...) resolve the parent this way and act
// on a final component that is never "/"-separated and never followed.

#include <fcntl.h>
#include <sys/types.h>

#include <string>

#include "wasi/fd_table.h"
#include "wasi/preview1.h"

namespace wow::wasi {

// Rejects guest paths that must never reach the kernel: empty (ENOENT),
// containing NUL (EINVAL: the host would truncate them), or absolute
// (ENOTCAPABLE: guests name files relative to a directory descriptor).
Errno CheckGuestPath(const std::string& path);

// Opens `path` beneath `dirfd` with openat2. O_CLOEXEC (and O_NOCTTY unless
// O_PATH) is always added; `mode` is used only with O_CREAT. An attempt to leave `dirfd`
// (the kernel's EXDEV) is reported as ENOTCAPABLE. On success stores the new
// descriptor in `out`.
Errno OpenBeneath(int dirfd, const std::string& path, int flags, mode_t mode, UniqueFd* out);

// A path split into a directory opened beneath the base and a last component.
struct ParentAndName {
  UniqueFd owned;               // the opened parent; invalid when the parent is the base
  int parent_fd = -1;           // owned.get(), or the base directory itself
  std::string name;             // the last component: non-empty, without "/"
  bool trailing_slash = false;  // the guest path ended in "/"

  bool IsDotOrDotDot() const { return name == "." || name == ".."; }
};

// Splits `path` (already accepted by CheckGuestPath) at its last component
// and opens the parent directory beneath `dirfd` as an O_PATH descriptor.
// Trailing slashes are stripped and reported. Callers must refuse "." and ".."
// as the last component before acting on it: "..", resolved by an *at call
// relative to the base, would name the directory above it.
Errno OpenParent(int dirfd, const std::string& path, ParentAndName* out);

}  // namespace wow::wasi
