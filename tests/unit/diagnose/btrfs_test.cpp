// btrfs out of metadata space while its data chunks have room: statfs shows nothing available, the sysfs
// allocation numbers tell which kind ran out.
#include <gtest/gtest.h>

#include <fcntl.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kDev = 0x1c;  // btrfs gives its filesystems anonymous device numbers (0:28)
constexpr uint64_t kMiB = 1 << 20;

// 256 MiB btrfs: statfs shows 0 available, as btrfs_statfs() does once metadata is short.
FakeFacts btrfs_facts(BtrfsSpace space) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/var/lib/images", "btrfs", 0x9123683E, 65536, 30000, 0, 0);
  fs.stats.blocks_avail = 0;
  fs.source = "/dev/loop3";
  facts.by_dev[kDev] = fs;
  facts.btrfs = space;
  return facts;
}

Event create_small_file() {
  Event e = fakes::failing("openat", "cp", 812);
  e.path = "/var/lib/images/small/f48113";
  e.args_valid = true;
  e.args[0] = static_cast<uint64_t>(AT_FDCWD);
  e.args[2] = O_WRONLY | O_CREAT;
  FileInfo parent;
  parent.role = FileRole::Parent;
  parent.dev = kDev;
  parent.fstype = "btrfs";
  parent.name = "small";
  parent.mount_name = "images";
  e.file = parent;
  return e;
}

TEST(BtrfsMetadata, FullMetadataWithDataFreeIsNamedWithItsNumbers) {
  FakeFacts facts = btrfs_facts({.data_total = 200 * kMiB, .data_used = 72 * kMiB, .metadata_total = 51 * kMiB,
                                 .metadata_used = 51 * kMiB - 64 * 1024, .unallocated = 0});
  Cause c = diagnose(create_small_file(), facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "openat(2) of /var/lib/images/small/f48113 by cp (pid 812, container -) failed: btrfs /dev/loop3 at "
            "/var/lib/images has no room for metadata: 50.9 MiB of its 51.0 MiB of metadata chunks used or held for "
            "changes in flight, and 0 B of its devices left for new chunks, while its data chunks have 128.0 MiB "
            "free (read after the failure).");
  EXPECT_EQ(evidence_json(c)["btrfs"]["metadata_total"], 51 * kMiB);
  EXPECT_NE(c.remedy.find("btrfs balance"), std::string::npos);
}

// As a 256 MiB btrfs was left by touch (tests/live ThirdParty.TouchRunsABtrfsOutOfMetadata): 9.8 MiB used and
// the 5.5 MiB global reserve held of 19 MiB, 1 MiB unallocated, half the data chunks free.
TEST(BtrfsMetadata, AQuarterFreeIsFullWhenNoChunkCanBeAdded) {
  FakeFacts facts = btrfs_facts({.data_total = 243269632, .data_used = 121569280, .metadata_total = 19922944,
                                 .metadata_used = 10240000 + 5767168, .unallocated = 1 << 20});
  Cause c = diagnose(create_small_file(), facts);
  EXPECT_NE(c.summary.find("has no room for metadata: 15.3 MiB of its 19.0 MiB of metadata chunks"),
            std::string::npos)
      << c.summary;
}

TEST(BtrfsMetadata, NotWhenChunksCanStillBeAddedOrDataIsFullToo) {
  FakeFacts room = btrfs_facts({.data_total = 200 * kMiB, .data_used = 72 * kMiB, .metadata_total = 51 * kMiB,
                                .metadata_used = 51 * kMiB, .unallocated = 64 * kMiB});
  EXPECT_EQ(diagnose(create_small_file(), room).summary.find("no room for metadata"), std::string::npos);
  FakeFacts data_full = btrfs_facts({.data_total = 200 * kMiB, .data_used = 200 * kMiB, .metadata_total = 51 * kMiB,
                                     .metadata_used = 51 * kMiB, .unallocated = 0});
  Cause c = diagnose(create_small_file(), data_full);
  EXPECT_EQ(c.summary.find("no room for metadata"), std::string::npos) << c.summary;
  EXPECT_EQ(c.id, CauseId::FsBlocks);  // statfs: nothing available
}

}  // namespace
}  // namespace enospcd::diagnose
