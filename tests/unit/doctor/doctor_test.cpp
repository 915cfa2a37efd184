// The doctor end to end on a fake /proc tree, plus the pure evaluation steps with synthetic numbers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>

#include "doctor/checks.h"
#include "doctor/doctor.h"
#include "doctor/shadow.h"
#include "unit/context/fake_tree.h"
#include "support/has_value.h"

using namespace enospcd::context;
using namespace enospcd::doctor;
using enospcd::context::test::FakeTree;

namespace {

const Finding* find(const DoctorReport& r, std::string_view check, Severity sev) {
  for (const auto& f : r.findings) {
    if (f.check == check && f.severity == sev) return &f;
  }
  return nullptr;
}

std::vector<const Finding*> all_of(const DoctorReport& r, std::string_view check) {
  std::vector<const Finding*> out;
  for (const auto& f : r.findings) {
    if (f.check == check) out.push_back(&f);
  }
  return out;
}

const CheckStatus* status_of(const DoctorReport& r, std::string_view id) {
  for (const auto& c : r.checks) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
  return b;
}

constexpr uint64_t kNsA = 4026531841ull;
constexpr uint64_t kNsB = 4026532000ull;

// A host with two mount namespaces, notification instances, a deleted-but-open file (really deleted, held by
// this test process and reached through a link chain), a file on an unlisted filesystem, blocked tasks and
// SysV IPC objects.
class FakeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    t.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n");
    t.write("proc/sys/fs/mount-max", "11\n");
    t.write("proc/sys/fs/inotify/max_user_watches", "5\n");
    t.write("proc/sys/fs/inotify/max_user_instances", "128\n");
    t.write("proc/sys/fs/fanotify/max_user_marks", "100\n");
    t.write("proc/sys/fs/epoll/max_user_watches", "4\n");
    t.write("proc/sys/kernel/shmmni", "3\n");
    t.write("proc/sys/kernel/shmall", "1000000\n");
    t.write("proc/sys/kernel/msgmni", "32000\n");
    t.write("proc/sys/kernel/sem", "250\t32000\t32\t2\n");
    t.link("proc/self", "100");

    root_line = t.mountinfo_line_for(t.path("rootfs"), "/");
    ASSERT_FALSE(root_line.empty());
    auto st = stat_file(t.path("rootfs"));
    ASSERT_TRUE(st.ok());
    root_dev = st->dev;
    root_mnt = static_cast<int>(st->mnt_id.value_or(0));
    const std::string ns_a = root_line + "999 " + std::to_string(root_mnt) +
                             " 0:99 /export /mnt/nfs rw - nfs4 server:/export rw,vers=4.2\n";
    std::string ns_b = root_line;
    for (int i = 0; i < 9; i++) {
      ns_b += std::to_string(500 + i) + " " + std::to_string(root_mnt) + " 0:" + std::to_string(200 + i) +
              " / /run/x" + std::to_string(i) + " rw - tmpfs shm rw\n";
    }

    auto proc = [&](int pid, const std::string& comm, uint64_t ns, unsigned euid, char state = 'S', int threads = 1) {
      FakeTree::Proc p;
      p.pid = pid;
      p.comm = comm;
      p.mnt_ns = ns;
      p.uid = euid;
      p.euid = euid;
      p.state = state;
      p.threads = threads;
      t.add_process(p);
      t.write("proc/" + std::to_string(pid) + "/mountinfo", ns == kNsA ? ns_a : ns_b);
    };
    proc(100, "doctor", kNsA, 0);
    proc(101, "app", kNsA, 1000);
    proc(102, "agent", kNsA, 0);
    proc(200, "container", kNsB, 0);
    t.write("proc/200/cgroup", "0::/system.slice/docker-" + std::string(64, 'a') + ".scope\n");

