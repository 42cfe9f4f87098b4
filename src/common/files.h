#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace wow {

// Reads a whole file; kNotFound when it does not exist, kIoError otherwise.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes to a temporary file beside `path`, fsyncs, then renames over it, so
// readers see either the old or the whole new content.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content);

// A unique temporary directory, removed with its content on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "wow");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace wow
