// A relative path starts at a directory: the dirfd argument's (GNU tar extracts with openat(dirfd, name) into
// its -C directory, rsync creates its temporary files the same way) or the working directory's (git's
// .git/objects/...). BPF reads that directory's superblock at the failure; the numbers of a tmpfs come from
// there, and a path resolved later starts at the same directory, never at the cwd for a dirfd call.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <set>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;
using fakes::tmpfs_dir;

constexpr uint64_t kTmpfsMagic = 0x01021994, kExt4Magic = 0xEF53;

Event create(const std::string& syscall, const std::string& path) {
  Event e = fakes::failing(syscall, "tar", 311);
  e.ppid = 1;
  e.path = path;
  e.has_mntns = true;
  e.mntns = 4026531841;
  return e;
}

TEST(StartDir, OpenatRelativeToADirfdOnAFullTmpfsWithoutAChain) {
  FakeFacts facts;
  // The cwd is on ext4 with room; the -C directory is a tmpfs mounted at /w/out.
  facts.by_path["./a/f07"] = make_fs("/", "ext4", kExt4Magic, 100000, 90000, 6000, 5000);
  facts.by_dev[47] = make_fs("/w/out", "tmpfs", kTmpfsMagic, 64, 61, 8, 0);
  facts.by_dev[47].super_options = "rw,nr_inodes=8";
  Event e = create("openat", "./a/f07");
  e.args_valid = true;
  e.args[0] = 3;
  e.args[2] = O_WRONLY | O_CREAT | O_EXCL;
  e.file = tmpfs_dir(FileRole::Dirfd, 47);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.summary,
            "openat(2) of ./a/f07 by tar (pid 311, container -) failed: the tmpfs at /w/out has 8 inodes "
            "(nr_inodes=8), 8 in use, 0 free.");
  EXPECT_EQ(evidence_json(c)["at_failure"]["of"], "dirfd");
  EXPECT_EQ(evidence_json(c)["at_failure"]["free_inodes"], 0);
  EXPECT_EQ(evidence_json(c)["mount_point"], "/w/out");
}

// An unnamed file (O_TMPFILE: Python's tempfile.TemporaryFile) in a directory of a tmpfs out of inodes: the
// open creates an inode though it has no O_CREAT.
TEST(StartDir, AnUnnamedFileNeedsAnInode) {
  FakeFacts facts;
  facts.by_path["/w/out"] = make_fs("/w/out", "tmpfs", kTmpfsMagic, 64, 61, 8, 0);
  facts.by_path["/w/out"].super_options = "rw,nr_inodes=8";
  Event e = create("openat", "/w/out");
  e.comm = "python3";
  e.args_valid = true;
  e.args[0] = static_cast<uint64_t>(AT_FDCWD);
  e.args[2] = O_RDWR | O_TMPFILE;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes) << c.summary;
  EXPECT_EQ(c.summary,
            "openat(2) of /w/out by python3 (pid 311, container -) failed: the tmpfs at /w/out has 8 inodes "
            "(nr_inodes=8), 8 in use, 0 free (read after the failure).");
  // A directory opened without O_TMPFILE creates nothing.
  e.args[2] = O_RDONLY | O_DIRECTORY;
  EXPECT_NE(diagnose(e, facts).id, CauseId::TmpfsInodes);
}

// A shell loop of touch on a full tmpfs, gate-only (no superblock for an absolute path): the touch exits while
// its mounts are read, and so does the shell when it was the last touch. Any process left in that mount
// namespace sees the same mounts; the daemon is one.
TEST(StartDir, AbsolutePathIsResolvedWhenTheProcessAndItsParentExitDuringTheLookup) {
  FakeFacts facts;
  facts.by_path["/run/w/f6"] = make_fs("/run/w", "tmpfs", kTmpfsMagic, 64, 61, 4, 0);
  facts.by_path["/run/w/f6"].super_options = "rw,nr_inodes=4";
  Event e = create("openat", "/run/w/f6");
  e.comm = "touch";
  e.ppid = 310;
  e.args_valid = true;
  e.args[2] = O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK;
  facts.exits_during_lookup = {311, 310};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes) << c.summary;
  EXPECT_EQ(evidence_json(c)["mount_point"], "/run/w");
  EXPECT_EQ(facts.gone, (std::set<uint32_t>{310, 311}));
  // A relative path starts where only the failing process can tell: nobody else's view stands in for it.
  FakeFacts later;
  later.by_path["f6"] = make_fs("/run/w", "tmpfs", kTmpfsMagic, 64, 61, 4, 0);
  later.exits_during_lookup = {311};
  Event rel = create("openat", "f6");
  rel.args_valid = true;
  rel.args[0] = static_cast<uint64_t>(AT_FDCWD);
  rel.args[2] = O_WRONLY | O_CREAT;
  EXPECT_EQ(diagnose(rel, later).id, CauseId::Unknown);
}