    // inotify: uid 0 holds 5 watches (limit 5), uid 1000 holds 2.
    std::string five = "pos:\t0\nflags:\t02000000\nmnt_id:\t15\n";
    for (int i = 1; i <= 5; i++) five += "inotify wd:" + std::to_string(i) + " ino:" + std::to_string(i * 7) + " sdev:fd00001 mask:fce ignored_mask:0\n";
    t.add_fd(100, 3, "anon_inode:inotify", five);
    t.add_fd(101, 3, "anon_inode:inotify",
             "pos:\t0\nflags:\t0\nmnt_id:\t15\ninotify wd:1 ino:1 sdev:1 mask:1\ninotify wd:2 ino:2 sdev:1 mask:1\n");
    t.add_fd(102, 7, "anon_inode:[fanotify]",
             "pos:\t0\nflags:\t0\nmnt_id:\t15\nfanotify flags:10 event-flags:0\n"
             "fanotify ino:1 sdev:800013 mflags:0 mask:3b ignored_mask:0\nfanotify mnt_id:16 mflags:0 mask:3b ignored_mask:0\n");
    t.add_fd(102, 8, "anon_inode:[eventpoll]",
             "pos:\t0\nflags:\t02\nmnt_id:\t15\ntfd:        5 events:       19 data:                5  pos:0 ino:1 sdev:9\n"
             "tfd:        6 events:       19 data:                6  pos:0 ino:2 sdev:9\n"
             "tfd:        7 events:       19 data:                7  pos:0 ino:3 sdev:9\n");
    t.add_fd(101, 4, "socket:[1234]", "pos:\t0\n");

