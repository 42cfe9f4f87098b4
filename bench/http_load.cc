// http_load: a closed-loop HTTP/1.1 keep-alive load generator for wow's HTTP faces.
//
//   http_load --url http://127.0.0.1:PORT/path [--method POST] [--body STRING | --body-file FILE]
//             [--header 'K: V']... [--connections 1,8,64] [--duration 5] [--warmup 1]
//             [--threads N] [--expect-status 200] [--json out.json]
//
// For each connection count it opens that many connections, each of which sends
// its next request as soon as it has read the previous response completely (no
// pipelining), warms up for --warmup seconds and then measures for --duration
// seconds. All connections of a thread share one single-threaded io_context; the
// request bytes are serialised once and the responses are parsed by a Beast
// basic_parser that keeps no headers, so the client costs little per request.
// A run's figures (see load_stats.h) count only what completed inside the
// measured window; every latency sample is kept and sorted for the percentiles.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "load_stats.h"

namespace wow::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::chrono::milliseconds kReconnectBackoff{10};  // after a failed connect
constexpr std::chrono::seconds kGrace{2};                   // for requests in flight at the end
constexpr std::chrono::seconds kProbeTimeout{3};            // the reachability check
constexpr size_t kReadSize = 16 * 1024;
constexpr size_t kKeptBodyBytes = 2048;  // of an unexpected response, for the report

// Parses one response and keeps only the status, whether the connection stays
// open (basic_parser::keep_alive) and, for an unexpected status, the start of
// the body. No per-response allocation.
class ResponseParser : public http::basic_parser<false> {
 public:
  explicit ResponseParser(int expect_status) : expect_status_(expect_status) {}

  int status() const { return status_; }
  bool unexpected() const { return expect_status_ != 0 && status_ != expect_status_; }
  const std::string& kept_body() const { return body_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override {
    status_ = code;
    keep_ = unexpected();
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view, error_code&) override {}
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, error_code&) override {}
  size_t on_body_impl(beast::string_view body, error_code&) override {
    Keep(body);
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, error_code&) override {
    Keep(body);
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  void Keep(beast::string_view body) {
    if (keep_ && body_.size() < kKeptBodyBytes) {
      body_.append(body.data(), std::min(body.size(), kKeptBodyBytes - body_.size()));
    }
  }

  int expect_status_;
  int status_ = 0;
  bool keep_ = false;
  std::string body_;
};

// What all connections of one run share (read-only while it runs, but the flags).
struct RunConfig {
  std::string request;  // the serialised request, sent as is every time
  bool head = false;    // responses to HEAD have no body
  int expect_status = 200;
  std::vector<tcp::endpoint> endpoints;
  Clock::time_point measure_start, measure_end, hard_stop;
  mutable std::atomic<bool> reported_status{false};
  mutable std::atomic<bool> reported_error{false};

  bool InWindow(Clock::time_point t) const { return t >= measure_start && t < measure_end; }
};

class Worker;

// One keep-alive connection in a closed loop: request, whole response, next request.
class Connection {
 public:
  Connection(Worker& worker, asio::io_context& ctx);
  void Issue();
  void Stop();
  bool stopped() const { return stopped_; }

 private:
  void Connect();
  void Write();
  void Parse();
  void ReadMore();
  void Complete();
  // Counts a connection error, drops the connection and issues the next
  // request (after a pause when it was the connect that failed).
  void Fail(const char* what, const error_code& ec, bool backoff = false);
  void Close();

  Worker& worker_;
  const RunConfig& config_;
  tcp::socket socket_;
  asio::steady_timer backoff_;
  beast::flat_buffer buffer_;
  std::optional<ResponseParser> parser_;
  Clock::time_point start_;
  bool connected_ = false;
  bool stopped_ = false;
};

// The connections of one thread, their io_context and their counts.
class Worker {
 public:
  Worker(const RunConfig& config, int connections) : config_(config), ctx_(1), watchdog_(ctx_) {
    counts_.latencies_ns.reserve(1 << 16);
    for (int i = 0; i < connections; ++i) connections_.push_back(std::make_unique<Connection>(*this, ctx_));
  }

