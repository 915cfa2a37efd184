// A disk filesystem (ext4, xfs, ...) as statfs describes it when the event is explained: out of inodes with
// space free, full, full but for root's reserve, and a writeback error that surfaces at fsync.
#include <gtest/gtest.h>

#include <fcntl.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kDev = 0xfd00010;  // 253:16
constexpr uint64_t kExt4Magic = 0xEF53;

// 1 GiB of 4 KiB blocks: 13 000 of them free (50.8 MiB), none of it available to others than root (ext4 -m 5).
FakeFacts ext4_facts(uint64_t blocks_free, uint64_t blocks_avail, uint64_t inodes_free) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/srv", "ext4", kExt4Magic, 262144, blocks_free, 65536, inodes_free);
  fs.stats.blocks_avail = blocks_avail;
  fs.source = "/dev/vdb";
  facts.by_dev[kDev] = fs;
  facts.by_path["/srv/log/app.log"] = fs;
  return facts;
}

Event append(uint32_t uid) {
  Event e = fakes::failing("write", "logger", 640);
  e.uid = uid;
  e.path = "/srv/log/app.log";
  e.args_valid = true;
  e.args[0] = 3;
  e.args[2] = 512;
  FileInfo f;
  f.role = FileRole::Fd;
  f.dev = kDev;
  f.fstype = "ext4";
  f.name = "app.log";
  f.mount_name = "srv";
  e.file = f;
  return e;
}

TEST(DiskRule, AWriterOtherThanRootIsRefusedTheRootReserve) {
  FakeFacts facts = ext4_facts(13000, 0, 60000);
  Cause c = diagnose(append(1000), facts);
  EXPECT_EQ(c.id, CauseId::FsReservedBlocks);
  EXPECT_EQ(c.summary,
            "write(2) of /srv/log/app.log by logger (pid 640, container -) failed: ext4 /dev/vdb at /srv has 50.8 MiB "
            "free, but 50.8 MiB of it is reserved for root; uid 1000 may use only 0 B (read after the failure).");
  EXPECT_NE(c.remedy.find("tune2fs -m 1 /dev/vdb"), std::string::npos);
  const auto ev = evidence_json(c);
  EXPECT_EQ(ev["mount_point"], "/srv");
  EXPECT_EQ(ev["statfs"]["reserved_bytes"], 13000u * 4096);
  EXPECT_EQ(ev["statfs"]["avail_bytes"], 0);
  EXPECT_FALSE(ev.contains("bytes_requested")) << "a write of 512 bytes is no oversized request";
}

// Root may use the reserve: the same filesystem refused root only when the reserve was gone too.
TEST(DiskRule, RootIsRefusedOnlyWhenTheFilesystemIsFull) {
  FakeFacts facts = ext4_facts(0, 0, 60000);
  Cause c = diagnose(append(0), facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) of /srv/log/app.log by logger (pid 640, container -) failed: ext4 /dev/vdb at /srv is full: "
            "0 B available of 1.0 GiB (read after the failure).");
}

TEST(DiskRule, ACreateWithoutInodesIsNamedWhileSpaceIsFree) {
  FakeFacts facts = ext4_facts(100000, 90000, 0);
  Event e = fakes::failing("openat", "touch", 641);
  e.path = "/srv/log/new";
  e.args_valid = true;
  e.args[0] = static_cast<uint64_t>(AT_FDCWD);
  e.args[2] = O_WRONLY | O_CREAT;
  facts.by_path["/srv/log/new"] = facts.by_dev[kDev];
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsInodes);
  EXPECT_EQ(c.summary,
            "openat(2) of /srv/log/new by touch (pid 641, container -) failed: ext4 /dev/vdb at /srv has used all "
            "65 536 inodes while 351.6 MiB of space are free (read after the failure).");
}

// BPF read the superblock's counts at the failure: they explain it, not statfs's now, after the space was freed.
TEST(DiskRule, TheSuperblocksNumbersOfTheFailureBeatStatfsNow) {
  FakeFacts facts = ext4_facts(200000, 190000, 60000);  // freed since: 781 MiB free now
  Event e = append(0);
  e.file->ext4 = FileInfo::Ext4Counts{.blocks = 262144, .free_blocks = 100, .reserved_blocks = 100,
                                      .inodes = 65536, .free_inodes = 60000, .block_size = 4096, .exact = true};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) of /srv/log/app.log by logger (pid 640, container -) failed: ext4 /dev/vdb at /srv is full: "
            "0 B available of 1.0 GiB.");
  const auto ev = evidence_json(c);
  EXPECT_EQ(ev["statfs"]["free_bytes"], 100u * 4096);
  EXPECT_EQ(ev["statfs"]["reserved_bytes"], 100u * 4096);
  EXPECT_FALSE(ev.contains("read_after_ms"));

  // Without every CPU's delta the free counts are the folded ones, and the summary says so.
  e.file->ext4->exact = false;
  EXPECT_NE(diagnose(e, facts).summary.find("0 B available of 1.0 GiB (the free counts folded so far, short by up "
                                            "to a batch per CPU)."),
            std::string::npos);
}

// An fsync that reports ENOSPC: the data was accepted earlier and could not be written back.
TEST(DiskRule, FsyncReportsAFailedWriteback) {
  FakeFacts facts = ext4_facts(0, 0, 60000);
  Event e = fakes::failing("fsync", "postgres", 9);
  e.args_valid = true;
  e.args[0] = 3;
  e.file = append(0).file;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::WritebackError);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "fsync(2) by postgres (pid 9, container -) failed with ENOSPC: earlier writes were accepted into the "
            "page cache but could not be written back to ext4 at /srv.");
  const auto ev = evidence_json(c);
  EXPECT_EQ(ev["mount_point"], "/srv");
  EXPECT_EQ(ev["statfs"]["avail_bytes"], 0);
  EXPECT_FALSE(ev.contains("fstype"));
}

}  // namespace
}  // namespace enospcd::diagnose
