#include "http/server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/client.h"

namespace wow::http {
namespace {

namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A raw client socket with a receive timeout, to send arbitrary bytes and to watch the server close.
class RawConn {
 public:
  // `source`: the local IPv4 address to connect from (any loopback address; 0: the kernel's choice).
  explicit RawConn(uint16_t port, std::chrono::milliseconds timeout = 5s, in_addr_t source = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (source != 0) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(source);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConn() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response, or nullopt with the reason in `error` (timeout, closed, parse error).
  std::optional<Response> Read(std::string* error = nullptr, bool head = false) {
    bh::response_parser<bh::string_body> parser;
    parser.eager(true);
    parser.body_limit(boost::none);
    if (head) parser.skip(true);
    std::string ignored;
    std::string& why = error ? *error : ignored;
    for (;;) {
      if (!pending_.empty()) {
        boost::beast::error_code ec;
        size_t used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != bh::error::need_more) {
          why = "parse: " + ec.message();
          return std::nullopt;
        }
        if (parser.is_done()) return parser.release();
        if (!ec && used > 0) continue;
      }
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) {
        why = "closed";
        return std::nullopt;
      }
      if (n < 0) {
        why = errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : "error";
        return std::nullopt;
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // True when the server closes (EOF or reset) before the receive timeout; data that arrives is discarded.
  bool WaitClosed() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

std::unique_ptr<Server> MustStart(ServerOptions options, Handler handler) {
  auto server = Server::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// Answers inline with what it got.
void Echo(Request&& req, Responder respond) {
  Response res = TextResponse(req, HttpStatus::ok, std::move(req.body()), "application/octet-stream");
  res.set("X-Method", std::string(req.method_string()));
  res.set("X-Target", std::string(req.target()));
  respond(std::move(res));
}

std::string Header(const Response& res, std::string_view name) {
  auto it = res.find(name);
  return it == res.end() ? std::string("<none>") : std::string(it->value());
}

// The "error" member of a JSON error body, or a description of what the body was instead.
std::string ErrorOf(const Response& res) {
  if (Header(res, "Content-Type") != "application/json") return "<not json: " + Header(res, "Content-Type") + ">";
  boost::system::error_code ec;
  auto value = boost::json::parse(res.body(), ec);
  if (ec || !value.is_object() || !value.as_object().contains("error") || !value.at("error").is_string()) {
    return "<no error member in " + res.body() + ">";
  }
  return std::string(value.at("error").as_string());
}

TEST(HttpServer, EchoRoundTrip) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  auto res = Fetch("127.0.0.1", server->port(), Verb::post, "/a/b?c=d", "hello body", "text/plain");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::ok);
  EXPECT_EQ(res->body(), "hello body");
  EXPECT_EQ(Header(*res, "X-Method"), "POST");
  EXPECT_EQ(Header(*res, "X-Target"), "/a/b?c=d");
  EXPECT_EQ(Header(*res, "Content-Length"), "10");
  EXPECT_EQ(Header(*res, "Server"), "wow");
  EXPECT_NE(Header(*res, "Date"), "<none>");
  EXPECT_EQ(Header(*res, "Content-Type"), "application/octet-stream");
}

TEST(HttpServer, LargeBodyRoundTrip) {
  auto server = MustStart({.threads = 2}, Echo);
  ASSERT_TRUE(server);
  std::string body(8 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i * 7 % 26);
  auto res = Fetch("127.0.0.1", server->port(), Verb::put, "/big", body, "application/octet-stream");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::ok);
  EXPECT_TRUE(res->body() == body) << "echoed " << res->body().size() << " of " << body.size() << " bytes";
}

TEST(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.connected());
  for (int i = 0; i < 200; ++i) {
    std::string body = "request " + std::to_string(i);
    ASSERT_TRUE(
        conn.Send("POST /k HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << "request " << i << ": " << error;
    EXPECT_EQ(res->body(), body);
    EXPECT_TRUE(res->keep_alive());
  }

  // The client reuses its connection the same way.
  auto client = Client::Connect("127.0.0.1", server->port(), 5s);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  for (int i = 0; i < 500; ++i) {
    auto res = client->Send(Verb::post, "/c", std::to_string(i));
    ASSERT_TRUE(res.ok()) << i << ": " << res.status().ToString();
    ASSERT_EQ(res->body(), std::to_string(i));
  }
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(
      conn.Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                "GET /third HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (std::string target : {"/first", "/second", "/third"}) {
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << target << ": " << error;
    EXPECT_EQ(Header(*res, "X-Target"), target);
  }
}

TEST(HttpServer, Http10ClosesUnlessKeepAliveIsAsked) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  {
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto res = conn.Read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->version(), 10u);
    EXPECT_FALSE(res->keep_alive());
    EXPECT_TRUE(conn.WaitClosed());
  }
  RawConn conn(server->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(conn.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << i << ": " << error;
    EXPECT_EQ(res->version(), 10u);
    EXPECT_TRUE(res->keep_alive());
  }
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto res = conn.Read();
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(conn.WaitClosed());
}

TEST(HttpServer, ResponderCalledLaterFromAnotherThread) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<Request, Responder>> queue;
  bool done = false;
  std::thread worker([&] {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return done || !queue.empty(); });
      if (queue.empty()) return;
      auto [req, respond] = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      respond(JsonResponse(req, HttpStatus::created, "{\"late\":\"" + req.body() + "\"}"));
      lock.lock();
    }
  });
  auto server = MustStart({.threads = 2}, [&](Request&& req, Responder respond) {
    std::lock_guard lock(mu);
    queue.emplace_back(std::move(req), std::move(respond));
    cv.notify_one();
  });
  ASSERT_TRUE(server);
  auto client = Client::Connect("127.0.0.1", server->port(), 5s);
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 50; ++i) {
    auto res = client->Send(Verb::post, "/async", std::to_string(i));
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->result(), HttpStatus::created);
    EXPECT_EQ(res->body(), "{\"late\":\"" + std::to_string(i) + "\"}");
    EXPECT_EQ(Header(*res, "Content-Type"), "application/json");
  }
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_one();
  worker.join();
}

