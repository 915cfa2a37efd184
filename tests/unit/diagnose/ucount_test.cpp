// Per-user-namespace counts (inotify watches, namespaces of one type): the level that refused, with the count
// and the limit BPF read at the failure, names the limit; the host's sysctls and the watches held now do not.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kChildNs = 4026532178u;
constexpr uint32_t kInitNs = 4026531837u;

Event inotify_event(std::vector<UcountLevel> levels) {
  Event e = fakes::failing("inotify_add_watch", "inotifywait", 4242);
  e.uid = 1000;
  e.path = "/srv/d13/";
  if (!levels.empty()) e.ucounts = Ucounts{UcountKind::InotifyWatches, std::move(levels)};
  return e;
}

// What the daemon's host shows now: a large global limit, and no watches left (the watcher has exited).
FakeFacts host_now() {
  FakeFacts facts;
  facts.limits.inotify_max_user_watches = 192530;
  facts.inotify_watches = 0;
  return facts;
}

TEST(UcountRule, InitialNamespaceNamesTheGlobalSysctlWithTheCountAtTheFailure) {
  FakeFacts facts = host_now();
  Cause c = diagnose(inotify_event({{kInitNs, 1000, 2048, 2048, true}}), facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "inotify_add_watch(2) of /srv/d13/ by inotifywait (pid 4242, container -) failed: "
            "fs.inotify.max_user_watches is 2 048 and uid 1000 holds 2 048 watches.");
  EXPECT_EQ(evidence_json(c)["limit"], "fs.inotify.max_user_watches");
  EXPECT_EQ(evidence_json(c)["watches"], 2048);
  EXPECT_EQ(evidence_json(c)["max"], 2048);
  EXPECT_EQ(evidence_json(c)["ucounts"]["levels"].size(), 1u);
}

TEST(UcountRule, ChildNamespaceLimitIsThatNamespacesNotTheHosts) {
  FakeFacts facts = host_now();
  Cause c = diagnose(inotify_event({{kChildNs, 0, 16, 16, false}, {kInitNs, 0, 16, 192530, true}}), facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "inotify_add_watch(2) of /srv/d13/ by inotifywait (pid 4242, container -) failed: "
            "user.max_inotify_watches is 16 in user namespace 4026532178 and uid 0 holds 16 watches there.");
  EXPECT_EQ(c.summary.find("192 530"), std::string::npos) << c.summary;
  EXPECT_EQ(evidence_json(c)["userns"], kChildNs);
  EXPECT_NE(c.remedy.find("user.max_inotify_watches in user namespace 4026532178"), std::string::npos) << c.remedy;
}

// The child namespace allows any number, its owner's watches in the parent (the initial namespace) count
// those of the child: the parent's limit refused.
TEST(UcountRule, ParentLevelRefusingNamesTheParentAndWhereTheCallWasCharged) {
  FakeFacts facts = host_now();
  Cause c = diagnose(inotify_event({{kChildNs, 0, 16, 2147483647, false}, {kInitNs, 0, 16, 16, true}}), facts);
  EXPECT_EQ(c.summary,
            "inotify_add_watch(2) of /srv/d13/ by inotifywait (pid 4242, container -) failed: "
            "fs.inotify.max_user_watches is 16 and uid 0 holds 16 watches, counting those of the user namespaces it "
            "owns; the call was charged to uid 0 in user namespace 4026532178.");
  EXPECT_EQ(evidence_json(c)["userns"], kInitNs);
}

