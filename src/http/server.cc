#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <condition_variable>
#include <ctime>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace wow::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;

namespace {

constexpr uint32_t kHeaderLimit = 64 * 1024;
// Unparsed bytes a connection may hold: the parser consumes body bytes as they come, so only a header (bounded by
// kHeaderLimit) or a chunk header can accumulate; this catches anything else that would grow without bound.
constexpr size_t kMaxBuffered = 1 << 20;
constexpr size_t kReadSize = 16 * 1024;
constexpr uint64_t kMaxBodyReadSize = 512 * 1024;
// After an answer that closes the connection we stop sending and drain what the client still sends for a while, so
// that our close does not turn into a reset that destroys the answer before the client has read it.
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = 4 << 20;
constexpr auto kErrorWriteTimeout = std::chrono::seconds(5);
constexpr auto kSweepPeriod = std::chrono::milliseconds(250);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
constexpr auto kForcedCloseWait = std::chrono::seconds(1);
// Bodies this small are not worth an atomic operation on the budget (bounded per connection like a header).
constexpr uint64_t kUnchargedBodyBytes = 4096;
// What a client refused for lack of body budget is told to wait before retrying, in seconds.
constexpr std::string_view kBudgetRetryAfter = "1";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

int64_t DeadlineAfter(int64_t now, std::chrono::nanoseconds timeout) {
  return timeout.count() <= 0 ? 0 : now + timeout.count();
}

// The earlier of two deadlines, where 0 means none.
int64_t Earliest(int64_t a, int64_t b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

std::string FormatHostPort(std::string_view host, uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  return out.append(":").append(std::to_string(port));
}

bool IsHostNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

// RFC 9110 IMF-fixdate, formatted at most once per second per thread.
std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t cached = -1;
  thread_local char buf[32];
  thread_local size_t len = 0;
  time_t now = ::time(nullptr);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                          kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    len = n > 0 ? static_cast<size_t>(n) : 0;
    cached = now;
  }
  return {buf, len};
}

Response ErrorResponse(HttpStatus status, std::string_view message) {
  Response res{status, 11};
  res.set(bh::field::content_type, "application/json");
  res.body() = JsonError(message);
  return res;
}

}  // namespace

namespace detail {

class Connection;

struct Core : std::enable_shared_from_this<Core> {
  Core(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), ioc(options.threads) {}

  // Registers `conn` unless the server holds max_connections or its address max_connections_per_address; false
  // (and nothing registered) then.
  bool TryRegister(const std::shared_ptr<Connection>& conn);
  void Unregister(Connection* conn);
  std::vector<std::shared_ptr<Connection>> Snapshot();

  // Reserves `bytes` of the request-body budget; false (and nothing reserved) when they do not fit.
  bool ChargeBody(uint64_t bytes) {
    uint64_t max = options.max_buffered_body_bytes;
    if (max == 0) return true;
    uint64_t held = buffered_body_bytes.load(std::memory_order_relaxed);
    do {
      if (bytes > max || held > max - bytes) return false;
    } while (!buffered_body_bytes.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    return true;
  }
  void ReleaseBody(uint64_t bytes) {
    if (options.max_buffered_body_bytes != 0) buffered_body_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }

  const ServerOptions options;
  const Handler handler;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> buffered_body_bytes{0};  // see ServerOptions::max_buffered_body_bytes

  std::mutex mu;
  std::condition_variable drained;  // signalled when `connections` becomes empty
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  std::unordered_map<net::ip::address, size_t> connections_by_address;  // with a count above 0 only

  // Last, so it is destroyed first: destroying it destroys queued handlers, which may destroy connections, which
  // unregister themselves above.
  net::io_context ioc;
};

// Holds a shared_ptr to the Core so that the io_context outlives any Responder a handler kept, even past ~Server:
// posting to a stopped io_context only queues, which is harmless.
class ResponderState {
 public:
  ResponderState(std::shared_ptr<Core> core, std::shared_ptr<Connection> conn, uint64_t seq, std::any context)
      : core_(std::move(core)), conn_(std::move(conn)), seq_(seq), context_(std::move(context)) {}
  // No connection: responses go to `sink` (Responder::Calling).
  ResponderState(std::function<void(Response&&)> sink, std::any context)
      : seq_(0), sink_(std::move(sink)), context_(std::move(context)) {}
  ~ResponderState();

