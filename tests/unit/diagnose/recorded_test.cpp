// Events recorded from real failures of programs nobody here wrote (the ThirdParty live cases, with the daemon
// as deployed on a 6.18 host in gate-only mode, and the VM tier's field cases on Debian's 6.1 and 5.10 with
// chains; tests/unit/diagnose/fixtures, causes stripped), explained again
// with no host to consult: the rules must name the limit from what BPF read at the failure. Where a rule rests
// on host state by design (an ext4's inode count, fs.mount-max where kallsyms lists no data symbols), the
// test gives that state and the summary must say it was read after the failure.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

Event recorded(const std::string& name) {
  std::ifstream in(std::string(ENOSPCD_SOURCE_DIR) + "/tests/unit/diagnose/fixtures/" + name + ".json");
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str());
  EXPECT_FALSE(j.contains("cause")) << name << ": a fixture is the event before its diagnosis";
  return event_from_json(j);
}

struct Case {
  const char* fixture;
  CauseId cause;
  Confidence confidence;
  std::vector<std::string> says;      // in the summary
  std::vector<std::string> never;     // not in the summary
  void (*host)(FakeFacts&, const Event&) = nullptr;  // what the host tells, where the rule asks it
};

class Recorded : public ::testing::TestWithParam<Case> {};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.fixture) + "_" + std::to_string(info.index);
}

TEST_P(Recorded, TheRuleNamesTheLimitWithTheNumbersOfTheFailure) {
  const Case& c = GetParam();
  Event e = recorded(c.fixture);
  ASSERT_FALSE(e.syscall.empty()) << c.fixture;
  FakeFacts facts;
  facts.namespace_gone = true;  // nothing is resolved now unless the case says so
  if (c.host) c.host(facts, e);
  Cause got = diagnose(e, facts);
  EXPECT_EQ(got.id, c.cause) << got.summary;
  EXPECT_EQ(got.confidence, c.confidence) << got.summary;
  for (const auto& s : c.says) EXPECT_NE(got.summary.find(s), std::string::npos) << "missing \"" << s << "\" in: " << got.summary;
  for (const auto& s : c.never) EXPECT_EQ(got.summary.find(s), std::string::npos) << "\"" << s << "\" in: " << got.summary;
  // Exactly one rule of the registry can give this cause: a failure is never explained by another's rule.
  size_t givers = 0;
  for (const Rule& r : rules())
    for (CauseId id : r.causes) givers += id == c.cause;
  EXPECT_EQ(givers, 1u) << cause_name(c.cause);
}

