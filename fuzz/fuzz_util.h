#pragma once
// Helpers shared by the fuzz targets that drive a handler in process: a private data directory, requests read
// from a readable text format (so the seed corpus in fuzz/corpus/ is plain text), and waiting for an answer.
#include <stdlib.h>

#include <any>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"

namespace wow::fuzz {

// A fresh directory under $TMPDIR (or /tmp), for one process; never removed (libFuzzer exits without cleanup).
inline std::filesystem::path MakeTempDir(const char* what) {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string("wow-fuzz-") + what + "-XXXXXX"));
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return pattern;
}

// One request of an input: "METHOD TARGET\n" then an auth line, then the body up to the separator.
struct TextRequest {
  std::string method;
  std::string target;
  std::string auth;
  std::string body;
};

// Splits an input into requests separated by lines "%%" (at most `max_requests`). Each request is
// "METHOD TARGET\nAUTH\nBODY": missing parts are empty.
inline std::vector<TextRequest> ParseRequests(std::string_view input, size_t max_requests) {
  std::vector<TextRequest> out;
  constexpr std::string_view kSeparator = "\n%%\n";
  while (out.size() < max_requests && !input.empty()) {
    size_t end = input.find(kSeparator);
    std::string_view one = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + kSeparator.size());
    auto line = [&one]() {
      size_t nl = one.find('\n');
      std::string_view l = one.substr(0, nl);
      one = nl == std::string_view::npos ? std::string_view() : one.substr(nl + 1);
      return l;
    };
    std::string_view first = line();
    size_t space = first.find(' ');
    TextRequest r;
    r.method = std::string(first.substr(0, space));
    r.target = space == std::string_view::npos ? std::string() : std::string(first.substr(space + 1));
    r.auth = std::string(line());
    r.body = std::string(one);
    out.push_back(std::move(r));
  }
  return out;
}

// What Boost.Beast's parser lets through to a handler: a method token (verb or extension), a non-empty target
// without spaces or control characters, header values without CR/LF, headers under its 8 KiB default. Inputs
// outside that cannot reach the handler over HTTP and are skipped (nullopt).
inline std::optional<http::Request> ToHttpRequest(const TextRequest& t) {
  if (t.method.empty() || t.method.size() > 32 || t.target.empty() || t.target.size() > 4096 || t.auth.size() > 2048) {
    return std::nullopt;
  }
  for (char c : t.method) {
    if (!std::isalpha(static_cast<unsigned char>(c))) return std::nullopt;
  }
  for (char c : t.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  for (char c : t.auth) {
    if (c == '\r' || c == '\n' || c == '\0') return std::nullopt;
  }
  http::Request r;
  auto verb = boost::beast::http::string_to_verb(t.method);
  if (verb == http::Verb::unknown) {
    r.method_string(t.method);
  } else {
    r.method(verb);
  }
  r.target(t.target);
  r.version(11);
  r.body() = t.body;
  r.prepare_payload();
  return r;
}

// Collects one answer, from any thread.
class Answer {
 public:
  // `context`: the request's HeaderVerdict::context, as http::Server hands it to the handler.
  http::Responder Responder(std::any context = {}) {
    return http::Responder::Calling(
        [this](http::Response&& r) {
          std::lock_guard<std::mutex> lock(mu_);
          response_ = std::move(r);
          cv_.notify_all();
        },
        std::move(context));
  }
  // Waits for the answer; a handler that does not answer within `limit` is a hang: abort, so libFuzzer keeps the
  // input.
  http::Response Wait(std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return response_.has_value(); })) {
      std::fprintf(stderr, "fuzz: the handler did not answer within %lld s\n", static_cast<long long>(limit.count()));
      std::abort();
    }
    return std::move(*response_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<http::Response> response_;
};

}  // namespace wow::fuzz
