#include "common/json.h"

#include <gtest/gtest.h>

namespace wow {
namespace {

TEST(JsonTest, ParsesObject) {
  auto v = ParseJson(R"({"a": 1, "b": [true, null]})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->as_object().at("a").as_int64(), 1);
  EXPECT_EQ(ToJson(*v), R"({"a":1,"b":[true,null]})");
}

TEST(JsonTest, MalformedNamesOffset) {
  auto v = ParseJson(R"({"a": })");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kInvalidArgument);
  EXPECT_NE(v.status().message().find("offset"), std::string::npos);
}

TEST(JsonTest, RejectsTrailingGarbage) {
  EXPECT_FALSE(ParseJson("{} x").ok());
  EXPECT_TRUE(ParseJson("{}  \n").ok());
}

TEST(JsonTest, ParamValueLikeWsk) {
  EXPECT_EQ(ParseParamValue("42").as_int64(), 42);
  EXPECT_EQ(ParseParamValue("hello").as_string(), "hello");
  EXPECT_EQ(ParseParamValue("\"quoted\"").as_string(), "quoted");
  EXPECT_TRUE(ParseParamValue("{\"x\":1}").is_object());
}

// Regression (issue 12): 1e999999 became infinity, then a 502 when the
// parameters were serialised again; it is malformed input (a 400).
TEST(JsonTest, NumbersBeyondDoubleAreMalformed) {
  for (const char* text : {"1e999999", "{\"a\":-1e400}", "[1, [2, {\"b\": 1e309}]]"}) {
    auto parsed = ParseJson(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("too large"), std::string::npos);
  }
  auto big = ParseJson("{\"a\":1e308, \"b\":18446744073709551615}");
  ASSERT_TRUE(big.ok());
}

TEST(JsonTest, WholeNumbers) {
  EXPECT_EQ(WholeNumber(boost::json::value(42)), 42u);
  EXPECT_EQ(WholeNumber(boost::json::value(42u)), 42u);
  EXPECT_EQ(WholeNumber(boost::json::value(16.0)), 16u);
  EXPECT_EQ(WholeNumber(boost::json::value(16.7)), std::nullopt);
  EXPECT_EQ(WholeNumber(boost::json::value(-1)), std::nullopt);
  EXPECT_EQ(WholeNumber(boost::json::value("16")), std::nullopt);
  EXPECT_EQ(WholeNumber(boost::json::value(nullptr)), std::nullopt);
}

TEST(JsonTest, NestingUpTo512LevelsParses) {
  EXPECT_TRUE(ParseJson(std::string(500, '[') + std::string(500, ']')).ok());
  EXPECT_FALSE(ParseJson(std::string(600, '[') + std::string(600, ']')).ok());
}

}  // namespace
}  // namespace wow