  bool Claim() { return !done_.exchange(true, std::memory_order_acq_rel); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  void Deliver(Response&& res);
  const std::any& context() const { return context_; }

 private:
  std::shared_ptr<Core> core_;  // declared first: released last
  std::shared_ptr<Connection> conn_;
  const uint64_t seq_;
  std::function<void(Response&&)> sink_;  // set instead of core_ and conn_
  const std::any context_;                // HeaderVerdict::context
  std::atomic<bool> done_{false};
};

// One TCP connection. Everything but deadline() runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Core* core, Socket socket, net::ip::address peer)
      : core_(core), socket_(std::move(socket)), peer_(peer), header_since_(NowNs()) {}
  ~Connection() {
    ReleaseBody();
    if (registered_) core_->Unregister(this);
  }

  const Strand& strand() { return socket_.get_executor(); }
  // Read by the sweeper on any thread; 0 means none.
  int64_t deadline() const { return deadline_.load(std::memory_order_relaxed); }
  const net::ip::address& peer() const { return peer_; }
  void set_registered() { registered_ = true; }

  void Start() { StartRequest(); }

  // The handler's answer to request `seq`; ignored when it is late (timed out, connection closed).
  void Respond(uint64_t seq, Response&& res) {
    if (state_ != State::kHandling || seq != seq_) return;
    bool keep = req_keep_alive_ && res.keep_alive() && !core_->stopping.load(std::memory_order_relaxed);
    Send(std::move(res), keep);
  }

  void OnDeadline() {
    int64_t d = deadline();
    if (d == 0 || d > NowNs()) return;  // re-armed since the sweeper looked
    if (state_ == State::kHandling) {
      ++seq_;  // the handler's late answer is dropped
      return SendError(bh::status::service_unavailable, "the request was not answered within the request timeout");
    }
    if (state_ == State::kReading && header_checked_ && d != request_deadline_) {
      return SendError(bh::status::request_timeout, "the request body was not received within " +
                                                        std::to_string(core_->options.body_timeout.count()) + " s");
    }
    Close();  // idle, nothing or half a header (header_timeout), or the request timeout while reading
  }

  // Server::Stop(): idle connections close now, busy ones after their current response.
  void OnStop() {
    if (state_ == State::kIdle || state_ == State::kLingering) Close();
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    deadline_.store(0, std::memory_order_relaxed);
    ReleaseBody();
    beast::error_code ec;
    socket_.close(ec);  // pending operations complete with operation_aborted and see kClosed
    if (registered_) {
      registered_ = false;
      core_->Unregister(this);
    }
  }

 private:
  enum class State {
    kIdle,       // waiting for the first byte of a request (idle_timeout; header_timeout for a new connection)
    kReading,    // reading a request (request_timeout from here to the response written)
    kHandling,   // the handler has the request
    kWriting,    // writing the response
    kLingering,  // response written, draining the client before closing
    kClosed,
  };

  void SetDeadline(int64_t deadline) { deadline_.store(deadline, std::memory_order_relaxed); }

  void StartRequest() {
    if (core_->stopping.load(std::memory_order_relaxed)) return Close();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // No body byte is parsed before the header is checked (CheckHeader sets the limit and eagerness then).
    parser_->body_limit(boost::none);
    parser_->eager(false);
    header_checked_ = false;
    header_context_.reset();
    continue_sent_ = false;
    if (buffer_.size() > 0) {  // a pipelined request is already here
      BeginRequest(NowNs());
      return Parse();
    }
    state_ = State::kIdle;
    int64_t now = NowNs();
    SetDeadline(Earliest(DeadlineAfter(now, core_->options.idle_timeout),
                         header_since_ == 0 ? 0 : DeadlineAfter(header_since_, core_->options.header_timeout)));
    if (buffer_.capacity() > 4 * kReadSize) buffer_.shrink_to_fit();  // after a large request
    ReadSome();
  }

