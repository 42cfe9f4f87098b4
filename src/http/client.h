#pragma once

// A simple synchronous HTTP/1.1 client for tests, benchmarks and the CLI: one keep-alive connection, no TLS, no
// redirects. Each Send is bounded by the client's timeout.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/server.h"

namespace wow::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

class Client {
 public:
  // Resolves `host` and connects, within `timeout`.
  static Result<Client> Connect(std::string host, uint16_t port,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60));

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // Sends one request (Host, Content-Length and, for a body, Content-Type are set) and reads the response, within
  // the timeout. When a reused connection turns out to have been closed by the server before any byte of the
  // response arrived, reconnects and sends once more (so, like most clients, it may repeat a request the server
  // dropped unanswered). A response with `Connection: close` makes the next Send reconnect.
  Result<Response> Send(Verb verb, std::string_view target, std::string body = {},
                        std::string_view content_type = "application/json", const Headers& headers = {});

  void set_timeout(std::chrono::milliseconds timeout);
  const std::string& host() const;
  uint16_t port() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection, closed afterwards.
Result<Response> Fetch(std::string host, uint16_t port, Verb verb, std::string_view target, std::string body = {},
                       std::string_view content_type = "application/json", const Headers& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace wow::http
