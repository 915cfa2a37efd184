// Programs nobody here wrote, failing for genuine reasons on this host with the daemon as deployed (--once):
// util-linux's ipcmk on SysV limits of a fresh IPC namespace, coreutils' dd onto /dev/full and ln on a tmpfs out
// of inodes (from its working directory), GNU tar extracting with -C into a tmpfs out of inodes while its own
// working directory is another tmpfs, inotify-tools' inotifywait and util-linux's unshare against the limits of
// a child user namespace and of the host, dd onto a full XFS, python3's pty.openpty() on a devpts with max=2, dd
// through an overlay whose upper layer is a full tmpfs, sqlite3 on a small tmpfs, util-linux mount against
// fs.mount-max, python3's mq_open against queues_max, touch on an ext4 out of inodes, dd onto a full btrfs,
// bpftool on a full LPM trie, python3's BPF program load with a log buffer too small, and dd into an XFS project
// at its hard limit, touch filling an ext4 directory's hash index and a btrfs's metadata. The
// right limit, with the numbers of the moment of failure (or said to be read after it).
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sstream>

#include "live/causes/causes.h"

namespace enospcd::testing::causes {
namespace {

std::vector<json> events_by_comm(const json& report, const std::string& comm) {
  std::vector<json> out;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("comm", "") == comm && e.value("errno", "") == "ENOSPC") out.push_back(e);
  return out;
}

// The exact in-kernel count of one comm's ENOSPC failures, over all its processes (the report's "top" rows).
uint64_t top_count_by_comm(const json& report, const std::string& comm) {
  uint64_t n = 0;
  for (const auto& row : report.value("top", json::array()))
    if (row.value("comm", "") == comm && row.value("errno", "") == "ENOSPC") n += row.value("count", uint64_t{0});
  return n;
}

size_t count_lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0, pos = 0;
  while ((pos = text.find(needle, pos)) != std::string::npos) n++, pos += needle.size();
  return n;
}

// bpf_map_lookup_percpu_elem(), with which BPF sums a percpu_counter's per-CPU deltas, is v5.19.
bool kernel_sums_percpu_counters() {
  struct utsname u {};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 19);
}

void require(const char* program) {
  if (sh(std::string("command -v ") + program + " >/dev/null").exit_code == 0) return;
  if (std::getenv("CI")) FAIL() << program << " is missing in CI (scripts/deps.sh installs it)";
  GTEST_SKIP() << program << " is not installed";
}

// SEMMNS 10 in a fresh IPC namespace: ipcmk -S 8 makes a set of 8 semaphores; the second needs 8 more, 16 > 10.
// SEMMNI (128) is far away: blaming it was the wrong answer.
TEST(ThirdParty, IpcmkSemaphoresOverSemmns) {
  ENOSPCD_REQUIRE_ROOT();
  require("ipcmk");
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -i sh -c 'echo \"250 10 32 128\" > /proc/sys/kernel/sem && ipcmk -S 8 && ipcmk -S 8' 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "ipcmk");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "semget");
  EXPECT_EQ(e["cause"]["id"], "sysv_ipc") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("SEMMNS (kernel.sem) is 10 semaphores, 8 are in use and the set asked for 8"),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("SEMMNI"), std::string::npos) << summary;
  EXPECT_EQ(e["cause"]["evidence"]["semmns"], 10);
  EXPECT_EQ(e["cause"]["evidence"]["semaphores"], 8);
  EXPECT_EQ(e["cause"]["evidence"]["sem_ids"], 1);
}

// kernel.shmall 16 pages in a fresh IPC namespace: two segments of 10 pages; the second does not fit. shmmni
// (4096) is far away.
TEST(ThirdParty, IpcmkSharedMemoryOverShmall) {
  ENOSPCD_REQUIRE_ROOT();
  require("ipcmk");
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -i sh -c 'echo 16 > /proc/sys/kernel/shmall && ipcmk -M 40960 && ipcmk -M 40960' 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  auto events = events_by_comm(report, "ipcmk");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "shmget");
  EXPECT_EQ(e["cause"]["id"], "sysv_ipc") << e.dump(2);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("kernel.shmall is 16 pages, 10 are in use and the segment asked for 10"), std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("shmmni"), std::string::npos) << summary;
  EXPECT_EQ(e["cause"]["evidence"]["limit"], "kernel.shmall");
}

// /dev/full refuses every write with ENOSPC. The devtmpfs that holds its node has plenty of room and is not to
// blame.
TEST(ThirdParty, DdOntoDevFull) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=/dev/full", "bs=4k", "count=1"});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "dd");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "write");
  EXPECT_EQ(e["file"]["device"]["type"], "char") << e.dump(2);
  EXPECT_EQ(e["file"]["device"]["rdev"], "1:7") << e.dump(2);
  EXPECT_EQ(e["cause"]["id"], "device") << e.dump(2);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("write(2) of the character device full (1:7) by dd"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("tmpfs"), std::string::npos) << summary;
}

