// The doctor against real conditions created on this kernel. Root only; every test undoes what it set up
// (RAII: children killed and reaped, mounts lazily unmounted, fds closed) even when an assertion fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "doctor/doctor.h"
#include "context/fs.h"
#include "context/procfs.h"
#include "context/text.h"
#include "support/live.h"

using namespace enospcd::context;
using namespace enospcd::doctor;
using enospcd::testing::TempDir;
using enospcd::testing::TmpfsMount;

namespace {

// Processes killed (and our children reaped) on scope exit, grandchildren first.
class ProcessGuard {
 public:
  ProcessGuard() = default;
  ProcessGuard(const ProcessGuard&) = delete;
  ProcessGuard& operator=(const ProcessGuard&) = delete;
  ~ProcessGuard() {
    for (pid_t p : others_) ::kill(p, SIGKILL);
    for (pid_t p : children_) ::kill(p, SIGKILL);
    for (pid_t p : children_) ::waitpid(p, nullptr, 0);
  }
  void child(pid_t p) { children_.push_back(p); }
  void other(pid_t p) { others_.push_back(p); }

 private:
  std::vector<pid_t> children_;
  std::vector<pid_t> others_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

DoctorOptions opts_for(std::initializer_list<std::string> checks) {
  DoctorOptions o;
  o.checks = checks;
  o.top_n = 1000;
  return o;
}

std::vector<const Finding*> findings(const DoctorReport& r, std::string_view check) {
  std::vector<const Finding*> out;
  for (const auto& f : r.findings) {
    if (f.check == check) out.push_back(&f);
  }
  return out;
}

void print(const DoctorReport& r, std::string_view check) {
  for (const auto* f : findings(r, check)) {
    std::printf("  [%s] %s: %s\n", std::string(to_string(f->severity)).c_str(), f->check.c_str(), f->summary.c_str());
  }
  for (const auto& c : r.checks) {
    if (!c.detail.empty()) std::printf("  (%s: %s)\n", c.id.c_str(), c.detail.c_str());
  }
}

bool write_bytes(int fd, std::size_t n) {
  std::string block(1 << 16, 'z');
  while (n > 0) {
    std::size_t k = std::min(n, block.size());
    if (::write(fd, block.data(), k) != static_cast<ssize_t>(k)) return false;
    n -= k;
  }
  return true;
}

char proc_state(pid_t pid) {
  auto st = read_stat("/", pid);
  return st ? st->state : '?';
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

void send_fd(int sock, int fd) {
  char dummy = 'x';
  struct iovec iov{&dummy, 1};
  alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  (void)::sendmsg(sock, &msg, 0);
}

int recv_fd(int sock) {
  char dummy;
  struct iovec iov{&dummy, 1};
  alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  if (::recvmsg(sock, &msg, 0) <= 0) return -1;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

// In a forked child: a private mount namespace whose changes never reach ours.
bool private_mount_ns() {
  return ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

}  // namespace

TEST(DoctorLive, TmpfsWithSixteenInodesFilledIsCritical) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=16,size=4m");
  ASSERT_TRUE(mnt.ok()) << std::strerror(errno);
  int created = 0;
  for (int i = 0; i < 100; i++) {
    int fd = ::open((mnt.path() + "/f" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      ASSERT_EQ(errno, ENOSPC);
      break;
    }
    ::close(fd);
    created++;
  }
  EXPECT_EQ(created, 15);  // the root directory is the 16th inode
  struct stat st{};
  ASSERT_EQ(::stat(mnt.path().c_str(), &st), 0);

  auto rep = run_doctor(opts_for({"fs_usage"}));
  print(rep, kCheckFsUsage);
  const Finding* f = nullptr;
  for (const auto* x : findings(rep, kCheckFsUsage)) {
    if (x->evidence.value("dev", "") == dev_string(st.st_dev)) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::critical);
  EXPECT_EQ(f->evidence["fstype"], "tmpfs");
  EXPECT_EQ(f->evidence["mount_points"][0], mnt.path());
  EXPECT_EQ(f->evidence["inodes_total"], 16);
  EXPECT_EQ(f->evidence["inodes_used"], 16);
  EXPECT_EQ(f->evidence["inodes_free"], 0);
  EXPECT_NE(f->summary.find("inodes 16/16 used (100%)"), std::string::npos) << f->summary;
  EXPECT_NE(f->remedy.find("nr_inodes"), std::string::npos);
}

TEST(DoctorLive, DeletedButOpenFileIsGhostSpace) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("size=64m");
  ASSERT_TRUE(mnt.ok());
  const std::string path = mnt.path() + "/app.log";
  Fd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(write_bytes(fd.get(), 5u << 20));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  struct stat st{};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);

  auto rep = run_doctor(opts_for({"ghost_space"}));
  print(rep, kCheckGhostSpace);
  const Finding* f = nullptr;
  for (const auto* x : findings(rep, kCheckGhostSpace)) {
    if (x->evidence.value("dev", "") == dev_string(st.st_dev)) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["files"], 1);
  EXPECT_EQ(f->evidence["allocated_bytes"], 5u << 20);
  EXPECT_EQ(f->evidence["size_bytes"], 5u << 20);
  EXPECT_EQ(f->evidence["mount_point"], mnt.path());
  EXPECT_EQ(f->evidence["fstype"], "tmpfs");
  const auto& file = f->evidence["largest"][0];
  EXPECT_EQ(file["path"], path);
  EXPECT_EQ(file["ino"], st.st_ino);
  ASSERT_EQ(file["holders"].size(), 1u);
  EXPECT_EQ(file["holders"][0]["pid"], ::getpid());
  EXPECT_EQ(file["holders"][0]["fd"], fd.get());
  EXPECT_NE(f->summary.find("5.0 MiB"), std::string::npos) << f->summary;
  EXPECT_NE(f->remedy.find("/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd.get())),
            std::string::npos);
}

TEST(DoctorLive, TmpfsOfDeadMountNamespaceHeldByFdIsOrphaned) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd parent_sock(sv[0]), child_sock(sv[1]);
  ProcessGuard guard;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A private namespace, a tmpfs in it with 3 MiB of data; hand an fd to the parent and die, which takes
    // the namespace (and the only mount of the tmpfs) with it.
    if (!private_mount_ns() || ::mount("orphan-test", dir.path().c_str(), "tmpfs", 0, "size=16m") != 0) ::_exit(1);
    int fd = ::open((dir.path() + "/data").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || !write_bytes(fd, 3u << 20)) ::_exit(2);
    send_fd(sv[1], fd);
    ::_exit(0);
  }
  guard.child(child);
  Fd held(recv_fd(parent_sock.get()));
  ASSERT_GE(held.get(), 0) << "child could not set up the tmpfs";
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct stat st{};
  ASSERT_EQ(::fstat(held.get(), &st), 0);
  auto own = read_mountinfo("/", 0);
  ASSERT_TRUE(own.ok());
  for (const auto& m : *own) ASSERT_NE(m.dev(), st.st_dev) << "the tmpfs is still mounted here";