    // Ghost space: a 2 MiB file this process opened and unlinked; the fake fd link's name ends in
    // " (deleted)" and chains to our real fd, so statx sees nlink 0 and real sizes.
    const std::string data = t.path("rootfs/app.log");
    ghost_fd = ::open(data.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(ghost_fd, 0);
    std::string block(1 << 20, 'x');
    ASSERT_EQ(::write(ghost_fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    ASSERT_EQ(::write(ghost_fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    ::fsync(ghost_fd);
    ::unlink(data.c_str());
    struct stat gst{};
    ASSERT_EQ(::fstat(ghost_fd, &gst), 0);
    ghost_ino = gst.st_ino;
    ghost_alloc = static_cast<uint64_t>(gst.st_blocks) * 512;
    const std::string our_fd = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(ghost_fd);
    t.link("links/app.log (deleted)", our_fd);
    t.add_fd(101, 9, t.path("links/app.log (deleted)"), "pos:\t0\nflags:\t02\nmnt_id:\t" + std::to_string(root_mnt) + "\n");
    // ... and mapped by pid 102.
    t.write("proc/102/maps", "7f0000000000-7f0000200000 rw-s 00000000 " + hex(major(root_dev)) + ":" +
                                 hex(minor(root_dev)) + " " + std::to_string(ghost_ino) + "    " +
                                 t.path("rootfs/app.log") + " (deleted)\n");
    t.link("proc/102/map_files/7f0000000000-7f0000200000", our_fd);

    // Orphan: /dev/null lives on a filesystem (devtmpfs or the container's /dev tmpfs) that the fake mount
    // tables do not list.
    t.add_fd(102, 11, "/dev/null", "pos:\t0\nflags:\t02\nmnt_id:\t77777\n");

    // D state: 300 is blocked on the NFS mount, 301 only briefly (its task stat says S now), 400 has one
    // blocked thread.
    proc(300, "stuck", kNsA, 0, 'D');
    t.write("proc/300/wchan", "rpc_wait_bit_killable");
    t.write("proc/300/task/300/wchan", "rpc_wait_bit_killable");
    t.link("proc/300/cwd", "/mnt/nfs/home");
    t.add_fd(300, 3, "/mnt/nfs/home/db.sqlite", "pos:\t0\nflags:\t02\nmnt_id:\t999\n");
    proc(301, "brief", kNsA, 0, 'D');
    t.write("proc/301/task/301/stat", "301 (brief) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n");
    proc(400, "threaded", kNsA, 0, 'S', 2);
    t.write("proc/400/task/401/stat", "401 (worker) D 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 1001 0 0\n");
    t.write("proc/400/task/401/wchan", "io_schedule");

    // SysV IPC: 3 segments of kernel.shmmni 3; 2 semaphore sets of SEMMNI 2.
    t.write("proc/sysvipc/shm",
            "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n"
            "         0          1  1600               1048576  4242  4242      0     0     0     0     0          0          0 1700000000               1048576                     0\n"
            "         0          2  1600                  4096  4242  4242      1     0     0     0     0          0          0 1700000000                  4096                     0\n"
            "         0          3  1600                  8192  4242  4242      2     0     0     0     0          0          0 1700000000                  8192                     0\n");
    t.write("proc/sysvipc/msg", "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n");
    t.write("proc/sysvipc/sem",
            "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n"
            "         0          0   600         10     0     0     0     0          0 1700000000\n"
            "         0          1   600         20     0     0     0     0          0 1700000000\n");

    // Broken entries: a process that vanished (empty dir) and one with garbage.
    t.mkdir("proc/500");
    t.write("proc/501/status", "\x01\x02garbage");
  }

  void TearDown() override {
    if (ghost_fd >= 0) ::close(ghost_fd);
  }

  DoctorOptions options() const {
    DoctorOptions o;
    o.root = t.root();
    o.d_state_recheck = std::chrono::milliseconds(1);
    o.threads = 2;
    return o;
  }

  FakeTree t;
  std::string root_line;
  dev_t root_dev = 0;
  int root_mnt = 0;
  int ghost_fd = -1;
  uint64_t ghost_ino = 0;
  uint64_t ghost_alloc = 0;
};

}  // namespace

TEST_F(FakeHost, ScanSurvivesVanishedAndMalformedProcesses) {
  ScanOptions so;
  so.root = t.root();
  auto h = scan_host(so);
  EXPECT_EQ(h.self_pid, 100);
  EXPECT_EQ(h.self_mnt_ns, kNsA);
  EXPECT_EQ(h.stats.pids_listed, 9u);
  EXPECT_EQ(h.processes.size(), 7u);
  EXPECT_EQ(h.stats.vanished, 1u);
  EXPECT_EQ(h.stats.malformed, 1u);
  ASSERT_EQ(h.namespaces.size(), 2u);
  ASSERT_NE(h.ns(kNsB), nullptr);
  EXPECT_EQ(h.ns(kNsB)->mounts.size(), 10u);
  EXPECT_TRUE(h.ns(kNsA)->is_self);
  const ProcessInfo* c = h.process(200);
  ASSERT_NE(c, nullptr);
  ASSERT_HAS_VALUE(c->container);
  EXPECT_EQ(c->container->runtime, "docker");
  // Only files the checks need are kept: the socket is not.
  const ProcessInfo* app = h.process(101);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->fd_count, 3u);
  for (const auto& f : app->files) EXPECT_NE(f.kind, FdKind::socket);
  // The blocked task was not stat'ed: its cwd resolves through the mount table only.
  const ProcessInfo* stuck = h.process(300);
  ASSERT_NE(stuck, nullptr);
  EXPECT_FALSE(stuck->cwd.st);
  EXPECT_EQ(h.mount_for_path(kNsA, stuck->cwd.path)->fstype, "nfs4");
}

TEST_F(FakeHost, FullReportHasEveryCheckAndSerializes) {
  auto rep = run_doctor(options());
  for (auto id : doctor_check_ids()) {
    const CheckStatus* cs = status_of(rep, id);
    ASSERT_NE(cs, nullptr) << id;
    EXPECT_NE(cs->status, "error") << id << ": " << cs->detail;
  }
  EXPECT_EQ(status_of(rep, kCheckShadowedMounts)->status, "skipped");
  // Most severe first.
  for (std::size_t i = 1; i < rep.findings.size(); i++) {
    EXPECT_GE(rep.findings[i - 1].severity, rep.findings[i].severity);
  }
  auto j = to_json(rep);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["worst"], "critical");
  EXPECT_EQ(j["scan"]["processes"], 7);
  EXPECT_FALSE(j.dump().empty());
  auto dj = doctor_json(options());
  EXPECT_TRUE(dj["findings"].is_array());
}

TEST_F(FakeHost, MountCount) {
  auto o = options();
  o.checks = {"mount_count"};
  auto rep = run_doctor(o);
  const Finding* w = find(rep, kCheckMountCount, Severity::warning);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->evidence["ns"], kNsB);
  EXPECT_EQ(w->evidence["mounts"], 10);
  EXPECT_EQ(w->evidence["limit"], 11);
  EXPECT_EQ(w->evidence["used_pct"], 91);
  EXPECT_NE(w->summary.find("10 mounts of fs.mount-max 11 (91%)"), std::string::npos) << w->summary;
  EXPECT_EQ(w->evidence["top_sources"][0]["fstype_source"], "tmpfs shm");
  EXPECT_EQ(w->evidence["top_sources"][0]["count"], 9);
  EXPECT_EQ(w->evidence["container"]["runtime"], "docker");
  const Finding* info = find(rep, kCheckMountCount, Severity::info);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->evidence["namespace_count"], 2);
}

