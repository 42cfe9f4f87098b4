#include "load_stats.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace wow::bench {
namespace {

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsIpv6Char(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.'; }

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses a decimal in [lo, hi]; the whole of `s` must be digits.
std::optional<int> ParseInt(std::string_view s, int lo, int hi) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.front() == '-' || s.front() == '+') return std::nullopt;
  if (value < lo || value > hi) return std::nullopt;
  return value;
}

double NsToUs(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Nearest rank: ceil(p/100 * n), 1-based; rank 0 (p = 0) means the minimum.
// Returns the 0-based index into `n` sorted samples (n > 0).
size_t NearestRankIndex(size_t n, double p) {
  p = std::clamp(p, 0.0, 100.0);
  // The small epsilon keeps e.g. 0.9 * 100 = 90.00000000000001 at rank 90.
  const double exact = p / 100.0 * static_cast<double>(n);
  size_t rank = static_cast<size_t>(std::ceil(exact - 1e-9));
  rank = std::clamp<size_t>(rank, 1, n);
  return rank - 1;
}

}  // namespace

std::string Url::HostHeader() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != 80) out += ":" + std::to_string(port);
  return out;
}

std::optional<Url> ParseUrl(std::string_view text, std::string* error) {
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    Fail(error, "bad URL '" + std::string(text) + "': expected http://host[:port][/path]");
    return std::nullopt;
  }
  const std::string scheme = Lower(text.substr(0, scheme_end));
  if (scheme == "https") {
    Fail(error, "bad URL '" + std::string(text) + "': https is not supported (plain HTTP/1.1 only)");
    return std::nullopt;
  }
  if (scheme != "http") {
    Fail(error, "bad URL '" + std::string(text) + "': unsupported scheme '" + scheme + "' (expected http)");
    return std::nullopt;
  }
  std::string_view rest = text.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  auto bad = [&](const std::string& why) {
    Fail(error, "bad URL '" + std::string(text) + "': " + why);
    return std::nullopt;
  };
  if (authority.find('@') != std::string_view::npos) return bad("user information is not supported");

  Url url;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in IPv6 host");
    std::string_view host = authority.substr(1, close - 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsIpv6Char) ||
        host.find(':') == std::string_view::npos) {
      return bad("invalid IPv6 host '" + std::string(host) + "'");
    }
    url.host = std::string(host);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected characters after ']'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) return bad("missing host");
    if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) {
      return bad("invalid host '" + std::string(host) + "' (IPv6 addresses need brackets)");
    }
    url.host = std::string(host);
  }
  if (has_port) {
    std::optional<int> port = ParseInt(port_text, 1, 65535);
    if (!port) return bad("invalid port '" + std::string(port_text) + "' (expected 1-65535)");
    url.port = static_cast<uint16_t>(*port);
  }

  path = path.substr(0, path.find('#'));
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("path contains a space or control character");
  }
  if (path.empty() || path.front() == '?') {
    url.target = "/" + std::string(path);
  } else {
    url.target = std::string(path);
  }
  return url;
}

std::optional<std::pair<std::string, std::string>> ParseHeader(std::string_view text, std::string* error) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    Fail(error, "bad header '" + std::string(text) + "': expected 'Name: value'");
    return std::nullopt;
  }
  std::string_view name = text.substr(0, colon);
  std::string_view value = Trim(text.substr(colon + 1));
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
    Fail(error, "bad header '" + std::string(text) + "': invalid name '" + std::string(name) + "'");
    return std::nullopt;
  }
  if (HasCrLf(value)) {
    Fail(error, "bad header '" + std::string(name) + "': the value contains CR or LF");
    return std::nullopt;
  }
  return std::make_pair(std::string(name), std::string(value));
}

std::optional<std::vector<int>> ParseConnectionList(std::string_view text, std::string* error, int max_each) {
  std::vector<int> out;
  std::string_view rest = text;
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    std::optional<int> n = ParseInt(item, 1, max_each);
    if (!n) {
      Fail(error, "bad connection count '" + std::string(item) + "' in '" + std::string(text) +
                      "': expected a comma-separated list of integers in 1-" + std::to_string(max_each));
      return std::nullopt;
    }
    out.push_back(*n);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

uint64_t Percentile(std::span<const uint64_t> sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[NearestRankIndex(sorted.size(), p)];
}

double Percentile(std::span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[NearestRankIndex(sorted.size(), p)];
}

LoadSummary Summarize(int connections, int threads, double seconds, LoadCounts counts) {
  LoadSummary s;
  s.connections = connections;
  s.threads = threads;
  s.seconds = seconds;
  std::vector<uint64_t>& samples = counts.latencies_ns;
  std::sort(samples.begin(), samples.end());
  s.requests = samples.size();
  s.rps = seconds > 0 ? static_cast<double>(s.requests) / seconds : 0;
  s.p50_us = NsToUs(Percentile(samples, 50));
  s.p90_us = NsToUs(Percentile(samples, 90));
  s.p99_us = NsToUs(Percentile(samples, 99));
  s.max_us = samples.empty() ? 0 : NsToUs(samples.back());
  if (!samples.empty()) {
    long double sum = 0;
    for (uint64_t v : samples) sum += static_cast<long double>(v);
    s.mean_us = static_cast<double>(sum / static_cast<long double>(samples.size()) / 1000.0L);
  }
  s.status_errors = counts.status_errors;
  s.connection_errors = counts.connection_errors;
  s.errors = counts.status_errors + counts.connection_errors;
  s.bytes_sent = counts.bytes_sent;
  s.bytes_received = counts.bytes_received;
  return s;
}

std::string FormatTableHeader() {
  char line[256];
  std::snprintf(line, sizeof line, "%6s %10s %8s %11s %9s %9s %9s %10s %8s %10s %10s", "conns", "requests", "seconds",
                "req/s", "p50_us", "p90_us", "p99_us", "max_us", "errors", "sent_MiB", "recv_MiB");
  return line;
}

std::string FormatTableLine(const LoadSummary& s) {
  char line[256];
  constexpr double kMiB = 1024.0 * 1024.0;
  std::snprintf(line, sizeof line, "%6d %10" PRIu64 " %8.3f %11.1f %9.1f %9.1f %9.1f %10.1f %8" PRIu64 " %10.2f %10.2f",
                s.connections, s.requests, s.seconds, s.rps, s.p50_us, s.p90_us, s.p99_us, s.max_us, s.errors,
                static_cast<double>(s.bytes_sent) / kMiB, static_cast<double>(s.bytes_received) / kMiB);
  return line;
}

boost::json::value ToJson(const LoadSummary& s) {
  boost::json::object o;
  o["connections"] = s.connections;
  o["requests"] = s.requests;
  o["seconds"] = s.seconds;
  o["rps"] = s.rps;
  o["p50_us"] = s.p50_us;
  o["p90_us"] = s.p90_us;
  o["p99_us"] = s.p99_us;
  o["max_us"] = s.max_us;
  o["errors"] = s.errors;
  o["mean_us"] = s.mean_us;
  o["threads"] = s.threads;
  o["status_errors"] = s.status_errors;
  o["connection_errors"] = s.connection_errors;
  o["bytes_sent"] = s.bytes_sent;
  o["bytes_received"] = s.bytes_received;
  return o;
}

}  // namespace wow::bench
