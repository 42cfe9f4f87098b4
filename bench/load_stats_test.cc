#include "load_stats.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <numeric>
#include <vector>

namespace wow::bench {
namespace {

std::vector<uint64_t> Iota(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v(last - first + 1);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(PercentileTest, OneToHundred) {
  const std::vector<uint64_t> v = Iota(1, 100);
  EXPECT_EQ(Percentile(v, 50), 50u);
  EXPECT_EQ(Percentile(v, 90), 90u);
  EXPECT_EQ(Percentile(v, 99), 99u);
  EXPECT_EQ(Percentile(v, 100), 100u);
  EXPECT_EQ(Percentile(v, 0), 1u);
  EXPECT_EQ(Percentile(v, 0.5), 1u);
  EXPECT_EQ(Percentile(v, 99.5), 100u);
}

TEST(PercentileTest, OneToThousand) {
  const std::vector<uint64_t> v = Iota(1, 1000);
  EXPECT_EQ(Percentile(v, 50), 500u);
  EXPECT_EQ(Percentile(v, 90), 900u);
  EXPECT_EQ(Percentile(v, 99), 990u);
  EXPECT_EQ(Percentile(v, 99.9), 999u);
}

TEST(PercentileTest, SmallAndEmpty) {
  EXPECT_EQ(Percentile(std::vector<uint64_t>{}, 50), 0u);
  EXPECT_EQ(Percentile(std::vector<uint64_t>{7}, 0), 7u);
  EXPECT_EQ(Percentile(std::vector<uint64_t>{7}, 99), 7u);
  const std::vector<uint64_t> v{10, 20, 30, 40};
  EXPECT_EQ(Percentile(v, 25), 10u);
  EXPECT_EQ(Percentile(v, 26), 20u);
  EXPECT_EQ(Percentile(v, 50), 20u);
  EXPECT_EQ(Percentile(v, 51), 30u);
  EXPECT_EQ(Percentile(v, 100), 40u);
  EXPECT_EQ(Percentile(v, 250), 40u);  // clamped
}

TEST(SummarizeTest, SortsSamplesAndConvertsToMicroseconds) {
  LoadCounts counts;
  // 1..100 µs in nanoseconds, shuffled by reversing.
  for (uint64_t us = 100; us >= 1; --us) counts.latencies_ns.push_back(us * 1000);
  counts.status_errors = 2;
  counts.connection_errors = 3;
  counts.bytes_sent = 1000;
  counts.bytes_received = 2000;
  const LoadSummary s = Summarize(8, 1, 2.0, counts);
  EXPECT_EQ(s.connections, 8);
  EXPECT_EQ(s.requests, 100u);
  EXPECT_DOUBLE_EQ(s.seconds, 2.0);
  EXPECT_DOUBLE_EQ(s.rps, 50.0);
  EXPECT_DOUBLE_EQ(s.p50_us, 50.0);
  EXPECT_DOUBLE_EQ(s.p90_us, 90.0);
  EXPECT_DOUBLE_EQ(s.p99_us, 99.0);
  EXPECT_DOUBLE_EQ(s.max_us, 100.0);
  EXPECT_DOUBLE_EQ(s.mean_us, 50.5);
  EXPECT_EQ(s.errors, 5u);
  EXPECT_EQ(s.bytes_received, 2000u);
}

TEST(SummarizeTest, NoSamples) {
  const LoadSummary s = Summarize(1, 1, 5.0, LoadCounts{});
  EXPECT_EQ(s.requests, 0u);
  EXPECT_DOUBLE_EQ(s.rps, 0.0);
  EXPECT_DOUBLE_EQ(s.p99_us, 0.0);
  EXPECT_DOUBLE_EQ(s.max_us, 0.0);
}

TEST(SummarizeTest, JsonHasTheDocumentedFields) {
  LoadCounts counts;
  counts.latencies_ns = {1000, 3000};
  const boost::json::value v = ToJson(Summarize(64, 2, 1.0, counts));
  const boost::json::object& o = v.as_object();
  for (const char* key :
       {"connections", "requests", "seconds", "rps", "p50_us", "p90_us", "p99_us", "max_us", "errors"}) {
    EXPECT_TRUE(o.contains(key)) << key;
  }
  EXPECT_EQ(o.at("connections").as_int64(), 64);
  EXPECT_EQ(o.at("requests").as_uint64(), 2u);
  EXPECT_DOUBLE_EQ(o.at("max_us").as_double(), 3.0);
  EXPECT_FALSE(FormatTableLine(Summarize(64, 2, 1.0, counts)).empty());
}

TEST(ParseUrlTest, HostPortAndPath) {
  std::string error;
  std::optional<Url> url = ParseUrl("http://127.0.0.1:8080/run", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/run");
  EXPECT_EQ(url->HostHeader(), "127.0.0.1:8080");
}

TEST(ParseUrlTest, Defaults) {
  std::optional<Url> url = ParseUrl("HTTP://localhost", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "localhost");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");
  EXPECT_EQ(url->HostHeader(), "localhost");
}

TEST(ParseUrlTest, QueryKeptFragmentDropped) {
  std::optional<Url> url = ParseUrl("http://h:1/a/b?x=1&y=2#frag", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/a/b?x=1&y=2");
  url = ParseUrl("http://h?q", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/?q");
  url = ParseUrl("http://h#f", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/");
}

TEST(ParseUrlTest, Ipv6) {
  std::optional<Url> url = ParseUrl("http://[::1]:9000/x", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->HostHeader(), "[::1]:9000");
  url = ParseUrl("http://[::1]", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->HostHeader(), "[::1]");
}

TEST(ParseUrlTest, BadUrls) {
  for (const char* bad : {
           "",
           "127.0.0.1:8080/run",  // no scheme
           "https://127.0.0.1/",  // TLS
           "ftp://host/",
           "http://",
           "http:///path",
           "http://:80/",
           "http://host:/",
           "http://host:0/",
           "http://host:65536/",
           "http://host:80x/",
           "http://host:-1/",
           "http://user@host/",
           "http://ho st/",
           "http://::1/",  // IPv6 without brackets
           "http://[::1/",
           "http://[]/",
           "http://[::1]x/",
           "http://[zz::1]/",
           "http://host/a b",
           "http://host/a\r\nX: y",
       }) {
    std::string error;
    EXPECT_FALSE(ParseUrl(bad, &error)) << "accepted: " << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  ParseUrl("https://h/", &error);
  EXPECT_NE(error.find("https"), std::string::npos) << error;
  ParseUrl("http://h:99999/", &error);
  EXPECT_NE(error.find("port"), std::string::npos) << error;
}

TEST(ParseHeaderTest, NameAndTrimmedValue) {
  auto h = ParseHeader("Content-Type:  application/json ", nullptr);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->first, "Content-Type");
  EXPECT_EQ(h->second, "application/json");
  h = ParseHeader("X-Empty:", nullptr);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->second, "");
  h = ParseHeader("Authorization: Basic a:b", nullptr);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->second, "Basic a:b");
}

TEST(ParseHeaderTest, BadHeaders) {
  for (const char* bad : {"NoColon", ": value", "Bad Name: v", "X: a\r\nY: b"}) {
    std::string error;
    EXPECT_FALSE(ParseHeader(bad, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(ParseConnectionListTest, Lists) {
  auto v = ParseConnectionList("1,8,64", nullptr);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<int>{1, 8, 64}));
  v = ParseConnectionList(" 4 ", nullptr);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<int>{4}));
  for (const char* bad : {"", "0", "1,,2", "1,", "-1", "a", "1.5", "100001"}) {
    std::string error;
    EXPECT_FALSE(ParseConnectionList(bad, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace wow::bench
