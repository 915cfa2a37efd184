// Kernel object limits reproduced for real: mounts per namespace, namespaces per user, SysV IPC ids, POSIX
// message queues, inotify and epoll watches, fanotify marks. Namespaced limits are lowered inside a namespace the
// trigger creates; global ones are lowered only for the moment of the trigger and restored by a guard.
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "live/causes/causes.h"

namespace enospcd::testing::causes {
namespace {

// In a private child mount namespace, fs.mount-max is set to the namespace's mounts + 2 while tmpfs is mounted
// six times; the summary must give the namespace's mount count and the limit, both equal at the failure. Where
// kallsyms lists no data symbols (no CONFIG_KALLSYMS_ALL, as here) the daemon cannot record the limit in BPF
// and reads the sysctl when the event arrives, so the trigger keeps the lowered value for kHoldMs.
TEST(LimitCauses, MountMax) {
  ENOSPCD_REQUIRE_ROOT();
  SysctlGuard mount_max("fs.mount-max");
  ASSERT_TRUE(mount_max.ok());
  TempDir target;
  const uint64_t attempts = 6;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"mounts", target.path(), std::to_string(attempts), "2", std::to_string(kHoldMs)});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_EQ(mount_max.current(), mount_max.saved()) << "the trigger did not restore fs.mount-max";
  uint64_t limit = t.n("limit");
  ASSERT_GT(limit, 0u) << t.out;
  ASSERT_GE(t.n("enospc"), 1u) << t.out;
  ASSERT_EQ(t.n("ok") + t.n("enospc"), attempts) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "mount", "mount_max", t.n("enospc"));
  for (const auto& e : events) {
    // Where BPF could not read the sysctl at the failure (kallsyms without data symbols), the value is said to be
    // read later.
    const std::string when = e.contains("mount_max") ? "." : " (read after the failure).";
    EXPECT_NE(e["cause"]["summary"].get<std::string>().find("holds " + grouped(limit) + " mounts, fs.mount-max is " +
                                                            grouped(limit) + when),
              std::string::npos)
        << e.dump(2);
    EXPECT_EQ(e["path"], target.path()) << e.dump(2);
    EXPECT_EQ(e["cause"]["evidence"].value("mounts", uint64_t{0}), limit) << e.dump(2);
    EXPECT_EQ(e["cause"]["evidence"].value("mount_max", uint64_t{0}), limit) << e.dump(2);
  }
}

// In a child user namespace (root mapped to root), user.max_mnt_namespaces=0 applies to that namespace only
// (the host's own knob is left alone; writing it takes CAP_SYS_RESOURCE in the initial user namespace); each
// unshare(CLONE_NEWNS) then fails with ENOSPC in inc_ucount(). The summary has to name the limit that was hit
// and its value in the failing task's user namespace, not the daemon's.
TEST(LimitCauses, NamespaceLimit) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"unshare-mnt", "3", "0"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("enospc"), 3u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "unshare", "namespace_limit", 3);
  expect_summaries_contain(events, "unshare(2) by enospc_trigger");
  expect_summaries_contain(events, "user.max_mnt_namespaces is 0");
}

// kernel.shmmni is per IPC namespace: in a fresh one set to 1, the second and third shmget(IPC_PRIVATE) fail.
// The limit to report is the failing task's namespace's (1), not the daemon's (the host's, 4096 by default).
TEST(LimitCauses, SysvShmIds) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"shm", "3", "1"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("ok"), 1u) << t.out;
  ASSERT_EQ(t.n("enospc"), 2u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "shmget", "sysv_ipc", 2);
  expect_summaries_contain(events, "kernel.shmmni is 1");
}

// kernel.msgmni, per IPC namespace, set to 1: the second and third msgget(IPC_PRIVATE) fail.
TEST(LimitCauses, SysvMsgIds) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"msg", "3", "1"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("ok"), 1u) << t.out;
  ASSERT_EQ(t.n("enospc"), 2u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "msgget", "sysv_ipc", 2);
  expect_summaries_contain(events, "kernel.msgmni is 1");
}

// fs.mqueue.queues_max, per IPC namespace, set to 1; without CAP_SYS_RESOURCE the second and third
// mq_open(O_CREAT) fail.
TEST(LimitCauses, Mqueue) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto t = run_trigger({"mq", "3", "1"});
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_EQ(t.n("ok"), 1u) << t.out;
  ASSERT_EQ(t.n("enospc"), 2u) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "mq_open", "mqueue", 2);
  expect_summaries_contain(events, "fs.mqueue.queues_max is 1");
}

// fs.inotify.max_user_watches lowered to 40 for the moment of the trigger: uid 65534 adds watches on 45 files;
// the last 5 fail, and while it still holds its 40 watches the daemon counts them.
TEST(LimitCauses, InotifyWatches) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  SysctlGuard watches("fs.inotify.max_user_watches");
  ASSERT_TRUE(watches.ok());
  const uint64_t limit = 40, attempts = 45;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  ASSERT_TRUE(watches.set(limit));
  auto t = run_trigger({"inotify-watches", dir.path(), std::to_string(attempts), std::to_string(kHoldMs)}, kNobody);
  watches.restore();
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_GE(t.n("enospc"), attempts - limit) << t.out;
  ASSERT_EQ(t.n("ok") + t.n("enospc"), attempts) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "inotify_add_watch", "inotify_watches", t.n("enospc"));
  expect_summaries_contain(events, "fs.inotify.max_user_watches is 40 and uid 65534 holds 40 watches.");
  for (const auto& e : events) {
    EXPECT_EQ(e["uid"], kNobody);
    EXPECT_EQ(e["cause"]["evidence"].value("watches", uint64_t{0}), limit) << e.dump(2);
  }
}