  void Run() {
    active_ = static_cast<int>(connections_.size());
    watchdog_.expires_at(config_.hard_stop);
    watchdog_.async_wait([this](const error_code& ec) {
      if (ec) return;  // every connection stopped in time
      for (auto& c : connections_) {
        if (!c->stopped()) ++abandoned_;
        c->Stop();
      }
    });
    for (auto& c : connections_) c->Issue();
    ctx_.run();
  }

  const RunConfig& config() const { return config_; }
  LoadCounts& counts() { return counts_; }
  // Connections still waiting for a response (or a reconnect) at the hard stop.
  int abandoned() const { return abandoned_; }
  void ConnectionStopped() {
    if (--active_ == 0) watchdog_.cancel();
  }

 private:
  const RunConfig& config_;
  asio::io_context ctx_;
  asio::steady_timer watchdog_;
  std::vector<std::unique_ptr<Connection>> connections_;
  int active_ = 0;
  int abandoned_ = 0;
  LoadCounts counts_;
};

Connection::Connection(Worker& worker, asio::io_context& ctx)
    : worker_(worker), config_(worker.config()), socket_(ctx), backoff_(ctx) {}

void Connection::Issue() {
  if (stopped_) return;
  const Clock::time_point now = Clock::now();
  if (now >= config_.measure_end) {
    Stop();
    return;
  }
  start_ = now;  // a reconnect needed by this request counts towards its latency
  if (connected_) {
    Write();
  } else {
    Connect();
  }
}

void Connection::Connect() {
  buffer_.clear();
  asio::async_connect(socket_, config_.endpoints, [this](const error_code& ec, const tcp::endpoint&) {
    if (stopped_) return;
    if (ec) {
      Fail("connect", ec, /*backoff=*/true);
      return;
    }
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    connected_ = true;
    Write();
  });
}

void Connection::Write() {
  asio::async_write(socket_, asio::buffer(config_.request), [this](const error_code& ec, size_t n) {
    if (stopped_) return;
    if (ec) {
      Fail("write", ec);
      return;
    }
    if (config_.InWindow(Clock::now())) worker_.counts().bytes_sent += n;
    parser_.emplace(config_.expect_status);
    parser_->eager(true);
    parser_->body_limit(boost::none);
    parser_->header_limit(64 * 1024);
    if (config_.head) parser_->skip(true);
    Parse();  // a well-behaved server sends nothing early, but bytes left over are parsed first
  });
}

void Connection::Parse() {
  while (buffer_.size() > 0) {
    error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      Fail("parse", ec);
      return;
    }
    if (parser_->is_done()) {
      Complete();
      return;
    }
    if (used == 0) break;
  }
  ReadMore();
}

void Connection::ReadMore() {
  socket_.async_read_some(buffer_.prepare(kReadSize), [this](const error_code& ec, size_t n) {
    if (stopped_) return;
    if (n > 0) {
      buffer_.commit(n);
      if (config_.InWindow(Clock::now())) worker_.counts().bytes_received += n;
    }
    if (ec == asio::error::eof && parser_->got_some()) {
      // A response delimited by the end of the connection.
      error_code eof_ec;
      parser_->put_eof(eof_ec);
      if (!eof_ec && parser_->is_done()) {
        connected_ = false;  // put_eof means the server closed it
        Close();
        Complete();
        return;
      }
      Fail("read", eof_ec ? eof_ec : ec);
      return;
    }
    if (ec == asio::error::eof) {
      Fail("read: the server closed the connection before responding", ec);
      return;
    }
    if (ec) {
      Fail("read", ec);
      return;
    }
    Parse();
  });
}

void Connection::Complete() {
  const Clock::time_point now = Clock::now();
  const ResponseParser& p = *parser_;
  if (config_.InWindow(now)) {
    LoadCounts& counts = worker_.counts();
    if (p.unexpected()) {
      ++counts.status_errors;
    } else {
      counts.latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count());
    }
  }
  if (p.unexpected() && !config_.reported_status.exchange(true)) {
    std::fprintf(stderr, "http_load: unexpected status %d (expected %d); its body%s:\n%s\n", p.status(),
                 config_.expect_status, p.kept_body().size() >= kKeptBodyBytes ? " (truncated)" : "",
                 p.kept_body().c_str());
  }
  if (connected_ && !p.keep_alive()) {
    Close();  // "Connection: close" or HTTP/1.0: the next request reconnects
  }
  parser_.reset();
  Issue();
}