// coreutils' echo attaching its shell to a new cgroup v1 cpuset, made without cgroup.clone_children, whose
// cpuset.cpus and cpuset.mems are empty: the kernel refuses the write to tasks with ENOSPC. Then, with a CPU and
// a memory node given and the shell attached, echo writes an empty cpuset.cpus: a cpuset with tasks cannot be
// left without CPUs. (dash's own echo reports any write error as "I/O error".)
TEST(ThirdParty, EchoAttachingToACpusetWithoutCpus) {
  ENOSPCD_REQUIRE_ROOT();
  const std::string parent = "/sys/fs/cgroup/cpuset";
  struct statfs sfs{};
  if (statfs(parent.c_str(), &sfs) != 0 || sfs.f_type != 0x27e0eb || access((parent + "/tasks").c_str(), W_OK) != 0)
    GTEST_SKIP() << "no cgroup v1 cpuset hierarchy at " << parent;
  const std::string dir = parent + "/enospcd-test-" + std::to_string(getpid());
  ASSERT_EQ(sh("mkdir " + dir).exit_code, 0);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)sh("rmdir " + dir + " 2>/dev/null"); }
  } cleanup{dir};
  auto empty = sh("cat " + dir + "/cpuset.cpus " + dir + "/cpuset.mems | tr -d '\n'");
  if (!empty.out.empty()) GTEST_SKIP() << "the parent's cgroup.clone_children gives new cpusets CPUs: " << empty.out;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto attach = sh("sh -c '/bin/echo $$ > " + dir + "/tasks' 2>&1");
  auto cpus = sh("echo 0 > " + dir + "/cpuset.cpus && echo 0 > " + dir + "/cpuset.mems && sh -c 'echo $$ > " + dir +
                 "/tasks && /bin/echo > " + dir + "/cpuset.cpus' 2>&1");
  json report = tracer.finish();
  ASSERT_NE(attach.out.find("No space left on device"), std::string::npos) << attach.out;
  ASSERT_NE(cpus.out.find("No space left on device"), std::string::npos) << cpus.out;
  auto events = events_by_comm(report, "echo");
  ASSERT_EQ(events.size(), 2u) << report.value("events", json::array()).dump(1);
  for (const json& e : events) {
    EXPECT_EQ(e["syscall"], "write");
    EXPECT_EQ(e["file"]["fstype"], "cgroup") << e.dump(2);
    EXPECT_EQ(e["cause"]["id"], "cpuset") << e.dump(2);
    EXPECT_EQ(e["cause"]["confidence"], "high") << e.dump(2);
  }
  const json& a = events[0]["file"]["name"] == "tasks" ? events[0] : events[1];
  const json& c = &a == &events[0] ? events[1] : events[0];
  EXPECT_EQ(a["file"]["name"], "tasks");
  EXPECT_EQ(c["file"]["name"], "cpuset.cpus");
  std::string sa = a["cause"]["summary"], sc = c["cause"]["summary"];
  EXPECT_NE(sa.find("a task cannot be attached to the cgroup v1 cpuset"), std::string::npos) << sa;
  EXPECT_NE(sa.find("while its cpuset.cpus or cpuset.mems is empty, which cgroup v1 refuses with ENOSPC; "),
            std::string::npos)
      << sa;
  // echo exits right after the failed write: the cpuset's directory is read only when its fd still shows it,
  // and then it is this one with nothing in it.
  if (a["cause"]["evidence"].contains("cpuset")) {
    EXPECT_EQ(a["cause"]["evidence"]["cpuset"], dir) << a.dump(2);
    EXPECT_NE(sa.find("cpuset.cpus is empty and cpuset.mems is empty (read after the failure)."), std::string::npos)
        << sa;
  } else {
    EXPECT_NE(sa.find("; the cpuset could not be read (the process or its file is gone)."), std::string::npos) << sa;
  }
  EXPECT_NE(sc.find("has tasks, and a cpuset with tasks cannot be left without CPUs (the value written to "
                    "cpuset.cpus is empty), which cgroup v1 refuses with ENOSPC"),
            std::string::npos)
      << sc;
}

// python3's os.setxattr of 3000 bytes on a file of a tmpfs of 4 inodes that holds 2: since v6.6 tmpfs takes a
// user xattr's size from the space of its nr_inodes (1 KiB an inode), and 2 KiB are left.
TEST(ThirdParty, PythonSetxattrOnATmpfsOutOfInodeSpace) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=4");
  ASSERT_TRUE(mnt.ok());
  ASSERT_EQ(sh("touch " + mnt.path() + "/f").exit_code, 0);
  if (sh("python3 -c \"import os; os.setxattr('" + mnt.path() + "/f', 'user.small', b'x')\"").exit_code != 0)
    GTEST_SKIP() << "this kernel's tmpfs has no user xattrs (v6.6 and later)";
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("python3 -c \"import os; os.setxattr('" + mnt.path() + "/f', 'user.big', b'x' * 3000)\" 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "python3");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "setxattr");
  EXPECT_EQ(e["cause"]["id"], "xattr_space") << e.dump(2);
  std::string summary = e["cause"]["summary"];
  // df -i: 4 inodes, 2 used (the root and f), less the 1 KiB the small xattr took: 1 more.
  EXPECT_NE(summary.find("setxattr(2) of " + mnt.path() + "/f by python3"), std::string::npos) << summary;
  EXPECT_NE(summary.find("the tmpfs at " + mnt.path() + " has room for 1 more of its 4 inodes (nr_inodes=4), from "
                         "which user xattrs take their size (1 KiB an inode), and the call asked for 2.9 KiB of value"),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("mkfs.ext4"), std::string::npos) << e["cause"].dump(2);
}