TEST_F(FakeHost, InotifyPerUser) {
  auto o = options();
  o.checks = {"inotify_watches"};
  auto rep = run_doctor(o);
  const Finding* c = find(rep, kCheckInotify, Severity::critical);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->evidence["uid"], 0);
  EXPECT_EQ(c->evidence["user"], "root");
  EXPECT_EQ(c->evidence["watches"], 5);
  EXPECT_EQ(c->evidence["instances"], 1);
  EXPECT_EQ(c->evidence["limit"], 5);
  EXPECT_EQ(c->evidence["holders"][0]["pid"], 100);
  EXPECT_EQ(c->evidence["holders"][0]["watches"], 5);
  EXPECT_NE(c->summary.find("5 inotify watches of fs.inotify.max_user_watches 5 (100%)"), std::string::npos) << c->summary;
  const Finding* info = find(rep, kCheckInotify, Severity::info);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->evidence["watches"], 7);
  EXPECT_EQ(info->evidence["instances"], 2);
  EXPECT_EQ(info->evidence["users"].size(), 2u);
  EXPECT_EQ(info->evidence["users"][1]["uid"], 1000);
  EXPECT_EQ(info->evidence["users"][1]["watches"], 2);
}

TEST_F(FakeHost, FanotifyAndEpoll) {
  auto o = options();
  o.checks = {"fanotify_marks", "epoll_watches"};
  auto rep = run_doctor(o);
  auto fan = all_of(rep, kCheckFanotify);
  ASSERT_EQ(fan.size(), 1u);
  EXPECT_EQ(fan[0]->severity, Severity::info);
  EXPECT_EQ(fan[0]->evidence["marks"], 2);
  EXPECT_EQ(fan[0]->evidence["groups"], 1);
  auto ep = all_of(rep, kCheckEpoll);
  ASSERT_EQ(ep.size(), 1u);  // 3 of 4 = 75%: below the warning line
  EXPECT_EQ(ep[0]->evidence["watches"], 3);
  EXPECT_EQ(ep[0]->evidence["users"][0]["used_pct"], 75);
}