TEST(StartDir, WorkingDirectoryEvidenceExplainsAGitLinkAfterTheProcessIsGone) {
  FakeFacts facts;
  facts.namespace_gone = true;  // nothing can be resolved now
  Event e = create("link", ".git/objects/c7/6cb043636b9a8745008a97d4050ec080404c6a");
  e.comm = "git";
  e.file = tmpfs_dir(FileRole::Cwd, 48);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.summary,
            "link(2) of .git/objects/c7/6cb043636b9a8745008a97d4050ec080404c6a by git (pid 311, container -) "
            "failed: the tmpfs has 8 inodes, 8 in use, 0 free.");
  EXPECT_EQ(evidence_json(c)["at_failure"]["of"], "cwd");
}

TEST(StartDir, DeviceNumberReusedByALaterMountIsNotNamed) {
  // tar's tmpfs on /w/tx was unmounted before the event was explained; its device number now belongs to a tmpfs
  // on /w/tt. The numbers are the ones BPF read at the failure; no mount point is claimed.
  FakeFacts facts;
  facts.by_dev[47] = make_fs("/w/tt", "tmpfs", kTmpfsMagic, 64, 64, 8, 7);
  Event e = create("openat", "many/f12");
  e.args_valid = true;
  e.args[0] = 4;
  e.args[2] = O_WRONLY | O_CREAT;
  FileInfo f = tmpfs_dir(FileRole::Dirfd, 47);
  f.mount_name = "tx";
  e.file = f;
  e.chain = {{"shmem_reserve_inode", -28, 0}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.summary,
            "openat(2) of many/f12 by tar (pid 311, container -) failed: the tmpfs has 8 inodes, 8 in use, 0 free.");
  EXPECT_FALSE(evidence_json(c).contains("mount_point")) << evidence_json(c).dump();
  // The same mount, still there: named.
  f.mount_name = "tt";
  e.file = f;
  EXPECT_EQ(evidence_json(diagnose(e, facts))["mount_point"], "/w/tt");
}

TEST(StartDir, MountNames) {
  EXPECT_TRUE(mount_name_matches("/mnt/disk/tx", "tx"));
  EXPECT_FALSE(mount_name_matches("/mnt/disk/tt", "tx"));
  EXPECT_FALSE(mount_name_matches("/mnt/disk/xtx", "tx"));
  EXPECT_TRUE(mount_name_matches("/", "merged"));  // a container's root, mounted on .../merged
  EXPECT_TRUE(mount_name_matches("/anything", ""));
}

TEST(StartDir, ChainThroughShmemLinkIsTmpfsInodes) {
  // Debian's 6.1 and 6.12 inline shmem_reserve_inode into shmem_link: shmem_link is the only origin that fires.
  FakeFacts facts;
  Event e = create("link", "/w/out/b");
  e.chain = {{"shmem_link", -28, 0}};
  facts.by_path["/w/out/b"] = make_fs("/w/out", "tmpfs", kTmpfsMagic, 64, 61, 8, 0);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(evidence_json(c)["origin"], "shmem_link");
  EXPECT_EQ(evidence_json(c)["inodes_free"], 0);
}

TEST(StartDir, FallocateBeyondTheSizeIsTmpfsBlocks) {
  // shmem_fallocate refuses a range larger than the tmpfs's free pages before charging any: its only link.
  FakeFacts facts;
  Event e = create("fallocate", "");
  FileInfo f = tmpfs_dir(FileRole::Fd, 49);
  f.shmem_max_blocks = 256;
  f.shmem_used_blocks = 128;
  e.file = f;
  e.chain = {{"shmem_fallocate", -28, 0}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(evidence_json(c)["bytes_max"], 256 * 4096);
  EXPECT_EQ(evidence_json(c)["at_failure"]["of"], "fd");
}

TEST(StartDir, PathRelativeToADirfdIsResolvedFromThatFd) {
  // No BPF evidence (an event from an older journal): the path is resolved now, from the process's fd 5.
  FakeFacts facts;
  facts.by_path["f07"] = make_fs("/", "ext4", kExt4Magic, 100000, 90000, 6000, 5000);
  facts.by_path["fd5:f07"] = make_fs("/w/out", "tmpfs", kTmpfsMagic, 64, 61, 8, 0);
  Event e = create("mkdirat", "f07");
  e.args_valid = true;
  e.args[0] = 5;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(evidence_json(c)["mount_point"], "/w/out");
}

TEST(StartDir, AtFdcwdIsTheWorkingDirectory) {
  FakeFacts facts;
  facts.by_path["f07"] = make_fs("/w/out", "tmpfs", kTmpfsMagic, 64, 61, 8, 0);
  Event e = create("mkdirat", "f07");
  e.args_valid = true;
  e.args[0] = static_cast<uint64_t>(static_cast<int64_t>(AT_FDCWD));
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes);
  EXPECT_EQ(evidence_json(c)["mount_point"], "/w/out");
}

TEST(StartDir, DirfdCallWithoutItsArgumentsIsNotResolvedFromTheCwd) {
  // The cwd's filesystem is full, but whether the path started there is unknown: no blame on it.
  FakeFacts facts;
  facts.by_path["f07"] = make_fs("/", "ext4", kExt4Magic, 100000, 0, 6000, 0);
  Event e = create("openat", "f07");
  e.args_valid = false;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Unknown);
}

}  // namespace
}  // namespace enospcd::diagnose
