#include "executor/capability_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/sha256.h"

namespace wow::executor {
namespace fs = std::filesystem;

namespace {

// Longest escaped name of one private directory component; longer ones are
// named by their hash (a file name has at most 255 bytes).
constexpr size_t kMaxComponentBytes = 200;

// The path with symlinks of its existing parts resolved, made absolute and
// normal. Falls back to the lexical form when the file system cannot say.
fs::path Resolved(const fs::path& path) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) return fs::absolute(path).lexically_normal();
  return resolved;
}

// True when `path` is `root` or lies beneath it (both resolved).
bool Beneath(const fs::path& path, const fs::path& root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

bool Overlaps(const fs::path& a, const fs::path& b) { return Beneath(a, b) || Beneath(b, a); }

// One file-name component that says what it stands for: letters, digits and
// "_-@" stay, everything else (and a leading '.') becomes %XX.
std::string EscapeComponent(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool keep = std::isalnum(c) || c == '_' || c == '-' || c == '@' || (c == '.' && i > 0);
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  if (out.empty()) out = "%00";
  if (out.size() > kMaxComponentBytes) out = "sha256-" + Sha256Hex(text);
  return out;
}

bool HasDotDot(const fs::path& path) {
  return std::any_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
}

}  // namespace

fs::path PrivateDir(const DirPolicy& policy, std::string_view owner, std::string_view guest_path) {
  return Resolved(policy.data_dir) / "files" / EscapeComponent(owner) / EscapeComponent(guest_path);
}

Result<std::vector<abi::DirGrant>> GrantDirs(const DirPolicy& policy, std::string_view owner,
                                             const std::vector<std::string>& requested) {
  fs::path data_dir = Resolved(policy.data_dir);
  std::vector<abi::DirGrant> grants;
  for (const std::string& guest : requested) {
    fs::path path(guest);
    if (!path.is_absolute() || HasDotDot(path)) {
      return Status::InvalidArgument(
          fmt::format("the `dir` annotation must name absolute paths without '..' (got '{}')", guest));
    }
    std::string guest_path = path.lexically_normal().string();
    if (guest_path.size() > 1 && guest_path.back() == '/') guest_path.pop_back();
    fs::path host = Resolved(path);
    bool allowed = std::any_of(policy.allowed_roots.begin(), policy.allowed_roots.end(),
                               [&](const fs::path& root) { return Beneath(host, root); });
    if (allowed && Overlaps(host, data_dir)) {
      return Status::InvalidArgument(fmt::format(
          "the `dir` annotation may not grant '{}': it overlaps wow's data directory, which is never granted", guest));
    }
    if (allowed) {
      grants.push_back({host.string(), guest_path});
    } else {
      grants.push_back({PrivateDir(policy, owner, guest_path).string(), guest_path});
    }
  }
  return grants;
}

Result<std::vector<fs::path>> ResolveAllowedRoots(const std::vector<std::string>& roots, const fs::path& data_dir) {
  fs::path data = Resolved(data_dir);
  std::vector<fs::path> resolved;
  for (const std::string& root : roots) {
    if (root.empty() || root.find('\0') != std::string::npos) {
      return Status::InvalidArgument("--allow-dir needs a directory path");
    }
    fs::path r = Resolved(root);
    // A root may contain the data directory (GrantDirs still refuses it),
    // but one inside it would hand out the platform's own files.
    if (Beneath(r, data)) {
      return Status::InvalidArgument(
          fmt::format("--allow-dir {} lies in wow's data directory {}, which is never granted", root, data.string()));
    }
    resolved.push_back(std::move(r));
  }
  return resolved;
}

}  // namespace wow::executor