TEST_F(FakeHost, GhostSpaceFromFdAndMapping) {
  auto o = options();
  o.checks = {"ghost_space"};
  auto rep = run_doctor(o);
  auto g = all_of(rep, kCheckGhostSpace);
  ASSERT_EQ(g.size(), 1u);
  const auto& ev = g[0]->evidence;
  EXPECT_EQ(ev["dev"], dev_string(root_dev));
  EXPECT_EQ(ev["mount_point"], "/");
  EXPECT_EQ(ev["files"], 1);  // one file, two holders
  EXPECT_EQ(ev["allocated_bytes"], ghost_alloc);
  EXPECT_EQ(ev["size_bytes"], 2u << 20);
  const auto& file = ev["largest"][0];
  EXPECT_EQ(file["ino"], ghost_ino);
  ASSERT_EQ(file["holders"].size(), 2u);
  EXPECT_EQ(file["holders"][0]["pid"], 101);
  EXPECT_EQ(file["holders"][0]["fd"], 9);
  EXPECT_EQ(file["holders"][1]["pid"], 102);
  EXPECT_EQ(file["holders"][1]["via"], "map");
  EXPECT_NE(g[0]->summary.find("2.0 MiB"), std::string::npos) << g[0]->summary;
  EXPECT_NE(g[0]->remedy.find("/proc/101/fd/9"), std::string::npos);

  o.ghost_min_bytes = 3u << 20;  // now too small to be listed
  rep = run_doctor(o);
  g = all_of(rep, kCheckGhostSpace);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]->severity, Severity::info);
  EXPECT_EQ(g[0]->evidence["files"], 1);
  EXPECT_NE(g[0]->summary.find("no deleted-but-open file"), std::string::npos);
}

TEST_F(FakeHost, OrphanedFilesystem) {
  struct stat null_st{};
  ASSERT_EQ(::stat("/dev/null", &null_st), 0);
  if (null_st.st_dev == root_dev) GTEST_SKIP() << "/dev/null is on the temp directory's filesystem here";
  auto o = options();
  o.checks = {"orphaned_fs"};
  auto rep = run_doctor(o);
  const Finding* f = find(rep, kCheckOrphanedFs, Severity::warning);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["dev"], dev_string(null_st.st_dev));
  ASSERT_EQ(f->evidence["holders"].size(), 1u);
  EXPECT_EQ(f->evidence["holders"][0]["pid"], 102);
  EXPECT_EQ(f->evidence["holders"][0]["fd"], 11);
  auto fs = stat_fs("/dev/null");
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(f->evidence["bytes_pinned"], fs->used_bytes());
  EXPECT_EQ(f->evidence["fstype"], std::string(fs_type_name(fs->magic)));
}

TEST_F(FakeHost, DStateOnlyPersistentWithSuspectMount) {
  auto o = options();
  o.checks = {"d_state"};
  auto rep = run_doctor(o);
  auto d = all_of(rep, kCheckDState);
  ASSERT_EQ(d.size(), 2u);
  const Finding* stuck = nullptr;
  const Finding* threaded = nullptr;
  for (const auto* f : d) {
    if (f->evidence["pid"] == 300) stuck = f;
    if (f->evidence["pid"] == 400) threaded = f;
  }
  ASSERT_NE(stuck, nullptr);
  EXPECT_EQ(stuck->severity, Severity::warning);
  EXPECT_EQ(stuck->evidence["wchan"], "rpc_wait_bit_killable");
  EXPECT_EQ(stuck->evidence["suspect_mount"]["fstype"], "nfs4");
  EXPECT_EQ(stuck->evidence["suspect_mount"]["mount_point"], "/mnt/nfs");
  EXPECT_EQ(stuck->evidence["fd_mounts"][0]["fds"], 1);
  EXPECT_NE(stuck->summary.find("likely stuck on /mnt/nfs (nfs4 server:/export)"), std::string::npos) << stuck->summary;
  ASSERT_NE(threaded, nullptr);
  EXPECT_EQ(threaded->evidence["threads"][0]["tid"], 401);
  EXPECT_EQ(threaded->evidence["threads"][0]["wchan"], "io_schedule");
}

TEST_F(FakeHost, IpcIds) {
  auto o = options();
  o.checks = {"ipc_ids"};
  auto rep = run_doctor(o);
  std::vector<std::string> summaries;
  for (const auto* f : all_of(rep, kCheckIpc)) summaries.push_back(f->summary);
  auto crit = [&](const std::string& needle) {
    for (const auto* f : all_of(rep, kCheckIpc)) {
      if (f->severity == Severity::critical && f->summary.find(needle) != std::string::npos) return f;
    }
    return static_cast<const Finding*>(nullptr);
  };
  const Finding* shm = crit("3 shm segments of kernel.shmmni 3");
  ASSERT_NE(shm, nullptr) << ::testing::PrintToString(summaries);
  EXPECT_EQ(shm->evidence["unattached"], 1);
  EXPECT_EQ(shm->evidence["unattached_bytes"], 1048576);
  ASSERT_NE(crit("2 semaphore sets of SEMMNI"), nullptr);
  const Finding* info = find(rep, kCheckIpc, Severity::info);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->evidence["semaphores"]["used"], 30);
  EXPECT_EQ(info->evidence["message queues"]["used"], 0);
}