  void BeginRequest(int64_t now) {
    state_ = State::kReading;
    request_deadline_ = DeadlineAfter(now, core_->options.request_timeout);
    int64_t header_start = header_since_ == 0 ? now : header_since_;
    header_since_ = 0;  // the later requests' header_timeout starts at their first byte
    SetDeadline(Earliest(request_deadline_, DeadlineAfter(header_start, core_->options.header_timeout)));
  }

  void ReadSome() {
    size_t want = kReadSize;
    if (parser_->is_header_done()) {
      if (auto remaining = parser_->content_length_remaining()) {
        want = static_cast<size_t>(std::clamp<uint64_t>(*remaining, kReadSize, kMaxBodyReadSize));
      }
    }
    if (buffer_.size() >= kMaxBuffered) return SendError(bh::status::bad_request, "malformed request framing");
    socket_.async_read_some(buffer_.prepare(want),
                            [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (state_ == State::kClosed) return;
    if (ec) return Close();  // EOF (clean, or mid-request: nobody to answer), reset, ...
    buffer_.commit(n);
    if (state_ == State::kIdle) BeginRequest(NowNs());
    Parse();
  }

  void Parse() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bh::error::need_more) break;
      if (ec) return ParseFailed(ec);
      if (!header_checked_ && parser_->is_header_done() && !CheckHeader()) return;  // answered
      if (header_checked_ && !ChargeGrowth()) return;
      if (parser_->is_done()) return Dispatch();
      if (used == 0) break;
    }
    if (header_checked_ && !continue_sent_ && ExpectsContinue()) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (self->state_ == State::kClosed) return;
                         if (ec) return self->Close();
                         self->ReadSome();
                       });
      return;
    }
    ReadSome();
  }

  bool ExpectsContinue() const {
    const Request& req = parser_->get();
    if (req.version() < 11) return false;
    auto it = req.find(bh::field::expect);
    return it != req.end() && beast::iequals(it->value(), "100-continue");
  }

  // The header is complete: runs the HeaderCheck, applies the body limit and reserves the declared length in the
  // body budget. False when the request was answered (rejected) instead.
  bool CheckHeader() {
    header_checked_ = true;
    const Request& header = parser_->get();
    body_limit_ = core_->options.body_limit;
    if (core_->options.header_check) {
      HeaderVerdict verdict;
      try {
        verdict = core_->options.header_check(header);
      } catch (...) {
        SendError(bh::status::internal_server_error, "internal error");
        return false;
      }
      if (verdict.reject) {
        Reject(std::move(*verdict.reject));
        return false;
      }
      if (verdict.body_limit) body_limit_ = std::min(body_limit_, *verdict.body_limit);
      header_context_ = std::move(verdict.context);
    }
    if (parser_->is_done()) return true;  // no body
    if (auto length = parser_->content_length(); length && *length > body_limit_) {
      SendError(bh::status::payload_too_large, "request body of " + std::to_string(*length) +
                                                   " bytes exceeds the limit of " + std::to_string(body_limit_) +
                                                   " bytes");
      return false;
    }
    if (!Charge(parser_->content_length().value_or(0))) return false;
    parser_->body_limit(body_limit_);  // enforced by the parser for chunked bodies
    parser_->eager(true);
    SetDeadline(Earliest(request_deadline_, DeadlineAfter(NowNs(), core_->options.body_timeout)));
    return true;
  }

  // A chunked body (or anything beyond the declared length) is charged as the parser's buffer grows.
  bool ChargeGrowth() {
    uint64_t held = parser_->get().body().capacity();
    return held <= charged_ || held <= kUnchargedBodyBytes || Charge(held - charged_);
  }

  bool Charge(uint64_t bytes) {
    if (bytes == 0) return true;
    if (!core_->ChargeBody(bytes)) {
      Response res = ErrorResponse(bh::status::service_unavailable,
                                   "the server is receiving too many request bodies at once; retry later");
      res.set(bh::field::retry_after, kBudgetRetryAfter);
      SendError(std::move(res));
      return false;
    }
    charged_ += bytes;
    return true;
  }

  void ReleaseBody() {
    if (charged_ == 0) return;
    core_->ReleaseBody(charged_);
    charged_ = 0;
  }

  // The HeaderCheck's answer: sent at once; the connection stays only when no body is pending.
  void Reject(Response&& res) {
    const Request& header = parser_->get();
    req_version_ = header.version();
    req_head_ = header.method() == bh::verb::head;
    bool keep = parser_->is_done() && header.keep_alive() && res.keep_alive() &&
                !core_->stopping.load(std::memory_order_relaxed);
    Send(std::move(res), keep);
    if (!keep) SetDeadline(DeadlineAfter(NowNs(), kErrorWriteTimeout));
  }

  void ParseFailed(beast::error_code ec) {
    if (ec == bh::error::body_limit) {
      return SendError(bh::status::payload_too_large,
                       "request body exceeds the limit of " + std::to_string(body_limit_) + " bytes");
    }
    if (ec == bh::error::header_limit) {
      return SendError(bh::status::request_header_fields_too_large,
                       "request header exceeds the limit of " + std::to_string(kHeaderLimit) + " bytes");
    }
    SendError(bh::status::bad_request, "malformed request: " + ec.message());
  }

  void Dispatch() {
    Request req = parser_->release();
    parser_.reset();
    req_version_ = req.version();
    req_keep_alive_ = req.keep_alive();
    req_head_ = req.method() == bh::verb::head;
    state_ = State::kHandling;
    SetDeadline(request_deadline_);
    uint64_t seq = ++seq_;
    auto state = std::make_shared<ResponderState>(core_->shared_from_this(), shared_from_this(), seq,
                                                  std::move(header_context_));
    header_context_.reset();
    try {
      core_->handler(std::move(req), Responder(state));
    } catch (...) {
      // We are on the strand, so answer inline; Claim() fails if the handler had answered before throwing.
      if (state->Claim()) Respond(seq, ErrorResponse(bh::status::internal_server_error, "internal error"));
    }
  }

  // Answers a request we could not hand over (or one the handler did not answer in time), then closes.
  void SendError(HttpStatus status, std::string_view message) { SendError(ErrorResponse(status, message)); }

  void SendError(Response&& res) {
    if (parser_ && parser_->is_header_done()) {
      req_version_ = parser_->get().version();
      req_head_ = parser_->get().method() == bh::verb::head;
    } else if (state_ != State::kHandling) {
      req_version_ = 11;
      req_head_ = false;
    }
    Send(std::move(res), /*keep_alive=*/false);
    SetDeadline(DeadlineAfter(NowNs(), kErrorWriteTimeout));
  }

  void Send(Response&& res, bool keep_alive) {
    ReleaseBody();  // the request is answered: its body is the handler's to free now
    try {
      Finalize(res, keep_alive);
    } catch (const std::exception&) {  // a handler's response we cannot send
      res = ErrorResponse(bh::status::internal_server_error, "internal error: invalid response");
      Finalize(res, keep_alive);
    }
    res_ = std::move(res);
    close_after_write_ = !keep_alive;
    state_ = State::kWriting;
    bh::async_write(socket_, res_, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void Finalize(Response& res, bool keep_alive) {
    res.version(req_version_);
    res.keep_alive(keep_alive);
    if (res.find(bh::field::server) == res.end()) res.set(bh::field::server, "wow");
    res.set(bh::field::date, HttpDate());
    // A string body always has a known length: never chunked.
    if (res.find(bh::field::transfer_encoding) != res.end()) res.erase(bh::field::transfer_encoding);
    unsigned code = res.result_int();
    if (code < 200) throw std::invalid_argument("an interim status is not a final response");
    if (code == 204) {
      res.body().clear();
      res.erase(bh::field::content_length);
    } else if (code == 304) {
      res.body().clear();
    } else if (req_head_) {
      // HEAD: announce the length of the body a GET would get, send none.
      res.content_length(res.body().size());
      res.body().clear();
    } else {
      res.content_length(res.body().size());
    }
  }

  void OnWrite(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    res_ = Response();  // free the body now, not at the next response
    if (ec) return Close();
    if (close_after_write_) return Linger();
    StartRequest();
  }

  void Linger() {
    state_ = State::kLingering;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || core_->stopping.load(std::memory_order_relaxed)) return Close();
    SetDeadline(DeadlineAfter(NowNs(), kLinger));
    buffer_.clear();
    linger_bytes_ = 0;
    LingerRead();
  }

  void LingerRead() {
    socket_.async_read_some(buffer_.prepare(kReadSize), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (self->state_ != State::kLingering) return;
      self->linger_bytes_ += n;
      if (ec || self->linger_bytes_ > kMaxLingerBytes) return self->Close();
      self->LingerRead();
    });
  }

  Core* const core_;
  Socket socket_;
  const net::ip::address peer_;  // counted in Core::connections_by_address while registered
  State state_ = State::kIdle;
  std::atomic<int64_t> deadline_{0};
  bool registered_ = false;
  beast::flat_buffer buffer_;
  std::optional<bh::request_parser<bh::string_body>> parser_;
  bool header_checked_ = false;   // the current request's header went through CheckHeader
  uint64_t body_limit_ = 0;       // the current request's, once its header is checked
  uint64_t charged_ = 0;          // body-budget bytes the current request holds
  int64_t request_deadline_ = 0;  // the current request's request_timeout; 0: none
  // When the next request's header_timeout started: the accept for a new connection's first request; 0: at the
  // request's first byte (a kept-alive connection waits idle_timeout for it).
  int64_t header_since_;
  std::any header_context_;  // the current request's HeaderVerdict::context
  bool continue_sent_ = false;
  uint64_t seq_ = 0;  // the request being handled; a Responder for another one is stale
  unsigned req_version_ = 11;
  bool req_keep_alive_ = false;
  bool req_head_ = false;
  Response res_;
  bool close_after_write_ = false;
  size_t linger_bytes_ = 0;
};