// ln in a tmpfs of 4 inodes holding the root and 3 files, with relative names: link(2) needs an inode
// reservation (shmem_link). The process is gone by the time the daemon reads the event, and the numbers come from
// its working directory's superblock, read in BPF at the failure.
TEST(ThirdParty, LnInAWorkingDirectoryOutOfInodes) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=4");
  ASSERT_TRUE(mnt.ok());
  ASSERT_EQ(sh("cd " + mnt.path() + " && touch a b c").exit_code, 0);
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("cd " + mnt.path() + " && ln a d 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "ln");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_TRUE(e["syscall"] == "linkat" || e["syscall"] == "link") << e.dump(2);
  EXPECT_EQ(e["path"], "d");
  EXPECT_EQ(e["file"]["role"], "cwd") << e.dump(2);
  EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes") << e.dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["at_failure"]["of"], "cwd");
  EXPECT_EQ(e["cause"]["evidence"]["at_failure"]["max_inodes"], 4);
  EXPECT_EQ(e["cause"]["evidence"]["at_failure"]["free_inodes"], 0);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("the tmpfs at " + mnt.path() + " has 4 inodes (nr_inodes=4), 4 in use, 0 free."),
            std::string::npos)
      << summary;
}

// GNU tar -C out -x: each member is created with openat(dirfd of out, name). The working directory is another
// tmpfs with room; the one out of inodes is the -C directory's. 12 files into nr_inodes=8 (root, dir, 6 files).
TEST(ThirdParty, TarExtractingIntoADirfdOutOfInodes) {
  ENOSPCD_REQUIRE_ROOT();
  require("tar");
  TmpfsMount src("size=4m");
  TmpfsMount out("nr_inodes=8");
  ASSERT_TRUE(src.ok() && out.ok());
  ASSERT_EQ(sh("cd " + src.path() + " && mkdir d && for i in $(seq -w 1 12); do echo $i > d/f$i; done && "
               "tar -cf t.tar d && rm -r d").exit_code,
            0);
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("cd " + src.path() + " && tar -C " + out.path() + " -xf t.tar 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  size_t reported = count_lines_with(r.out, "Cannot open: No space left on device");
  ASSERT_GT(reported, 0u) << r.out;
  auto events = events_by_comm(report, "tar");
  ASSERT_EQ(events.size(), reported) << r.out << report.value("events", json::array()).dump(1);
  for (const auto& e : events) {
    EXPECT_EQ(e["syscall"], "openat") << e.dump(2);
    EXPECT_EQ(e["file"]["role"], "dirfd") << e.dump(2);
    EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes") << e.dump(2);
    std::string summary = e["cause"]["summary"];
    EXPECT_NE(summary.find("the tmpfs at " + out.path() + " has 8 inodes (nr_inodes=8), 8 in use, 0 free."),
              std::string::npos)
        << summary;
    EXPECT_EQ(summary.find(src.path()), std::string::npos) << summary;
  }
}

// inotifywait -r over 40 directories. The count that refuses is read in BPF at the failure, at the level that
// refused: the watches are gone once inotifywait exits.
json inotifywait_event(const std::string& command) {
  require("inotifywait");
  TempDir dir;
  if (sh("cd " + dir.path() + " && mkdir d01 d02 d03 d04 d05 d06 d07 d08 d09 d10 d11 d12 d13 d14 d15 d16 d17 d18 "
         "d19 d20 d21 d22 d23 d24").exit_code != 0) {
    ADD_FAILURE() << "mkdir in " << dir.path();
    return json();
  }
  Tracer tracer;
  if (!tracer.ready()) {
    ADD_FAILURE() << tracer.stderr_text();
    return json();
  }
  auto r = sh(command + " timeout 2 inotifywait -r " + dir.path() + " 2>&1");
  json report = tracer.finish();
  EXPECT_NE(r.out.find("upper limit on inotify watches reached"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "inotifywait");
  if (events.size() != 1u) {
    ADD_FAILURE() << r.out << report.value("events", json::array()).dump(1);
    return json();
  }
  EXPECT_EQ(events[0]["syscall"], "inotify_add_watch");
  return events[0];
}

uint64_t own_userns() {
  struct stat st {};
  return stat("/proc/self/ns/user", &st) == 0 ? st.st_ino : 0;
}

// user.max_inotify_watches=16 in a child user namespace: that namespace's limit refused, not the host's.
TEST(ThirdParty, InotifywaitInAChildUserNamespace) {
  ENOSPCD_REQUIRE_ROOT();
  json e = inotifywait_event("unshare -Ur sh -c 'echo 16 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"'");
  ASSERT_FALSE(e.is_null());
  EXPECT_EQ(e["cause"]["id"], "inotify_watches") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  const json& ev = e["cause"]["evidence"];
  EXPECT_EQ(ev["limit"], "user.max_inotify_watches");
  EXPECT_EQ(ev["max"], 16);
  EXPECT_EQ(ev["count"], 16);
  uint64_t userns = ev.value("userns", uint64_t{0});
  EXPECT_NE(userns, own_userns());
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("user.max_inotify_watches is 16 in user namespace " + std::to_string(userns) +
                         " and uid 0 holds 16 watches there."),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("fs.inotify.max_user_watches"), std::string::npos) << summary;
}

// fs.inotify.max_user_watches=16 on the host, inotifywait in a child user namespace without a limit of its own:
// the watches charged there count against its owner in the initial namespace, where the limit refused.
TEST(ThirdParty, InotifywaitFromAChildNamespaceOverTheHostLimit) {
  ENOSPCD_REQUIRE_ROOT();
  SysctlGuard watches("fs.inotify.max_user_watches");
  ASSERT_TRUE(watches.ok());
  ASSERT_TRUE(watches.set(16));
  json e = inotifywait_event("unshare -Ur");
  watches.restore();
  ASSERT_FALSE(e.is_null());
  EXPECT_EQ(e["cause"]["id"], "inotify_watches") << e.dump(2);
  const json& ev = e["cause"]["evidence"];
  EXPECT_EQ(ev["limit"], "fs.inotify.max_user_watches");
  EXPECT_EQ(ev["userns"], own_userns());
  ASSERT_EQ(ev["ucounts"]["levels"].size(), 2u) << ev.dump(2);
  uint64_t child = ev["ucounts"]["levels"][0].value("userns", uint64_t{0});
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("fs.inotify.max_user_watches is 16 and uid 0 holds 16 watches, counting those of the "
                         "user namespaces it owns; the call was charged to uid 0 in user namespace " +
                         std::to_string(child) + "."),
            std::string::npos)
      << summary;
}

// util-linux unshare -m in a user namespace whose user.max_mnt_namespaces is 0.
TEST(ThirdParty, UnshareOverAChildNamespacesMountNamespaceLimit) {
  ENOSPCD_REQUIRE_ROOT();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -Ur sh -c 'echo 0 > /proc/sys/user/max_mnt_namespaces && unshare -m true' 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "unshare");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "unshare");
  EXPECT_EQ(e["cause"]["id"], "namespace_limit") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  const json& ev = e["cause"]["evidence"];
  EXPECT_EQ(ev["limit"], "user.max_mnt_namespaces");
  EXPECT_EQ(ev["max"], 0);
  uint64_t userns = ev.value("userns", uint64_t{0});
  EXPECT_NE(userns, own_userns());
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("user.max_mnt_namespaces is 0 in user namespace " + std::to_string(userns) + " and uid 0 "
                         "has 0 mount namespaces there."),
            std::string::npos)
      << summary;
}