TEST(HttpServer, FiftyConcurrentClients) {
  auto server = MustStart({.threads = 2}, Echo);
  ASSERT_TRUE(server);
  constexpr int kClients = 50, kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Client::Connect("127.0.0.1", server->port(), 10s);
      if (!client.ok()) {
        failures[c] = client.status().ToString();
        return;
      }
      for (int i = 0; i < kRequests; ++i) {
        std::string body = std::to_string(c) + "/" + std::to_string(i);
        auto res = client->Send(Verb::post, "/c" + std::to_string(c), body);
        if (!res.ok() || res->body() != body || res->result() != HttpStatus::ok) {
          failures[c] = res.ok() ? "wrong answer: " + res->body() : res.status().ToString();
          return;
        }
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], "") << "client " << c;
  EXPECT_EQ(ok.load(), kClients * kRequests);
}

TEST(HttpServer, MalformedRequestLineGets400AndClose) {
  bool called = false;
  auto server = MustStart({}, [&](Request&& req, Responder respond) {
    called = true;
    Echo(std::move(req), respond);
  });
  ASSERT_TRUE(server);
  for (std::string_view garbage : {"GARBAGE\r\n\r\n", "GET /x HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                                   "POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n"}) {
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send(garbage));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << garbage << ": " << error;
    EXPECT_EQ(res->result(), HttpStatus::bad_request) << garbage;
    EXPECT_NE(ErrorOf(*res).find("malformed request"), std::string::npos) << ErrorOf(*res);
    EXPECT_FALSE(res->keep_alive());
    EXPECT_TRUE(conn.WaitClosed()) << garbage;
  }
  EXPECT_FALSE(called);
}

TEST(HttpServer, OversizedBodyGets413AndClose) {
  auto server = MustStart({.body_limit = 1024}, Echo);
  ASSERT_TRUE(server);
  {  // within the limit
    auto res = Fetch("127.0.0.1", server->port(), Verb::post, "/", std::string(1024, 'x'));
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->result(), HttpStatus::ok);
  }
  {  // announced by Content-Length, body sent anyway
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'x')));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::payload_too_large);
    EXPECT_NE(ErrorOf(*res).find("1024"), std::string::npos) << ErrorOf(*res);
    EXPECT_TRUE(conn.WaitClosed());
  }
  {  // chunked: found out while reading
    RawConn conn(server->port());
    std::string chunk = "400\r\n" + std::string(1024, 'y') + "\r\n";
    ASSERT_TRUE(conn.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::payload_too_large);
    EXPECT_TRUE(conn.WaitClosed());
  }
}

TEST(HttpServer, OversizedHeaderGets431) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'h') + "\r\n\r\n"));
  std::string error;
  auto res = conn.Read(&error);
  ASSERT_TRUE(res) << error;
  EXPECT_EQ(res->result(), HttpStatus::request_header_fields_too_large);
  EXPECT_NE(ErrorOf(*res).find("header"), std::string::npos);
  EXPECT_TRUE(conn.WaitClosed());
}

