#include "http/client.h"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <cerrno>

#include "http/deadline_stream.h"

namespace wow::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string HostHeader(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

struct Client::Impl {
  std::string host;
  uint16_t port = 0;
  std::string host_header;
  std::chrono::milliseconds timeout;
  net::io_context ioc;  // never run: only owns the socket's service
  tcp::socket socket{ioc};
  std::vector<tcp::endpoint> endpoints;
  beast::flat_buffer buffer;
  bool used = false;  // the open connection has carried a request already

  Status Resolve() {
    std::string name = host;
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    beast::error_code ec;
    auto address = net::ip::make_address(name, ec);
    if (!ec) {
      endpoints = {tcp::endpoint(address, port)};
      return Status::Ok();
    }
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(name, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return Status::IoError("cannot resolve " + host_header + ": " + (ec ? ec.message() : std::string("no address")));
    }
    endpoints.clear();
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    return Status::Ok();
  }

  Status ConnectSocket() {
    Disconnect();
    auto deadline = Clock::now() + timeout;
    beast::error_code ec;
    for (const auto& endpoint : endpoints) {
      ec = {};
      socket.open(endpoint.protocol(), ec);
      if (ec) continue;
      socket.non_blocking(true, ec);
      if (!ec && ::connect(socket.native_handle(), endpoint.data(), endpoint.size()) != 0) {
        if (errno != EINPROGRESS) {
          ec = beast::error_code(errno, beast::system_category());
        } else if (WaitReady(socket.native_handle(), POLLOUT, deadline, ec)) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) ec = beast::error_code(err, beast::system_category());
        }
      }
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        used = false;
        return Status::Ok();
      }
      beast::error_code ignored;
      socket.close(ignored);
    }
    return Status::IoError("cannot connect to " + host_header + ": " + ec.message());
  }

  void Disconnect() {
    beast::error_code ignored;
    if (socket.is_open()) socket.close(ignored);
    buffer.clear();
    used = false;
  }

  // One exchange on the open socket. `retryable` tells whether the failure happened before any byte of a response.
  Result<Response> RoundTrip(const Request& req, bool* retryable) {
    DeadlineStream stream(socket, Clock::now() + timeout);
    beast::error_code ec;
    bh::write(stream, req, ec);
    if (ec) {
      Status failed = Status::IoError("sending to " + host_header + ": " + ec.message());
      *retryable = ec != beast::error::timeout;
      if (ec == beast::error::timeout) return failed;
      // The server may have answered before reading the whole body (a 401 or 413 from the header) and closed the
      // connection: that answer is the result.
      bool read_retryable = false;
      auto early = ReadResponse(stream, req, &read_retryable);
      if (!early.ok()) return failed;
      *retryable = false;
      Disconnect();  // the rest of the request was not sent: the connection cannot carry another
      return early;
    }
    return ReadResponse(stream, req, retryable);
  }

  Result<Response> ReadResponse(DeadlineStream<tcp::socket>& stream, const Request& req, bool* retryable) {
    beast::error_code ec;
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(1 << 20);
    if (req.method() == bh::verb::head) parser.skip(true);
    bh::read(stream, buffer, parser, ec);
    if (ec) {
      *retryable = !parser.got_some() && ec != beast::error::timeout;
      return Status::IoError("reading the response from " + host_header + ": " + ec.message());
    }
    used = true;
    return parser.release();
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::Connect(std::string host, uint16_t port, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->host = std::move(host);
  impl->port = port;
  impl->host_header = HostHeader(impl->host, port);
  impl->timeout = timeout;
  WOW_RETURN_IF_ERROR(impl->Resolve());
  WOW_RETURN_IF_ERROR(impl->ConnectSocket());
  return Client(std::move(impl));
}

Result<Response> Client::Send(Verb verb, std::string_view target, std::string body, std::string_view content_type,
                              const Headers& headers) {
  Request req{verb, target, 11};
  req.set(bh::field::host, impl_->host_header);
  req.set(bh::field::user_agent, "wow");
  if (!body.empty() && !content_type.empty()) req.set(bh::field::content_type, content_type);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();

  if (!impl_->socket.is_open()) WOW_RETURN_IF_ERROR(impl_->ConnectSocket());
  bool reused = impl_->used;
  bool retryable = false;
  auto result = impl_->RoundTrip(req, &retryable);
  if (!result.ok() && reused && retryable) {
    // The server closed the kept-alive connection (idle timeout, restart) before it saw this request.
    WOW_RETURN_IF_ERROR(impl_->ConnectSocket());
    result = impl_->RoundTrip(req, &retryable);
  }
  if (!result.ok() || !result->keep_alive()) impl_->Disconnect();
  return result;
}

void Client::set_timeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }
const std::string& Client::host() const { return impl_->host; }
uint16_t Client::port() const { return impl_->port; }

Result<Response> Fetch(std::string host, uint16_t port, Verb verb, std::string_view target, std::string body,
                       std::string_view content_type, const Headers& headers, std::chrono::milliseconds timeout) {
  WOW_ASSIGN_OR_RETURN(Client client, Client::Connect(std::move(host), port, timeout));
  Headers with_close = headers;
  with_close.emplace_back("Connection", "close");
  return client.Send(verb, target, std::move(body), content_type, with_close);
}

}  // namespace wow::http
