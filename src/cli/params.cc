#include "cli/params.h"

#include <cstdio>

#include "common/files.h"
#include "common/json.h"

namespace wow::cli {
namespace {

Result<std::string> ReadStdin(EmptyStdin empty_stdin) {
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
  if (std::ferror(stdin)) return Status::IoError("cannot read parameters from stdin");
  if (empty_stdin == EmptyStdin::kNoParameters && text.find_first_not_of(" \t\r\n") == std::string::npos) {
    text = "{}";
  }
  return text;
}

}  // namespace

Result<boost::json::object> MergeParams(const std::vector<std::string>& files,
                                        const std::vector<std::pair<std::string, std::string>>& pairs,
                                        EmptyStdin empty_stdin) {
  boost::json::object params;
  for (const auto& file : files) {
    WOW_ASSIGN_OR_RETURN(std::string text, file == "-" ? ReadStdin(empty_stdin) : ReadFile(file));
    auto value = ParseJson(text);
    if (!value.ok()) return value.status().WithContext(file);
    if (!value->is_object()) return Status::InvalidArgument(file + ": parameters must be a JSON object");
    for (auto& [k, v] : value->as_object()) params[k] = v;
  }
  for (const auto& [key, value] : pairs) params[key] = ParseParamValue(value);
  return params;
}

}  // namespace wow::cli
