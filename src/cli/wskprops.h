#pragma once

// Where the client commands (`wow action ...`, `wow activation ...`) find the
// API host and the credentials: flags first, then the wsk configuration file
// (`$WSK_CONFIG_FILE`, else `~/.wskprops`), as `wsk` does.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace wow::cli {

// KEY=VALUE lines (split at the first '='); blank lines, lines starting with
// '#' and lines without '=' are ignored; keys and values are trimmed. A later
// line wins over an earlier one with the same key.
std::map<std::string, std::string> ParseWskProps(std::string_view text);

// `$WSK_CONFIG_FILE` when set and non-empty, else `$HOME/.wskprops`; empty
// when neither variable is set.
std::filesystem::path WskPropsPath();

// The properties of `path`; a missing file has none. kIoError when it exists
// but cannot be read.
Result<std::map<std::string, std::string>> ReadWskProps(const std::filesystem::path& path);

// An OpenWhisk API host over plain HTTP.
struct ApiHost {
  std::string host;       // a name or an IP literal (IPv6 without brackets)
  uint16_t port = 80;     //
  std::string base_path;  // prefix before /api/v1, without a trailing '/'; usually empty

  bool operator==(const ApiHost&) const = default;
};

// Accepts HOST, HOST:PORT, [IPV6]:PORT and http://HOST[:PORT][/PATH] (port 80
// when none is given; trailing slashes dropped). https:// is kUnsupported
// (wow speaks plain HTTP only); anything else is kInvalidArgument.
Result<ApiHost> ParseApiHost(std::string_view text);

// What a client command talks to.
struct ClientConfig {
  ApiHost apihost;
  std::string auth;              // UUID:KEY, sent as HTTP basic authentication
  std::string namespace_ = "_";  // the default namespace (NAMESPACE in the file)
};

// Resolves the configuration: `apihost_flag` and `auth_flag` when non-empty,
// else APIHOST and AUTH from `props` (as read from WskPropsPath()). kInvalidArgument
// naming both sources when an apihost or an auth key is missing or malformed.
Result<ClientConfig> ResolveClientConfig(std::string_view apihost_flag, std::string_view auth_flag,
                                         const std::map<std::string, std::string>& props,
                                         const std::filesystem::path& props_path);

}  // namespace wow::cli
