#include "http/deadline_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace wow::http {

bool WaitReady(int fd, short events, std::chrono::steady_clock::time_point deadline, boost::beast::error_code& ec) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      ec = boost::beast::error::timeout;
      return false;
    }
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) {
      ec = boost::beast::error_code(errno, boost::beast::system_category());
      return false;
    }
  }
}

}  // namespace wow::http