bool Core::TryRegister(const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu);
  if (connections.size() >= options.max_connections) return false;
  auto it = connections_by_address.find(conn->peer());
  size_t from_peer = it == connections_by_address.end() ? 0 : it->second;
  if (options.max_connections_per_address != 0 && from_peer >= options.max_connections_per_address) return false;
  ++connections_by_address[conn->peer()];
  connections.emplace(conn.get(), conn);
  conn->set_registered();
  return true;
}

void Core::Unregister(Connection* conn) {
  std::lock_guard lock(mu);
  if (connections.erase(conn) == 0) return;
  auto it = connections_by_address.find(conn->peer());
  if (it != connections_by_address.end() && --it->second == 0) connections_by_address.erase(it);
  if (connections.empty()) drained.notify_all();
}

std::vector<std::shared_ptr<Connection>> Core::Snapshot() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mu);
  out.reserve(connections.size());
  for (auto& [ptr, weak] : connections) {
    if (auto conn = weak.lock()) out.push_back(std::move(conn));
  }
  return out;
}

ResponderState::~ResponderState() {
  if (done()) return;
  // Dropped without an answer: answer for the handler. Never let an exception out of a destructor.
  try {
    if (sink_) {
      sink_(ErrorResponse(bh::status::internal_server_error,
                          "internal error: the request was dropped without a response"));
      return;
    }
    net::post(conn_->strand(), [conn = conn_, seq = seq_]() {
      conn->Respond(seq, ErrorResponse(bh::status::internal_server_error,
                                       "internal error: the request was dropped without a response"));
    });
  } catch (...) {
  }
}

