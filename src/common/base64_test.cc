#include "common/base64.h"

#include <gtest/gtest.h>

namespace wow {
namespace {

TEST(Base64Test, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 37));
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64Test, KnownVectors) {
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(*Base64Decode("Zm8"), "fo");  // padding optional
  EXPECT_EQ(*Base64Decode("Zm9v\nYmFy"), "foobar");
}

TEST(Base64Test, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Zm=9").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
}

}  // namespace
}  // namespace wow
