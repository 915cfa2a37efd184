// mkdir of a cgroup refused because the memory controller has no id left (MEM_CGROUP_ID_MAX): the numbers are
// the hierarchy's live and dying cgroups as BPF read them at the failure; dying ones give their ids back unless
// swapped-out memory is charged to them.
#include <gtest/gtest.h>

#include <fcntl.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint64_t kCgroup2Magic = 0x63677270;

FakeFacts cgroup_facts() {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/sys/fs/cgroup", "cgroup2", kCgroup2Magic);
  fs.source = "cgroup2";
  facts.by_path["/sys/fs/cgroup/jobs/j65533"] = fs;
  return facts;
}

Event mkdir_cgroup(int32_t live, int32_t dying) {
  Event e = fakes::failing("mkdir", "mkdir", 3001);
  e.path = "/sys/fs/cgroup/jobs/j65533";
  e.memcg = MemcgHierarchy{0, live, dying};
  return e;
}

TEST(CgroupIds, EveryIdTakenByLiveCgroupsIsNamedWithTheNumbersOfTheFailure) {
  FakeFacts facts = cgroup_facts();
  Cause c = diagnose(mkdir_cgroup(65534, 0), facts);
  EXPECT_EQ(c.id, CauseId::CgroupIds);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "mkdir(2) of /sys/fs/cgroup/jobs/j65533 by mkdir (pid 3001, container -) failed: the memory controller had "
            "no id left for a new cgroup: it gives out at most 65 535, one for each memory cgroup, the root's too; its "
            "hierarchy (cgroup v2) held 65 534 cgroups below its root at the failure.");
  const auto ev = evidence_json(c);
  EXPECT_EQ(ev["memory_cgroup_ids"], 65535);
  EXPECT_EQ(ev["at_failure"]["descendants"], 65534);
  EXPECT_EQ(ev["at_failure"]["dying_descendants"], 0);
  EXPECT_EQ(ev["at_failure"]["hierarchy"], 0);
  EXPECT_EQ(ev["mount_point"], "/sys/fs/cgroup");
  EXPECT_EQ(c.summary.find("read after"), std::string::npos);
}

// 5.10's allocator stops one id short (65 534 memory cgroups); dying cgroups beside gave their ids back.
TEST(CgroupIds, OneShortAndDyingCgroupsBeside) {
  FakeFacts facts = cgroup_facts();
  Cause c = diagnose(mkdir_cgroup(65533, 2000), facts);
  EXPECT_EQ(c.id, CauseId::CgroupIds);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_NE(c.summary.find("held 65 533 cgroups below its root at the failure, and 2 000 dying ones, which gave "
                           "their ids back."),
            std::string::npos)
      << c.summary;
}

TEST(CgroupIds, DyingCgroupsHoldTheRestOnlyWhileSwapIsChargedToThem) {
  FakeFacts facts = cgroup_facts();
  Cause c = diagnose(mkdir_cgroup(60000, 6000), facts);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_NE(c.summary.find("held 60 000 cgroups below its root at the failure, and 6 000 dying ones: the other 5 534 "
                           "ids are theirs, kept while swapped-out memory is charged to them."),
            std::string::npos)
      << c.summary;
}

// Fewer cgroups than ids: the summary says the ids did not run out, and is not sure.
TEST(CgroupIds, FewCgroupsDoNotExplainIt) {
  FakeFacts facts = cgroup_facts();
  Cause c = diagnose(mkdir_cgroup(12, 3), facts);
  EXPECT_EQ(c.id, CauseId::CgroupIds);
  EXPECT_EQ(c.confidence, Confidence::Low);
  EXPECT_NE(c.summary.find("held 12 cgroups below its root at the failure (and 3 dying): fewer than the ids, so "
                           "another of the cgroup's controllers refused it."),
            std::string::npos)
      << c.summary;
}

// The chain's origin (mem_cgroup_css_alloc, fexit or kretprobe) decides, and the numbers stay.
TEST(CgroupIds, TheChainOriginKeepsTheNumbers) {
  FakeFacts facts = cgroup_facts();
  Event e = mkdir_cgroup(65534, 0);
  e.chain = {{"mem_cgroup_css_alloc", -28, 1, 1}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::CgroupIds);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(evidence_json(c)["origin"], "mem_cgroup_css_alloc");
  EXPECT_EQ(evidence_json(c)["at_failure"]["descendants"], 65534);
}

// A mkdir that failed on a disk filesystem carries the hierarchy's numbers too (BPF reads them for every failed
// mkdir): they are not the cause there.
TEST(CgroupIds, NotForAMkdirOutsideACgroupFilesystem) {
  FakeFacts facts;
  facts.by_path["/srv/d"] = fakes::make_fs("/srv", "ext4", 0xEF53, 1000, 500, 64, 0);
  Event e = fakes::failing("mkdir", "mkdir", 3002);
  e.path = "/srv/d";
  e.memcg = MemcgHierarchy{0, 65534, 0};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsInodes) << c.summary;
}

// The cgroup rule and the filesystem rules both ask where a failed mkdir's path is: the host is asked once.
TEST(CgroupIds, AFailedMkdirElsewhereAsksTheHostOnce) {
  FakeFacts facts;
  facts.by_path["/run/t/d"] = fakes::make_fs("/run/t", "tmpfs", 0x01021994, 64, 60, 8, 0);
  Event e = fakes::failing("mkdir", "mkdir", 3003);
  e.path = "/run/t/d";
  e.memcg = MemcgHierarchy{0, 40, 0};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsInodes) << c.summary;
  EXPECT_EQ(facts.path_lookups, 1);
  // And again for the next event: answers are not kept from one diagnosis to the next.
  diagnose(e, facts);
  EXPECT_EQ(facts.path_lookups, 2);
}

// Without BPF's numbers (an older journal): the limit, and no count.
TEST(CgroupIds, WithoutTheNumbersTheLimitIsStillNamed) {
  FakeFacts facts = cgroup_facts();
  Event e = mkdir_cgroup(0, 0);
  e.memcg.reset();
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::CgroupIds);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_FALSE(evidence_json(c).contains("at_failure"));
}

}  // namespace
}  // namespace enospcd::diagnose