// GNU dd with bs=4M onto an XFS filesystem of 300 MiB: XFS reserves a buffered write's whole range first, so the
// last write fails while less than it asked for, but more than nothing, is available.
TEST(ThirdParty, DdOntoAFullXfs) {
  ENOSPCD_REQUIRE_ROOT();
  require("mkfs.xfs");
  if (sh("grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "this kernel has no XFS";
  LoopFs mnt("xfs", 300, "");
  ASSERT_TRUE(mnt.ok()) << mnt.error();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=" + mnt.path() + "/big", "bs=4M", "count=100"});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "dd");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "write");
  EXPECT_EQ(e["file"]["fstype"], "xfs");
  EXPECT_EQ(e["cause"]["id"], "fs_blocks") << e.dump(2);
  const json& ev = e["cause"]["evidence"];
  uint64_t asked = std::stoull(e["args"][2].get<std::string>(), nullptr, 16);
  EXPECT_EQ(ev.value("bytes_requested", uint64_t{0}), asked);
  uint64_t avail = ev["statfs"].value("avail_bytes", uint64_t{0});
  EXPECT_GT(avail, 0u) << ev.dump(2);
  EXPECT_LT(avail, asked) << ev.dump(2);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("xfs /dev/loop"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" at " + mnt.path() + " has "), std::string::npos) << summary;
  EXPECT_NE(summary.find("the call asked for (read after the failure)."), std::string::npos) << summary;
}

// python3's pty.openpty() in a mount namespace whose devpts is a new instance mounted with max=2 and whose
// /dev/ptmx is that instance's: the third pty is refused by the instance (devpts_new_index()). The ptys are
// counted when the event is explained (the kernel keeps no count BPF can read), so the program holds them a
// moment, as a terminal multiplexer would.
TEST(ThirdParty, PythonOpenptyOnADevptsWithMaxTwo) {
  ENOSPCD_REQUIRE_ROOT();
  require("python3");
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -m sh -c 'mount -t devpts -o newinstance,max=2,ptmxmode=666 devpts /dev/pts && "
              "mount --bind /dev/pts/ptmx /dev/ptmx && python3 -c \"\nimport pty, time\nfds = []\n"
              "for i in range(3):\n    try: fds.append(pty.openpty())\n    except OSError as e: print(e)\n"
              "time.sleep(1)\n\"' 2>&1");
  json report = tracer.finish();
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto events = events_by_comm(report, "python3");
  ASSERT_EQ(events.size(), 1u) << r.out << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["path"], "/dev/ptmx");
  EXPECT_EQ(e["cause"]["id"], "pty") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("the devpts at /dev/pts allows 2 ptys (max=2) and 2 are in use (read after the failure)."),
            std::string::npos)
      << summary;
  EXPECT_EQ(e["cause"]["evidence"]["instance_max"], 2);
  EXPECT_EQ(e["cause"]["evidence"]["instance_in_use"], 2);
}