  auto rep = run_doctor(opts_for({"orphaned_fs"}));
  print(rep, kCheckOrphanedFs);
  const Finding* f = nullptr;
  for (const auto* x : findings(rep, kCheckOrphanedFs)) {
    if (x->evidence.value("dev", "") == dev_string(st.st_dev)) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_EQ(f->evidence["fstype"], "tmpfs");
  EXPECT_EQ(f->evidence["bytes_pinned"], 3u << 20);
  EXPECT_EQ(f->evidence["inodes_pinned"], 2);  // root directory + the file
  ASSERT_EQ(f->evidence["holders"].size(), 1u);
  EXPECT_EQ(f->evidence["holders"][0]["pid"], ::getpid());
  EXPECT_EQ(f->evidence["holders"][0]["fd"], held.get());
  EXPECT_NE(f->summary.find("3.0 MiB"), std::string::npos) << f->summary;
}

TEST(DoctorLive, VforkParentInDState) {
  ENOSPCD_REQUIRE_ROOT();
  ProcessGuard guard;
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The vfork() parent sleeps TASK_KILLABLE (shown as D) until the child execs or exits; the child writes no
    // memory (the sleep time is set up before) and only makes a raw syscall.
    static const struct timespec kChildSleep{30, 0};
    pid_t c = ::vfork();
    if (c == 0) {
      // NOLINTNEXTLINE(clang-analyzer-unix.Vfork): a child that neither execs nor exits yet is what is tested.
      ::syscall(SYS_nanosleep, &kChildSleep, nullptr);
      ::_exit(0);
    }
    ::_exit(0);
  }
  guard.child(parent);
  ASSERT_TRUE(wait_for([&] { return proc_state(parent) == 'D'; }, std::chrono::seconds(5)))
      << "state " << proc_state(parent);
  pid_t vchild = 0;
  auto pids = list_pids("/");
  ASSERT_TRUE(pids.ok());
  for (int p : *pids) {
    auto st = read_status("/", p);
    if (st && st->ppid == parent) vchild = p;
  }
  ASSERT_GT(vchild, 0);
  guard.other(vchild);

