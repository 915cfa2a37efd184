#include "doctor/shadow.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>
#include <unordered_map>

#include "context/fs.h"
#include "context/text.h"

namespace enospcd::doctor {

bool is_pseudo_fstype(std::string_view t) {
  static constexpr std::string_view pseudo[] = {
      "proc",      "sysfs",     "devpts",   "cgroup",  "cgroup2",  "mqueue",     "debugfs", "tracefs",
      "securityfs", "bpf",      "configfs", "pstore",  "efivarfs", "binfmt_misc", "fusectl", "nsfs",
      "autofs",    "rpc_pipefs", "selinuxfs", "hugetlbfs", "tracefs", "bdev",    "pipefs",   "sockfs"};
  for (auto p : pseudo) {
    if (t == p) return true;
  }
  return false;
}

std::vector<const MountInfo*> shadow_probe_order(const std::vector<MountInfo>& mounts) {
  std::unordered_map<int, const MountInfo*> by_id;
  for (const auto& m : mounts) by_id[m.mount_id] = &m;
  std::unordered_map<int, std::vector<const MountInfo*>> children;
  std::vector<const MountInfo*> roots;
  for (const auto& m : mounts) {
    if (m.parent_id == m.mount_id || !by_id.count(m.parent_id)) {
      roots.push_back(&m);
    } else {
      children[m.parent_id].push_back(&m);
    }
  }
  auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
  for (auto& [id, list] : children) {
    std::sort(list.begin(), list.end(), [&](const MountInfo* a, const MountInfo* b) {
      auto da = depth(a->mount_point), db = depth(b->mount_point);
      if (da != db) return da < db;
      return a->mount_id < b->mount_id;
    });
  }
  std::vector<const MountInfo*> out;
  // Iterative post-order; the mount graph from a live mountinfo is a tree, but a malformed one might not be.
  std::unordered_map<int, bool> visited;
  struct Frame {
    const MountInfo* m;
    std::size_t next;
  };
  for (const MountInfo* r : roots) {
    std::vector<Frame> stack{{r, 0}};
    visited[r->mount_id] = true;
    while (!stack.empty()) {
      Frame& fr = stack.back();
      auto it = children.find(fr.m->mount_id);
      if (it != children.end() && fr.next < it->second.size()) {
        const MountInfo* c = it->second[fr.next++];
        if (!visited[c->mount_id]) {
          visited[c->mount_id] = true;
          stack.push_back({c, 0});
        }
        continue;
      }
      if (stack.size() > 1 && !fr.m->mount_point.empty() && fr.m->mount_point.front() == '/') out.push_back(fr.m);
      stack.pop_back();
    }
  }
  return out;
}

namespace {

struct PlanItem {
  int mount_id;
  const char* path;
  bool walk;
};

// ---- everything below up to probe_shadowed_mounts runs in the forked child: raw syscalls, no allocation.

struct Writer {
  int fd;
  char buf[1 << 16];
  std::size_t len = 0;

  void flush() {
    std::size_t off = 0;
    while (off < len) {
      ssize_t n = ::write(fd, buf + off, len - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        ::_exit(3);
      }
      off += static_cast<std::size_t>(n);
    }
    len = 0;
  }
  void ch(char c) {
    if (len == sizeof buf) flush();
    buf[len++] = c;
  }
  void str(const char* s) {
    while (*s) ch(*s++);
  }
  void num(uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) ch(tmp[--n]);
  }
  // Octal-escape bytes that would break the line format, as mountinfo does.
  void name(const char* s) {
    for (; *s; s++) {
      unsigned char c = static_cast<unsigned char>(*s);
      if (c <= ' ' || c == '\\' || c >= 0x7f) {
        ch('\\');
        ch(static_cast<char>('0' + ((c >> 6) & 7)));
        ch(static_cast<char>('0' + ((c >> 3) & 7)));
        ch(static_cast<char>('0' + (c & 7)));
      } else {
        ch(static_cast<char>(c));
      }
    }
  }
};

int64_t now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Walk {
  dev_t dev;
  uint64_t budget;  // entries left in total
  uint64_t bytes = 0;
  uint64_t visited = 0;
  uint64_t top_entries = 0;
  uint64_t files = 0;
  uint64_t file_bytes = 0;
  bool truncated = false;
  int64_t deadline;
  int mount_id;
  Writer* w;
  int samples = 0;
};

struct linux_dirent64_hdr {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

void walk_dir(int dirfd, int depth, Walk& wk) {
  alignas(8) char buf[4096];
  for (;;) {
    long n = ::syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<linux_dirent64_hdr*>(buf + off);
      off += d->d_reclen;
      const char* nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      if (depth == 0) {
        wk.top_entries++;
        if (wk.samples < 5) {
          wk.samples++;
          wk.w->str("N ");
          wk.w->num(static_cast<uint64_t>(wk.mount_id));
          wk.w->ch(' ');
          wk.w->name(nm);
          wk.w->ch('\n');
        }
      }
      if (wk.visited >= wk.budget || (wk.visited % 256 == 0 && now_ns() > wk.deadline)) {
        wk.truncated = true;
        if (depth > 0) return;
        continue;  // keep counting the top level, cheaply
      }
      wk.visited++;
      struct stat st;
      if (::fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0) continue;
      if (st.st_dev != wk.dev) continue;  // something mounted further down
      wk.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      if (S_ISREG(st.st_mode)) {
        wk.files++;
        wk.file_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      }
      if (S_ISDIR(st.st_mode) && depth < 48) {
        int fd = ::openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fd < 0) fd = ::openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
          walk_dir(fd, depth + 1, wk);
          ::close(fd);
        }
      }
    }
  }
}