// dd into an overlay whose upper layer is a tmpfs of 256 KiB: the overlay holds no blocks, the tmpfs refused.
// The numbers are the upper tmpfs's, read in BPF at the failure through the overlay inode.
TEST(ThirdParty, DdThroughAnOverlayOntoAFullTmpfs) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount upper("size=256k");
  ASSERT_TRUE(upper.ok());
  TempDir lower, merged;
  ASSERT_EQ(sh("mkdir " + upper.path() + "/u " + upper.path() + "/w").exit_code, 0);
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -m sh -c 'mount -t overlay overlay -o lowerdir=" + lower.path() + ",upperdir=" + upper.path() +
              "/u,workdir=" + upper.path() + "/w " + merged.path() + " && dd if=/dev/zero of=" + merged.path() +
              "/big bs=64k count=16' 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "dd");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "write");
  EXPECT_EQ(e["file"]["fstype"], "overlay") << e.dump(2);
  EXPECT_EQ(e["upper"]["fstype"], "tmpfs") << e.dump(2);
  EXPECT_EQ(e["upper"]["name"], "big");
  EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["overlay"]["upper_fstype"], "tmpfs");
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("the tmpfs at " + upper.path() + " is full: 256.0 KiB of 256.0 KiB (size=256k) used (the "
                         "call asked for 64.0 KiB)"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("The call wrote through the overlay"), std::string::npos) << summary;
  EXPECT_EQ(e["cause"]["evidence"]["bytes_used_at_failure"], kernel_sums_percpu_counters()) << e.dump(2);
}

// sqlite3 inserting three 100 KB blobs into a database on a tmpfs of 256 KiB. Its rollback journal is deleted
// right after the failure, so statfs afterwards shows room: the explanation rests on the count BPF summed at the
// failure, and its numbers agree with its verdict (what was used plus what was asked exceeds the size).
TEST(ThirdParty, Sqlite3OnASmallTmpfs) {
  ENOSPCD_REQUIRE_ROOT();
  require("sqlite3");
  if (!kernel_sums_percpu_counters()) GTEST_SKIP() << "this kernel has no bpf_map_lookup_percpu_elem (v5.19)";
  TmpfsMount mnt("size=256k");
  ASSERT_TRUE(mnt.ok());
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = run({"sqlite3", mnt.path() + "/db",
                "create table t(x); insert into t values(randomblob(100000)); insert into t values(randomblob(100000)); "
                "insert into t values(randomblob(100000));"});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("full"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "sqlite3");
  ASSERT_GE(events.size(), 1u) << report.value("events", json::array()).dump(1);
  for (const json& e : events) {
    EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(2);
    const json& ev = e["cause"]["evidence"];
    EXPECT_EQ(ev["bytes_used_at_failure"], true) << e.dump(2);
    EXPECT_EQ(ev["bytes_max"], 256 * 1024);
    uint64_t used = ev["bytes_used"], max = ev["bytes_max"];
    uint64_t need = std::max<uint64_t>(ev.value("bytes_requested", uint64_t{4096}), 4096);
    EXPECT_GT(used + need, max) << "numbers that would have let the call through: " << e.dump(2);
    std::string summary = e["cause"]["summary"];
    EXPECT_EQ(summary.find("read after"), std::string::npos) << summary;
    EXPECT_NE(summary.find("the tmpfs at " + mnt.path()), std::string::npos) << summary;
  }
}

// util-linux mount of tmpfs instances in a private mount namespace with fs.mount-max two above what it holds:
// the third is refused (count_mounts()). The count and the limit are BPF's, read at the failure.
TEST(ThirdParty, MountOverFsMountMax) {
  ENOSPCD_REQUIRE_ROOT();
  SysctlGuard max("fs.mount-max");
  ASSERT_TRUE(max.ok());
  TempDir dir;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -m sh -c 'n=$(wc -l < /proc/self/mountinfo); echo held=$n; sysctl -qw fs.mount-max=$((n + 2)) "
              "&& for i in 1 2 3 4; do mount -t tmpfs t " + dir.path() + " || break; done' 2>&1");
  max.restore();
  json report = tracer.finish();
  ASSERT_NE(r.out.find("held="), std::string::npos) << r.out;
  uint64_t held = std::stoull(r.out.substr(r.out.find("held=") + 5));
  auto events = events_by_comm(report, "mount");
  ASSERT_EQ(events.size(), 1u) << r.out << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "mount");
  EXPECT_EQ(e["cause"]["id"], "mount_max") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  EXPECT_EQ(e["cause"]["evidence"]["mounts"], held + 2) << e.dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["mount_max"], held + 2) << e.dump(2);
  std::string summary = e["cause"]["summary"];
  // Where BPF could not read the sysctl at the failure (kallsyms without data symbols), the value is said to be
  // read later.
  const std::string when = e.contains("mount_max") ? "." : " (read after the failure).";
  EXPECT_NE(summary.find("holds " + std::to_string(held + 2) + " mounts, fs.mount-max is " +
                         std::to_string(held + 2) + when),
            std::string::npos)
      << summary;
}