TEST(HttpServer, DroppedResponderIsAnswered500) {
  auto server = MustStart({}, [](Request&&, Responder) {});
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 3s);
  for (int i = 0; i < 2; ++i) {  // and the connection stays usable
    ASSERT_TRUE(conn.Send("GET /forgotten HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::internal_server_error);
    EXPECT_NE(ErrorOf(*res).find("without a response"), std::string::npos) << ErrorOf(*res);
  }
}

TEST(HttpServer, DroppedResponderOnAnotherThreadIsAnswered500) {
  std::vector<std::thread> threads;
  std::mutex mu;
  auto server = MustStart({}, [&](Request&&, Responder respond) {
    std::lock_guard lock(mu);
    threads.emplace_back([r = std::move(respond)]() mutable { Responder dropped = std::move(r); });
  });
  ASSERT_TRUE(server);
  auto res = Fetch("127.0.0.1", server->port(), Verb::get, "/", "", "", {}, 3s);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::internal_server_error);
  std::lock_guard lock(mu);
  for (auto& t : threads) t.join();
}

TEST(HttpServer, ThrowingHandlerGets500) {
  auto server = MustStart({}, [](Request&& req, Responder respond) {
    if (req.target() == "/answer-then-throw") respond(JsonResponse(req, HttpStatus::ok, "{\"ok\":true}"));
    if (req.target() == "/int") throw 42;
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(server);
  auto client = Client::Connect("127.0.0.1", server->port(), 3s);
  ASSERT_TRUE(client.ok());
  for (std::string target : {"/throw", "/int"}) {
    auto res = client->Send(Verb::get, target);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->result(), HttpStatus::internal_server_error);
    EXPECT_EQ(res->body(), "{\"error\":\"internal error\"}");
  }
  auto res = client->Send(Verb::get, "/answer-then-throw");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::ok);
  EXPECT_EQ(res->body(), "{\"ok\":true}");
}

TEST(HttpServer, SecondResponseIsIgnored) {
  auto server = MustStart({}, [](Request&& req, Responder respond) {
    Responder copy = respond;
    EXPECT_FALSE(copy.responded());
    respond(TextResponse(req, HttpStatus::ok, "first"));
    EXPECT_TRUE(copy.responded());
    copy(TextResponse(req, HttpStatus::ok, "second"));
  });
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto res = conn.Read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body(), "first");
  }
}

TEST(HttpServer, HeadGetsLengthButNoBody) {
  auto server = MustStart(
      {}, [](Request&& req, Responder respond) { respond(TextResponse(req, HttpStatus::ok, "twelve bytes")); });
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.Send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto res = conn.Read(nullptr, /*head=*/true);
  ASSERT_TRUE(res);
  EXPECT_EQ(Header(*res, "Content-Length"), "12");
  // No body bytes followed: the next response parses cleanly.
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string error;
  res = conn.Read(&error);
  ASSERT_TRUE(res) << error;
  EXPECT_EQ(res->body(), "twelve bytes");
}

TEST(HttpServer, ResponsesAreNormalised) {
  auto server = MustStart({}, [](Request&& req, Responder respond) {
    Response res{HttpStatus::ok, 11};
    res.body() = "body";
    if (req.target() == "/204") res.result(HttpStatus::no_content);
    if (req.target() == "/100") res.result(HttpStatus::continue_);
    if (req.target() == "/chunked") res.chunked(true);
    if (req.target() == "/close") res.keep_alive(false);
    respond(std::move(res));
  });
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(
      conn.Send("GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /100 HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto res = conn.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), HttpStatus::no_content);
  EXPECT_EQ(Header(*res, "Content-Length"), "<none>");
  EXPECT_EQ(res->body(), "");
  res = conn.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), HttpStatus::internal_server_error) << "a 1xx cannot be the final response";
  res = conn.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(Header(*res, "Transfer-Encoding"), "<none>");
  EXPECT_EQ(Header(*res, "Content-Length"), "4");
  EXPECT_EQ(res->body(), "body");
  res = conn.Read();
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->keep_alive()) << "the handler asked to close";
  EXPECT_TRUE(conn.WaitClosed());
}

TEST(HttpServer, ExpectContinueIsAnswered) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  std::string error;
  auto interim = conn.Read(&error);
  ASSERT_TRUE(interim) << error;
  EXPECT_EQ(interim->result(), HttpStatus::continue_);
  ASSERT_TRUE(conn.Send("hello"));
  auto res = conn.Read(&error);
  ASSERT_TRUE(res) << error;
  EXPECT_EQ(res->body(), "hello");
}