TEST_F(FakeHost, FsUsageThroughProcRoot) {
  auto o = options();
  o.checks = {"fs_usage"};
  o.warning_pct = 0;  // every filesystem is "high": shows the numbers that were read
  auto rep = run_doctor(o);
  auto fs = stat_fs(t.path("rootfs"));
  ASSERT_TRUE(fs.ok());
  const Finding* f = nullptr;
  for (const auto* x : all_of(rep, kCheckFsUsage)) {
    if (x->evidence.value("dev", "") == dev_string(root_dev)) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["mount_points"][0], "/");
  EXPECT_EQ(f->evidence["namespaces"], 2);
  EXPECT_EQ(f->evidence["total_bytes"], fs->total_bytes());
  EXPECT_EQ(f->evidence["inodes_total"], fs->inodes);
  // The NFS mount is not queried by default, and the container's tmpfs mount points do not exist here.
  const CheckStatus* cs = status_of(rep, kCheckFsUsage);
  EXPECT_NE(cs->detail.find("1 remote"), std::string::npos) << cs->detail;
}

// ------------------------------------------------------------------------------------ pure evaluation

namespace {

checks::FsUsageEntry entry(std::string mp, std::string fstype, uint64_t blocks, uint64_t bfree, uint64_t bavail,
                           uint64_t inodes, uint64_t ifree) {
  checks::FsUsageEntry e;
  e.dev = makedev(0, 50);
  e.fstype = std::move(fstype);
  e.source = "src";
  e.mount_points = {std::move(mp)};
  e.namespaces = 1;
  e.stats.block_size = 4096;
  e.stats.blocks = blocks;
  e.stats.blocks_free = bfree;
  e.stats.blocks_avail = bavail;
  e.stats.inodes = inodes;
  e.stats.inodes_free = ifree;
  return e;
}

}  // namespace

TEST(FsUsageEval, TmpfsInodesExhausted) {
  DoctorOptions o;
  auto f = checks::evaluate_fs_usage({entry("/mnt/t", "tmpfs", 1000, 1000, 1000, 16, 0)}, o);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::critical);
  EXPECT_NE(f[0].summary.find("inodes 16/16 used (100%)"), std::string::npos) << f[0].summary;
  EXPECT_NE(f[0].remedy.find("nr_inodes"), std::string::npos);
  EXPECT_EQ(f[0].evidence["inodes_used"], 16);
  EXPECT_EQ(f[0].evidence["conditions"][0], "inodes_exhausted");
}

TEST(FsUsageEval, ReservedBlocksAndThresholds) {
  DoctorOptions o;
  // ext4: 50 blocks free but only for root.
  auto f = checks::evaluate_fs_usage({entry("/var", "ext4", 1000, 50, 0, 100, 50)}, o);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::critical);
  EXPECT_NE(f[0].summary.find("200.0 KiB more reserved for root"), std::string::npos) << f[0].summary;
  EXPECT_NE(f[0].remedy.find("reserved for root"), std::string::npos);
  EXPECT_EQ(f[0].evidence["reserved_bytes"], 50 * 4096);

  auto w = checks::evaluate_fs_usage({entry("/data", "xfs", 1000, 80, 80, 0, 0)}, o);  // 92%
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].severity, Severity::warning);

  auto ok = checks::evaluate_fs_usage({entry("/", "ext4", 1000, 500, 500, 100, 90)}, o);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].severity, Severity::info);
  EXPECT_NE(ok[0].summary.find("1 filesystems checked"), std::string::npos);

  auto tiny = checks::evaluate_fs_usage({entry("/run/small", "tmpfs", 1000, 1000, 1000, 64, 62)}, o);
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_EQ(tiny[0].severity, Severity::info);
  EXPECT_NE(tiny[0].summary.find("allows only 64 inodes"), std::string::npos) << tiny[0].summary;
}

