// setxattr refused for room: on ext4 the inode's xattr space and its one xattr block; on tmpfs (v6.6 and later)
// the space of nr_inodes, from which user xattrs take their size (shmem_xattr_handler_set(), 1 KiB an inode).
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;

constexpr uint64_t kTmpfsMagic = 0x01021994;

Event setxattr(const std::string& path, uint64_t size) {
  Event e = fakes::failing("setxattr", "python3", 515);
  e.path = path;
  e.args_valid = true;
  e.args[3] = size;
  return e;
}

// By path (setfattr, os.setxattr): the tmpfs's numbers read after the failure.
TEST(XattrRule, ATmpfsOutOfInodeSpaceByPath) {
  FakeFacts facts;
  PathFs fs = make_fs("/run/cache", "tmpfs", kTmpfsMagic, 256, 250, 4, 1);
  fs.super_options = "rw,nr_inodes=4";
  facts.by_path["/run/cache/f"] = fs;
  Cause c = diagnose(setxattr("/run/cache/f", 3000), facts);
  EXPECT_EQ(c.id, CauseId::XattrSpace);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "setxattr(2) of /run/cache/f by python3 (pid 515, container -) failed: the tmpfs at /run/cache has room for "
            "1 more of its 4 inodes (nr_inodes=4), from which user xattrs take their size (1 KiB an inode), and the "
            "call asked for 2.9 KiB of value (read after the failure).");
  EXPECT_NE(c.remedy.find("nr_inodes=N /run/cache"), std::string::npos) << c.remedy;
}

// By fd (fsetxattr): the superblock's numbers at the failure.
TEST(XattrRule, ATmpfsOutOfInodeSpaceAtTheFailure) {
  FakeFacts facts;
  Event e = setxattr("", 2048);
  e.syscall = "fsetxattr";
  e.file = fakes::tmpfs_dir(FileRole::Fd, 61, 8, 1);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::XattrSpace);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "fsetxattr(2) by python3 (pid 515, container -) failed: the tmpfs has room for 1 more of its 8 inodes, "
            "from which user xattrs take their size (1 KiB an inode), and the call asked for 2.0 KiB of value.");
  EXPECT_EQ(evidence_json(c)["at_failure"], true);
}

// ext4: the inode's space and its xattr block, not a tmpfs's inodes.
TEST(XattrRule, Ext4) {
  FakeFacts facts;
  facts.by_path["/srv/f"] = make_fs("/srv", "ext4", 0xEF53, 1000, 900, 100, 90);
  Cause c = diagnose(setxattr("/srv/f", 200), facts);
  EXPECT_EQ(c.id, CauseId::XattrSpace);
  EXPECT_NE(c.summary.find("no room for the extended attribute"), std::string::npos) << c.summary;
  EXPECT_EQ(c.summary.find("tmpfs"), std::string::npos) << c.summary;
}

}  // namespace
}  // namespace enospcd::diagnose
