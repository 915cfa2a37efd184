#include "common/trusted_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace enospcd {
namespace {

class TrustedDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path();
  }

  std::string mk(const std::string& rel, mode_t mode) {
    std::string p = root_ + "/" + rel;
    EXPECT_EQ(mkdir(p.c_str(), mode), 0) << p;
    EXPECT_EQ(chmod(p.c_str(), mode), 0) << p;  // past the umask
    return p;
  }

  // Foreign owners need root to set up.
  static bool root() { return geteuid() == 0; }

  enospcd::testing::TempDir tmp_;
  std::string root_;
};

TEST_F(TrustedDirTest, OpensAndCreatesPrivateDirectories) {
  auto r = open_trusted_dir(root_ + "/a", geteuid(), 0700);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->created);
  EXPECT_GE(r->fd.get(), 0);
  struct stat st{};
  ASSERT_EQ(stat((root_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // It exists now; ".", ".." and doubled slashes are walked as the kernel walks them.
  auto again = open_trusted_dir(root_ + "//./a/../a/", geteuid(), 0700);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->created);
  // Without a create mode a missing directory is an error naming it.
  auto missing = open_trusted_dir(root_ + "/b", geteuid(), 0);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(root_ + "/b"), std::string::npos) << missing.error().message;
}

TEST_F(TrustedDirTest, RefusesWritableByOthersUnlessStickyOnTheWay) {
  mk("open", 0777);
  mk("open/sub", 0700);
  auto r = open_trusted_dir(root_ + "/open/sub", geteuid(), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, root_ + "/open is writable by everyone: others could replace what is in it");
  mk("group", 0770);
  auto g = open_trusted_dir(root_ + "/group", geteuid(), 0);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("writable by its group"), std::string::npos) << g.error().message;
  // Sticky (as /tmp): fine on the way, not as the directory itself.
  mk("sticky", 01777);
  mk("sticky/sub", 0755);
  EXPECT_TRUE(open_trusted_dir(root_ + "/sticky/sub", geteuid(), 0));
  EXPECT_FALSE(open_trusted_dir(root_ + "/sticky", geteuid(), 0));
}

TEST_F(TrustedDirTest, FollowsSymlinksOnlyWhereNobodyElseCanReplaceThem) {
  mk("real", 0755);
  ASSERT_EQ(symlink((root_ + "/real").c_str(), (root_ + "/abs").c_str()), 0);
  ASSERT_EQ(symlink("real", (root_ + "/rel").c_str()), 0);
  for (const char* link : {"/abs", "/rel"}) {
    auto r = open_trusted_dir(root_ + link, geteuid(), 0);
    ASSERT_TRUE(r) << link << ": " << r.error().message;
    struct stat a{}, b{};
    ASSERT_EQ(fstat(r->fd.get(), &a), 0);
    ASSERT_EQ(stat((root_ + "/real").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << link;
  }
  // The target is checked like any other directory.
  mk("wide", 0777);
  ASSERT_EQ(symlink((root_ + "/wide").c_str(), (root_ + "/to-wide").c_str()), 0);
  EXPECT_FALSE(open_trusted_dir(root_ + "/to-wide", geteuid(), 0));
  // A loop ends with an error, not a hang.
  ASSERT_EQ(symlink("loop", (root_ + "/loop").c_str()), 0);
  auto loop = open_trusted_dir(root_ + "/loop", geteuid(), 0);
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("too many symbolic links"), std::string::npos) << loop.error().message;
  // A file on the way is not a directory.
  ASSERT_EQ(close(creat((root_ + "/file").c_str(), 0600)), 0);
  EXPECT_FALSE(open_trusted_dir(root_ + "/file/x", geteuid(), 0700));
}

TEST_F(TrustedDirTest, RefusesADirectoryOfAnotherUserAndWhatALinkInItLeadsTo) {
  if (!root()) GTEST_SKIP() << "needs root to give a directory to another user";
  std::string foreign = mk("foreign", 0755);
  ASSERT_EQ(chown(foreign.c_str(), 4321, 4321), 0);
  auto r = open_trusted_dir(foreign, 0, 0700);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, foreign + " is owned by uid 4321, not by root: that user could replace what is in it");
  // That user's symlink to a directory of root's: the link could be pointed anywhere.
  mk("mine", 0700);
  ASSERT_EQ(symlink((root_ + "/mine").c_str(), (foreign + "/run").c_str()), 0);
  EXPECT_FALSE(open_trusted_dir(foreign + "/run", 0, 0700));
  // Nothing was created under the foreign directory.
  EXPECT_FALSE(open_trusted_dir(foreign + "/new", 0, 0700));
  EXPECT_FALSE(std::filesystem::exists(foreign + "/new"));
  // The user the daemon runs as may own the way.
  EXPECT_TRUE(open_trusted_dir(foreign, 4321, 0));
}

}  // namespace
}  // namespace enospcd