TEST(HttpServer, StopDeliversInFlightResponse) {
  std::promise<Responder> got;
  std::promise<void> release;
  auto server = MustStart({.stop_grace = 10s}, [&](Request&& req, Responder respond) { got.set_value(respond); });
  ASSERT_TRUE(server);
  auto answer = std::async(std::launch::async,
                           [&] { return Fetch("127.0.0.1", server->port(), Verb::get, "/slow", "", "", {}, 5s); });
  Responder respond = got.get_future().get();
  auto stop_started = Clock::now();
  std::thread stopper([&] { server->Stop(); });
  // Answer while Stop() waits for the in-flight request.
  std::thread worker([respond] {
    std::this_thread::sleep_for(50ms);
    Response res{HttpStatus::ok, 11};
    res.body() = "finished";
    respond(std::move(res));
  });
  worker.join();
  stopper.join();
  EXPECT_LT(Clock::now() - stop_started, 3s) << "Stop waited for the grace period instead of the response";
  auto res = answer.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body(), "finished");
  EXPECT_FALSE(RawConn(server->port()).connected()) << "still accepting after Stop";
}

TEST(HttpServer, StopIsBoundedWhenAResponseNeverComes) {
  auto kept = std::make_shared<std::promise<Responder>>();
  auto server = MustStart({.stop_grace = 200ms}, [kept](Request&&, Responder respond) { kept->set_value(respond); });
  ASSERT_TRUE(server);
  RawConn idle(server->port());  // an idle keep-alive connection is closed by Stop too
  ASSERT_TRUE(idle.connected());
  RawConn busy(server->port());
  ASSERT_TRUE(busy.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  Responder respond = kept->get_future().get();
  auto started = Clock::now();
  server->Stop();
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_TRUE(idle.WaitClosed());
  std::string error;
  EXPECT_FALSE(busy.Read(&error));
  EXPECT_EQ(error, "closed");
  server.reset();
  // The responder outlived the server: calling and dropping it is harmless.
  Response late{HttpStatus::ok, 11};
  respond(std::move(late));
  respond = Responder(nullptr);
}

TEST(HttpServer, ResponderDroppedAfterServerDestroyedIsHarmless) {
  std::promise<Responder> got;
  auto server = MustStart({.stop_grace = 100ms}, [&](Request&&, Responder respond) { got.set_value(respond); });
  ASSERT_TRUE(server);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<Responder> respond(got.get_future().get());
  server.reset();
  respond.reset();  // never called: would answer 500 on a live server
  EXPECT_TRUE(conn.WaitClosed());
}

// Responder::Calling (the fuzz targets' way to drive a handler in process): the first call wins, and a responder
// dropped without a call answers 500 as a connection's would.
TEST(HttpServer, CallingResponderHandsTheFirstAnswerToItsSink) {
  std::vector<Response> got;
  {
    Responder respond = Responder::Calling([&](Response&& r) { got.push_back(std::move(r)); });
    Responder copy = respond;
    EXPECT_FALSE(respond.responded());
    copy(Response{HttpStatus::accepted, 11});
    respond(Response{HttpStatus::ok, 11});
    EXPECT_TRUE(respond.responded());
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result(), HttpStatus::accepted);
  got.clear();
  { Responder dropped = Responder::Calling([&](Response&& r) { got.push_back(std::move(r)); }); }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result(), HttpStatus::internal_server_error);
  EXPECT_NE(got[0].body().find("dropped without a response"), std::string::npos);
}

TEST(HttpServer, IdleConnectionTimesOut) {
  auto server = MustStart({.idle_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 5s);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(conn.Read());
  auto start = Clock::now();
  EXPECT_TRUE(conn.WaitClosed());
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);
}

TEST(HttpServer, SlowRequestTimesOut) {
  auto server = MustStart({.idle_timeout = 30s, .request_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 5s);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // the header never ends
  auto start = Clock::now();
  EXPECT_TRUE(conn.WaitClosed());
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(HttpServer, UnansweredRequestTimesOutWith503) {
  auto kept = std::make_shared<std::vector<Responder>>();
  std::mutex mu;
  auto server = MustStart({.request_timeout = 1s}, [&](Request&&, Responder respond) {
    std::lock_guard lock(mu);
    kept->push_back(respond);
  });
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 5s);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string error;
  auto res = conn.Read(&error);
  ASSERT_TRUE(res) << error;
  EXPECT_EQ(res->result(), HttpStatus::service_unavailable);
  EXPECT_NE(ErrorOf(*res).find("timeout"), std::string::npos) << ErrorOf(*res);
  EXPECT_TRUE(conn.WaitClosed());
  std::lock_guard lock(mu);
  ASSERT_EQ(kept->size(), 1u);
  (*kept)[0](Response{HttpStatus::ok, 11});  // too late: ignored
}

TEST(HttpServer, MaxConnectionsShedsTheExtraOnes) {
  auto server = MustStart({.max_connections = 1}, Echo);
  ASSERT_TRUE(server);
  auto client = Client::Connect("127.0.0.1", server->port(), 3s);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Send(Verb::get, "/").ok());
  RawConn extra(server->port(), 3s);
  ASSERT_TRUE(extra.connected());
  EXPECT_TRUE(extra.WaitClosed());
  auto res = client->Send(Verb::get, "/still");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(Header(*res, "X-Target"), "/still");
}