// python3 (ctypes, librt's mq_open) creating POSIX message queues in a fresh IPC namespace whose
// fs.mqueue.queues_max is 2: the third is refused. The count and the limit are the namespace's, read in BPF.
TEST(ThirdParty, PythonMqOpenOverQueuesMax) {
  ENOSPCD_REQUIRE_ROOT();
  require("python3");
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("unshare -i sh -c 'echo 2 > /proc/sys/fs/mqueue/queues_max && python3 -c \"\n"
              "import ctypes, os\nrt = ctypes.CDLL(\\\"librt.so.1\\\", use_errno=True)\n"
              "for i in range(3):\n"
              "    fd = rt.mq_open((\\\"/q%d\\\" % i).encode(), os.O_CREAT | os.O_RDWR, 0o600, None)\n"
              "    print(fd, ctypes.get_errno())\n\"' 2>&1");
  json report = tracer.finish();
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("-1 28"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "python3");
  ASSERT_EQ(events.size(), 1u) << r.out << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "mq_open");
  EXPECT_EQ(e["cause"]["id"], "mqueue") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  EXPECT_EQ(e["cause"]["evidence"]["mqueue_queues"], 2);
  EXPECT_EQ(e["cause"]["evidence"]["mqueue_queues_max"], 2);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("fs.mqueue.queues_max is 2 and 2 queues exist in IPC namespace"), std::string::npos)
      << summary;
}

// coreutils touch creating 20 files on an ext4 made with 16 inodes: the root, lost+found and the reserved ones
// leave 5. touch creates relative to its cwd, the ext4's root: BPF read that superblock's inode counts at the
// failure.
TEST(ThirdParty, TouchOnAnExt4OutOfInodes) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(16, "-N 16");
  ASSERT_TRUE(fs.ok()) << fs.error();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("cd " + fs.path() + " && touch f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19 f20 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  size_t reported = count_lines_with(r.out, "No space left on device");
  ASSERT_GE(reported, 1u) << r.out;
  auto events = events_by_comm(report, "touch");
  ASSERT_EQ(events.size(), reported) << r.out << report.value("events", json::array()).dump(1);
  for (const json& e : events) {
    EXPECT_EQ(e["cause"]["id"], "fs_inodes") << e.dump(2);
    const json& st = e["cause"]["evidence"]["statfs"];
    EXPECT_EQ(st.value("inodes_total", uint64_t{0}), 16u) << e.dump(2);
    EXPECT_EQ(st.value("inodes_free", uint64_t{1}), 0u) << e.dump(2);
    std::string summary = e["cause"]["summary"];
    EXPECT_NE(summary.find("ext4 " + fs.device() + " at " + fs.path() + " has used all 16 inodes while "),
              std::string::npos)
        << summary;
    EXPECT_EQ(summary.find("read after"), std::string::npos) << summary;
    EXPECT_EQ(e["file"]["ext4"].value("free_inodes", uint64_t{1}), 0u) << e.dump(2);
  }
}

// dd onto a 128 MiB btrfs until it is full.
TEST(ThirdParty, DdOntoAFullBtrfs) {
  ENOSPCD_REQUIRE_ROOT();
  require("mkfs.btrfs");
  if (sh("grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "this kernel has no btrfs";
  LoopFs mnt("btrfs", 128, "");
  ASSERT_TRUE(mnt.ok()) << mnt.error();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=" + mnt.path() + "/big", "bs=1M", "count=200"});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "dd");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["file"]["fstype"], "btrfs");
  EXPECT_EQ(e["cause"]["id"], "fs_blocks") << e.dump(2);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("btrfs /dev/loop"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" at " + mnt.path() + " "), std::string::npos) << summary;
  EXPECT_EQ(e["cause"]["evidence"]["statfs"]["total_bytes"], 128u << 20) << e.dump(2);
}

// bpftool filling an LPM trie of one entry: the second key does not fit, and the trie says so with ENOSPC
// (kernel/bpf/lpm_trie.c). No filesystem is involved, and none is blamed.
TEST(ThirdParty, BpftoolUpdateOfAFullLpmTrie) {
  ENOSPCD_REQUIRE_ROOT();
  require("bpftool");
  const std::string pin = "/sys/fs/bpf/enospcd-test-lpm-" + std::to_string(getpid());
  struct Unpin {
    std::string path;
    ~Unpin() { ::unlink(path.c_str()); }
  } unpin{pin};
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("bpftool map create " + pin + " type lpm_trie key 8 value 4 entries 1 name enospcd_lpm flags 1 && "
              "bpftool map update pinned " + pin + " key 32 0 0 0 10 0 0 1 value 1 0 0 0 && "
              "bpftool map update pinned " + pin + " key 32 0 0 0 10 0 0 2 value 1 0 0 0 2>&1");
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "bpftool");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "bpf");
  EXPECT_EQ(e["cause"]["id"], "bpf") << e.dump(2);
  EXPECT_EQ(e["cause"]["confidence"], "high");
  EXPECT_EQ(e["cause"]["evidence"]["command"], "BPF_MAP_UPDATE_ELEM");
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("bpf(2) BPF_MAP_UPDATE_ELEM by bpftool"), std::string::npos) << summary;
  EXPECT_NE(summary.find("the map is full"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("tmpfs"), std::string::npos) << summary;
}

