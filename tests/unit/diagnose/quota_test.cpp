// The quota rule: EDQUOT decides the cause; a quota origin in the chain says which limit refused the charge.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kDev = (7u << 20) | 0;  // loop0 in the kernel's dev_t encoding

FakeFacts quota_facts() {
  FakeFacts facts;
  facts.by_dev[kDev] = fakes::make_fs("/mnt/quota", "ext4", 0xEF53);
  return facts;
}

Event edquot_write(std::vector<ChainLink> chain) {
  Event e = fakes::failing("write", "enospc_trigger", 118, "EDQUOT", 122);
  e.uid = 65534;
  FileInfo f;
  f.dev = kDev;
  f.fstype = "ext4";
  e.file = f;
  e.chain = std::move(chain);
  return e;
}

TEST(QuotaRule, BlockChargeNamesTheLimitAndTheFunction) {
  FakeFacts facts = quota_facts();
  // As 5.10, 6.1 and 6.12 report it for an ext4 delayed-allocation write (tests/vm/chains).
  Cause c = diagnose(edquot_write({{"dquot_add_space", -122, 0}, {"__dquot_alloc_space", -122, 0},
                                   {"ext4_da_reserve_space", -122, 0}}),
                     facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "write(2) by enospc_trigger (pid 118, container -) failed: uid 65534 (or its group/project) is over its "
            "block quota on /mnt/quota (dquot_add_space returned -122).");
  EXPECT_EQ(evidence_json(c)["origin"], "dquot_add_space");
  EXPECT_EQ(evidence_json(c)["mount_point"], "/mnt/quota");
  EXPECT_EQ(evidence_json(c)["chain"].size(), 3u);
}

TEST(QuotaRule, InodeChargeIsAnInodeQuota) {
  FakeFacts facts = quota_facts();
  Cause c = diagnose(edquot_write({{"dquot_alloc_inode", -122, 0}, {"__ext4_new_inode", -122, 0}}), facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_NE(c.summary.find("over its inode quota on /mnt/quota (dquot_alloc_inode returned -122)"),
            std::string::npos)
      << c.summary;
  EXPECT_EQ(evidence_json(c)["origin"], "dquot_alloc_inode");
}

// Gate-only mode, or a chain without a quota function (an ext4 origin that passed EDQUOT up): the errno
// still decides, and the summary does not guess which limit.
TEST(QuotaRule, WithoutAQuotaOriginTheErrnoDecides) {
  FakeFacts facts = quota_facts();
  for (const auto& chain : {std::vector<ChainLink>{}, std::vector<ChainLink>{{"ext4_da_reserve_space", -122, 0}}}) {
    Cause c = diagnose(edquot_write(chain), facts);
    EXPECT_EQ(c.id, CauseId::Quota);
    EXPECT_NE(c.summary.find("uid 65534 (or its group/project) is over its disk quota on /mnt/quota."),
              std::string::npos)
        << c.summary;
    EXPECT_FALSE(evidence_json(c).contains("origin"));
  }
}

// XFS reports a project quota's hard limit as ENOSPC. A write of 64 KiB into a project of 1 MiB that holds
// 1 MiB less 16 KiB, on an XFS with 280 MiB available: the project, not the filesystem.
constexpr uint32_t kXfsDev = (7u << 20) | 1;

FakeFacts xfs_facts(std::vector<ProjectQuota> projects) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/srv/data", "xfs", 0x58465342, 76800, 71680, 153600, 153590);
  fs.source = "/dev/loop1";
  facts.by_dev[kXfsDev] = fs;
  facts.projects = std::move(projects);
  return facts;
}

Event enospc_write_on_xfs(uint64_t bytes) {
  Event e = edquot_write({});
  e.uid = 0;
  e.comm = "dd";
  e.errno_name = "ENOSPC";
  e.err = 28;
  e.ret = -28;
  e.file->dev = kXfsDev;
  e.file->fstype = "xfs";
  e.args_valid = true;
  e.args[2] = bytes;
  return e;
}

TEST(QuotaRule, AnXfsProjectAtItsHardLimitIsNamedWithItsNumbers) {
  FakeFacts facts = xfs_facts({{7, 10 << 20, 0, 3, 100}, {42, (1 << 20) - (16 << 10), 1 << 20, 2, 0}});
  Cause c = diagnose(enospc_write_on_xfs(64 << 10), facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "write(2) by dd (pid 118, container -) failed: XFS project 42 on /dev/loop1 at /srv/data has used "
            "1008.0 KiB of its 1.0 MiB hard limit (read after the failure), and the call asked for 64.0 KiB; XFS "
            "reports a project quota as ENOSPC while the filesystem has 280.0 MiB available.");
  EXPECT_EQ(evidence_json(c)["project_quota"]["at_failure"], false);
  EXPECT_FALSE(c.read_after_ms.has_value());  // the event has no time

  // How long after the failure the projects were read: the event's monotonic time against the clock's then.
  Event timed = enospc_write_on_xfs(64 << 10);
  timed.ktime_ns = 5'000'000'000;
  facts.now_ns = 5'012'500'000;
  EXPECT_EQ(diagnose(timed, facts).read_after_ms, 12u);
  EXPECT_EQ(evidence_json(c)["project_quota"]["project"], 42);
  EXPECT_EQ(evidence_json(c)["project_quota"]["bytes_hard"], 1 << 20);
  EXPECT_EQ(evidence_json(c)["projects_at_limit"].size(), 1u);
}

