// A pty multiplexer open refused with ENOSPC: the devpts instance's max= or the host's kernel.pty.max
// (fs/devpts/inode.c, devpts_new_index()). The host's count and limits are BPF's, read at the failure, where the
// kernel lists its data symbols; the instance's count is read after the failure, and said to be. The rule names
// the limit that the numbers show reached, and never calls a filesystem full.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;
using fakes::make_fs;

constexpr uint64_t kDevptsMagic = 0x1cd1;
constexpr uint64_t kDevtmpfsMagic = 0x01021994;

Event ptmx_open(const std::string& path) {
  Event e = fakes::failing("openat", "python3", 812);
  e.path = path;
  return e;
}

FakeFacts host(uint64_t max, uint64_t reserve, uint64_t nr) {
  FakeFacts f;
  f.limits.pty_max = max;
  f.limits.pty_reserve = reserve;
  f.limits.pty_nr = nr;
  return f;
}

// python3 pty.openpty() in a namespace whose /dev/ptmx is a bind mount of its devpts (mounted max=2) ptmx.
TEST(PtyRule, InstanceMaxReached) {
  FakeFacts facts = host(4096, 1024, 2);
  PathFs inst = make_fs("/dev/ptmx", "devpts", kDevptsMagic);
  inst.super_options = "rw,mode=600,ptmxmode=666,max=2";
  facts.by_path["/dev/ptmx"] = inst;
  facts.ptys["/dev/pts"] = 2;
  Cause c = diagnose(ptmx_open("/dev/ptmx"), facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: the devpts at /dev/pts allows 2 ptys "
            "(max=2) and 2 are in use (read after the failure).");
  EXPECT_EQ(evidence_json(c)["instance_max"], 2);
  EXPECT_EQ(evidence_json(c)["instance_in_use"], 2);
}

// /dev/ptmx a device node on devtmpfs: the instance is the devpts on "pts" beside it. The host's count is one
// short of kernel.pty.max less the reserve, which a devpts outside the initial mount namespace cannot use.
TEST(PtyRule, HostLimitLessTheReserve) {
  FakeFacts facts = host(1030, 1024, 5);
  facts.by_path["/dev/ptmx"] = make_fs("/dev", "devtmpfs", kDevtmpfsMagic, 100, 100);
  PathFs pts = make_fs("/dev/pts", "devpts", kDevptsMagic);
  pts.super_options = "rw,mode=600,ptmxmode=000";
  facts.by_path["/dev/pts"] = pts;
  facts.ptys["/dev/pts"] = 5;
  Cause c = diagnose(ptmx_open("/dev/ptmx"), facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: kernel.pty.max is 1 030 and 5 ptys are "
            "open on the host (kernel.pty.nr, read after the failure); a devpts mounted outside the initial mount "
            "namespace may use 6 of them (kernel.pty.reserve is 1 024).");
  EXPECT_EQ(evidence_json(c)["kernel.pty.nr"], 5);
}

TEST(PtyRule, HostLimitItself) {
  FakeFacts facts = host(8, 0, 7);
  PathFs inst = make_fs("/dev/pts", "devpts", kDevptsMagic);
  facts.by_path["/dev/pts/ptmx"] = inst;
  facts.ptys["/dev/pts"] = 3;
  Cause c = diagnose(ptmx_open("/dev/pts/ptmx"), facts);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/pts/ptmx by python3 (pid 812, container -) failed: kernel.pty.max is 8 and 7 ptys are "
            "open on the host (kernel.pty.nr, read after the failure).");
}

// The process that held the ptys exited before the event was explained: no limit is reached now. The
// instance's small max= is named as the likely limit, with medium confidence, and nothing is called full.
TEST(PtyRule, NothingReachedNowNamesTheInstanceLimitWithMediumConfidence) {
  FakeFacts facts = host(4096, 1024, 0);
  PathFs inst = make_fs("/dev/ptmx", "devpts", kDevptsMagic);
  inst.super_options = "rw,max=2";
  facts.by_path["/dev/ptmx"] = inst;
  facts.ptys["/dev/pts"] = 0;
  Cause c = diagnose(ptmx_open("/dev/ptmx"), facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: no pty index was free: the devpts at "
            "/dev/pts allows only 2 ptys (max=2); 0 are in use there now; kernel.pty.max is 4 096 with 0 open on the "
            "host (read after the failure).");
}