[[noreturn]] void child_fail(Writer& w, int err, const char* stage) {
  w.str("E ");
  w.num(static_cast<uint64_t>(err));
  w.ch(' ');
  w.str(stage);
  w.ch('\n');
  w.flush();
  ::_exit(2);
}

[[noreturn]] void child_main(int out_fd, int ns_fd, const char* forbid_ns1, const char* forbid_ns2,
                             const PlanItem* plan, std::size_t plan_len, int64_t deadline, uint64_t max_entries) {
  static Writer w;  // a fresh copy in the child; too big for some thread stacks
  w.fd = out_fd;
  w.len = 0;
  // The caller's handlers (a daemon's SIGTERM logic) must not run here; die with the caller.
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2}) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int self_ns_dir = ::open("/proc/self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (self_ns_dir < 0) child_fail(w, errno, "open /proc/self/ns");
  if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNS) != 0) child_fail(w, errno, "setns");
  if (::unshare(CLONE_NEWNS) != 0) child_fail(w, errno, "unshare");
  // Cut every propagation link of our copies before touching anything, so no unmount can reach the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) child_fail(w, errno, "make-rprivate");
  char link[64];
  ssize_t ln = ::readlinkat(self_ns_dir, "mnt", link, sizeof link - 1);
  if (ln <= 0) child_fail(w, errno, "readlink ns");
  link[ln] = 0;
  if (std::strcmp(link, forbid_ns1) == 0 || (forbid_ns2[0] && std::strcmp(link, forbid_ns2) == 0)) {
    child_fail(w, EPERM, "namespace unchanged");
  }
  for (std::size_t i = 0; i < plan_len; i++) {
    if (now_ns() > deadline) {
      w.str("T\n");
      break;
    }
    const PlanItem& p = plan[i];
    int err = 0;
    Walk wk{};
    wk.mount_id = p.mount_id;
    wk.w = &w;
    wk.deadline = deadline;
    wk.budget = max_entries;
    bool walked = false;
    if (::umount2(p.path, MNT_DETACH) != 0) {
      err = errno;
    } else if (p.walk) {
      int fd = ::open(p.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (fd < 0) {
        err = errno;
      } else {
        if (::fstat(fd, &st) == 0) {
          wk.dev = st.st_dev;
          walk_dir(fd, 0, wk);
          walked = true;
          max_entries = max_entries > wk.visited ? max_entries - wk.visited : 0;
        } else {
          err = errno;
        }
        ::close(fd);
      }
    }
    w.str("M ");
    w.num(static_cast<uint64_t>(p.mount_id));
    w.ch(' ');
    w.num(static_cast<uint64_t>(err));
    w.ch(' ');
    w.num(walked ? 1 : 0);
    w.ch(' ');
    w.num(wk.top_entries);
    w.ch(' ');
    w.num(wk.bytes);
    w.ch(' ');
    w.num(wk.visited);
    w.ch(' ');
    w.num(wk.truncated ? 1 : 0);
    w.ch(' ');
    w.num(wk.files);
    w.ch(' ');
    w.num(wk.file_bytes);
    w.ch('\n');
  }
  w.flush();
  ::_exit(0);
}

}  // namespace

