#pragma once

// A small HTTP/1.1 server on Boost.Beast. It knows nothing of Wasm: it parses requests, hands each one to a
// Handler and writes back whatever the handler answers, with keep-alive, limits and timeouts.

#include <any>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace wow::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using HttpStatus = beast_http::status;
using Verb = beast_http::verb;

// What a HeaderCheck decides for one request once its header is complete, before any body byte is read.
struct HeaderVerdict {
  // Set: the server answers with it at once, reads no body and does not call the handler. The connection stays
  // open only when the request has no body (and keep-alive allows); otherwise it is closed after the answer.
  std::optional<Response> reject;
  // The largest body this request may have; it can only lower ServerOptions::body_limit. Unset: body_limit.
  std::optional<uint64_t> body_limit;
  // What the check learned (its route, the authenticated principal), handed to the Handler of the same request as
  // Responder::context(), so that the handler need not parse or authenticate again. Dropped with a rejection.
  std::any context;
};

// Called once per request when its header is complete (method, target and fields; the body is still empty), on the
// connection's thread and concurrently for different connections, so it must be thread-safe and quick. It
// authenticates and routes to a body limit before a client may make the server buffer anything.
// `Expect: 100-continue` is answered only after it accepted the request. Throwing answers 500 and closes.
using HeaderCheck = std::function<HeaderVerdict(const Request& header)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // IPv4/IPv6 literal ("::1" or "[::1]"), "0.0.0.0", "::" or a name to resolve
  uint16_t port = 0;               // 0: any free port; see Server::port()
  int threads = 1;                 // io_context threads running the connections (and inline handlers)
  // The largest request body (default 64 MiB); a HeaderCheck may lower it per request. A Content-Length above it
  // is answered 413 before any body byte is read; a chunked body is cut off with 413 when it grows past it.
  uint64_t body_limit = 64ull << 20;
  // A kept-alive connection waiting for the first byte of its next request (default 60 s); 0: none. A new
  // connection has header_timeout instead (or this, when it is shorter).
  std::chrono::seconds idle_timeout{60};
  // A connection's first request: from the accept to its header complete; every later request on a kept-alive
  // connection: from its first byte to its header complete (default 10 s); 0: none. A client that connects and
  // sends nothing, or half a header, is disconnected then.
  std::chrono::seconds header_timeout{10};
  // From a request's header complete to its body complete (default 60 s); 0: none. Answered 408, then closed.
  std::chrono::seconds body_timeout{60};
  // From a request's first byte to its response written, handler time included; 0: none. A slow client is
  // disconnected; a handler that has not answered by then gets its client a 503 JSON error (its late answer is
  // dropped).
  std::chrono::seconds request_timeout{300};
  size_t max_connections = 10000;  // beyond it, new connections are closed at once
  // Connections one client address may hold at once (default 256; 0: no cap beyond max_connections); beyond it,
  // that address's new connections are closed at once, like those beyond max_connections. An IPv4-mapped IPv6
  // address counts as its IPv4 address. Behind a reverse proxy every client has the proxy's address.
  size_t max_connections_per_address = 256;
  std::chrono::milliseconds stop_grace{5000};  // Stop(): how long in-flight requests may still finish
  // Request-body bytes all connections together may hold (default 256 MiB; 0: no budget): a request's declared
  // Content-Length is reserved when its header is accepted, a chunked body as it grows, and both are released when
  // the request is answered (or its connection closes). A request that does not fit is answered 503 with
  // Retry-After and closed, with no body read. Must be at least body_limit.
  uint64_t max_buffered_body_bytes = 256ull << 20;
  // Optional; see HeaderCheck. Unset: every request may have a body of up to body_limit.
  HeaderCheck header_check;
};

namespace detail {
class ResponderState;
}

// Answers one request. Copyable; the first call wins and later calls do nothing. Callable from any thread: the
// response is written on the connection's strand (inline when called on it, otherwise with one post). Calling it
// after the connection closed, or after the server stopped, is harmless. When the last copy is destroyed without a
// call, the client gets a 500 JSON error, so a forgetful handler cannot hang a connection.
class Responder {
 public:
  explicit Responder(std::shared_ptr<detail::ResponderState> state) : state_(std::move(state)) {}
  // A responder with no connection, for handlers driven in process (the fuzz targets under fuzz/): the first call
  // hands the response to `sink` on the calling thread; when the last copy is destroyed without a call, `sink` gets
  // the same 500 a client would.
  // `context` is what context() returns, as a HeaderVerdict's would be.
  static Responder Calling(std::function<void(Response&&)> sink, std::any context = {});
  void operator()(Response&& response) const;
  // True once some copy has been called.
  bool responded() const;
  // The HeaderVerdict::context the HeaderCheck gave this request; empty without one.
  const std::any& context() const;

 private:
  std::shared_ptr<detail::ResponderState> state_;
};

// Called once per request, on one of the server's threads and concurrently for different connections, so it must
// be thread-safe. It must not block for long (long work goes to another thread, which calls `respond` later).
// Throwing is answered with 500 {"error":"internal error"} unless it had already responded.
using Handler = std::function<void(Request&& request, Responder respond)>;

class Server {
 public:
  // Binds and listens on options.host:options.port and runs options.threads threads. A host that does not parse
  // or resolve, or an address in use, is an error naming host:port and the reason.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Stop()s

  // "host:port" as bound (the real port when 0 was asked; IPv6 as "[::1]:port"), parseable by ParseHostPort.
  std::string bound_address() const;
  uint16_t port() const;

  // Stops accepting, closes idle connections, lets in-flight requests finish their response for up to
  // options.stop_grace, then closes what is left and joins the threads. Idempotent; must not be called from a
  // handler running on the server's own threads.
  void Stop();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A response to `request` with its version and keep-alive, the given content type and body (Content-Length is set).
Response TextResponse(const Request& request, HttpStatus status, std::string body,
                      std::string_view content_type = "text/plain; charset=utf-8");
Response JsonResponse(const Request& request, HttpStatus status, std::string json_body);
// {"error":"<message>"}, with the message escaped as JSON.
std::string JsonError(std::string_view message);

// Splits "host:port" or "[ipv6]:port" (the brackets are removed). The host must be non-empty: a name made of
// letters, digits, '-', '.' and '_', or an IP literal; the port 0..65535.
Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);

}  // namespace wow::http
