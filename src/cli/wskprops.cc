#include "cli/wskprops.h"

#include <cstdlib>
#include <system_error>

#include "common/files.h"
#include "http/server.h"

namespace wow::cli {

namespace {

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::map<std::string, std::string> ParseWskProps(std::string_view text) {
  std::map<std::string, std::string> props;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(line.substr(0, eq));
    if (key.empty()) continue;
    props[std::string(key)] = std::string(Trim(line.substr(eq + 1)));
  }
  return props;
}

std::filesystem::path WskPropsPath() {
  const char* file = std::getenv("WSK_CONFIG_FILE");
  if (file != nullptr && *file != '\0') return file;
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::filesystem::path(home) / ".wskprops";
  return {};
}

Result<std::map<std::string, std::string>> ReadWskProps(const std::filesystem::path& path) {
  if (path.empty()) return std::map<std::string, std::string>();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::map<std::string, std::string>();
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseWskProps(*text);
}

Result<ApiHost> ParseApiHost(std::string_view text) {
  std::string_view rest = Trim(text);
  auto fail = [&](std::string_view why) {
    return Status::InvalidArgument("invalid apihost '" + std::string(text) + "': " + std::string(why) +
                                   " (expected HOST[:PORT] or http://HOST[:PORT])");
  };
  if (StartsWithNoCase(rest, "https://")) {
    return Status::Error(Code::kUnsupported, Phase::kNone,
                         "apihost '" + std::string(text) + "': TLS is not supported; use an http:// API host");
  }
  if (StartsWithNoCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return fail("unknown scheme");
  }
  ApiHost api;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (path.find_first_of("?# ") != std::string_view::npos) return fail("unexpected query or fragment");
    api.base_path = std::string(path);
  }
  if (authority.empty()) return fail("missing host");
  if (authority.find('@') != std::string_view::npos) return fail("credentials belong in --auth");
  // A port is present when the last ':' follows the IPv6 brackets (or there are none).
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  bool has_port = colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (has_port && authority.front() != '[' && authority.find(':') != colon) has_port = false;  // bare IPv6
  std::string with_port(authority);
  if (!has_port) {
    if (authority.front() != '[' && authority.find(':') != std::string_view::npos) {
      return fail("an IPv6 address needs brackets");
    }
    with_port += ":80";
  }
  auto parsed = http::ParseHostPort(with_port);
  if (!parsed.ok()) return fail(parsed.status().message());
  api.host = parsed->first;
  api.port = parsed->second;
  if (api.port == 0) return fail("port 0");
  return api;
}

Result<ClientConfig> ResolveClientConfig(std::string_view apihost_flag, std::string_view auth_flag,
                                         const std::map<std::string, std::string>& props,
                                         const std::filesystem::path& props_path) {
  auto prop = [&](const char* key) -> std::string {
    auto it = props.find(key);
    return it == props.end() ? std::string() : it->second;
  };
  std::string where = props_path.empty() ? std::string("~/.wskprops") : props_path.string();
  ClientConfig config;
  std::string apihost = apihost_flag.empty() ? prop("APIHOST") : std::string(apihost_flag);
  if (apihost.empty()) {
    return Status::InvalidArgument("no API host: pass --apihost HOST:PORT or set APIHOST in " + where);
  }
  auto api = ParseApiHost(apihost);
  if (!api.ok()) return api.status();
  config.apihost = std::move(api).value();
  config.auth = auth_flag.empty() ? prop("AUTH") : std::string(auth_flag);
  if (config.auth.empty()) {
    return Status::InvalidArgument("no authorization key: pass --auth UUID:KEY or set AUTH in " + where);
  }
  std::string ns = prop("NAMESPACE");
  if (!ns.empty()) config.namespace_ = ns;
  return config;
}

}  // namespace wow::cli