const Case kCases[] = {
    {"ipcmk_semget_semmns", CauseId::SysvIpc, Confidence::High,
     {"semget(2) by ipcmk", "SEMMNS (kernel.sem) is 10 semaphores, 8 are in use and the set asked for 8",
      "in IPC namespace 4026532174"},
     {"SEMMNI", "read after"}},
    {"ipcmk_shmget_shmall", CauseId::SysvIpc, Confidence::High,
     {"shmget(2) by ipcmk", "kernel.shmall is 16 pages, 10 are in use and the segment asked for 10"},
     {"shmmni", "read after"}},
    {"python3_mq_open_queues_max", CauseId::Mqueue, Confidence::High,
     {"mq_open(2) of q2 by python3", "fs.mqueue.queues_max is 2 and 2 queues exist in IPC namespace 4026532174"},
     {"read after"}},
    {"dd_dev_full", CauseId::Device, Confidence::High,
     {"write(2) of the character device full (1:7) by dd", "no filesystem is involved"},
     {"tmpfs", "devtmpfs"}},
    {"bpftool_lpm_trie_full", CauseId::Bpf, Confidence::High,
     {"bpf(2) BPF_MAP_UPDATE_ELEM by bpftool", "the map is full"},
     {"tmpfs", "disk"}},
    {"python3_bpf_prog_load_small_log", CauseId::Bpf, Confidence::High,
     {"bpf(2) BPF_PROG_LOAD by python3", "the verifier's log did not fit the buffer the caller gave (log_size)"},
     {"map is full"}},
    {"tar_dirfd_tmpfs_out_of_inodes", CauseId::TmpfsInodes, Confidence::Medium,
     {"openat(2) of d/f06 by tar", "8 inodes", "8 in use, 0 free"},
     {"read after", "blocks"}},
    {"ln_tmpfs_cwd_out_of_inodes", CauseId::TmpfsInodes, Confidence::Medium,
     {"linkat(2) of d by ln", "4 inodes", "4 in use, 0 free"},
     {"read after"}},
    {"sqlite3_small_tmpfs", CauseId::TmpfsBlocks, Confidence::Medium,
     {"pwrite64(2) by sqlite3", "is full: 256.0 KiB of 256.0 KiB", "(the call asked for 4.0 KiB)"},
     {"read after", "inodes"}},
    {"dd_overlay_upper_tmpfs_full", CauseId::TmpfsBlocks, Confidence::Medium,
     {"write(2) by dd", "is full: 256.0 KiB of 256.0 KiB", "(the call asked for 64.0 KiB)",
      "wrote through the overlay", "whose upper layer is on this filesystem"},
     {"read after"}},
    {"inotifywait_child_userns_limit", CauseId::InotifyWatches, Confidence::High,
     {"inotify_add_watch(2) of /tmp/enospcd-test.jyNJ2G/d17/ by inotifywait",
      "user.max_inotify_watches is 16 in user namespace 4026532174 and uid 0 holds 16 watches there"},
     {"fs.inotify.max_user_watches", "read after"}},
    {"inotifywait_child_over_host_limit", CauseId::InotifyWatches, Confidence::High,
     {"fs.inotify.max_user_watches is 16 and uid 0 holds 16 watches, counting those of the user namespaces it owns",
      "the call was charged to uid 0 in user namespace 4026532174"},
     {"read after"}},
    {"unshare_child_mnt_namespaces", CauseId::NamespaceLimit, Confidence::High,
     {"unshare(2) by unshare", "user.max_mnt_namespaces is 0 in user namespace 4026532174",
      "uid 0 has 0 mount namespaces there"},
     {"read after"}},
    {"mount_over_mount_max", CauseId::MountMax, Confidence::High,
     {"mount(2) by mount", "mount namespace 4026532174 holds 25 mounts, fs.mount-max is 25 (read after the failure)."},
     {},
     [](FakeFacts& f, const Event&) { f.limits.mount_max = 25; }},
    {"mount_over_mount_max", CauseId::MountMax, Confidence::Medium,
     {"holds 25 mounts, fs.mount-max is 100 000 (read after the failure), which would have let the mount through"},
     {},
     [](FakeFacts& f, const Event&) { f.limits.mount_max = 100000; }},
    {"touch_ext4_out_of_inodes", CauseId::FsInodes, Confidence::Medium,
     {"openat(2) of f6 by touch", "ext4 /dev/loop0 at /tmp/enospcd-test.IRWCax has used all 16 inodes while",
      "(read after the failure)."},
     {"tmpfs"},
     [](FakeFacts& f, const Event& e) {
       PathFs fs = fakes::make_fs("/tmp/enospcd-test.IRWCax", "ext4", 0xEF53, 16384, 3500, 16, 0);
       fs.source = "/dev/loop0";
       f.by_dev[e.file->dev] = fs;
     }},
};

