// A write through overlayfs: the overlay holds no blocks, its upper layer's filesystem refused. The rule of
// that filesystem explains it with its numbers, and the overlay is named.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;

constexpr uint32_t kOverlayMagic = 0x794c7630;
constexpr uint32_t kTmpfsMagic = 0x01021994;
constexpr uint32_t kExt4Magic = 0xef53;

Event write_through_overlay(uint64_t bytes) {
  Event e = fakes::failing("write", "dd", 515);
  e.args_valid = true;
  e.args[2] = bytes;
  FileInfo f;
  f.dev = 41;
  f.magic = kOverlayMagic;
  f.fstype = "overlay";
  f.mount_name = "merged";
  e.file = f;
  return e;
}

TEST(Overlay, UpperOnAFullTmpfsGivesItsNumbersAtTheFailure) {
  FakeFacts facts;
  facts.by_dev[41] = make_fs("/srv/merged", "overlay", kOverlayMagic, 100, 50);
  PathFs up = make_fs("/srv/upper", "tmpfs", kTmpfsMagic, 64, 30);  // freed since
  up.super_options = "rw,size=256k";
  facts.by_dev[62] = up;
  Event e = write_through_overlay(65536);
  FileInfo u;
  u.dev = 62;
  u.magic = kTmpfsMagic;
  u.fstype = "tmpfs";
  u.shmem_max_blocks = 64;
  u.shmem_used_blocks = 64;
  u.shmem_used_exact = true;
  e.upper = u;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) by dd (pid 515, container -) failed: the tmpfs at /srv/upper is full: 256.0 KiB of 256.0 KiB "
            "(size=256k) used (the call asked for 64.0 KiB). The call wrote through the overlay at /srv/merged, whose "
            "upper layer is on this filesystem.");
  EXPECT_EQ(evidence_json(c)["overlay"]["mount_point"], "/srv/merged");
  EXPECT_EQ(evidence_json(c)["overlay"]["upper_fstype"], "tmpfs");
}

TEST(Overlay, UpperOnAFullExt4) {
  FakeFacts facts;
  facts.by_dev[(7u << 20) | 3] = make_fs("/var/lib/containers", "ext4", kExt4Magic, 25600, 0);
  Event e = write_through_overlay(1 << 20);
  FileInfo u;
  u.dev = (7u << 20) | 3;
  u.magic = kExt4Magic;
  u.fstype = "ext4";
  e.upper = u;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_NE(c.summary.find("at /var/lib/containers is full"), std::string::npos) << c.summary;
  EXPECT_NE(c.summary.find("The call wrote through the overlay, whose upper layer is on this filesystem."),
            std::string::npos)
      << c.summary;
}

// Without the upper layer (an overlay inode BPF could not follow) nothing is made up about the overlay.
TEST(Overlay, WithoutTheUpperLayerNoFilesystemIsBlamed) {
  FakeFacts facts;
  Cause c = diagnose(write_through_overlay(4096), facts);
  EXPECT_EQ(c.id, CauseId::Unknown);
  EXPECT_FALSE(evidence_json(c).contains("overlay"));
}

}  // namespace
}  // namespace enospcd::diagnose
