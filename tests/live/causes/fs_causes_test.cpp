// Filesystem causes reproduced for real: tmpfs and loop-mounted ext4 filled, each failure traced by the daemon
// and asserted on its cause id, the numbers in its summary, and the exact count the trigger saw.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "live/causes/causes.h"

namespace enospcd::testing::causes {
namespace {

// tmpfs nr_inodes=16: the root directory takes one inode, 15 files fit, the other 9 creates fail in openat.
TEST(FsCauses, TmpfsInodes) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=16,size=4m");
  ASSERT_TRUE(mnt.ok());
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"create-files", mnt.path(), "24"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("ok"), 15u) << t.out;
  ASSERT_EQ(t.n("enospc"), 9u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "openat", "tmpfs_inodes", 9);
  expect_summaries_contain(events, "the tmpfs at " + mnt.path() + " has 16 inodes (nr_inodes=16), 16 in use, 0 free");
  for (const auto& e : events) {
    EXPECT_EQ(e["cause"]["evidence"].value("inodes", 0), 16) << e.dump(2);
    EXPECT_EQ(e["cause"]["evidence"].value("inodes_free", -1), 0) << e.dump(2);
  }
}

// The usual failing process is gone before its event is read (a container's init, a build step): 200
// processes fail one create each on a tmpfs with no free inode and exit at once. The daemon reads /proc of
// processes that are exiting or gone, and must still explain every failure, from the event alone.
TEST(FsCauses, ProcessesGoneBeforeTheirEventIsRead) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=1,size=1m");
  ASSERT_TRUE(mnt.ok());
  const int processes = 200;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  std::vector<Trigger> runs;
  for (int i = 0; i < processes; i++) {
    runs.push_back(run_trigger({"create-files", mnt.path(), "1"}));
    ASSERT_EQ(runs.back().n("enospc"), 1u) << runs.back().out;
  }
  json report = tracer.finish();
  ASSERT_TRUE(report.contains("events")) << "the daemon gave no report";

  for (const auto& t : runs) {
    auto events = expect_diagnosed(report, t, "openat", "tmpfs_inodes", 1);
    expect_summaries_contain(events, "the tmpfs at " + mnt.path() + " has 1 inodes (nr_inodes=1), 1 in use, 0 free");
  }
}

// tmpfs size=1m: 256 pages take exactly 1 MiB of 64 KiB writes; the write after them and 3 retries fail.
TEST(FsCauses, TmpfsBlocks) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("size=1m");
  ASSERT_TRUE(mnt.ok());
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"fill", mnt.path() + "/big", "65536", "3"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("bytes"), 1u << 20) << t.out;
  ASSERT_EQ(t.n("enospc"), 4u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "write", "tmpfs_blocks", 4);
  expect_summaries_contain(events, "the tmpfs at " + mnt.path() + " is full: 1.0 MiB of 1.0 MiB (size=1024k) used");
  for (const auto& e : events) {
    // The superblock's limit, read in BPF at the moment of failure.
    EXPECT_EQ(e["file"]["tmpfs"]["max_blocks"], 256) << e.dump(2);
    EXPECT_EQ(e["cause"]["evidence"].value("bytes_max", 0), 1 << 20) << e.dump(2);
  }
}

// ext4 filled by root: every block root may use is taken (only ext4's own reserved clusters stay free).
TEST(FsCauses, Ext4BlocksFilledByRoot) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "");
  ASSERT_TRUE(fs.ok()) << fs.error();
  uint64_t total = stat_fs(fs.path()).total_bytes;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"fill", fs.path() + "/fill", "65536", "2"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("enospc"), 3u) << t.out;
  ASSERT_GT(t.n("bytes"), 12u << 20) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "write", "fs_blocks", 3);
  expect_summaries_contain(events, "ext4 " + fs.device() + " at " + fs.path() + " is full: ");
  // The superblock's numbers, read in BPF at the failure: the total is statfs's (the filesystem's own overhead
  // left out), and nothing is said to be read after.
  expect_summaries_contain(events, " available of " + human_bytes(total) + ".");
  for (const auto& e : events) {
    EXPECT_EQ(e["file"]["fstype"], "ext4") << e.dump(2);
    EXPECT_EQ(e["file"]["ext4"].value("blocks", uint64_t{0}) * e["file"]["ext4"].value("block_size", uint64_t{0}),
              total)
        << e.dump(2);
    EXPECT_EQ(e["cause"]["summary"].get<std::string>().find("read after"), std::string::npos) << e.dump(2);
  }
}

// ext4 with mkfs's default 5% root reserve: uid 65534 writes into a 0777 directory until ENOSPC, and root can
// still write after that, into the reserve.
TEST(FsCauses, Ext4ReservedBlocksHitByNonRoot) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "-m 5");
  ASSERT_TRUE(fs.ok()) << fs.error();
  std::string pub = fs.path() + "/pub";
  ASSERT_EQ(mkdir(pub.c_str(), 0777), 0);
  ASSERT_EQ(chmod(pub.c_str(), 0777), 0);
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto user = run_trigger({"fill", pub + "/user", "65536", "2"}, kNobody);
  ASSERT_EQ(user.exit_code, 0) << user.out;
  ASSERT_EQ(user.n("enospc"), 3u) << user.out;
  // Root gets further: the reserve was what stopped uid 65534.
  auto root = run_trigger({"fill", fs.path() + "/root", "65536", "0"});
  ASSERT_EQ(root.exit_code, 0) << root.out;
  ASSERT_EQ(root.n("enospc"), 1u) << root.out;
  ASSERT_GT(root.n("bytes"), 0u) << "root could not write after uid 65534 hit ENOSPC: " << root.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, user, "write", "fs_reserved_blocks", 3);
  expect_summaries_contain(events, "ext4 " + fs.device() + " at " + fs.path() + " has ");
  for (const auto& e : events) {
    EXPECT_EQ(e["uid"], kNobody);
    // The numbers are the superblock's at the failure, read in BPF: free space, the part of it only root may
    // use, and the little uid 65534 may still use.
    const json& st = e["cause"]["evidence"]["statfs"];
    uint64_t free = st.value("free_bytes", uint64_t{0}), avail = st.value("avail_bytes", uint64_t{0});
    EXPECT_GT(free, avail) << e.dump(2);
    EXPECT_LE(avail, 1u << 20) << e.dump(2);
    expect_summaries_contain({e}, " has " + human_bytes(free) + " free, but " + human_bytes(free - avail) +
                                      " of it is reserved for root; uid 65534 may use only " + human_bytes(avail) +
                                      ".");
  }
  // Root's own failure, at the very end, is plain fs_blocks.
  expect_diagnosed(report, root, "write", "fs_blocks", 1);
}