void Connection::Fail(const char* what, const error_code& ec, bool backoff) {
  const Clock::time_point now = Clock::now();
  if (config_.InWindow(now)) ++worker_.counts().connection_errors;
  if (!config_.reported_error.exchange(true)) {
    std::fprintf(stderr, "http_load: first connection error (%s): %s\n", what, ec.message().c_str());
  }
  Close();
  parser_.reset();
  if (backoff) {
    backoff_.expires_after(kReconnectBackoff);
    backoff_.async_wait([this](const error_code& ec) {
      if (!ec) Issue();
    });
  } else {
    Issue();
  }
}

void Connection::Close() {
  connected_ = false;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  buffer_.clear();
}

void Connection::Stop() {
  if (stopped_) return;
  stopped_ = true;
  Close();
  backoff_.cancel();
  worker_.ConnectionStopped();
}

// Resolves the URL's host and checks that something accepts connections there.
bool Probe(const Url& url, std::vector<tcp::endpoint>* endpoints, std::string* error) {
  asio::io_context ctx(1);
  tcp::resolver resolver(ctx);
  error_code ec;
  auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec) {
    *error = "cannot resolve '" + url.host + "': " + ec.message();
    return false;
  }
  for (const auto& r : results) endpoints->push_back(r.endpoint());
  tcp::socket socket(ctx);
  asio::steady_timer timer(ctx, kProbeTimeout);
  error_code connect_ec = asio::error::timed_out;
  bool done = false;
  asio::async_connect(socket, *endpoints, [&](const error_code& e, const tcp::endpoint&) {
    connect_ec = e;
    done = true;
    timer.cancel();
  });
  timer.async_wait([&](const error_code& e) {
    if (!e && !done) socket.close();
  });
  ctx.run();
  if (connect_ec) {
    if (connect_ec == asio::error::operation_aborted) connect_ec = asio::error::timed_out;
    *error = "server unreachable: cannot connect to " + url.HostHeader() + ": " + connect_ec.message();
    return false;
  }
  return true;
}