void ResponderState::Deliver(Response&& res) {
  if (sink_) return sink_(std::move(res));
  // Inline when already on the connection's strand (the handler answered synchronously), else one post.
  net::dispatch(conn_->strand(),
                [conn = conn_, seq = seq_, res = std::move(res)]() mutable { conn->Respond(seq, std::move(res)); });
}

}  // namespace detail

void Responder::operator()(Response&& response) const {
  if (!state_ || !state_->Claim()) return;
  state_->Deliver(std::move(response));
}

Responder Responder::Calling(std::function<void(Response&&)> sink, std::any context) {
  return Responder(std::make_shared<detail::ResponderState>(std::move(sink), std::move(context)));
}

bool Responder::responded() const { return state_ && state_->done(); }

const std::any& Responder::context() const {
  static const std::any kNone;
  return state_ ? state_->context() : kNone;
}

class Server::Impl {
 public:
  Impl(std::shared_ptr<detail::Core> core)
      : core_(std::move(core)),
        acceptor_(net::make_strand(core_->ioc)),
        timer_(acceptor_.get_executor()),
        work_(core_->ioc.get_executor()) {}

  ~Impl() { Stop(); }

  Status Listen(const tcp::endpoint& endpoint, const std::string& what) {
    beast::error_code ec;
    auto fail = [&](std::string_view step) {
      return Status::IoError("cannot listen on " + what + ": " + std::string(step) + ": " + ec.message());
    };
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return fail("socket");
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return fail("SO_REUSEADDR");
    acceptor_.bind(endpoint, ec);
    if (ec) return fail("bind");
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    bound_ = acceptor_.local_endpoint(ec);
    if (ec) return fail("getsockname");
    return Status::Ok();
  }

