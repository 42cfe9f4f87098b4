// Unit tests of the protocol messages' edge checks: deadlines and timeouts at
// their extremes, the shared secret, and guest log text that imitates the
// platform's own lines.

#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

#include "executor/deadline.h"
#include "protocol/action_logs.h"

namespace wow::protocol {
namespace {

using SysTime = std::chrono::system_clock::time_point;

std::optional<SysTime> DeadlineOf(const std::string& body, std::optional<Reply>* error = nullptr) {
  executor::RunRequest r;
  auto e = ParseRunBody(body, r);
  if (error != nullptr) *error = e;
  return e ? std::nullopt : r.deadline;
}

TEST(MessagesTest, DeadlineAtTheExtremesSaturatesInsteadOfWrapping) {
  // 2^64-1 as a string of digits (OpenWhisk's form) and as a JSON number.
  for (const char* body :
       {R"({"value":{},"deadline":"18446744073709551615"})", R"({"value":{},"deadline":18446744073709551615})",
        R"({"value":{},"deadline":1e15})", R"({"value":{},"deadline":"1000000000000000"})"}) {
    auto d = DeadlineOf(body);
    ASSERT_TRUE(d.has_value()) << body;
    EXPECT_GT(*d, std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) << body;
    EXPECT_GT(executor::MillisUntil(*d, std::chrono::system_clock::now()), 0u) << body;
  }
  EXPECT_EQ(DeadlineOf(R"({"value":{},"deadline":"18446744073709551615"})"), SysTime::max());
  EXPECT_EQ(DeadlineOf(R"({"value":{},"deadline":"1893456000000"})"),
            SysTime(std::chrono::milliseconds(1'893'456'000'000)));
}

TEST(MessagesTest, MalformedDeadlinesAreBadRequests) {
  for (const char* body :
       {R"({"value":{},"deadline":-1})", R"({"value":{},"deadline":"-1"})", R"({"value":{},"deadline":1.5})",
        R"({"value":{},"deadline":"1.5"})", R"({"value":{},"deadline":"18446744073709551616"})",
        R"({"value":{},"deadline":1e300})", R"({"value":{},"deadline":""})", R"({"value":{},"deadline":true})"}) {
    std::optional<Reply> error;
    DeadlineOf(body, &error);
    ASSERT_TRUE(error.has_value()) << body;
    EXPECT_EQ(error->status, http::HttpStatus::bad_request) << body;
  }
}

TEST(MessagesTest, HugeTimeoutsParseAndAreLeftToTheExecutorsMaximum) {
  executor::InitRequest r;
  ASSERT_FALSE(ParseInitBody(R"({"value":{"code":"x","limits":{"timeout":1e15}}})", r));
  EXPECT_EQ(r.timeout_ms, 1'000'000'000'000'000u);
  for (const char* body :
       {R"({"value":{"code":"x","limits":{"timeout":-5}}})", R"({"value":{"code":"x","limits":{"timeout":0.5}}})",
        R"({"value":{"code":"x","limits":{"timeout":1e30}}})"}) {
    executor::InitRequest bad;
    auto error = ParseInitBody(body, bad);
    ASSERT_TRUE(error.has_value()) << body;
    EXPECT_EQ(error->status, http::HttpStatus::bad_request) << body;
  }
}

http::Request WithSecret(std::optional<std::string> value) {
  http::Request r(http::Verb::post, "/init", 11);
  if (value) r.set(kSecretHeader, *value);
  return r;
}

TEST(MessagesTest, SecretIsRequiredOnlyWhenConfigured) {
  EXPECT_FALSE(CheckSecret(WithSecret(std::nullopt), ""));
  EXPECT_FALSE(CheckSecret(WithSecret("anything"), ""));
  EXPECT_FALSE(CheckSecret(WithSecret("s3cret"), "s3cret"));
  for (std::optional<std::string> wrong :
       {std::optional<std::string>(), std::optional<std::string>(""), std::optional<std::string>("s3cre"),
        std::optional<std::string>("S3cret"), std::optional<std::string>("s3cret-and-more")}) {
    auto refused = CheckSecret(WithSecret(wrong), "s3cret");
    ASSERT_TRUE(refused.has_value()) << wrong.value_or("(none)");
    EXPECT_EQ(refused->status, http::HttpStatus::unauthorized);
    EXPECT_NE(refused->json.find("X-Wow-Secret"), std::string::npos) << refused->json;
  }
  // Header names are case-insensitive in HTTP.
  http::Request lower(http::Verb::post, "/run", 11);
  lower.set("x-wow-secret", "s3cret");
  EXPECT_FALSE(CheckSecret(lower, "s3cret"));
}

std::string Guest(std::string_view text, bool escape_controls) {
  std::string out;
  AppendGuestLogText(out, text, escape_controls);
  return out;
}

TEST(GuestLogTextTest, TheSentinelIsDefusedWhereverItAppears) {
  const std::string s = kEndOfActivation;
  for (bool controls : {false, true}) {
    EXPECT_EQ(Guest(s, controls), "x" + s.substr(1));
    EXPECT_EQ(Guest("before " + s + " after", controls), "before x" + s.substr(1) + " after");
    // Overlapping occurrences (the sentinel starts and ends with "XXX").
    std::string overlapping = s + s.substr(3) + s.substr(3);
    std::string out = Guest(overlapping, controls);
    EXPECT_EQ(out.find(s), std::string::npos) << out;
    EXPECT_EQ(out.size(), overlapping.size());
    // Ordinary text is untouched.
    EXPECT_EQ(Guest("XXX_THE_END", controls), "XXX_THE_END");
    EXPECT_EQ(Guest("tab\there \xc3\xa9t\xc3\xa9 [other-id] x", controls), "tab\there \xc3\xa9t\xc3\xa9 [other-id] x");
  }
}

TEST(GuestLogTextTest, ControlsAreEscapedInFramedLines) {
  EXPECT_EQ(Guest("a\rb", true), "a\\x0db");
  EXPECT_EQ(Guest("\x1b[2K\r[victim] forged", true), "\\x1b[2K\\x0d[victim] forged");
  EXPECT_EQ(Guest(std::string("nul\0x", 5), true), "nul\\x00x");
  EXPECT_EQ(Guest("del\x7f", true), "del\\x7f");
  EXPECT_EQ(Guest("two\nlines", true), "two\\nlines");
  // Unframed (wow proxy): kept as the guest wrote them, but one line stays one line.
  EXPECT_EQ(Guest("a\rb", false), "a\rb");
  EXPECT_EQ(Guest("two\n" + std::string(kEndOfActivation), false), "two\\nx" + std::string(kEndOfActivation + 1));
}

}  // namespace
}  // namespace wow::protocol