TEST(WatchEval, DedupesSharedInstancesWithKcmpStandIn) {
  FakeTree t;
  for (int pid : {10, 11}) {
    FakeTree::Proc p;
    p.pid = pid;
    p.comm = pid == 10 ? "parent" : "child";
    t.add_process(p);
    t.add_fd(pid, 4, "anon_inode:inotify", "pos:\t0\ninotify wd:1 ino:5 sdev:1 mask:2\ninotify wd:2 ino:6 sdev:1 mask:2\n");
  }
  t.write("proc/10/mountinfo", "");
  t.write("proc/11/mountinfo", "");
  ScanOptions so;
  so.root = t.root();
  auto h = scan_host(so);
  auto none = checks::collect_watch_instances(h, checks::WatchKind::inotify, {});
  EXPECT_EQ(none.size(), 2u);
  int calls = 0;
  auto same = [&](int a, int fa, int b, int fb) {
    calls++;
    return fa == fb && ((a == 10 && b == 11) || (a == 11 && b == 10));
  };
  auto dedup = checks::collect_watch_instances(h, checks::WatchKind::inotify, same);
  ASSERT_EQ(dedup.size(), 1u);
  EXPECT_EQ(dedup[0].count, 2u);
  EXPECT_EQ(dedup[0].sharing_pids, std::vector<int>{11});
  EXPECT_EQ(calls, 1);

  DoctorOptions o;
  checks::WatchLimits lim{std::optional<uint64_t>(2), std::optional<uint64_t>(128)};
  auto f = checks::evaluate_watches(checks::WatchKind::inotify, dedup, lim, h, o, true);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].severity, Severity::critical);
  EXPECT_EQ(f[0].evidence["watches"], 2);
  EXPECT_EQ(f[0].evidence["holders"][0]["shared_with"][0], 11);
}

// Marks of a FAN_UNLIMITED_MARKS group (fdinfo "fanotify flags:20") are not charged to the user
// (fanotify_add_new_mark()): uid 0 is at its limit of 2 with the other group's marks, not over it with 5.
TEST(WatchEval, FanotifyUnlimitedMarksAreNotCharged) {
  FakeTree t;
  for (int pid : {10, 11}) {
    FakeTree::Proc p;
    p.pid = pid;
    p.comm = pid == 10 ? "agent" : "scanner";
    t.add_process(p);
    t.write("proc/" + std::to_string(pid) + "/mountinfo", "");
  }
  t.add_fd(10, 4, "anon_inode:[fanotify]",
           "pos:\t0\nfanotify flags:0 event-flags:0\n"
           "fanotify ino:1 sdev:800013 mflags:0 mask:2 ignored_mask:0\n"
           "fanotify ino:2 sdev:800013 mflags:0 mask:2 ignored_mask:0\n");
  t.add_fd(11, 5, "anon_inode:[fanotify]",
           "pos:\t0\nfanotify flags:20 event-flags:0\n"
           "fanotify ino:3 sdev:800013 mflags:0 mask:2 ignored_mask:0\n"
           "fanotify ino:4 sdev:800013 mflags:0 mask:2 ignored_mask:0\n"
           "fanotify ino:5 sdev:800013 mflags:0 mask:2 ignored_mask:0\n");
  ScanOptions so;
  so.root = t.root();
  auto h = scan_host(so);
  auto inst = checks::collect_watch_instances(h, checks::WatchKind::fanotify, {});
  ASSERT_EQ(inst.size(), 2u);

  DoctorOptions o;
  checks::WatchLimits lim{std::optional<uint64_t>(2), std::optional<uint64_t>(128)};
  auto f = checks::evaluate_watches(checks::WatchKind::fanotify, inst, lim, h, o, false);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].severity, Severity::critical);
  EXPECT_EQ(f[0].evidence["marks"], 2);
  EXPECT_EQ(f[0].evidence["uncounted_marks"], 3);
  EXPECT_EQ(f[0].evidence["groups"], 2);
  EXPECT_NE(f[0].summary.find("uid 0: 2 fanotify marks of fs.fanotify.max_user_marks 2 (100%) (+3 in "
                              "FAN_UNLIMITED_MARKS groups, not charged)"),
            std::string::npos)
      << f[0].summary;
  EXPECT_EQ(f[1].severity, Severity::info);
  EXPECT_EQ(f[1].evidence["marks"], 2);
  EXPECT_EQ(f[1].evidence["uncounted_marks"], 3);
}