// A check like an API's: 401 without "Authorization: ok"; /small bodies up to 16 bytes, others the server's limit.
HeaderVerdict CheckAuth(const Request& header) {
  HeaderVerdict verdict;
  if (header[bh::field::authorization] != "ok") {
    verdict.reject = JsonResponse(header, HttpStatus::unauthorized, JsonError("who are you?"));
  } else if (header.target() == "/small") {
    verdict.body_limit = 16;
  }
  return verdict;
}

TEST(HttpServer, RejectedHeaderIsAnsweredAtOnceWithoutReadingTheBody) {
  std::atomic<int> handled{0};
  auto server = MustStart({.header_check = CheckAuth}, [&](Request&& req, Responder respond) {
    ++handled;
    Echo(std::move(req), respond);
  });
  ASSERT_TRUE(server);
  {  // 60 MB announced, 256 KiB sent: the 401 comes without the rest (the receive timeout is 5 s)
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n"));
    ASSERT_TRUE(conn.Send(std::string(256 << 10, 'x')));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::unauthorized);
    EXPECT_EQ(ErrorOf(*res), "who are you?");
    EXPECT_FALSE(res->keep_alive()) << "a body was pending: the connection must close";
    EXPECT_TRUE(conn.WaitClosed());
  }
  {  // Expect: 100-continue gets the rejection, not a 100
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\nExpect: 100-continue\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::unauthorized);
  }
  {  // no body: the connection stays for the next request
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::unauthorized);
    EXPECT_TRUE(res->keep_alive());
    ASSERT_TRUE(conn.Send("POST /y HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nContent-Length: 2\r\n\r\nhi"));
    res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::ok);
    EXPECT_EQ(res->body(), "hi");
  }
  EXPECT_EQ(handled.load(), 1);
}

TEST(HttpServer, HeaderCheckSetsTheBodyLimitPerRequest) {
  auto server = MustStart({.header_check = CheckAuth}, Echo);
  ASSERT_TRUE(server);
  {  // over the route's limit by Content-Length: 413 before any body byte is sent
    RawConn conn(server->port());
    ASSERT_TRUE(conn.Send("POST /small HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nContent-Length: 17\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::payload_too_large);
    EXPECT_NE(ErrorOf(*res).find("limit of 16 bytes"), std::string::npos) << ErrorOf(*res);
    EXPECT_TRUE(conn.WaitClosed());
  }
  {  // chunked: cut off when it grows past the route's limit
    RawConn conn(server->port());
    ASSERT_TRUE(
        conn.Send("POST /small HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "a\r\n0123456789\r\na\r\n0123456789\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::payload_too_large);
    EXPECT_NE(ErrorOf(*res).find("limit of 16 bytes"), std::string::npos) << ErrorOf(*res);
    EXPECT_TRUE(conn.WaitClosed());
  }
  {  // within it, and another route keeps the server's limit
    RawConn conn(server->port());
    ASSERT_TRUE(
        conn.Send("POST /small HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n"));
    std::string error;
    auto res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::ok);
    EXPECT_EQ(res->body(), "0123456789abcdef");
    std::string big(1 << 20, 'b');
    ASSERT_TRUE(conn.Send("POST /big HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nContent-Length: " +
                          std::to_string(big.size()) + "\r\n\r\n" + big));
    res = conn.Read(&error);
    ASSERT_TRUE(res) << error;
    EXPECT_EQ(res->result(), HttpStatus::ok);
    EXPECT_EQ(res->body().size(), big.size());
  }
}

TEST(HttpServer, HeaderCheckContextReachesTheHandlerOfThatRequest) {
  ServerOptions options;
  options.header_check = [](const Request& header) {
    HeaderVerdict verdict;
    if (header.target() != "/none") verdict.context = "checked " + std::string(header.target());
    return verdict;
  };
  auto server = MustStart(std::move(options), [](Request&& req, Responder respond) {
    const auto* context = std::any_cast<std::string>(&respond.context());
    respond(TextResponse(req, HttpStatus::ok, context ? *context : "<none>"));
  });
  ASSERT_TRUE(server);
  auto client = Client::Connect("127.0.0.1", server->port(), 5s);
  ASSERT_TRUE(client.ok());
  for (std::string target : {"/a", "/none", "/b"}) {  // one connection: nothing carries over to the next request
    auto res = client->Send(Verb::get, target);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->body(), target == "/none" ? "<none>" : "checked " + target);
  }
  EXPECT_FALSE(Responder::Calling([](Response&&) {}).context().has_value());
  EXPECT_EQ(std::any_cast<int>(Responder::Calling([](Response&&) {}, 7).context()), 7);
}

TEST(HttpServer, ThrowingHeaderCheckGets500) {
  auto server =
      MustStart({.header_check = [](const Request&) -> HeaderVerdict { throw std::runtime_error("x"); }}, Echo);
  ASSERT_TRUE(server);
  auto res = Fetch("127.0.0.1", server->port(), Verb::get, "/");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::internal_server_error);
}