TEST(QuotaRule, SeveralXfsProjectsAtTheirLimitAreAllCandidates) {
  FakeFacts facts = xfs_facts({{42, 1 << 20, 1 << 20, 2, 0}, {43, 2 << 20, 2 << 20, 2, 0}});
  Cause c = diagnose(enospc_write_on_xfs(4096), facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_EQ(c.confidence, Confidence::Low);
  EXPECT_NE(c.summary.find("one of the XFS projects 42, 43 on /dev/loop1 at /srv/data is at its hard limit"),
            std::string::npos)
      << c.summary;
}

TEST(QuotaRule, AnXfsProjectWithRoomLeftIsNotBlamed) {
  FakeFacts facts = xfs_facts({{42, 100 << 10, 1 << 20, 2, 0}});
  Cause c = diagnose(enospc_write_on_xfs(64 << 10), facts);
  EXPECT_EQ(c.id, CauseId::Unknown) << c.summary;
}

TEST(QuotaRule, ProjectsAreNotAskedOfAFullFilesystemOrOfAnotherKind) {
  FakeFacts full = xfs_facts({{42, 1 << 20, 1 << 20, 2, 0}});
  full.by_dev[kXfsDev].stats.blocks_free = full.by_dev[kXfsDev].stats.blocks_avail = 0;
  EXPECT_EQ(diagnose(enospc_write_on_xfs(4096), full).id, CauseId::FsBlocks);
  EXPECT_EQ(full.project_quota_reads, 0);
  FakeFacts ext4 = quota_facts();
  ext4.projects = {{42, 1 << 20, 1 << 20, 2, 0}};
  Event e = enospc_write_on_xfs(4096);
  e.file->dev = kDev;
  EXPECT_NE(diagnose(e, ext4).id, CauseId::Quota);
}

// The file's project as BPF read it at the failure: 256 blocks of 4 KiB reserved of 256. Read later, the project
// has room again (its file was deleted): the numbers of the failure are the ones given, and no project is asked.
Event enospc_write_with_project(uint64_t bytes, ProjectQuotaUse q) {
  Event e = enospc_write_on_xfs(bytes);
  e.file->magic = 0x58465342;
  e.project_quota = q;
  return e;
}

TEST(QuotaRule, TheProjectReadAtTheFailureIsNamedWithThoseNumbers) {
  FakeFacts facts = xfs_facts({{42, 0, 1 << 20, 0, 0}});
  Cause c = diagnose(enospc_write_with_project(64 << 10, {42, 4096, 256, 256, 3, 0}), facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "write(2) by dd (pid 118, container -) failed: XFS project 42 on /dev/loop1 at /srv/data had used "
            "1.0 MiB of its 1.0 MiB hard limit when the call asked for 64.0 KiB; XFS reports a project quota as "
            "ENOSPC, while the filesystem has 280.0 MiB available (read after the failure).");
  EXPECT_EQ(evidence_json(c)["project_quota"]["bytes"], 1 << 20);
  EXPECT_EQ(evidence_json(c)["project_quota"]["inodes"], 3);
  EXPECT_EQ(evidence_json(c)["project_quota"]["at_failure"], true);
  EXPECT_EQ(facts.project_quota_reads, 0);
  // Only the filesystem's space was read later (and said to be): that read has its time too.
  Event timed = enospc_write_with_project(64 << 10, {42, 4096, 256, 256, 3, 0});
  timed.ktime_ns = 1'000'000;
  facts.now_ns = 3'000'000;
  EXPECT_EQ(diagnose(timed, facts).read_after_ms, 2u);
}

// A write of one byte needs a whole block: 255 of 256 blocks reserved leave room for it, 256 do not.
TEST(QuotaRule, AtTheFailureARequestNeedsWholeBlocks) {
  FakeFacts facts = xfs_facts({});
  EXPECT_EQ(diagnose(enospc_write_with_project(1, {42, 4096, 256, 256, 0, 0}), facts).id, CauseId::Quota);
  EXPECT_EQ(diagnose(enospc_write_with_project(4096, {42, 4096, 255, 256, 0, 0}), facts).id, CauseId::Unknown);
  EXPECT_EQ(diagnose(enospc_write_with_project(4097, {42, 4096, 255, 256, 0, 0}), facts).id, CauseId::Quota);
}

// The project had room at the failure: a project at its limit when the event is explained is not blamed.
TEST(QuotaRule, AProjectWithRoomAtTheFailureIsNotBlamedOnLaterNumbers) {
  FakeFacts facts = xfs_facts({{42, 1 << 20, 1 << 20, 2, 0}});
  Cause c = diagnose(enospc_write_with_project(4096, {42, 4096, 10, 256, 3, 0}), facts);
  EXPECT_EQ(c.id, CauseId::Unknown) << c.summary;
  EXPECT_EQ(facts.project_quota_reads, 0);
}

// The filesystem was unmounted before the event was explained (its path now leads to the filesystem below):
// the project and its numbers from the failure, without a mount point or another filesystem's space.
TEST(QuotaRule, AProjectOnAnUnmountedXfsKeepsItsNumbers) {
  FakeFacts facts;
  facts.by_path["/srv/data/vol/new"] = fakes::make_fs("/", "ext4", 0xEF53);
  Event e = enospc_write_with_project(64 << 10, {42, 4096, 0, 0, 8, 8});
  e.syscall = "openat";
  e.path = "/srv/data/vol/new";
  e.args[2] = 0100 | 01;  // O_CREAT | O_WRONLY
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Quota) << c.summary;
  EXPECT_EQ(c.summary,
            "openat(2) of /srv/data/vol/new by dd (pid 118, container -) failed: XFS project 42 (its filesystem is "
            "no longer mounted) had used 8 of its 8 inodes; XFS reports a project quota as ENOSPC.");
  EXPECT_FALSE(evidence_json(c).contains("mount_point"));
}

}  // namespace
}  // namespace enospcd::diagnose