// Nothing known of the instance (its namespace is gone): the host's numbers, and no guess.
TEST(PtyRule, InstanceUnknown) {
  FakeFacts facts = host(4096, 1024, 12);
  facts.namespace_gone = true;
  Cause c = diagnose(ptmx_open("/dev/ptmx"), facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: no pty index was free: the devpts allows "
            "1 048 576 ptys; how many are in use there is unknown; kernel.pty.max is 4 096 with 12 open on the host "
            "(read after the failure).");
}

// The host's limit as BPF read it at the failure: 15 ptys open of kernel.pty.max 16. When the event is explained
// the limit is back at 4 096 and the ptys are closed: those later numbers are not the verdict.
TEST(PtyRule, HostLimitAtTheFailure) {
  FakeFacts facts = host(4096, 1024, 0);
  PathFs pts = make_fs("/dev/pts", "devpts", kDevptsMagic);
  facts.by_path["/dev/pts/ptmx"] = pts;
  facts.ptys["/dev/pts"] = 0;
  Event e = ptmx_open("/dev/pts/ptmx");
  e.pty = PtyCounts{15, 16, 1024};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/pts/ptmx by python3 (pid 812, container -) failed: kernel.pty.max is 16 and 15 ptys "
            "were open on the host at the failure.");
  EXPECT_EQ(evidence_json(c)["at_failure"]["nr"], 15);
  EXPECT_EQ(evidence_json(c)["at_failure"]["max"], 16);
  // Nothing the verdict rests on was read later: no time of a later read.
  e.ktime_ns = 1'000'000;
  facts.now_ns = 9'000'000;
  EXPECT_FALSE(diagnose(e, facts).read_after_ms.has_value());
}

// The host's limit less the reserve, at the failure: 3 open of 1 030, 1 024 reserved for the initial namespace.
TEST(PtyRule, HostLimitLessTheReserveAtTheFailure) {
  FakeFacts facts = host(4096, 1024, 0);
  Event e = ptmx_open("/dev/ptmx");
  e.pty = PtyCounts{5, 1030, 1024};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: kernel.pty.max is 1 030 and 5 ptys were "
            "open on the host at the failure; a devpts mounted outside the initial mount namespace may use 6 of them "
            "(kernel.pty.reserve is 1 024).");
}

// The host had room at the failure, so the instance refused: its max= is named with high confidence, though
// its ptys are closed by the time the event is explained. A host at its limit now does not change that.
TEST(PtyRule, TheHostHadRoomAtTheFailureSoTheInstanceRefused) {
  FakeFacts facts = host(8, 0, 7);
  PathFs inst = make_fs("/dev/ptmx", "devpts", kDevptsMagic);
  inst.super_options = "rw,max=2";
  facts.by_path["/dev/ptmx"] = inst;
  facts.ptys["/dev/pts"] = 0;
  Event e = ptmx_open("/dev/ptmx");
  e.pty = PtyCounts{2, 4096, 1024};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Pty);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "openat(2) of /dev/ptmx by python3 (pid 812, container -) failed: no pty index was free: the devpts at "
            "/dev/pts allows only 2 ptys (max=2); the host had 2 of its 4 096 ptys (kernel.pty.max) open at the "
            "failure; 0 are in use there now (read after the failure).");
}

// Not a pty multiplexer: a file named like one elsewhere is still a file (its directory's filesystem decides).
TEST(PtyRule, OnlyTheMultiplexer) {
  FakeFacts facts = host(4096, 1024, 0);
  Event e = ptmx_open("/srv/ptmx.bak");
  facts.by_path["/srv/ptmx.bak"] = make_fs("/srv", "ext4", 0xef53, 1000, 0);
  Cause c = diagnose(e, facts);
  EXPECT_NE(c.id, CauseId::Pty);
}

}  // namespace
}  // namespace enospcd::diagnose
