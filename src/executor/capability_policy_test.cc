#include "executor/capability_policy.h"

#include <gtest/gtest.h>

#include "common/files.h"

namespace wow::executor {
namespace {
namespace fs = std::filesystem;

class CapabilityPolicyTest : public ::testing::Test {
 protected:
  CapabilityPolicyTest() {
    fs::create_directories(root_ / "data");
    fs::create_directories(root_ / "shared" / "inbox");
    policy_.data_dir = root_ / "data";
  }
  fs::path Canonical(const fs::path& p) { return fs::weakly_canonical(p); }

  TempDir tmp_{"wow-policy"};
  fs::path root_ = fs::canonical(tmp_.path());
  DirPolicy policy_;
};

TEST_F(CapabilityPolicyTest, WithoutAllowedRootsEveryPathIsPrivateToTheAction) {
  auto grants = GrantDirs(policy_, "guest/filesys", {"/", "/tmp/wow-filesys", (root_ / "data").string()});
  ASSERT_TRUE(grants.ok()) << grants.status().message();
  ASSERT_EQ(grants->size(), 3u);
  fs::path files = root_ / "data" / "files" / "guest%2Ffilesys";
  EXPECT_EQ((*grants)[0].host, (files / "%2F").string());
  EXPECT_EQ((*grants)[0].guest, "/");
  EXPECT_EQ((*grants)[1].host, (files / "%2Ftmp%2Fwow-filesys").string());
  EXPECT_EQ((*grants)[1].guest, "/tmp/wow-filesys");
  // Even the data dir's own path is only a name for a private directory.
  EXPECT_EQ((*grants)[2].guest, (root_ / "data").string());
  EXPECT_TRUE(fs::path((*grants)[2].host).parent_path() == files);
}

TEST_F(CapabilityPolicyTest, OwnersDoNotShareAndCannotEscapeByTheirNames) {
  auto a = GrantDirs(policy_, "ns/a", {"/x"});
  auto b = GrantDirs(policy_, "ns/b", {"/x"});
  auto dots = GrantDirs(policy_, "..", {"/x"});
  ASSERT_TRUE(a.ok() && b.ok() && dots.ok());
  EXPECT_NE((*a)[0].host, (*b)[0].host);
  EXPECT_EQ(fs::path((*dots)[0].host).parent_path().filename(), "%2E.");
  EXPECT_EQ(fs::path((*dots)[0].host).parent_path().parent_path(), root_ / "data" / "files");
  // A very long path gets a hashed name that still fits a file name.
  auto long_path = GrantDirs(policy_, "ns/a", {"/" + std::string(1000, 'x')});
  ASSERT_TRUE(long_path.ok());
  EXPECT_LE(fs::path((*long_path)[0].host).filename().string().size(), 255u);
}

TEST_F(CapabilityPolicyTest, AllowedRootsGrantTheHostPathItself) {
  policy_.allowed_roots = {root_ / "shared"};
  auto grants = GrantDirs(policy_, "ns/a", {(root_ / "shared" / "inbox").string(), (root_ / "shared").string(),
                                             (root_ / "shared" / "new" / "dir").string(), "/etc"});
  ASSERT_TRUE(grants.ok()) << grants.status().message();
  EXPECT_EQ((*grants)[0].host, (root_ / "shared" / "inbox").string());
  EXPECT_EQ((*grants)[0].guest, (root_ / "shared" / "inbox").string());
  EXPECT_EQ((*grants)[1].host, (root_ / "shared").string());
  EXPECT_EQ((*grants)[2].host, (root_ / "shared" / "new" / "dir").string());
  // Outside the roots: private.
  EXPECT_NE((*grants)[3].host, "/etc");
  EXPECT_EQ((*grants)[3].guest, "/etc");
  // A sibling whose name extends the root's is not beneath it.
  auto sibling = GrantDirs(policy_, "ns/a", {(root_ / "sharedX").string()});
  ASSERT_TRUE(sibling.ok());
  EXPECT_NE((*sibling)[0].host, (root_ / "sharedX").string());
}

TEST_F(CapabilityPolicyTest, TheDataDirIsNeverGrantedEvenUnderAnAllowedRoot) {
  policy_.allowed_roots = {"/"};
  for (const fs::path& p : {root_ / "data", root_ / "data" / "aot", root_, fs::path("/")}) {
    auto grants = GrantDirs(policy_, "ns/a", {p.string()});
    ASSERT_FALSE(grants.ok()) << p;
    EXPECT_NE(grants.status().message().find("data directory"), std::string::npos);
  }
  // Through a symlink too.
  fs::create_directory_symlink(root_ / "data", root_ / "shared" / "link");
  auto linked = GrantDirs(policy_, "ns/a", {(root_ / "shared" / "link" / "aot").string()});
  EXPECT_FALSE(linked.ok());
  // Elsewhere under "/" is fine.
  auto fine = GrantDirs(policy_, "ns/a", {(root_ / "shared").string()});
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ((*fine)[0].host, (root_ / "shared").string());
}

TEST_F(CapabilityPolicyTest, SymlinkOutOfAnAllowedRootIsNotBeneathIt) {
  policy_.allowed_roots = {root_ / "shared"};
  fs::create_directories(root_ / "secret");
  fs::create_directory_symlink(root_ / "secret", root_ / "shared" / "out");
  auto grants = GrantDirs(policy_, "ns/a", {(root_ / "shared" / "out").string()});
  ASSERT_TRUE(grants.ok());
  EXPECT_NE((*grants)[0].host, (root_ / "secret").string());
  EXPECT_NE((*grants)[0].host, (root_ / "shared" / "out").string());
}

TEST_F(CapabilityPolicyTest, RelativeAndDotDotPathsAreRefused) {
  policy_.allowed_roots = {root_ / "shared"};
  EXPECT_FALSE(GrantDirs(policy_, "ns/a", {"relative"}).ok());
  EXPECT_FALSE(GrantDirs(policy_, "ns/a", {(root_ / "shared" / ".." / "data").string()}).ok());
}

TEST_F(CapabilityPolicyTest, AllowedRootsInsideTheDataDirAreRefused) {
  EXPECT_FALSE(ResolveAllowedRoots({(root_ / "data" / "aot").string()}, root_ / "data").ok());
  EXPECT_FALSE(ResolveAllowedRoots({(root_ / "data").string()}, root_ / "data").ok());
  EXPECT_FALSE(ResolveAllowedRoots({""}, root_ / "data").ok());
  auto ok = ResolveAllowedRoots({"/", (root_ / "shared").string()}, root_ / "data");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[1], root_ / "shared");
}

}  // namespace
}  // namespace wow::executor
