#pragma once

// The pure parts of the http_load benchmark client (bench/http_load.cc):
// parsing its URL, header and connection-count arguments, percentiles of
// latency samples, and the per-run summary with its table and JSON forms.
// Nothing here does I/O, so bench/load_stats_test.cc covers it.

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wow::bench {

// An http:// URL split into what a client needs.
struct Url {
  std::string host;    // a name, an IPv4 address or an IPv6 address without brackets
  uint16_t port = 80;  // from the URL, else 80
  std::string target;  // path and query as sent in the request line; "/" when empty

  // The Host header value: host[:port], with brackets for IPv6, no port when it is 80.
  std::string HostHeader() const;
};

// Parses "http://host[:port][/path][?query][#fragment]" (the fragment is dropped,
// userinfo is refused, https is refused: this client speaks plain HTTP/1.1 only).
// On failure returns nullopt and sets *error to a one-line reason.
std::optional<Url> ParseUrl(std::string_view text, std::string* error);

// Parses a "Name: value" header argument (whitespace around the value is trimmed).
// The name must be an RFC 9110 token; neither part may contain CR or LF.
std::optional<std::pair<std::string, std::string>> ParseHeader(std::string_view text, std::string* error);

// Parses "1,8,64": positive counts (at most `max_each`), separated by commas.
std::optional<std::vector<int>> ParseConnectionList(std::string_view text, std::string* error, int max_each = 100000);

// The nearest-rank percentile of ascending `sorted` samples: the smallest sample
// such that at least p% of all samples are <= it (p in [0, 100]; p = 0 gives the
// minimum). Returns 0 for no samples. p50 of 1..100 is 50, p99 is 99, p100 is 100.
uint64_t Percentile(std::span<const uint64_t> sorted, double p);
// The same nearest rank over doubles (bench/evaluation's statistics use it).
double Percentile(std::span<const double> sorted, double p);

// What one closed-loop run at a fixed connection count measured.
struct LoadSummary {
  int connections = 0;
  int threads = 1;
  uint64_t requests = 0;  // responses with the expected status completed in the window
  double seconds = 0;     // length of the measured window
  double rps = 0;         // requests / seconds
  // Latency of successful requests, from issuing the request (including any
  // reconnect it needed) to its last response byte.
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
  uint64_t errors = 0;             // status_errors + connection_errors
  uint64_t status_errors = 0;      // complete responses with an unexpected status
  uint64_t connection_errors = 0;  // connect, read, write or parse failures
  uint64_t bytes_sent = 0;         // socket bytes written in the window
  uint64_t bytes_received = 0;     // socket bytes read in the window
};

// The raw counts of one run, as the load generator collects them.
struct LoadCounts {
  std::vector<uint64_t> latencies_ns;  // one sample per successful request, any order
  uint64_t status_errors = 0;
  uint64_t connection_errors = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

// Sorts the samples and computes the summary of a run of `seconds`.
LoadSummary Summarize(int connections, int threads, double seconds, LoadCounts counts);

// A fixed-width, human-readable table: one header line and one line per run (no newline).
std::string FormatTableHeader();
std::string FormatTableLine(const LoadSummary& s);

// {"connections":..,"requests":..,"seconds":..,"rps":..,"p50_us":..,"p90_us":..,
//  "p99_us":..,"max_us":..,"errors":..} plus mean_us, threads, status_errors,
// connection_errors, bytes_sent and bytes_received.
boost::json::value ToJson(const LoadSummary& s);

}  // namespace wow::bench