// fs.fanotify.max_user_marks lowered to 40 for the moment of the trigger: uid 65534 places an inode mark on each
// of 45 files; the last 5 fanotify_mark(2) fail in fanotify_add_new_mark() (inc_ucount of UCOUNT_FANOTIFY_MARKS),
// and while it still holds its 40 marks the daemon counts them. Without CAP_SYS_ADMIN the trigger's group
// reports file handles (unprivileged fanotify); its marks are charged like a privileged group's.
TEST(LimitCauses, FanotifyMarks) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  SysctlGuard marks("fs.fanotify.max_user_marks");
  if (!marks.ok()) GTEST_SKIP() << "no fs.fanotify.max_user_marks (kernel without CONFIG_FANOTIFY, or before 5.13)";
  const uint64_t limit = 40, attempts = 45;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  ASSERT_TRUE(marks.set(limit));
  auto t = run_trigger({"fanotify-marks", dir.path(), std::to_string(attempts), std::to_string(kHoldMs)}, kNobody);
  marks.restore();
  EXPECT_EQ(marks.current(), marks.saved()) << "fs.fanotify.max_user_marks not restored";
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_EQ(t.n("fid"), 1u) << "uid 65534 got a group without FAN_REPORT_FID: " << t.out;
  ASSERT_EQ(t.n("other"), 0u) << t.out;
  ASSERT_GE(t.n("enospc"), attempts - limit) << t.out;
  ASSERT_EQ(t.n("ok") + t.n("enospc"), attempts) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "fanotify_mark", "fanotify_marks", t.n("enospc"));
  expect_summaries_contain(events, "fanotify_mark(2) of " + dir.path() + "/m");
  expect_summaries_contain(events, "fs.fanotify.max_user_marks is 40 and uid 65534 holds 40 marks.");
  for (const auto& e : events) {
    EXPECT_EQ(e["uid"], kNobody);
    const json& ev = e["cause"]["evidence"];
    EXPECT_EQ(ev.value("max_user_marks", uint64_t{0}), limit) << e.dump(2);
    EXPECT_EQ(ev.value("marks", uint64_t{0}), limit) << e.dump(2);
    // The count and the limit were read in BPF at the failure, from the group's ucounts (v5.13 and later).
    EXPECT_EQ(e.value("ucounts", json::object()).value("kind", ""), "fanotify_marks") << e.dump(2);
    EXPECT_EQ(e["cause"]["summary"].get<std::string>().find("read after"), std::string::npos) << e.dump(2);
    // Where the origin probes run, the chain names the kernel function that refused the mark.
    if (ev.contains("origin")) {
      EXPECT_EQ(ev["origin"], "fanotify_add_new_mark") << e.dump(2);
    }
  }
}

// fs.epoll.max_user_watches lowered to 40 for the moment of the trigger: uid 65534 registers 45 eventfds in
// one epoll instance; the last 5 epoll_ctl(EPOLL_CTL_ADD) fail. An unrelated failure shortly before makes the
// daemon read the sysctls while the limit is still the old one: the epoll failures must not be explained
// with that stale value.
TEST(LimitCauses, EpollWatches) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount tiny("nr_inodes=1");
  ASSERT_TRUE(tiny.ok());
  SysctlGuard watches("fs.epoll.max_user_watches");
  ASSERT_TRUE(watches.ok());
  const uint64_t limit = 40, attempts = 45;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto before = run_trigger({"create-files", tiny.path(), "1"});
  ASSERT_EQ(before.n("enospc"), 1u) << before.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(kHoldMs));
  ASSERT_TRUE(watches.set(limit));
  auto t = run_trigger({"epoll-watches", std::to_string(attempts), std::to_string(kHoldMs)}, kNobody);
  watches.restore();
  ASSERT_EQ(t.exit_code, 0) << t.out;
  ASSERT_GE(t.n("enospc"), attempts - limit) << t.out;
  ASSERT_EQ(t.n("ok") + t.n("enospc"), attempts) << t.out;
  json report = tracer.finish();

  auto events = expect_diagnosed(report, t, "epoll_ctl", "epoll_watches", t.n("enospc"));
  // The user's watches are BPF's, at the failure; the limit too where the kernel lists its data symbols, else
  // the sysctl read after the failure.
  for (const auto& e : events) {
    EXPECT_EQ(e["uid"], kNobody);
    EXPECT_EQ(e["epoll"]["uid"], kNobody) << e.dump(1);
    EXPECT_EQ(e["epoll"]["watches"], limit) << e.dump(1);
    std::string summary = e["cause"]["summary"];
    EXPECT_NE(summary.find(e["epoll"]["max_user_watches"].is_null()
                               ? "fs.epoll.max_user_watches is 40 (read after the failure), and uid 65534 held 40 "
                                 "epoll watches at the failure."
                               : "fs.epoll.max_user_watches was 40 and uid 65534 held 40 epoll watches at the failure."),
              std::string::npos)
        << summary;
  }
}

}  // namespace
}  // namespace enospcd::testing::causes