TEST(HttpServer, BodyBudgetExhaustionGives503AndRecovers) {
  // One server thread: once the check has seen the holder's header, its charge is made before any other connection
  // is served.
  auto holder_checked = std::make_shared<std::promise<void>>();
  ServerOptions options{.body_limit = 1 << 20, .max_buffered_body_bytes = 1 << 20};
  options.header_check = [holder_checked](const Request& header) {
    if (header["X-Holder"] == "1") holder_checked->set_value();
    return HeaderVerdict{};
  };
  auto server = MustStart(std::move(options), Echo);
  ASSERT_TRUE(server);
  const std::string header = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(800 << 10) + "\r\n";
  RawConn holder(server->port(), 10s);  // holds 800 KiB of the 1 MiB budget with its body half sent
  ASSERT_TRUE(holder.Send(header + "X-Holder: 1\r\n\r\n" + std::string(100, 'a')));
  ASSERT_EQ(holder_checked->get_future().wait_for(10s), std::future_status::ready);
  // Refused with 503 and Retry-After, and closed without the body being read.
  auto refused = [&](std::string_view request, std::string* why) {
    RawConn conn(server->port());
    if (!conn.Send(request)) return false;
    auto res = conn.Read(why);
    if (!res) return false;
    *why = std::to_string(res->result_int()) + " " + ErrorOf(*res) + " Retry-After: " + Header(*res, "Retry-After");
    return res->result() == HttpStatus::service_unavailable && Header(*res, "Retry-After") == "1" && conn.WaitClosed();
  };
  std::string why;
  EXPECT_TRUE(refused(header + "\r\n", &why)) << why;
  EXPECT_NE(why.find("retry later"), std::string::npos) << why;
  // A chunked body is charged as it grows: 300 KiB do not fit beside the holder's 800 KiB.
  std::string chunk(300 << 10, 'c');
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  EXPECT_TRUE(refused(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + chunk + "\r\n0\r\n\r\n",
      &why))
      << why;
  // Small bodies still pass, and once the holder's request is answered its bytes are free again.
  auto small = Fetch("127.0.0.1", server->port(), Verb::post, "/", "small");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->result(), HttpStatus::ok);
  ASSERT_TRUE(holder.Send(std::string((800 << 10) - 100, 'a')));
  auto held = holder.Read(&why);
  ASSERT_TRUE(held) << why;
  EXPECT_EQ(held->result(), HttpStatus::ok);
  for (int i = 0; i < 3; ++i) {  // the budget is whole again, not leaking
    auto res = Fetch("127.0.0.1", server->port(), Verb::post, "/", std::string(1 << 20, 'd'));
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->result(), HttpStatus::ok) << ErrorOf(*res);
  }
}

TEST(HttpServer, BodyLimitAboveTheBudgetIsRefusedAtStart) {
  auto server = Server::Start({.body_limit = 2 << 20, .max_buffered_body_bytes = 1 << 20}, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("budget"), std::string::npos) << server.status().ToString();
}

TEST(HttpServer, HalfSentHeaderIsDroppedAfterTheHeaderTimeout) {
  auto server = MustStart({.idle_timeout = 60s, .header_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 10s);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // the header never ends
  auto start = Clock::now();
  EXPECT_TRUE(conn.WaitClosed());
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 8s);
}