// Recorded in the VM tier (tests/vm/field) on Debian's 6.1 with fexit and 5.10 with kretprobes: with the chain
// of kernel functions, which decides the cause where it holds an origin.
const Case kVmCases[] = {
    {"vm61_dd_dev_full", CauseId::Device, Confidence::High,
     {"write(2) of the character device full (1:7) by dd", "no filesystem is involved"},
     {"tmpfs"}},
    {"vm61_python3_epoll_max_user_watches", CauseId::EpollWatches, Confidence::High,
     {"epoll_ctl(2) by python3", "fs.epoll.max_user_watches is 8 (read after the failure)."},
     {},
     [](FakeFacts& f, const Event&) { f.limits.epoll_max_user_watches = 8; }},
    {"vm61_ipcmk_semget_semmns", CauseId::SysvIpc, Confidence::High,
     {"SEMMNS (kernel.sem) is 16 semaphores, 0 are in use and the set asked for 32 in IPC namespace 4026531839"},
     {"SEMMNI", "read after"}},
    {"vm61_rsync_tmpfs_out_of_inodes", CauseId::TmpfsInodes, Confidence::High,
     {"openat(2) of .f9.ObytEF by rsync", "8 inodes", "8 in use, 0 free"},
     {"read after"}},
    {"vm61_fallocate_more_than_free", CauseId::TmpfsBlocks, Confidence::High,
     {"fallocate(2) by fallocate", "has 512.0 KiB free of 1.0 MiB", "less than the 768.0 KiB the call asked for"},
     {"read after", "is full"}},
    {"vm61_cp_namespace_gone", CauseId::TmpfsInodes, Confidence::High,
     {"openat(2) of many/f24 by cp", "4 inodes, 4 in use, 0 free"},
     {"read after"}},
    {"vm510_kretprobe_tar_tmpfs_out_of_inodes", CauseId::TmpfsInodes, Confidence::High,
     {"openat(2) of many/f1 by tar", "8 inodes", "8 in use, 0 free"},
     {"read after"}},
    {"vm510_kretprobe_git_mkdir_out_of_inodes", CauseId::TmpfsInodes, Confidence::High,
     {"mkdir(2) of .git/objects/38 by git", "40 inodes", "40 in use, 0 free"},
     {"read after"}},
    // coreutils mkdir of a cgroup once python3 had made 65 532 (6.1 gives out 65 535 memory cgroup ids); the
    // cgroup python3's failed mkdir made and removed was still dying. Nothing is read from the host.
    {"vm61_mkdir_memcg_ids_exhausted", CauseId::CgroupIds, Confidence::High,
     {"mkdir(2) of /sys/fs/cgroup/jobs/one-more by mkdir", "no id left for a new cgroup",
      "its hierarchy (cgroup v2) held 65 534 cgroups below its root at the failure, and 1 dying one, which gave its id "
      "back."},
     {"read after", "fewer than the ids"}},
    // fs.epoll.max_user_watches was 8 at the failure and is back at its default when the event is explained.
    {"vm61_python3_epoll_at_the_failure", CauseId::EpollWatches, Confidence::High,
     {"epoll_ctl(2) by python3", "fs.epoll.max_user_watches was 8 and uid 0 held 8 epoll watches at the failure."},
     {"read after", "1 677 702"},
     [](FakeFacts& f, const Event&) { f.limits.epoll_max_user_watches = 1677702; }},
    // kernel.pty.max was 4 at the failure and is 4 096 again, with no pty open, when the event is explained.
    {"vm61_python3_openpty_kernel_pty_max", CauseId::Pty, Confidence::High,
     {"openat(2) of /dev/ptmx by python3", "kernel.pty.max is 4 and 3 ptys were open on the host at the failure."},
     {"read after", "4 096", "instance"},
     [](FakeFacts& f, const Event&) {
       f.limits.pty_max = 4096;
       f.limits.pty_reserve = 1024;
       f.limits.pty_nr = 0;
     }},
    // The project's file was deleted before the event was explained: the project has room now.
    {"vm61_dd_xfs_project_hard_limit", CauseId::Quota, Confidence::High,
     {"write(2) by dd", "XFS project 42 on /dev/loop1 at /mnt/xq had used 1.0 MiB of its 1.0 MiB hard limit when the "
                        "call asked for 64.0 KiB; XFS reports a project quota as ENOSPC, while the filesystem has "
                        "218.1 MiB available (read after the failure)."},
     {"has used"},
     [](FakeFacts& f, const Event& e) {
       PathFs fs = fakes::make_fs("/mnt/xq", "xfs", 0x58465342, 76800, 55840, 153600, 153590);
       fs.source = "/dev/loop1";
       f.by_dev[e.file->dev] = fs;
       f.projects = {{42, 0, 1 << 20, 1, 0}};
     }},
    // ... and the filesystem was unmounted: the project and its numbers, with no other filesystem's.
    {"vm61_dd_xfs_project_hard_limit", CauseId::Quota, Confidence::High,
     {"XFS project 42 (its filesystem is no longer mounted) had used 1.0 MiB of its 1.0 MiB hard limit when the call "
      "asked for 64.0 KiB; XFS reports a project quota as ENOSPC."},
     {"available", "read after"}},
};

INSTANTIATE_TEST_SUITE_P(ThirdPartyInTheVm, Recorded, ::testing::ValuesIn(kVmCases), case_name);

INSTANTIATE_TEST_SUITE_P(ThirdPartyOnTheHost, Recorded, ::testing::ValuesIn(kCases), case_name);

// Every cause but `unknown` (no rule applies) is given by exactly one rule of the registry (quota also by the
// errno EDQUOT, before any rule, and any cause by an origin in a chain).
TEST(Rules, EveryCauseHasOneRule) {
  std::set<CauseId> given;
  for (const Rule& r : rules()) {
    EXPECT_FALSE(r.causes.empty()) << r.name;
    for (CauseId id : r.causes) EXPECT_TRUE(given.insert(id).second) << cause_name(id) << " given by two rules";
  }
  for (CauseId id : all_causes()) {
    if (id == CauseId::Unknown) continue;
    EXPECT_TRUE(given.count(id)) << cause_name(id) << " has no rule";
  }
}

}  // namespace
}  // namespace enospcd::diagnose