  void Run() {
    Accept();
    Sweep();
    for (int i = 0; i < core_->options.threads; ++i) {
      threads_.emplace_back([core = core_] {
        for (;;) {
          try {
            core->ioc.run();
            return;
          } catch (...) {
            // Our handlers do not throw; if one ever does, keep serving rather than lose a thread.
          }
        }
      });
    }
  }

  void Stop() {
    std::lock_guard stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    core_->stopping.store(true);
    if (!threads_.empty()) {
      // Close the listener before returning so no client connects to a server that will not answer.
      // (Bounded, in case a handler blocks every thread; the destructor closes it then.)
      auto closed = std::make_shared<std::promise<void>>();
      net::post(acceptor_.get_executor(), [this, closed] {
        beast::error_code ec;
        acceptor_.close(ec);
        closed->set_value();
      });
      closed->get_future().wait_for(core_->options.stop_grace + kForcedCloseWait);
      for (auto& conn : core_->Snapshot()) net::post(conn->strand(), [conn] { conn->OnStop(); });
      auto drained = [this] { return core_->connections.empty(); };
      {
        std::unique_lock lock(core_->mu);
        core_->drained.wait_for(lock, core_->options.stop_grace, drained);
      }
      for (auto& conn : core_->Snapshot()) net::post(conn->strand(), [conn] { conn->Close(); });
      {
        std::unique_lock lock(core_->mu);
        core_->drained.wait_for(lock, kForcedCloseWait, drained);
      }
    }
    work_.reset();
    core_->ioc.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    beast::error_code ec;
    acceptor_.close(ec);
  }

