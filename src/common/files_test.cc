#include "common/files.h"

#include <gtest/gtest.h>

#include "common/sha256.h"

namespace wow {
namespace {

TEST(FilesTest, AtomicWriteThenRead) {
  TempDir dir;
  auto path = dir.path() / "f.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  EXPECT_EQ(*ReadFile(path), "two");
}

TEST(FilesTest, MissingFileIsNotFound) {
  TempDir dir;
  auto r = ReadFile(dir.path() / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(FilesTest, TempDirIsRemoved) {
  std::filesystem::path p;
  {
    TempDir dir;
    p = dir.path();
    ASSERT_TRUE(WriteFileAtomically(p / "x", "y").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(p));
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace wow