// python3 loading a two-instruction socket filter with log_level 1 and a 16-byte log buffer: the verifier's log
// does not fit, and the load fails with ENOSPC although the program is valid.
TEST(ThirdParty, PythonBpfProgLoadWithATooSmallLog) {
  ENOSPCD_REQUIRE_ROOT();
  require("python3");
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  const char* script = R"PY(
import ctypes, os, platform, struct
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": 321, "aarch64": 280}[platform.machine()]
insns = ctypes.create_string_buffer(struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0))
lic = ctypes.create_string_buffer(b"GPL")
log = ctypes.create_string_buffer(16)
attr = ctypes.create_string_buffer(struct.pack("<IIQQIIQ", 1, 2, ctypes.addressof(insns), ctypes.addressof(lic),
                                               1, 16, ctypes.addressof(log)), 144)
if libc.syscall(nr, 5, attr, 144) < 0:
    raise SystemExit(os.strerror(ctypes.get_errno()))
)PY";
  auto r = run({"python3", "-c", script});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "python3");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "bpf");
  EXPECT_EQ(e["cause"]["id"], "bpf") << e.dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["command"], "BPF_PROG_LOAD");
  EXPECT_EQ(e["cause"]["evidence"]["cmd"], 5);
  std::string summary = e["cause"]["summary"];
  EXPECT_NE(summary.find("bpf(2) BPF_PROG_LOAD by python3"), std::string::npos) << summary;
  EXPECT_NE(summary.find("the verifier's log did not fit the buffer the caller gave (log_size)"), std::string::npos)
      << summary;
}

// xfs_quota puts a directory of an XFS mounted with prjquota into project 42 with a hard limit of 1 MiB, and
// dd writes into it: XFS refuses with ENOSPC (not EDQUOT) while the filesystem has ~280 MiB free. This is how
// container storage's size= limit fails.
TEST(ThirdParty, DdIntoAnXfsProjectAtItsHardLimit) {
  ENOSPCD_REQUIRE_ROOT();
  require("mkfs.xfs");
  require("xfs_quota");
  if (sh("grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "this kernel has no XFS";
  LoopFs mnt("xfs", 300, "", "prjquota");
  if (!mnt.ok() && LoopFs("xfs", 300, "").ok())
    GTEST_SKIP() << "this kernel's XFS has no quota support (CONFIG_XFS_QUOTA); the VM tier runs this case";
  ASSERT_TRUE(mnt.ok()) << mnt.error();
  auto setup = sh("mkdir " + mnt.path() + "/vol && xfs_quota -x -c 'project -s -p " + mnt.path() + "/vol 42' -c " +
                  "'limit -p bhard=1m 42' " + mnt.path() + " 2>&1");
  ASSERT_EQ(setup.exit_code, 0) << setup.out;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=" + mnt.path() + "/vol/big", "bs=64k", "count=100"});
  json report = tracer.finish();
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  auto events = events_by_comm(report, "dd");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "write");
  EXPECT_EQ(e["file"]["fstype"], "xfs");
  EXPECT_EQ(e["cause"]["id"], "quota") << e.dump(2);
  const json& q = e["cause"]["evidence"]["project_quota"];
  EXPECT_EQ(q["project"], 42) << e.dump(2);
  EXPECT_EQ(q["bytes_hard"], 1u << 20) << e.dump(2);
  EXPECT_GT(q["bytes"].get<uint64_t>() + (64u << 10), 1u << 20) << e.dump(2);
  std::string summary = e["cause"]["summary"];
  // Where the kernel's XFS types were known when the programs loaded (XFS built in, or its module's BTF), BPF
  // read the file's project at the failure; otherwise the projects are read when the event is explained.
  if (e.contains("project_quota")) {
    EXPECT_EQ(e["project_quota"]["project"], 42) << e.dump(2);
    EXPECT_EQ(q["at_failure"], true) << e.dump(2);
    EXPECT_NE(summary.find("XFS project 42 on " + mnt.device() + " at " + mnt.path() + " had used "),
              std::string::npos)
        << summary;
    EXPECT_NE(summary.find(" of its 1.0 MiB hard limit when the call asked for 64.0 KiB; XFS reports a project "
                           "quota as ENOSPC, while the filesystem has "),
              std::string::npos)
        << summary;
  } else {
    EXPECT_EQ(q["at_failure"], false) << e.dump(2);
    EXPECT_NE(summary.find("XFS project 42 on " + mnt.device() + " at " + mnt.path() + " has used "),
              std::string::npos)
        << summary;
    EXPECT_NE(summary.find(" of its 1.0 MiB hard limit (read after the failure), and the call asked for 64.0 KiB; "
                           "XFS reports a project quota as ENOSPC while the filesystem has "),
              std::string::npos)
        << summary;
  }
}

// coreutils' touch, run by xargs, creating files with 250-character names in one directory of an ext4 with 1 KiB
// blocks and no large_dir: the directory's two-level hash index fills while the filesystem still has blocks and
// inodes free, and every create after that fails with ENOSPC.
TEST(ThirdParty, TouchFillsAnExt4DirectoryIndex) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4Fs fs(160, "-b 1024 -N 80000 -O ^large_dir");
  ASSERT_TRUE(fs.ok()) << fs.error();
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  auto r = sh("cd " + fs.path() + " && mkdir d && seq -w 1 45000 | sed 's/$/" + std::string(244, 'n') +
              "/; s|^|d/|' | xargs touch 2>&1; df -i " + fs.path() + " | tail -1");
  json report = tracer.finish();
  size_t refused = count_lines_with(r.out, "No space left on device");
  ASSERT_GT(refused, 0u) << r.out.substr(0, 2000);
  // The filesystem had room for more files.
  std::istringstream df(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1));
  std::string source;
  uint64_t inodes = 0, used = 0, free_inodes = 0;
  df >> source >> inodes >> used >> free_inodes;
  ASSERT_GT(free_inodes, 1000u) << r.out.substr(r.out.size() - 500);
  EXPECT_EQ(top_count_by_comm(report, "touch"), refused);
  auto events = events_by_comm(report, "touch");
  ASSERT_FALSE(events.empty()) << report.dump(1).substr(0, 4000);
  for (const json& e : events) {
    EXPECT_EQ(e["syscall"], "openat");
    EXPECT_EQ(e["cause"]["id"], "directory_index") << e.dump(2);
    std::string summary = e["cause"]["summary"];
    EXPECT_NE(summary.find("the hash index of the directory d "), std::string::npos) << summary;
    EXPECT_NE(summary.find("is full; ext4 " + fs.device() + " at " + fs.path() + " has "), std::string::npos)
        << summary;
    EXPECT_NE(summary.find(" inodes free, and without the large_dir feature a directory's index has two levels "
                           "(read after the failure)."),
              std::string::npos)
        << summary;
    EXPECT_EQ(e["cause"]["evidence"]["large_dir"], false);
    // How long after the failure the filesystem's numbers were read: within the run, not before the failure.
    ASSERT_TRUE(e["cause"]["evidence"].contains("read_after_ms")) << e.dump(2);
    EXPECT_LT(e["cause"]["evidence"]["read_after_ms"].get<uint64_t>(), 600'000u) << e.dump(2);
  }
}

