// A chain whose innermost origin is tmpfs accounting decides the cause, whatever filesystem the event's path or
// device resolves to later: the tmpfs may be unmounted, or may have lived in a mount namespace that is gone,
// by the time the event is explained. Such events crashed the daemon (an empty optional dereferenced).
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;

constexpr uint64_t kTmpfsMagic = 0x01021994, kExt4Magic = 0xEF53;

Event failing(const std::string& syscall, const std::string& path, std::vector<ChainLink> chain) {
  Event e = fakes::failing(syscall, "cp", 4242);
  e.ppid = 1;
  e.path = path;
  e.has_mntns = true;
  e.mntns = 4026532000;
  e.chain = std::move(chain);
  return e;
}

// As Debian's 6.1 kernel reports a create on a full tmpfs (tests/vm/chains).
const std::vector<ChainLink> kInodeChain = {{"shmem_reserve_inode", -28, 0}, {"__shmem_get_inode", -28, 0}};
const std::vector<ChainLink> kBlockChain = {{"shmem_inode_acct_block", -28, 0}, {"shmem_alloc_and_acct_folio", -28, 0}};

TEST(TmpfsChain, PathNowOnAnotherFilesystemIsNotDescribedAsTheTmpfs) {
  FakeFacts facts;
  // The tmpfs at /x was in a private mount namespace; resolved now, /x/big is on the host's ext4 root.
  facts.by_path["/x/big"] = make_fs("/", "ext4", kExt4Magic, 1000000, 500000, 65536, 60000);
  Cause c = diagnose(failing("openat", "/x/big", kInodeChain), facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "openat(2) of /x/big by cp (pid 4242, container -) failed: shmem_reserve_inode returned -28 (tmpfs inode "
            "accounting).");
  EXPECT_EQ(evidence_json(c)["origin"], "shmem_reserve_inode");
  EXPECT_FALSE(evidence_json(c).contains("mount_point")) << evidence_json(c).dump();
}

TEST(TmpfsChain, StatfsThatFailedIsNotATmpfs) {
  FakeFacts facts;
  facts.by_path["/x/big"] = make_fs("/x", "", 0);  // the mount was found, its statfs was not
  Cause c = diagnose(failing("write", "/x/big", kBlockChain), facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) of /x/big by cp (pid 4242, container -) failed: shmem_inode_acct_block returned -28 (tmpfs block "
            "accounting).");
}

TEST(TmpfsChain, DeviceNowOnAnotherFilesystemIsNotDescribedAsTheTmpfs) {
  FakeFacts facts;
  Event e = failing("write", "", kBlockChain);
  FileInfo f;
  f.dev = 42;
  f.magic = 0;  // no superblock evidence
  e.file = f;
  facts.by_dev[42] = make_fs("/var", "ext4", kExt4Magic, 1000, 10);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "write(2) by cp (pid 4242, container -) failed: shmem_inode_acct_block returned -28 (tmpfs block "
            "accounting).");
}

TEST(TmpfsChain, SuperblockEvidenceGivesTheNumbersWhenTheMountIsGone) {
  FakeFacts facts;
  Event e = failing("write", "", kBlockChain);
  FileInfo f;
  f.dev = 43;
  f.magic = kTmpfsMagic;
  f.shmem_max_blocks = 16;   // size=64k
  f.shmem_used_blocks = 16;
  f.shmem_used_exact = true;
  e.file = f;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary, "write(2) by cp (pid 4242, container -) failed: the tmpfs is full: 64.0 KiB of 64.0 KiB used.");
  EXPECT_EQ(evidence_json(c)["bytes_max"], 65536);
}

TEST(TmpfsChain, ResolvedTmpfsGivesMountPointAndNumbers) {
  FakeFacts facts;
  PathFs fs = make_fs("/t1", "tmpfs", kTmpfsMagic, 16, 16, 4, 0);
  fs.super_options = "rw,size=64k,nr_inodes=4";
  facts.by_path["/t1/e"] = fs;
  Cause c = diagnose(failing("openat", "/t1/e", kInodeChain), facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.summary,
            "openat(2) of /t1/e by cp (pid 4242, container -) failed: the tmpfs at /t1 has 4 inodes (nr_inodes=4), 4 "
            "in use, 0 free (read after the failure).");
}

// An absolute path's directory, read when the origin failed (BPF, the path walk's parent): its numbers are the
// failure's, even where the path now resolves to a tmpfs with other numbers (remounted, files deleted since);
// the mount's options now (nr_inodes=100) are not shown next to them.
TEST(TmpfsChain, ParentDirectoryReadAtTheOriginGivesTheNumbersOfTheFailure) {
  FakeFacts facts;
  PathFs now = make_fs("/t1", "tmpfs", kTmpfsMagic, 16, 16, 100, 90);
  now.super_options = "rw,nr_inodes=100";
  facts.by_path["/t1/e"] = now;
  facts.by_dev[45] = now;
  Event e = failing("openat", "/t1/e", kInodeChain);
  e.file = fakes::tmpfs_dir(FileRole::Parent, 45, 4, 0);
  e.file->mount_name = "t1";
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.summary,
            "openat(2) of /t1/e by cp (pid 4242, container -) failed: the tmpfs at /t1 has 4 inodes, 4 in use, 0 "
            "free.");
  EXPECT_EQ(evidence_json(c)["at_failure"]["of"], "parent");
  EXPECT_EQ(evidence_json(c)["inodes"], 4);
  EXPECT_EQ(evidence_json(c)["inodes_free"], 0);
}

TEST(TmpfsChain, SyscallRuleIgnoresAResolvedFilesystemThatIsNotTheFdsTmpfs) {
  FakeFacts facts;
  Event e = failing("write", "", {});
  FileInfo f;
  f.dev = 44;
  f.magic = kTmpfsMagic;
  f.shmem_max_blocks = 256;
  f.shmem_used_blocks = 256;
  f.shmem_used_exact = true;
  e.file = f;
  facts.by_dev[44] = make_fs("/srv", "ext4", kExt4Magic, 1000, 10);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary, "write(2) by cp (pid 4242, container -) failed: the tmpfs is full: 1.0 MiB of 1.0 MiB used.");
}

}  // namespace
}  // namespace enospcd::diagnose