  const tcp::endpoint& bound() const { return bound_; }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(core_->ioc),
                           [this](beast::error_code ec, Socket socket) { OnAccept(ec, std::move(socket)); });
  }

  void OnAccept(beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning; the pending clients wait in the backlog.
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space || ec == net::error::no_memory ||
          ec.value() == ENFILE) {
        timer_.expires_after(kAcceptRetryDelay);
        timer_.async_wait([this](beast::error_code ec) {
          if (!ec || ec == net::error::operation_aborted) {
            if (acceptor_.is_open()) Accept();
          }
        });
        return;
      }
      return Accept();
    }
    tcp::endpoint peer = socket.remote_endpoint(ec);  // fails when the client has already gone
    if (!ec && !core_->stopping.load()) {
      net::ip::address address = peer.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<detail::Connection>(core_.get(), std::move(socket), address);
      if (core_->TryRegister(conn)) {
        net::post(conn->strand(), [conn] { conn->Start(); });
      }
      // else: dropping `conn` closes its socket at once: shed load rather than leave the client waiting
    }
    Accept();
  }

  // Enforces every connection's deadline from one timer, so reads and writes need no timer of their own.
  void Sweep() {
    int64_t now = NowNs();
    std::vector<std::shared_ptr<detail::Connection>> expired;
    {
      std::lock_guard lock(core_->mu);
      for (auto& [ptr, weak] : core_->connections) {
        int64_t d = ptr->deadline();
        if (d != 0 && d <= now) {
          if (auto conn = weak.lock()) expired.push_back(std::move(conn));
        }
      }
    }
    for (auto& conn : expired) net::post(conn->strand(), [conn] { conn->OnDeadline(); });
    sweep_timer_.expires_after(kSweepPeriod);
    sweep_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Sweep();
    });
  }

  std::shared_ptr<detail::Core> core_;
  net::basic_socket_acceptor<tcp, Strand> acceptor_;
  net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Strand> timer_;  // accept retries
  net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Strand> sweep_timer_{acceptor_.get_executor()};
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::endpoint bound_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  std::string what = FormatHostPort(options.host, options.port);
  if (!handler) return Status::InvalidArgument("cannot listen on " + what + ": no handler");
  if (options.threads < 1) return Status::InvalidArgument("cannot listen on " + what + ": threads must be >= 1");
  if (options.max_buffered_body_bytes != 0 && options.body_limit > options.max_buffered_body_bytes) {
    return Status::InvalidArgument("cannot listen on " + what + ": the body limit (" +
                                   std::to_string(options.body_limit) + " bytes) exceeds the buffered-body budget (" +
                                   std::to_string(options.max_buffered_body_bytes) + " bytes)");
  }
  std::string host = options.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return Status::InvalidArgument("cannot listen on " + what + ": empty host");

  auto core = std::make_shared<detail::Core>(std::move(options), std::move(handler));
  uint16_t port = core->options.port;
  tcp::endpoint endpoint;
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, port);
  } else {
    if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) {
      return Status::InvalidArgument("cannot listen on " + what + ": not an IP address or host name");
    }
    tcp::resolver resolver(core->ioc);
    auto results =
        resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("cannot listen on " + what +
                                     ": cannot resolve host: " + (ec ? ec.message() : std::string("no address")));
    }
    // Prefer IPv4, as most tools do for "localhost", so bound_address() is predictable.
    endpoint = results.begin()->endpoint();
    for (const auto& entry : results) {
      if (entry.endpoint().address().is_v4()) {
        endpoint = entry.endpoint();
        break;
      }
    }
  }

  auto impl = std::make_unique<Impl>(core);
  WOW_RETURN_IF_ERROR(impl->Listen(endpoint, what));
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

void Server::Stop() { impl_->Stop(); }

std::string Server::bound_address() const {
  return FormatHostPort(impl_->bound().address().to_string(), impl_->bound().port());
}

uint16_t Server::port() const { return impl_->bound().port(); }

Response TextResponse(const Request& request, HttpStatus status, std::string body, std::string_view content_type) {
  Response res{status, request.version()};
  res.set(bh::field::content_type, content_type);
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.content_length(res.body().size());
  return res;
}

Response JsonResponse(const Request& request, HttpStatus status, std::string json_body) {
  return TextResponse(request, status, std::move(json_body), "application/json");
}

std::string JsonError(std::string_view message) {
  boost::json::object obj;
  obj["error"] = message;
  return boost::json::serialize(obj);
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return Status::InvalidArgument("invalid address '" + std::string(text) + "': " + std::string(why) +
                                   " (expected HOST:PORT or [IPV6]:PORT)");
  };
  std::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return fail("missing ':PORT'");
    port_text = rest.substr(1);
    beast::error_code ec;
    net::ip::make_address_v6(std::string(host), ec);
    if (ec) return fail("not an IPv6 address in brackets");
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':PORT'");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail("an IPv6 address needs brackets");
    if (host.empty()) return fail("missing host");
    if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) return fail("bad character in host");
  }
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fail("port is not a number");
  }
  unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535) return fail("port out of range");
  return std::pair<std::string, uint16_t>(std::string(host), static_cast<uint16_t>(port));
}

}  // namespace wow::http