  auto o = opts_for({"d_state"});
  o.d_state_recheck = std::chrono::milliseconds(200);
  auto rep = run_doctor(o);
  print(rep, kCheckDState);
  const Finding* f = nullptr;
  for (const auto* x : findings(rep, kCheckDState)) {
    if (x->evidence.value("pid", 0) == parent) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_EQ(f->evidence["state"], "D");
  EXPECT_EQ(f->evidence["threads"][0]["tid"], parent);
  const std::string wchan = f->evidence["wchan"];
  std::printf("  wchan of the vfork parent: '%s'\n", wchan.c_str());
  if (wchan.find("vfork") != std::string::npos || wchan == "kernel_clone") {
    ASSERT_TRUE(f->evidence.contains("vfork_children"));
    EXPECT_EQ(f->evidence["vfork_children"][0], vchild);
  }
  EXPECT_TRUE(f->evidence.contains("cwd_mount"));
}

TEST(DoctorLive, MountNamespaceWithExtraMounts) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd rd(p[0]), wr(p[1]);
  ProcessGuard guard;
  constexpr int kExtra = 40;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!private_mount_ns()) ::_exit(1);
    auto before = read_mountinfo("/", 0);
    for (int i = 0; i < kExtra; i++) {
      if (::mount("extra-mount", dir.path().c_str(), "tmpfs", 0, "size=1m") != 0) ::_exit(2);
    }
    auto after = read_mountinfo("/", 0);
    long counts[2] = {before ? static_cast<long>(before->size()) : -1, after ? static_cast<long>(after->size()) : -1};
    (void)::write(p[1], counts, sizeof counts);
    ::pause();
    ::_exit(0);
  }
  guard.child(child);
  wr.reset(-1);
  long counts[2] = {0, 0};
  ASSERT_EQ(::read(rd.get(), counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
  ASSERT_EQ(counts[1], counts[0] + kExtra);
  auto ns = read_ns_inode("/", child);
  ASSERT_TRUE(ns.ok());

  auto rep = run_doctor(opts_for({"mount_count"}));
  print(rep, kCheckMountCount);
  const nlohmann::json* entry = nullptr;
  uint64_t limit = 0;
  for (const auto* f : findings(rep, kCheckMountCount)) {
    if (f->severity == Severity::info && f->evidence.contains("namespaces")) {
      limit = f->evidence.value("limit", 0ull);
      for (const auto& n : f->evidence["namespaces"]) {
        if (n["ns"] == *ns) entry = &n;
      }
    }
  }
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ((*entry)["mounts"], counts[1]);
  EXPECT_EQ((*entry)["pid"], child);
  EXPECT_GT(limit, 0u);
  EXPECT_EQ((*entry)["used_pct"], percent_ceil(static_cast<uint64_t>(counts[1]), limit));
  ASSERT_FALSE((*entry)["repeated_mount_points"].empty());
  EXPECT_EQ((*entry)["repeated_mount_points"][0]["mount_point"], dir.path());
  EXPECT_EQ((*entry)["repeated_mount_points"][0]["count"], kExtra);
  EXPECT_EQ((*entry)["top_sources"][0]["fstype_source"], "tmpfs extra-mount");
  EXPECT_EQ((*entry)["top_sources"][0]["count"], kExtra);
}

TEST(DoctorLive, InotifyWatchesCountedExactlyAndSharedFdCountedOnce) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  constexpr int kWatches = 137;
  Fd in(::inotify_init1(IN_CLOEXEC));
  ASSERT_GE(in.get(), 0);
  for (int i = 0; i < kWatches; i++) {
    std::string f = dir.path() + "/w" + std::to_string(i);
    Fd c(::open(f.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_GE(::inotify_add_watch(in.get(), f.c_str(), IN_MODIFY), 0) << std::strerror(errno);
  }
  // A child inheriting the same inotify file: the kernel counts the instance once, so must we.
  ProcessGuard guard;
  int keep = ::dup(in.get());  // without CLOEXEC, survives into the child
  ASSERT_GE(keep, 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::pause();
    ::_exit(0);
  }
  guard.child(child);
  ::close(keep);

  auto rep = run_doctor(opts_for({"inotify_watches"}));
  print(rep, kCheckInotify);
  const nlohmann::json* mine = nullptr;
  bool child_listed_alone = false;
  for (const auto* f : findings(rep, kCheckInotify)) {
    if (f->severity != Severity::info) continue;
    for (const auto& u : f->evidence["users"]) {
      if (u["uid"] != 0) continue;
      for (const auto& h : u["holders"]) {
        if (h["pid"] == ::getpid()) mine = &h;
        if (h["pid"] == child) child_listed_alone = true;
      }
    }
  }
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ((*mine)["watches"], kWatches);
  EXPECT_EQ((*mine)["instances"], 1);
  bool deduplicated = false;
  for (const auto* f : findings(rep, kCheckInotify)) deduplicated = deduplicated || f->evidence.value("deduplicated", false);
  if (deduplicated) {
    EXPECT_FALSE(child_listed_alone);
    ASSERT_TRUE(mine->contains("shared_with"));
    EXPECT_EQ((*mine)["shared_with"][0], child);
  }
}

TEST(DoctorLive, FilesHiddenUnderMountPointAreFoundAndHostIsUntouched) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string sub = dir.path() + "/var-log";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  {
    Fd f(::open((sub + "/hidden.bin").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_GE(f.get(), 0);
    ASSERT_TRUE(write_bytes(f.get(), 1u << 20));
    ::fsync(f.get());
  }
  struct MountGuard {
    std::string path;
    bool ok;
    ~MountGuard() {
      if (ok) ::umount2(path.c_str(), MNT_DETACH);
    }
  } over{sub, ::mount("cover", sub.c_str(), "tmpfs", 0, "size=1m") == 0};
  ASSERT_TRUE(over.ok) << std::strerror(errno);
  auto before = read_mountinfo("/", 0);
  ASSERT_TRUE(before.ok());

  auto rep = run_doctor(opts_for({"shadowed_mounts"}));
  print(rep, kCheckShadowedMounts);
  const Finding* f = nullptr;
  for (const auto* x : findings(rep, kCheckShadowedMounts)) {
    if (x->evidence.value("mount_point", "") == sub) f = x;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["hidden_files"], 1);
  EXPECT_EQ(f->evidence["hidden_file_bytes"], 1u << 20);
  EXPECT_EQ(f->evidence["hidden_entries"], 1);
  EXPECT_EQ(f->evidence["sample"][0], "hidden.bin");
  EXPECT_EQ(f->evidence["stacked"], false);
  EXPECT_NE(f->summary.find("hides 1 file (1.0 MiB)"), std::string::npos) << f->summary;

  // The probe unmounted only inside its own private namespace.
  auto after = read_mountinfo("/", 0);
  ASSERT_TRUE(after.ok());
  bool still = false;
  for (const auto& m : *after) still = still || m.mount_point == sub;
  EXPECT_TRUE(still);
  EXPECT_EQ(after->size(), before->size());
  struct stat st{};
  EXPECT_EQ(::stat((sub + "/hidden.bin").c_str(), &st), -1);  // still covered for us
}

TEST(DoctorLive, RuntimeWithManyProcesses) {
  ENOSPCD_REQUIRE_ROOT();
  const int n = [] {
    const char* e = std::getenv("ENOSPCD_DOCTOR_BENCH_PROCS");
    return e ? std::atoi(e) : 2000;
  }();
  ProcessGuard guard;
  auto baseline = run_doctor(DoctorOptions{});
  for (int i = 0; i < n; i++) {
    pid_t c = ::fork();
    if (c < 0) break;
    if (c == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) ::pause();
    }
    guard.child(c);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto rep = run_doctor(DoctorOptions{});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  doctor, all checks: %zu processes (%d extra sleepers) in %.1f ms; before: %zu processes in %.1f ms\n",
              rep.scan.processes, n, ms, baseline.scan.processes, baseline.duration_ms);
  std::printf("  scan: %s\n", to_json(rep.scan).dump().c_str());
  for (const auto& c : rep.checks) std::printf("  check %-16s %8.1f ms  %s\n", c.id.c_str(), c.duration_ms, c.status.c_str());
  EXPECT_GE(rep.scan.processes, static_cast<std::size_t>(n));
}