void parse_shadow_output(std::string_view text, ShadowProbeResult& out) {
  std::map<int, std::size_t> index;
  std::map<int, std::vector<std::string>> names;
  for (auto line : split_lines(text)) {
    auto f = split_fields(line);
    if (f.empty()) continue;
    if (f[0] == "M" && f.size() >= 8) {
      ShadowEntry e;
      uint64_t v[8] = {};
      bool ok = parse_int(f[1], e.mount_id);
      for (std::size_t i = 0; i < 8 && ok && 2 + i < f.size(); i++) ok = parse_u64(f[2 + i], v[i]);
      if (!ok) continue;
      e.error = static_cast<int>(v[0]);
      e.walked = v[1] != 0;
      e.entries = v[2];
      e.bytes = v[3];
      e.visited = v[4];
      e.truncated = v[5] != 0;
      e.files = v[6];
      e.file_bytes = v[7];
      index[e.mount_id] = out.entries.size();
      out.entries.push_back(std::move(e));
    } else if (f[0] == "N" && f.size() >= 3) {
      int id = 0;
      if (parse_int(f[1], id)) names[id].push_back(unescape_octal(f[2]));
    } else if (f[0] == "E") {
      int err = 0;
      if (f.size() >= 2) parse_int(f[1], err);
      std::string stage;
      for (std::size_t i = 2; i < f.size(); i++) stage += (i > 2 ? " " : "") + std::string(f[i]);
      out.child_error = stage + ": " + std::strerror(err);
    } else if (f[0] == "T") {
      out.timed_out = true;
    }
  }
  for (auto& [id, list] : names) {
    auto it = index.find(id);
    if (it != index.end()) out.entries[it->second].sample = std::move(list);
  }
}

Result<ShadowProbeResult> probe_shadowed_mounts(const std::vector<MountInfo>& mounts, const ShadowProbeOptions& opts) {
  if (!(opts.root.empty() || opts.root == "/")) {
    return make_error("shadowed mounts can only be probed on the real root", EINVAL);
  }
  std::unordered_map<int, const MountInfo*> by_id;
  for (const auto& m : mounts) by_id[m.mount_id] = &m;

  auto order = shadow_probe_order(mounts);
  ShadowProbeResult res;
  std::vector<PlanItem> plan;
  plan.reserve(order.size());
  for (const MountInfo* m : order) {
    if (plan.size() >= opts.max_mounts) break;
    auto pit = by_id.find(m->parent_id);
    const MountInfo* parent = pit == by_id.end() ? nullptr : pit->second;
    bool walk = parent && !is_pseudo_fstype(parent->fstype) &&
                (opts.include_remote || !is_remote_fstype(parent->fstype));
    plan.push_back({m->mount_id, m->mount_point.c_str(), walk});
    if (walk) res.planned++;
  }

  auto self_ns = read_link("/proc/self/ns/mnt");
  if (!self_ns) return self_ns.error();
  std::string target_ns;
  int ns_fd = -1;
  if (opts.ns_pid > 0) {
    auto t = read_link("/proc/" + std::to_string(opts.ns_pid) + "/ns/mnt");
    if (!t) return t.error();
    target_ns = *t;
    ns_fd = ::open(("/proc/" + std::to_string(opts.ns_pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) return make_error(std::string("open ns: ") + std::strerror(errno), errno);
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    int err = errno;
    if (ns_fd >= 0) ::close(ns_fd);
    return make_error(std::string("pipe: ") + std::strerror(err), err);
  }
  const int64_t deadline = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(opts.timeout).count();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    if (ns_fd >= 0) ::close(ns_fd);
    return make_error(std::string("fork: ") + std::strerror(err), err);
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], ns_fd, self_ns->c_str(), target_ns.c_str(), plan.data(), plan.size(), deadline,
               opts.max_entries);
  }
  ::close(fds[1]);
  if (ns_fd >= 0) ::close(ns_fd);

  // The parent's own deadline leaves the child time to report that it ran out of time.
  const int64_t hard_deadline = deadline + 1000000000;
  std::string out;
  char buf[16384];
  for (;;) {
    int64_t left_ms = (hard_deadline - now_ns()) / 1000000;
    if (left_ms <= 0) {
      res.timed_out = true;
      break;
    }
    struct pollfd pfd{fds[0], POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (res.timed_out) ::kill(pid, SIGKILL);
  // Reap; a child stuck in D (dead NFS) dies only when its call returns, so hand the wait to a thread then.
  bool reaped = false;
  for (int i = 0; i < 100 && !reaped; i++) {
    pid_t w = ::waitpid(pid, nullptr, WNOHANG);
    if (w == pid || (w < 0 && errno == ECHILD)) {
      reaped = true;
    } else {
      if (i == 50) ::kill(pid, SIGKILL);
      ::usleep(10000);
    }
  }
  if (!reaped) {
    try {
      std::thread([pid] { ::waitpid(pid, nullptr, 0); }).detach();
    } catch (const std::system_error&) {
    }
  }
  parse_shadow_output(out, res);
  return res;
}

}  // namespace enospcd::doctor