// Regression: a new connection waited idle_timeout (60 s) for its first byte, so a client could hold connections
// for a minute each by opening them and sending nothing.
TEST(HttpServer, SilentNewConnectionIsDroppedAfterTheHeaderTimeout) {
  auto server = MustStart({.idle_timeout = 60s, .header_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  auto start = Clock::now();
  RawConn conn(server->port(), 30s);
  ASSERT_TRUE(conn.connected());
  EXPECT_TRUE(conn.WaitClosed()) << "not closed within 30 s";
  EXPECT_GE(Clock::now() - start, 900ms);
}

// After a response, a kept-alive connection waits idle_timeout (not header_timeout) for its next request.
TEST(HttpServer, KeptAliveConnectionWaitsTheIdleTimeoutForItsNextRequest) {
  auto server = MustStart({.idle_timeout = 3s, .header_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 30s);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(conn.Read());
  auto start = Clock::now();
  EXPECT_TRUE(conn.WaitClosed());
  EXPECT_GE(Clock::now() - start, 2900ms);
}

// Serves GET / on `conn` and says whether the answer came.
bool Served(RawConn& conn) { return conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") && conn.Read().has_value(); }

TEST(HttpServer, MaxConnectionsPerAddressShedsThatAddresssExtraOnes) {
  auto server = MustStart({.max_connections_per_address = 2}, Echo);
  ASSERT_TRUE(server);
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<RawConn>(server->port(), 10s));
    ASSERT_TRUE(Served(*held.back())) << "connection " << i;
  }
  RawConn extra(server->port(), 10s);
  ASSERT_TRUE(extra.connected());  // by the kernel's backlog; the server closes it at accept
  EXPECT_TRUE(extra.WaitClosed());
  for (auto& conn : held) EXPECT_TRUE(Served(*conn));  // the held ones are unaffected

  // Another loopback address has its own count.
  RawConn other(server->port(), 10s, INADDR_LOOPBACK + 1);  // 127.0.0.2
  if (other.connected()) EXPECT_TRUE(Served(other));

  // A closed connection frees its place (once the server has seen the close).
  held.pop_back();
  bool served = false;
  for (auto deadline = Clock::now() + 10s; !served && Clock::now() < deadline;) {
    held.push_back(std::make_unique<RawConn>(server->port(), 10s));
    served = Served(*held.back());
    if (!served) {
      held.pop_back();
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(served);
}

TEST(HttpServer, SlowBodyGets408AfterTheBodyTimeout) {
  auto server = MustStart({.body_timeout = 1s}, Echo);
  ASSERT_TRUE(server);
  RawConn conn(server->port(), 10s);
  ASSERT_TRUE(conn.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"));
  auto start = Clock::now();
  std::string error;
  auto res = conn.Read(&error);
  ASSERT_TRUE(res) << error;
  EXPECT_GE(Clock::now() - start, 900ms);
  EXPECT_EQ(res->result(), HttpStatus::request_timeout);
  EXPECT_NE(ErrorOf(*res).find("body"), std::string::npos) << ErrorOf(*res);
  EXPECT_TRUE(conn.WaitClosed());
}

TEST(HttpServer, BoundAddressReportsTheRealPort) {
  auto server = MustStart({.host = "127.0.0.1", .port = 0}, Echo);
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->bound_address(), "127.0.0.1:" + std::to_string(server->port()));
  auto parsed = ParseHostPort(server->bound_address());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->second, server->port());
}

TEST(HttpServer, ListensOnAnyLocalhostAndIpv6) {
  for (std::string host : {"0.0.0.0", "localhost"}) {
    auto server = MustStart({.host = host}, Echo);
    ASSERT_TRUE(server) << host;
    auto res = Fetch("127.0.0.1", server->port(), Verb::get, "/" + host, "");
    // "localhost" may resolve to ::1 first.
    if (!res.ok()) res = Fetch("::1", server->port(), Verb::get, "/" + host, "");
    ASSERT_TRUE(res.ok()) << host << ": " << res.status().ToString();
    EXPECT_EQ(Header(*res, "X-Target"), "/" + host);
  }
  auto server = Server::Start({.host = "::1"}, Echo);
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback: " << server.status().ToString();
  EXPECT_EQ((*server)->bound_address(), "[::1]:" + std::to_string((*server)->port()));
  auto res = Fetch("::1", (*server)->port(), Verb::get, "/v6", "");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(Header(*res, "X-Target"), "/v6");
  auto parsed = ParseHostPort((*server)->bound_address());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, "::1");
}

TEST(HttpServer, BindingAPortInUseFails) {
  auto first = MustStart({}, Echo);
  ASSERT_TRUE(first);
  auto second = Server::Start({.port = first->port()}, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIoError);
  const std::string& message = second.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(first->port())), std::string::npos) << message;
  EXPECT_NE(message.find("in use"), std::string::npos) << message;
}