// No level at its limit when read: said, and the confidence drops; never the host's numbers instead.
TEST(UcountRule, NoLevelAtItsLimitIsSaid) {
  FakeFacts facts = host_now();
  Cause c = diagnose(inotify_event({{kInitNs, 1000, 10, 2048, true}}), facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_NE(c.summary.find("fs.inotify.max_user_watches is 2 048 and uid 1000 holds 10 watches; no level was at its "
                           "limit when read at the failure."),
            std::string::npos)
      << c.summary;
}

// A kernel that did not give the count: the host's numbers, said to be read after the failure.
TEST(UcountRule, WithoutTheCountTheHostsNumbersAreLabeledAsReadAfter) {
  FakeFacts facts = host_now();
  Cause c = diagnose(inotify_event({}), facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_EQ(c.confidence, Confidence::Medium);
  EXPECT_NE(c.summary.find("fs.inotify.max_user_watches is 192 530 and uid 1000 holds 0 watches (read after the "
                           "failure)."),
            std::string::npos)
      << c.summary;
}

// unshare(CLONE_NEWNS) refused by user.max_mnt_namespaces=0 in a child namespace; before v5.14 the charged
// level's count is not readable, and a limit of 0 still refuses.
TEST(UcountRule, NamespaceLimitOfAChildNamespace) {
  FakeFacts facts;
  facts.limits.max_namespaces["mnt"] = 96363;
  Event e;
  e.pid = 77;
  e.comm = "unshare";
  e.syscall = "unshare";
  e.errno_name = "ENOSPC";
  e.err = 28;
  e.args_valid = true;
  e.args[0] = 0x00020000;
  e.ucounts = Ucounts{UcountKind::MntNs, {{kChildNs, 0, std::nullopt, 0, false}, {kInitNs, 0, 3, 96363, true}}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::NamespaceLimit);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "unshare(2) by unshare (pid 77, container -) failed: user.max_mnt_namespaces is 0 in user namespace "
            "4026532178 and uid 0 has an unknown number of mount namespaces there.");
  EXPECT_EQ(evidence_json(c)["limit"], "user.max_mnt_namespaces");
  EXPECT_TRUE(evidence_json(c)["count"].is_null());
}

TEST(UcountRule, ChainOriginKeepsTheNumbers) {
  FakeFacts facts = host_now();
  Event e = inotify_event({{kChildNs, 0, 16, 16, false}, {kInitNs, 0, 16, 192530, true}});
  e.chain = {{"inotify_new_watch", -28, 0}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_NE(c.summary.find("user.max_inotify_watches is 16 in user namespace 4026532178"), std::string::npos)
      << c.summary;
  EXPECT_EQ(evidence_json(c)["origin"], "inotify_new_watch");
}

// XFS reserves a buffered write's whole range before copying: a write larger than what is available fails with
// room left, and the summary says so instead of "full" (statfs numbers, read after).
TEST(DiskRule, WriteLargerThanWhatIsAvailable) {
  constexpr uint32_t kDev = (7u << 20) | 1;
  FakeFacts facts;
  // 236 MiB, 2.9 MiB available (in 4 KiB blocks).
  facts.by_dev[kDev] = fakes::make_fs("/mnt/xfs", "xfs", 0x58465342, 60416, 742);
  Event e;
  e.pid = 9;
  e.comm = "dd";
  e.syscall = "write";
  e.errno_name = "ENOSPC";
  e.err = 28;
  e.args_valid = true;
  e.args[2] = 0x390000;
  FileInfo f;
  f.dev = kDev;
  f.fstype = "xfs";
  f.magic = 0x58465342;
  e.file = f;
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FsBlocks);
  EXPECT_NE(c.summary.find("xfs none at /mnt/xfs has 2.9 MiB available of 236.0 MiB, less than the 3.6 MiB the call "
                           "asked for (read after the failure)."),
            std::string::npos)
      << c.summary;
  EXPECT_EQ(evidence_json(c)["bytes_requested"], 0x390000);
}

// fanotify marks (v5.13+) are charged like inotify watches: to the group's user namespace and its ancestors.
// The marks the agent held are gone by the time the event is explained; the count of the failure names the
// limit, a child namespace's user.max_fanotify_marks before the host's.
TEST(UcountRule, FanotifyMarksInAChildNamespace) {
  FakeFacts facts;
  facts.limits.fanotify_max_user_marks = 8192;
  Event e = inotify_event({});
  e.comm = "fagent";
  e.syscall = "fanotify_mark";
  e.path = "/srv/m7";
  e.ucounts = Ucounts{UcountKind::FanotifyMarks, {{kChildNs, 1000, 40, 40, false}, {kInitNs, 0, 40, 8192, true}}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FanotifyMarks);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "fanotify_mark(2) of /srv/m7 by fagent (pid 4242, container -) failed: user.max_fanotify_marks is 40 in "
            "user namespace 4026532178 and uid 1000 holds 40 marks there.");
  EXPECT_EQ(evidence_json(c)["marks"], 40);
  EXPECT_EQ(evidence_json(c)["max_user_marks"], 40);
  EXPECT_EQ(evidence_json(c)["ucounts"]["kind"], "fanotify_marks");
}

TEST(UcountRule, FanotifyMarksAtTheHostLimit) {
  FakeFacts facts;
  Event e = inotify_event({});
  e.comm = "fagent";
  e.syscall = "fanotify_mark";
  e.path = "/srv/m7";
  e.ucounts = Ucounts{UcountKind::FanotifyMarks, {{kInitNs, 65534, 40, 40, true}}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::FanotifyMarks);
  EXPECT_EQ(c.summary,
            "fanotify_mark(2) of /srv/m7 by fagent (pid 4242, container -) failed: fs.fanotify.max_user_marks is 40 "
            "and uid 65534 holds 40 marks.");
  EXPECT_EQ(evidence_json(c)["limit"], "fs.fanotify.max_user_marks");
}

}  // namespace
}  // namespace enospcd::diagnose
