// What the failing call asked for is part of the explanation: fallocate is all or nothing, so a request larger
// than what is free fails on a tmpfs that is not full, and the summary must not call it full.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;

constexpr uint64_t kTmpfsMagic = 0x01021994;

// used_exact: BPF summed every CPU's delta (else the count is the folded one).
Event on_tmpfs(const std::string& syscall, uint64_t max_pages, uint64_t used_pages, bool used_exact = true) {
  Event e = fakes::failing(syscall, "fallocate", 77);
  e.args_valid = true;
  FileInfo f;
  f.dev = 51;
  f.magic = kTmpfsMagic;
  f.shmem_max_blocks = max_pages;
  f.shmem_used_blocks = used_pages;
  f.shmem_used_exact = used_exact;
  e.file = f;
  return e;
}

TEST(Request, FallocateLargerThanWhatIsFreeOnAnEmptyTmpfs) {
  FakeFacts facts;
  facts.by_dev[51] = make_fs("/t", "tmpfs", kTmpfsMagic, 64, 64);  // 256 KiB, all free
  facts.by_dev[51].super_options = "rw,size=256k";
  Event e = on_tmpfs("fallocate", 64, 0);
  e.args[3] = 1 << 20;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "fallocate(2) by fallocate (pid 77, container -) failed: the tmpfs at /t has 256.0 KiB free of 256.0 KiB "
            "(size=256k), less than the 1.0 MiB the call asked for.");
  EXPECT_EQ(evidence_json(c)["bytes_requested"], 1 << 20);
  EXPECT_EQ(evidence_json(c)["bytes_used"], 0);
}

TEST(Request, WriteOntoAFullTmpfsSaysFullAndWhatWasAsked) {
  FakeFacts facts;
  facts.by_dev[51] = make_fs("/t", "tmpfs", kTmpfsMagic, 64, 0);
  Event e = on_tmpfs("write", 64, 64);
  e.comm = "dd";
  e.args[2] = 4096;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) by dd (pid 77, container -) failed: the tmpfs at /t is full: 256.0 KiB of 256.0 KiB used (the "
            "call asked for 4.0 KiB).");
}

TEST(Request, WithoutArgumentsNothingIsClaimedAboutTheRequest) {
  FakeFacts facts;
  facts.by_dev[51] = make_fs("/t", "tmpfs", kTmpfsMagic, 64, 0);
  Event e = on_tmpfs("writev", 64, 64);
  e.args_valid = false;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.summary,
            "writev(2) by fallocate (pid 77, container -) failed: the tmpfs at /t is full: 256.0 KiB of 256.0 KiB "
            "used.");
  EXPECT_FALSE(evidence_json(c).contains("bytes_requested"));
}

// sqlite3 on a small tmpfs: the write failed with 252 KiB of 256 KiB used; by the time the event is explained
// the journal is deleted and statfs shows 200 KiB. The numbers of the failure (BPF's summed count) are the
// ones given, and they agree with the verdict.
TEST(Request, CountSummedAtTheFailureBeatsStatfsReadAfter) {
  FakeFacts facts;
  facts.by_dev[51] = make_fs("/t", "tmpfs", kTmpfsMagic, 64, 14);  // 200 KiB used now
  facts.by_dev[51].super_options = "rw,size=256k";
  Event e = on_tmpfs("pwrite64", 64, 63);
  e.comm = "sqlite3";
  e.args[2] = 8192;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "pwrite64(2) by sqlite3 (pid 77, container -) failed: the tmpfs at /t has 4.0 KiB free of 256.0 KiB "
            "(size=256k), less than the 8.0 KiB the call asked for.");
  EXPECT_EQ(evidence_json(c)["bytes_used"], 63 * 4096);
  EXPECT_EQ(evidence_json(c)["bytes_used_at_failure"], true);
}

// Without the summed count, usage is statfs's, read after the failure. Numbers that would have let the call
// through are said to be of now, and the tmpfs is not called full.
TEST(Request, UsageReadAfterThatWouldFitIsNotCalledFull) {
  FakeFacts facts;
  facts.by_dev[51] = make_fs("/t", "tmpfs", kTmpfsMagic, 64, 14);
  Event e = on_tmpfs("pwrite64", 64, 0, false);
  e.comm = "sqlite3";
  e.args[2] = 4096;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "pwrite64(2) by sqlite3 (pid 77, container -) failed: the tmpfs at /t could not hold the 4.0 KiB the "
            "call asked for; 200.0 KiB of 256.0 KiB are used now (read after the failure).");
  EXPECT_EQ(evidence_json(c)["bytes_used_at_failure"], false);
}

// No filesystem to read now and no summed count: the folded count is given as what it is.
TEST(Request, FoldedCountAloneIsSaidToLag) {
  FakeFacts facts;
  Event e = on_tmpfs("write", 64, 0, false);
  e.comm = "dd";
  e.args[2] = 4096;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.summary,
            "write(2) by dd (pid 77, container -) failed: the tmpfs could not hold the 4.0 KiB the call asked for; "
            "0 B of 256.0 KiB were used (the count folded so far, short by up to a batch of pages per CPU).");
}

}  // namespace
}  // namespace enospcd::diagnose

namespace enospcd::diagnose {
namespace {

TEST(Request, FallocateLargerThanWhatIsAvailableOnExt4) {
  FakeFacts facts;
  // 1 GiB ext4 with 512 MiB available; fallocate asks for 600 MiB.
  facts.by_dev[52] = make_fs("/data", "ext4", 0xEF53, 262144, 131072, 65536, 60000);
  facts.by_dev[52].source = "/dev/vdb";
  Event e;
  e.pid = 78;
  e.comm = "fallocate";
  e.syscall = "fallocate";
  e.errno_name = "ENOSPC";
  e.args_valid = true;
  e.args[3] = 600ull << 20;
  FileInfo f;
  f.dev = 52;
  f.magic = 0xEF53;
  e.file = f;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_EQ(c.summary,
            "fallocate(2) by fallocate (pid 78, container -) failed: ext4 /dev/vdb at /data has 512.0 MiB available "
            "of 1.0 GiB, less than the 600.0 MiB the call asked for (read after the failure).");
}

}  // namespace
}  // namespace enospcd::diagnose