TEST(HttpServer, BadHostOrOptionsFail) {
  auto bad = Server::Start({.host = "not a host!"}, Echo);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a host!"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(Server::Start({.host = ""}, Echo).ok());
  EXPECT_FALSE(Server::Start({.threads = 0}, Echo).ok());
  EXPECT_FALSE(Server::Start({}, nullptr).ok());
}

TEST(HttpClient, GetsAnAnswerSentBeforeItsBodyWasRead) {
  auto server = MustStart({.header_check = CheckAuth}, Echo);
  ASSERT_TRUE(server);
  // The server answers 401 at the header and stops reading long before 32 MiB: the client's write fails, yet the
  // answer is its result.
  auto res = Fetch("127.0.0.1", server->port(), Verb::put, "/x", std::string(32 << 20, 'u'));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->result(), HttpStatus::unauthorized);
  EXPECT_EQ(ErrorOf(*res), "who are you?");
}

TEST(HttpClient, ReconnectsOnceWhenTheServerClosedTheConnection) {
  auto first = MustStart({}, [](Request&& req, Responder respond) { respond(TextResponse(req, HttpStatus::ok, "A")); });
  ASSERT_TRUE(first);
  uint16_t port = first->port();
  auto client = Client::Connect("127.0.0.1", port, 3s);
  ASSERT_TRUE(client.ok());
  auto res = client->Send(Verb::get, "/");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body(), "A");
  first.reset();  // closes the client's kept-alive connection
  auto second = MustStart({.port = port},
                          [](Request&& req, Responder respond) { respond(TextResponse(req, HttpStatus::ok, "B")); });
  ASSERT_TRUE(second);
  res = client->Send(Verb::get, "/");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body(), "B");
}

TEST(HttpClient, ReportsConnectionErrors) {
  auto server = MustStart({}, Echo);
  ASSERT_TRUE(server);
  uint16_t port = server->port();
  server.reset();
  auto client = Client::Connect("127.0.0.1", port, 1s);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << client.status().message();
}

TEST(HttpClient, TimesOut) {
  std::vector<Responder> kept;
  std::mutex mu;
  auto server = MustStart({.stop_grace = 100ms}, [&](Request&&, Responder respond) {
    std::lock_guard lock(mu);
    kept.push_back(respond);
  });
  ASSERT_TRUE(server);
  auto start = Clock::now();
  auto res = Fetch("127.0.0.1", server->port(), Verb::get, "/", "", "", {}, 300ms);
  ASSERT_FALSE(res.ok());
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_NE(res.status().message().find("timeout"), std::string::npos) << res.status().message();
}

TEST(HttpHelpers, JsonResponseAndError) {
  Request req{Verb::get, "/", 10};
  req.keep_alive(true);
  Response res = JsonResponse(req, HttpStatus::accepted, "{\"a\":1}");
  EXPECT_EQ(res.version(), 10u);
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(Header(res, "Content-Type"), "application/json");
  EXPECT_EQ(Header(res, "Content-Length"), "7");
  EXPECT_EQ(JsonError("say \"hi\"\n"), "{\"error\":\"say \\\"hi\\\"\\n\"}");
}

TEST(HttpHelpers, ParseHostPort) {
  struct Case {
    std::string_view text;
    std::string host;
    uint16_t port;
  };
  for (const Case& c : {Case{"127.0.0.1:8080", "127.0.0.1", 8080}, Case{"localhost:0", "localhost", 0},
                        Case{"0.0.0.0:65535", "0.0.0.0", 65535}, Case{"[::1]:9000", "::1", 9000},
                        Case{"[::]:80", "::", 80}, Case{"my-host.example_1:1", "my-host.example_1", 1}}) {
    auto parsed = ParseHostPort(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->first, c.host) << c.text;
    EXPECT_EQ(parsed->second, c.port) << c.text;
  }
  for (std::string_view bad :
       {"", "8080", ":8080", "host:", "host:port", "host:65536", "host:-1", "host:123456", "::1:80", "[::1]", "[::1]80",
        "[nonsense]:80", "[::1:80", "a b:80", "host:80 ", "host:+80"}) {
    auto parsed = ParseHostPort(bad);
    EXPECT_FALSE(parsed.ok()) << "'" << bad << "' parsed as " << (parsed.ok() ? parsed->first : "");
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace wow::http
