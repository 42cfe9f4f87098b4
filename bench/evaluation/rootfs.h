#pragma once

// Minimal container images for the Docker baseline: a rootfs with just the files an action needs (and the shared
// libraries they load), written as a tarball for `docker import` (no registry needed).

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

struct RootfsEntry {
  std::filesystem::path source;  // a file, or a directory copied with its content
  std::string dest;              // absolute path in the image
};

// Assembles a rootfs in a fresh directory under `scratch_dir` (created if needed, the assembly removed afterwards)
// and writes it to `tar_out` as an uncompressed tar with numeric root ownership. Each entry's files keep their
// modes; every ELF file also brings the shared libraries and dynamic loader `ldd` lists for it, at the same
// absolute paths. The image also has /tmp (1777), /action, /proc, /sys, /dev and /etc with a minimal passwd
// and group (root only).
Status BuildRootfsTar(const std::vector<RootfsEntry>& entries, const std::filesystem::path& tar_out,
                      const std::filesystem::path& scratch_dir);

// The absolute paths in `ldd` output, in order and without duplicates: "libc.so.6 => /lib/.../libc.so.6 (0x...)"
// and "/lib64/ld-linux-x86-64.so.2 (0x...)". The vDSO, "=> not found" lines and "statically linked" / "not a
// dynamic executable" answers yield nothing.
std::vector<std::filesystem::path> ParseLddOutput(std::string_view output);

}  // namespace wow::bench::eval