TEST(Shadow, ProbeOrderChildrenFirstStackedAndCoveredSiblings) {
  auto m = parse_mountinfo(
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "2 1 0:20 / /dev rw - devtmpfs udev rw\n"
      "3 2 0:21 / /dev/shm rw - tmpfs tmpfs rw\n"
      "4 3 0:22 / /dev/shm rw - tmpfs tmpfs rw\n"     // stacked on 3
      "5 1 0:23 / /a/b rw - tmpfs t rw\n"             // mounted first ...
      "6 1 0:24 / /a rw - tmpfs t rw\n"               // ... then covered by /a: same parent
      "7 6 0:25 / /a/c rw - tmpfs t rw\n");
  auto order = shadow_probe_order(m);
  std::vector<int> ids;
  for (const auto* x : order) ids.push_back(x->mount_id);
  EXPECT_EQ(ids, (std::vector<int>{4, 3, 2, 7, 6, 5}));
  EXPECT_TRUE(is_pseudo_fstype("proc"));
  EXPECT_FALSE(is_pseudo_fstype("ext4"));
}

TEST(Shadow, ParsesChildOutput) {
  ShadowProbeResult r;
  parse_shadow_output(
      "N 42 old\\040log\nN 42 core\nM 42 0 1 2 8192 2 0 1 4096\nM 43 22 0 0 0 0 0\nM 44 0 1 0 0 0 0 0 0\nT\n", r);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].mount_id, 42);
  EXPECT_TRUE(r.entries[0].walked);
  EXPECT_EQ(r.entries[0].entries, 2u);
  EXPECT_EQ(r.entries[0].bytes, 8192u);
  EXPECT_EQ(r.entries[0].files, 1u);
  EXPECT_EQ(r.entries[0].file_bytes, 4096u);
  EXPECT_EQ(r.entries[0].sample, (std::vector<std::string>{"old log", "core"}));
  EXPECT_EQ(r.entries[1].error, 22);
  EXPECT_TRUE(r.timed_out);
  ShadowProbeResult e;
  parse_shadow_output("E 1 unshare\n", e);
  EXPECT_NE(e.child_error.find("unshare"), std::string::npos);
}

TEST(Sysvipc, ParsesByHeader) {
  auto t = checks::parse_sysvipc("key semid perms nsems\n0 1 600 10\nshort\n");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.column("nsems"), 3u);
  EXPECT_FALSE(t.column("nope"));
}

TEST(Doctor, UnknownCheckAndEmptyRoot) {
  FakeTree t;  // no processes at all
  DoctorOptions o;
  o.root = t.root();
  o.checks = {"nope", "mount_count"};
  auto rep = run_doctor(o);
  const CheckStatus* bad = status_of(rep, "nope");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->status, "error");
  ASSERT_NE(status_of(rep, "mount_count"), nullptr);
  EXPECT_EQ(rep.scan.processes, 0u);
}

TEST(Doctor, InvalidUtf8IsSanitized) {
  Finding f;
  f.check = "x";
  f.summary = std::string("bad \xff\xfe name");
  f.evidence = {{"path", std::string("/tmp/\xc3")}};
  auto j = to_json(f);
  EXPECT_NO_THROW(j.dump());
}