// mkfs.ext4 -N 64: a filesystem with 64 inodes and megabytes of free space runs out of inodes.
TEST(FsCauses, Ext4Inodes) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "-N 64");
  ASSERT_TRUE(fs.ok()) << fs.error();
  StatFs before = stat_fs(fs.path());
  ASSERT_EQ(before.inodes, 64u) << "mkfs.ext4 -N 64 made " << before.inodes << " inodes";
  const uint64_t attempts = 80;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"create-files", fs.path(), std::to_string(attempts)});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("ok"), before.inodes_free) << t.out;
  ASSERT_EQ(t.n("enospc"), attempts - before.inodes_free) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "openat", "fs_inodes", attempts - before.inodes_free);
  expect_summaries_contain(events, "ext4 " + fs.device() + " at " + fs.path() + " has used all 64 inodes while ");
}

// ext4 (1 KiB blocks, 256-byte inodes): user.* xattrs of 200 bytes fill the in-inode space and the one xattr
// block; the rest fail in setxattr.
TEST(FsCauses, Ext4XattrSpace) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "-b 1024 -I 256");
  ASSERT_TRUE(fs.ok()) << fs.error();
  std::string file = fs.path() + "/tagged";
  std::ofstream(file).put('x');
  const uint64_t attempts = 20;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"xattr", file, std::to_string(attempts), "200"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_GT(t.n("ok"), 0u) << t.out;
  ASSERT_EQ(t.n("ok") + t.n("enospc"), attempts) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "setxattr", "xattr_space", t.n("enospc"));
  expect_summaries_contain(events, "setxattr(2) of " + file + " by enospc_trigger");
  for (const auto& e : events) EXPECT_EQ(e["path"], file);
}

// A loop device whose backing file is sparse on a tmpfs smaller than the ext4 on it: the writes fit the ext4
// and land in the page cache; at fsync the loop driver cannot write them to the full tmpfs, the bio ends with
// BLK_STS_NOSPC and ext4 reports -ENOSPC from fsync(2).
TEST(FsCauses, WritebackErrorAtFsync) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount backing("size=8m");
  ASSERT_TRUE(backing.ok());
  // No journal and no inode-table zeroing, so that nothing but the test's data needs the tmpfs's space.
  LoopExt4Fs fs(64, "-O ^has_journal -E lazy_itable_init=1,nodiscard", "noinit_itable", backing.path());
  ASSERT_TRUE(fs.ok()) << fs.error();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"fsync", fs.path() + "/data", std::to_string(16 << 20)});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("write_failures"), 0u) << t.out;
  ASSERT_EQ(t.n("written"), 16u << 20) << t.out;
  if (t.s("fsync_errno") != "ENOSPC") {
    tracer.finish();
    GTEST_SKIP() << "fsync(2) on this kernel returned " << t.s("fsync_errno")
                 << " rather than ENOSPC for a loop device whose backing tmpfs is full";
  }
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "fsync", "writeback_error", 1);
  expect_summaries_contain(events, "fsync(2) by enospc_trigger");
  expect_summaries_contain(events, "could not be written back to ext4 at " + fs.path() + ".");
  for (const auto& e : events) EXPECT_EQ(e["file"]["name"], "data") << e.dump(2);
}

// Disk quota (EDQUOT) needs quota support in the kernel: the ext4 quota feature and a quota format.
TEST(FsCauses, QuotaEdquot) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "-O quota -E quotatype=usrquota", "usrquota");
  if (!fs.ok())
    GTEST_SKIP() << "no disk quotas on this kernel: an ext4 with the quota feature does not mount (needs "
                    "CONFIG_QUOTA and CONFIG_QFMT_V2; tmpfs quotas need CONFIG_TMPFS_QUOTA, XFS CONFIG_XFS_QUOTA): "
                 << fs.error();
  std::string pub = fs.path() + "/pub";
  ASSERT_EQ(mkdir(pub.c_str(), 0777), 0);
  ASSERT_EQ(chmod(pub.c_str(), 0777), 0);
  auto q = run_trigger({"set-quota", fs.device(), std::to_string(kNobody), "256"});
  ASSERT_EQ(q.exit_code, 0) << q.out;
  Tracer tracer({"--errno", "ENOSPC,EDQUOT"});
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"fill", pub + "/q", "4096", "2"}, kNobody);
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("edquot"), 3u) << t.out;
  ASSERT_LE(t.n("bytes"), 256u << 10) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "write", "quota", 3, "EDQUOT");
  expect_summaries_contain(events, "uid 65534");
  expect_summaries_contain(events, "on " + fs.path());
}

}  // namespace
}  // namespace enospcd::testing::causes
