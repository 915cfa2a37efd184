// An ext4 directory whose hash index is full refuses a new entry with ENOSPC while the filesystem has space and
// inodes: named only where the numbers say so and the filesystem lacks large_dir.
#include <gtest/gtest.h>

#include <fcntl.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kDev = (7u << 20) | 2;
constexpr uint32_t kExtents = 0x40, kLargeDir = 0x4000;

FakeFacts ext4_facts(uint64_t blocks_free, uint64_t inodes_free, uint32_t features) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/srv/cache", "ext4", 0xEF53, 65536, blocks_free, 65536, inodes_free);
  fs.source = "/dev/loop2";
  facts.by_dev[kDev] = fs;
  facts.ext4_features = features;
  facts.directories["fd3:d"] = 17 << 20;
  return facts;
}

// touch, run by xargs, creating ./d/<long name> relative to its working directory fd 3 (openat).
Event create_in_directory() {
  Event e = fakes::failing("openat", "touch", 2001);
  e.path = "d/" + std::string(250, 'x');
  e.args_valid = true;
  e.args[0] = 3;
  e.args[2] = O_WRONLY | O_CREAT;
  FileInfo parent;
  parent.role = FileRole::Parent;
  parent.dev = kDev;
  parent.fstype = "ext4";
  parent.name = "d";
  parent.mount_name = "cache";
  e.file = parent;
  return e;
}

TEST(DirectoryIndex, AFullIndexWithSpaceAndInodesFreeIsNamed) {
  FakeFacts facts = ext4_facts(40000, 20000, kExtents);
  Cause c = diagnose(create_in_directory(), facts);
  EXPECT_EQ(c.id, CauseId::DirectoryIndex);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "openat(2) of d/" + std::string(250, 'x') +
                " by touch (pid 2001, container -) failed: the hash index of the directory d (17.0 MiB of entries) "
                "is full; ext4 /dev/loop2 at /srv/cache has 156.2 MiB and 20 000 inodes free, and without the "
                "large_dir feature a directory's index has two levels (read after the failure).");
  EXPECT_EQ(evidence_json(c)["directory_bytes"], 17 << 20);
  EXPECT_NE(c.remedy.find("tune2fs -O large_dir /dev/loop2"), std::string::npos) << c.remedy;
}

TEST(DirectoryIndex, NotWithLargeDirNotWhenFullNotForAnOpenWithoutCreate) {
  FakeFacts large = ext4_facts(40000, 20000, kExtents | kLargeDir);
  EXPECT_NE(diagnose(create_in_directory(), large).id, CauseId::DirectoryIndex);
  FakeFacts no_inodes = ext4_facts(40000, 0, kExtents);
  EXPECT_EQ(diagnose(create_in_directory(), no_inodes).id, CauseId::FsInodes);
  FakeFacts unreadable = ext4_facts(40000, 20000, kExtents);
  unreadable.ext4_features.reset();  // the device cannot be read: no claim
  EXPECT_EQ(diagnose(create_in_directory(), unreadable).id, CauseId::Unknown);
  Event open_only = create_in_directory();
  open_only.args[2] = O_WRONLY;
  FakeFacts facts = ext4_facts(40000, 20000, kExtents);
  EXPECT_NE(diagnose(open_only, facts).id, CauseId::DirectoryIndex);
}

}  // namespace
}  // namespace enospcd::diagnose
