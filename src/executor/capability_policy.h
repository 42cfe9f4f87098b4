#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "abi/action_runner.h"
#include "common/status.h"

namespace wow::executor {

// The operator's policy for the `dir` annotation: capabilities come from the
// command line, never from the deployer (DESIGN.md, "Who is trusted").
//
// A requested directory P (an absolute path) becomes:
// - the host directory P itself, seen by the guest as P, when P lies beneath
//   one of `allowed_roots` (`--allow-dir`, compared after resolving symlinks
//   of the parts that exist) and neither is nor contains nor lies beneath the
//   data directory;
// - otherwise the action's private directory
//   <data_dir>/files/<escaped owner>/<escaped P>, seen by the guest as P: an
//   action written for WOW's `dir` runs unchanged and reaches nothing of the
//   host's. The owner is "<namespace>/<action>" in `wow serve`.
// A path that lies beneath an allowed root but overlaps the data directory is
// refused: the platform's files (credential, store, artifacts) are never
// granted.
struct DirPolicy {
  // Host roots that `dir` may name. Default: none.
  std::vector<std::filesystem::path> allowed_roots;
  // wow's data directory (store, credential, artifacts); the private
  // directories live in its files/ subdirectory.
  std::filesystem::path data_dir = ".wow";
};

// The private directory of one requested path of `owner`'s.
std::filesystem::path PrivateDir(const DirPolicy& policy, std::string_view owner, std::string_view guest_path);

// Maps the paths the `dir` annotation asks for (already checked to be
// absolute, without NUL) to grants. kInvalidArgument, with the reason, for a
// path that names the data directory or contains "..".
Result<std::vector<abi::DirGrant>> GrantDirs(const DirPolicy& policy, std::string_view owner,
                                             const std::vector<std::string>& requested);

// Checks `--allow-dir` roots given on the command line: absolute after
// resolution and not overlapping the data directory. Returns them resolved.
Result<std::vector<std::filesystem::path>> ResolveAllowedRoots(const std::vector<std::string>& roots,
                                                               const std::filesystem::path& data_dir);

}  // namespace wow::executor