// Runs `connections` connections on `threads` threads and summarises.
LoadSummary RunOnce(RunConfig& config, int connections, int threads, double warmup_s, double duration_s) {
  threads = std::max(1, std::min(threads, connections));
  const auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point t0 = Clock::now();
  config.measure_start = t0 + to_duration(warmup_s);
  config.measure_end = config.measure_start + to_duration(duration_s);
  config.hard_stop = config.measure_end + kGrace;
  config.reported_error = false;

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    const int n = connections / threads + (i < connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(config, n));
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&workers, i] { workers[i]->Run(); });
  workers[0]->Run();
  for (auto& t : pool) t.join();

  LoadCounts total;
  int abandoned = 0;
  for (auto& w : workers) {
    abandoned += w->abandoned();
    LoadCounts& c = w->counts();
    if (total.latencies_ns.empty()) {
      total.latencies_ns = std::move(c.latencies_ns);
    } else {
      total.latencies_ns.insert(total.latencies_ns.end(), c.latencies_ns.begin(), c.latencies_ns.end());
    }
    total.status_errors += c.status_errors;
    total.connection_errors += c.connection_errors;
    total.bytes_sent += c.bytes_sent;
    total.bytes_received += c.bytes_received;
  }
  if (abandoned > 0) {
    std::fprintf(stderr,
                 "http_load: %d connection(s) still had no response %lld s after the end of the run at %d "
                 "connection(s); those requests were abandoned\n",
                 abandoned, static_cast<long long>(kGrace.count()), connections);
  }
  return Summarize(connections, threads, duration_s, std::move(total));
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Main(int argc, char** argv) {
  CLI::App app{
      "Closed-loop HTTP/1.1 keep-alive load generator: for each connection count, every connection sends its "
      "next request as soon as the previous response is read. Prints one table line per count on stdout."};
  std::string url_text, method, body, body_file, connections_text = "1", json_path;
  std::vector<std::string> header_args;
  double duration = 5, warmup = 1;
  int expect_status = 200, threads = 1;
  app.add_option("--url", url_text, "http://host[:port]/path")->required();
  app.add_option("--method", method, "request method (default GET, or POST with a body)");
  auto* body_opt = app.add_option("--body", body, "request body");
  app.add_option("--body-file", body_file, "read the request body from FILE")->excludes(body_opt);
  app.add_option("--header", header_args,
                 "extra request header 'Name: value' (repeatable); with a body, Content-Type defaults to "
                 "application/json");
  app.add_option("--connections", connections_text, "comma-separated connection counts, run in order")
      ->capture_default_str();
  app.add_option("--duration", duration, "measured seconds per connection count")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", warmup, "unmeasured seconds before each measurement (includes connecting)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "threads, each with its own io_context and a share of the connections")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--expect-status", expect_status, "any other status counts as an error (0: accept any)")
      ->check(CLI::Range(0, 999))
      ->capture_default_str();
  app.add_option("--json", json_path, "also write all results as a JSON array to FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "http_load: %s\n", message.c_str());
    return 2;
  };
  std::string error;
  std::optional<Url> url = ParseUrl(url_text, &error);
  if (!url) return usage(error);
  std::optional<std::vector<int>> connection_counts = ParseConnectionList(connections_text, &error);
  if (!connection_counts) return usage(error);
  if (!body_file.empty()) {
    std::ifstream in(body_file, std::ios::binary);
    if (!in) return usage("cannot read --body-file '" + body_file + "'");
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const bool has_body = !body.empty() || !body_file.empty();
  if (method.empty()) method = has_body ? "POST" : "GET";
  if (!IsToken(method)) return usage("bad --method '" + method + "'");

  // The request, serialised once.
  std::string headers;
  bool user_host = false, user_content_type = false;
  for (const std::string& arg : header_args) {
    auto header = ParseHeader(arg, &error);
    if (!header) return usage(error);
    if (EqualsIgnoreCase(header->first, "Content-Length") || EqualsIgnoreCase(header->first, "Transfer-Encoding")) {
      return usage("--header " + header->first + " is not allowed: Content-Length is set from the body");
    }
    user_host |= EqualsIgnoreCase(header->first, "Host");
    user_content_type |= EqualsIgnoreCase(header->first, "Content-Type");
    headers += header->first + ": " + header->second + "\r\n";
  }
  RunConfig config;
  config.head = EqualsIgnoreCase(method, "HEAD");
  config.expect_status = expect_status;
  std::string& request = config.request;
  request = method + " " + url->target + " HTTP/1.1\r\n";
  if (!user_host) request += "Host: " + url->HostHeader() + "\r\n";
  request += headers;
  if (has_body && !user_content_type) request += "Content-Type: application/json\r\n";
  const bool sends_length = has_body || method == "POST" || method == "PUT" || method == "PATCH";
  if (sends_length) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;

  RaiseFileLimit();
  if (!Probe(*url, &config.endpoints, &error)) {
    std::fprintf(stderr, "http_load: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr,
               "http_load: %s http://%s%s, request %zu bytes (body %zu), %g s warm-up + %g s per count, %d thread(s)\n",
               method.c_str(), url->HostHeader().c_str(), url->target.c_str(), request.size(), body.size(), warmup,
               duration, threads);

  std::vector<LoadSummary> results;
  std::printf("%s\n", FormatTableHeader().c_str());
  std::fflush(stdout);
  for (int connections : *connection_counts) {
    results.push_back(RunOnce(config, connections, threads, warmup, duration));
    std::printf("%s\n", FormatTableLine(results.back()).c_str());
    std::fflush(stdout);
  }

  int rc = 0;
  if (!json_path.empty()) {
    boost::json::array out;
    for (const LoadSummary& s : results) out.push_back(ToJson(s));
    std::ofstream file(json_path, std::ios::binary | std::ios::trunc);
    file << boost::json::serialize(out) << "\n";
    if (!file.flush()) {
      std::fprintf(stderr, "http_load: cannot write --json '%s'\n", json_path.c_str());
      rc = 1;
    }
  }
  for (const LoadSummary& s : results) {
    if (s.requests == 0) {
      std::fprintf(stderr,
                   "http_load: every request failed at %d connection(s): no successful response in %g s "
                   "(%llu connection errors, %llu unexpected statuses)\n",
                   s.connections, s.seconds, static_cast<unsigned long long>(s.connection_errors),
                   static_cast<unsigned long long>(s.status_errors));
      rc = 1;
    }
  }
  return rc;
}

}  // namespace
}  // namespace wow::bench

int main(int argc, char** argv) { return wow::bench::Main(argc, argv); }
