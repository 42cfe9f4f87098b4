#pragma once

// A non-blocking socket seen by Beast as a blocking stream whose operations fail with `timeout` at a deadline:
// plain syscalls plus poll(), with no io_context round trips or timers per request. For http::Client (TCP) and the
// evaluation's Docker Engine API client (a unix socket).

#include <poll.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>

namespace wow::http {

// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `deadline` passes (then `ec` is beast::error::timeout).
bool WaitReady(int fd, short events, std::chrono::steady_clock::time_point deadline, boost::beast::error_code& ec);

// `Socket`: an Asio stream socket already in non-blocking mode (tcp::socket, local::stream_protocol::socket).
template <class Socket>
class DeadlineStream {
 public:
  DeadlineStream(Socket& socket, std::chrono::steady_clock::time_point deadline)
      : socket_(socket), deadline_(deadline) {}

  template <class Buffers>
  size_t read_some(const Buffers& buffers, boost::beast::error_code& ec) {
    return Retry(POLLIN, ec, [&] { return socket_.read_some(buffers, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, boost::beast::error_code& ec) {
    return Retry(POLLOUT, ec, [&] { return socket_.write_some(buffers, ec); });
  }
  // The throwing overloads Beast's SyncReadStream / SyncWriteStream also require.
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    return OrThrow([&](boost::beast::error_code& ec) { return read_some(buffers, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    return OrThrow([&](boost::beast::error_code& ec) { return write_some(buffers, ec); });
  }

 private:
  // Repeats the non-blocking `op` while it would block, waiting for `events` in between.
  template <class Op>
  size_t Retry(short events, boost::beast::error_code& ec, Op op) {
    for (;;) {
      size_t n = op();
      if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) return n;
      if (!WaitReady(socket_.native_handle(), events, deadline_, ec)) return 0;
    }
  }
  template <class Op>
  static size_t OrThrow(Op op) {
    boost::beast::error_code ec;
    size_t n = op(ec);
    if (ec) throw boost::beast::system_error(ec);
    return n;
  }

  Socket& socket_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace wow::http
