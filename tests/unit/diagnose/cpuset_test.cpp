// cgroup v1 refuses with ENOSPC to attach a task to a cpuset without CPUs or memory nodes, and to leave a cpuset
// that has tasks without them (kernel/cgroup/cpuset.c). The file written (tasks, cgroup.procs, cpuset.cpus,
// cpuset.mems) on a cgroup v1 filesystem is BPF's, read at the failure; the cpuset's values are read after.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kCgroupMagic = 0x27e0eb;

Event cgroup_write(const std::string& file) {
  Event e = fakes::failing("write", "sh", 4242);
  e.args_valid = true;
  e.args[0] = 1;
  e.args[2] = 5;
  FileInfo f;
  f.dev = 27;
  f.magic = kCgroupMagic;
  f.fstype = "cgroup";
  f.name = file;
  f.mount_name = "cpuset";
  e.file = f;
  return e;
}

TEST(CpusetRule, AttachingToACpusetWithoutCpusOrMems) {
  FakeFacts facts;
  facts.cpusets[1] = {"/sys/fs/cgroup/cpuset/batch", "", ""};
  Cause c = diagnose(cgroup_write("tasks"), facts);
  EXPECT_EQ(c.id, CauseId::Cpuset);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "write(2) by sh (pid 4242, container -) failed: a task cannot be attached to the cgroup v1 cpuset "
            "/sys/fs/cgroup/cpuset/batch while its cpuset.cpus or cpuset.mems is empty, which cgroup v1 refuses "
            "with ENOSPC; cpuset.cpus is empty and cpuset.mems is empty (read after the failure).");
  EXPECT_NE(c.remedy.find("echo 0-N > /sys/fs/cgroup/cpuset/batch/cpuset.cpus"), std::string::npos) << c.remedy;
  EXPECT_EQ(evidence_json(c)["cpuset"], "/sys/fs/cgroup/cpuset/batch");
  EXPECT_EQ(evidence_json(c)["file"], "tasks");
}

// The cpuset got its CPUs and nodes before the event was explained: said, with medium confidence.
TEST(CpusetRule, SetSinceIsSaid) {
  FakeFacts facts;
  facts.cpusets[1] = {"/sys/fs/cgroup/cpuset/batch", "0-1", "0"};
  Cause c = diagnose(cgroup_write("cgroup.procs"), facts);
  EXPECT_EQ(c.id, CauseId::Cpuset);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_NE(c.summary.find("; cpuset.cpus is 0-1 and cpuset.mems is 0 now (read after the failure): they were set "
                           "since."),
            std::string::npos)
      << c.summary;
}

// The process and its fd are gone: the limit is named without the cpuset's directory.
TEST(CpusetRule, GoneProcess) {
  FakeFacts facts;
  Cause c = diagnose(cgroup_write("tasks"), facts);
  EXPECT_EQ(c.id, CauseId::Cpuset);
  EXPECT_EQ(c.summary,
            "write(2) by sh (pid 4242, container -) failed: a task cannot be attached to the cgroup v1 cpuset while "
            "its cpuset.cpus or cpuset.mems is empty, which cgroup v1 refuses with ENOSPC; the cpuset could not be "
            "read (the process or its file is gone).");
}

TEST(CpusetRule, EmptyingACpusetThatHasTasks) {
  FakeFacts facts;
  facts.cpusets[1] = {"/sys/fs/cgroup/cpuset/web", "0", "0"};
  Cause c = diagnose(cgroup_write("cpuset.cpus"), facts);
  EXPECT_EQ(c.id, CauseId::Cpuset);
  EXPECT_EQ(c.summary,
            "write(2) by sh (pid 4242, container -) failed: the cgroup v1 cpuset /sys/fs/cgroup/cpuset/web has tasks, "
            "and a cpuset with tasks cannot be left without CPUs (the value written to cpuset.cpus is empty), which "
            "cgroup v1 refuses with ENOSPC; cpuset.cpus is 0 (read after the failure).");
}

// Another file of a cgroup v1 hierarchy, or a tasks file elsewhere, is not this rule's.
TEST(CpusetRule, OnlyTheCpusetFilesOfCgroupV1) {
  FakeFacts facts;
  EXPECT_NE(diagnose(cgroup_write("memory.limit_in_bytes"), facts).id, CauseId::Cpuset);
  Event e = cgroup_write("tasks");
  e.file->magic = 0xEF53;
  e.file->fstype = "ext4";
  EXPECT_NE(diagnose(e, facts).id, CauseId::Cpuset);
}

}  // namespace
}  // namespace enospcd::diagnose