// btrfs out of metadata while its data chunks have room: dd fills a 256 MiB btrfs with 1 MiB files (every byte
// of the device goes into data chunks), every other file is deleted (the chunks stay, half used), then touch,
// run by xargs, creates empty files, which take metadata only, until the metadata chunks are full and no new one
// can be made. df shows nothing available; the data chunks have ~110 MiB free.
TEST(ThirdParty, TouchRunsABtrfsOutOfMetadata) {
  ENOSPCD_REQUIRE_ROOT();
  require("mkfs.btrfs");
  if (sh("grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "this kernel has no btrfs";
  LoopFs mnt("btrfs", 256, "-m single -d single");
  ASSERT_TRUE(mnt.ok()) << mnt.error();
  auto fill = sh("cd " + mnt.path() + " && i=0; while dd if=/dev/zero of=f$i bs=1M count=1 status=none 2>/dev/null; "
                 "do i=$((i+1)); done; sync; j=0; while [ $j -lt $i ]; do rm -f f$j; j=$((j+2)); done; sync; "
                 "btrfs filesystem sync . 2>/dev/null; echo files=$i");
  ASSERT_NE(fill.out.find("files="), std::string::npos) << fill.out;
  Tracer tracer;
  ASSERT_TRUE(tracer.ready()) << tracer.stderr_text();
  // Batches of 200 names; xargs stops after the first batch with a failure (each refused create makes btrfs
  // flush and commit first: thousands would take minutes).
  auto r = sh("cd " + mnt.path() + " && mkdir small && seq 1 300000 | sed 's|^|small/f|' | "
              "xargs -n 200 sh -c 'touch \"$@\" || exit 255' sh 2>&1");
  json report = tracer.finish();
  size_t refused = count_lines_with(r.out, "No space left on device");
  ASSERT_GT(refused, 0u) << r.out.substr(0, 2000);
  EXPECT_EQ(top_count_by_comm(report, "touch"), refused);
  auto events = events_by_comm(report, "touch");
  ASSERT_FALSE(events.empty()) << report.dump(1).substr(0, 4000);
  for (const json& e : events) {
    EXPECT_EQ(e["cause"]["id"], "fs_blocks") << e.dump(2);
    const json& b = e["cause"]["evidence"]["btrfs"];
    ASSERT_TRUE(b.is_object()) << e.dump(2);
    EXPECT_GT(b["data_total"].get<uint64_t>() - b["data_used"].get<uint64_t>(), 50u << 20) << e.dump(2);
    std::string summary = e["cause"]["summary"];
    EXPECT_NE(summary.find("btrfs " + mnt.device() + " at " + mnt.path() + " has no room for metadata: "),
              std::string::npos)
        << summary;
    EXPECT_NE(summary.find(" of its devices left for new chunks, while its data chunks have "), std::string::npos)
        << summary;
    EXPECT_NE(summary.find("(read after the failure)."), std::string::npos) << summary;
  }
}

}  // namespace
}  // namespace enospcd::testing::causes
