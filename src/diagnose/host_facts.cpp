// HostFacts read from the live host: sysctls, statfs and mountinfo as the failing process saw them.
#include <dirent.h>
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <sys/fanotify.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "common/strings.h"
#include "context/procfs.h"
#include "context/text.h"
#include "diagnose/diagnose.h"

namespace enospcd::diagnose {
namespace {

using Clock = std::chrono::steady_clock;

bool exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

std::string parent_of(const std::string& p) {
  auto pos = p.find_last_of('/');
  if (pos == std::string::npos || pos == 0) return "/";
  return p.substr(0, pos);
}

// Longest mount point that is a prefix of path (component-wise); the last one listed wins on ties (stacked).
const context::MountInfo* mount_for(const std::vector<context::MountInfo>& mounts, const std::string& path) {
  const context::MountInfo* best = nullptr;
  for (const auto& m : mounts) {
    const std::string& mp = m.mount_point;
    bool prefix = path == mp || mp == "/" ||
                  (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 && path[mp.size()] == '/');
    if (prefix && (!best || mp.size() >= best->mount_point.size())) best = &m;
  }
  return best;
}

// A small file of a cgroup v1 hierarchy. The path comes from the process's fd table and root, which it may have
// changed since the failure: only a regular file on a cgroup filesystem is read, opened without blocking (a
// FIFO of the name would otherwise hang the explanation).
std::optional<std::string> cgroup_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat st{};
  struct statfs sfs{};
  std::optional<std::string> out;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstatfs(fd, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n >= 0) out = std::string(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class LiveHostFacts : public HostFacts {
 public:
  explicit LiveHostFacts(std::string root) : root_(std::move(root)) {}

  const context::Sysctls& sysctls() override {
    std::lock_guard<std::mutex> lk(mu_);
    auto now = Clock::now();
    // Short enough that an event is explained with the limits of its moment (an operator who has just lowered
    // or raised one must not get the old value for seconds), long enough that a storm reads them ~10 times/s.
    if (!sysctls_at_ || now - *sysctls_at_ > std::chrono::milliseconds(100)) {
      sysctls_ = context::read_sysctls(root_);
      sysctls_at_ = now;
    }
    return sysctls_;
  }

  std::optional<PathFs> fs_for_path(uint32_t pid, const std::string& path, int dirfd) override {
    // The path as the process saw it: relative to its dirfd or cwd, under its root (mount namespace) while it
    // lives.
    std::string proc_root = context::proc_path(root_, static_cast<int>(pid), "root");
    bool alive = exists(proc_root);
    auto resolved = logical_path(pid, alive, path, dirfd);
    if (!resolved) return std::nullopt;
    const std::string& logical = *resolved;
    std::string prefix = alive ? proc_root : host_path("");
    std::string probe = logical;
    while (probe != "/" && !exists(prefix + probe)) probe = parent_of(probe);
    // The statfs numbers and the mount they are shown for must be of one filesystem: a mount or unmount
    // between the reads (the failing program's tmpfs going away) would pair one's numbers with another's
    // mount point. The device is read before and after; it and the mount's must agree.
    struct stat before{};
    if (stat((prefix + probe).c_str(), &before) != 0) return std::nullopt;
    auto st = context::stat_fs(prefix + probe);
    if (!st) return std::nullopt;
    PathFs out;
    out.stats = *st;
    auto mounts = context::read_mountinfo(root_, alive ? static_cast<int>(pid) : static_cast<int>(getpid()));
    // The viewer exited between statfs and here: let the caller pick another process of that namespace.
    if (!mounts) return std::nullopt;
    struct stat after{};
    if (stat((prefix + probe).c_str(), &after) != 0 || after.st_dev != before.st_dev) return std::nullopt;
    if (const auto* m = mount_for(*mounts, probe)) {
      // btrfs shows a subvolume's files with a device number of their own, not the mount's.
      if (m->fstype != "btrfs" && (m->major != major(before.st_dev) || m->minor != minor(before.st_dev)))
        return std::nullopt;
      out.mount_point = m->mount_point;
      out.fstype = m->fstype;
      out.source = m->source;
      out.super_options = m->super_options;
    }
    if (out.fstype.empty()) out.fstype = std::string(context::fs_type_name(st->magic));
    return out;
  }

  std::optional<PathFs> fs_for_dev(uint32_t pid, uint32_t kernel_dev, const std::string& mount_name) override {
    uint32_t major = kernel_dev >> 20, minor = kernel_dev & 0xfffff;
    for (int who : {static_cast<int>(pid), static_cast<int>(getpid())}) {
      auto mounts = context::read_mountinfo(root_, who);
      if (!mounts) continue;
      for (const auto& m : *mounts) {
        if (m.major != major || m.minor != minor || !mount_name_matches(m.mount_point, mount_name)) continue;
        std::string base = who == static_cast<int>(getpid()) ? host_path("")
                                                             : context::proc_path(root_, who, "root");
        auto st = context::stat_fs(base + m.mount_point);
        if (!st) continue;
        PathFs out;
        out.stats = *st;
        out.mount_point = m.mount_point;
        out.fstype = m.fstype;
        out.source = m.source;
        out.super_options = m.super_options;
        return out;
      }
    }
    return std::nullopt;
  }

  std::optional<uint32_t> pid_in_mntns(uint32_t pid, uint32_t ppid, uint32_t mntns) override {
    if (mntns == 0) return pid;
    for (uint32_t p : {pid, ppid}) {
      auto ns = context::read_ns_inode(root_, static_cast<int>(p), "mnt");
      if (ns && *ns == mntns) return p;
    }
    auto self = context::read_ns_inode(root_, 0, "mnt");
    if (self && *self == mntns) return static_cast<uint32_t>(getpid());
    // The process is gone: any process still in that mount namespace sees the same mounts.
    DIR* d = opendir(proc_dir().c_str());
    if (!d) return std::nullopt;
    std::optional<uint32_t> found;
    while (dirent* de = readdir(d)) {
      int p = std::atoi(de->d_name);
      if (p <= 0) continue;
      auto ns = context::read_ns_inode(root_, p, "mnt");
      if (ns && *ns == mntns) {
        found = static_cast<uint32_t>(p);
        break;
      }
    }
    closedir(d);
    return found;
  }

  std::optional<uint64_t> ptys_in_use(uint32_t pid, const std::string& dir) override {
    if (dir.empty() || dir[0] != '/') return std::nullopt;
    std::string proc_root = context::proc_path(root_, static_cast<int>(pid), "root");
    std::string prefix = exists(proc_root) ? proc_root : host_path("");
    auto n = context::count_numbered_entries(prefix + dir);
    if (!n) return std::nullopt;
    return *n;
  }

  std::optional<uint64_t> inotify_watches_of_uid(uint32_t uid) override {
    return count_of_uid(uid, "inotify", [](const context::FdInfo& fi) { return fi.inotify.size(); });
  }

  std::optional<uint64_t> fanotify_marks_of_uid(uint32_t uid) override {
    return count_of_uid(uid, "[fanotify]", [](const context::FdInfo& fi) -> uint64_t {
      // fanotify_add_new_mark() charges the ucount only for groups without FAN_UNLIMITED_MARKS.
      return fi.fanotify_flags & FAN_UNLIMITED_MARKS ? 0 : fi.fanotify.size();
    });
  }

  std::vector<ProjectQuota> project_quotas(const PathFs& fs, std::size_t max) override {
    std::vector<ProjectQuota> out;
    if (fs.source.empty() || fs.source[0] != '/') return out;
    const std::string device = host_path(fs.source);
    // Each call returns the next project id with a quota at or after `id` (Q_XGETNEXTQUOTA, v4.6).
    uint32_t id = 0;
    for (std::size_t asked = 0; asked < 4 * max && out.size() < max; asked++) {
      fs_disk_quota d{};
      if (quotactl(QCMD(Q_XGETNEXTQUOTA, PRJQUOTA), device.c_str(), static_cast<int>(id),
                   reinterpret_cast<caddr_t>(&d)) != 0)
        break;
      // XFS counts blocks in 512-byte basic blocks.
      if (d.d_blk_hardlimit || d.d_ino_hardlimit)
        out.push_back({d.d_id, d.d_bcount * 512, d.d_blk_hardlimit * 512, d.d_icount, d.d_ino_hardlimit});
      if (d.d_id == UINT32_MAX) break;
      id = d.d_id + 1;
    }
    return out;
  }

  std::optional<uint32_t> ext4_incompat_features(const PathFs& fs) override {
    if (fs.fstype != "ext4" || fs.source.empty() || fs.source[0] != '/') return std::nullopt;
    const std::string device = host_path(fs.source);
    // The source is what the mounter wrote, maybe in another mount namespace: only a block device is read, and
    // a FIFO of that name does not block the daemon.
    int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode)) {
      close(fd);
      return std::nullopt;
    }
    // The superblock is 1024 bytes at offset 1024: s_magic (le16) at 0x38, s_feature_incompat (le32) at 0x60.
    unsigned char sb[0x64];
    ssize_t n = pread(fd, sb, sizeof(sb), 1024);
    close(fd);
    if (n != static_cast<ssize_t>(sizeof(sb)) || sb[0x38] != 0x53 || sb[0x39] != 0xEF) return std::nullopt;
    return static_cast<uint32_t>(sb[0x60]) | static_cast<uint32_t>(sb[0x61]) << 8 |
           static_cast<uint32_t>(sb[0x62]) << 16 | static_cast<uint32_t>(sb[0x63]) << 24;
  }

  std::optional<uint64_t> directory_bytes(uint32_t pid, const std::string& dir, int dirfd) override {
    std::string proc_root = context::proc_path(root_, static_cast<int>(pid), "root");
    if (!exists(proc_root)) return std::nullopt;
    auto logical = logical_path(pid, true, dir, dirfd);
    struct stat st{};
    if (!logical || stat((proc_root + *logical).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return static_cast<uint64_t>(st.st_size);
  }

  std::optional<CpusetState> cpuset_of_fd(uint32_t pid, uint64_t fd) override {
    if (fd > INT32_MAX) return std::nullopt;
    std::string link = context::proc_path(root_, static_cast<int>(pid), "fd/" + std::to_string(fd));
    char buf[4096];
    ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
    if (n <= 0 || buf[0] != '/') return std::nullopt;
    CpusetState st;
    st.dir = parent_of(std::string(buf, static_cast<size_t>(n)));
    const std::string base = context::proc_path(root_, static_cast<int>(pid), "root") + st.dir;
    auto cpus = cgroup_file(base + "/cpuset.cpus");
    auto mems = cgroup_file(base + "/cpuset.mems");
    if (!cpus || !mems) return std::nullopt;
    st.cpus = std::string(trim(*cpus));
    st.mems = std::string(trim(*mems));
    return st;
  }

  std::optional<BtrfsSpace> btrfs_space(const PathFs& fs) override {
    if (fs.fstype != "btrfs" || fs.source.empty() || fs.source[0] != '/') return std::nullopt;
    const std::string sys = host_path("/sys");
    const std::string dev = fs.source.substr(fs.source.find_last_of('/') + 1);
    if (dev.empty() || dev == "." || dev == "..") return std::nullopt;
    // The filesystem whose devices/ lists the mount's device.
    DIR* d = opendir((sys + "/fs/btrfs").c_str());
    if (!d) return std::nullopt;
    std::string dir;
    while (dirent* de = readdir(d)) {
      std::string candidate = sys + "/fs/btrfs/" + de->d_name;
      if (de->d_name[0] != '.' && exists(candidate + "/devices/" + dev)) {
        dir = candidate;
        break;
      }
    }
    closedir(d);
    if (dir.empty()) return std::nullopt;
    auto number = [](const std::string& path) -> std::optional<uint64_t> {
      auto text = context::read_file(path, 64);
      uint64_t v = 0;
      if (!text || !context::parse_u64(trim(*text), v)) return std::nullopt;
      return v;
    };
    BtrfsSpace out;
    uint64_t allocated = 0;
    for (const char* kind : {"data", "metadata", "system"}) {
      std::string a = dir + "/allocation/" + kind + "/";
      auto total = number(a + "total_bytes"), used = number(a + "bytes_used");
      if (!total || !used) return std::nullopt;
      // Reserved for writes in flight: what metadata needs next is refused against these as well.
      uint64_t held = *used + number(a + "bytes_reserved").value_or(0) + number(a + "bytes_pinned").value_or(0) +
                      number(a + "bytes_may_use").value_or(0);
      allocated += number(a + "disk_total").value_or(*total);
      if (std::string(kind) == "data") out.data_total = *total, out.data_used = *used;
      if (std::string(kind) == "metadata") out.metadata_total = *total, out.metadata_used = held;
    }
    auto sectors = number(sys + "/class/block/" + dev + "/size");
    if (sectors && *sectors * 512 > allocated) out.unallocated = *sectors * 512 - allocated;
    return out;
  }

  std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t pid, uint32_t) override {
    auto mounts = context::read_mountinfo(root_, static_cast<int>(pid));
    if (!mounts) return {};
    std::map<std::string, uint64_t> counts;
    for (const auto& m : *mounts) {
      // Group by filesystem type and the first three components of the parent directory:
      // /var/lib/docker/overlay2/<id>/merged -> "overlay mounts under /var/lib/docker".
      std::string dir;
      int comps = 0;
      // Named: split() returns views into it, and a temporary in the range-for's initializer would be gone
      // before the loop body runs (C++20 extends only the outermost temporary's lifetime).
      const std::string parent = parent_of(m.mount_point);
      for (auto part : split(parent, '/')) {
        if (part.empty()) continue;
        if (comps++ == 3) break;
        dir += "/" + std::string(part);
      }
      if (dir.empty()) dir = "/";
      counts[m.fstype + " mounts under " + dir]++;
    }
    std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > 5) v.resize(5);
    return v;
  }

 private:
  std::string proc_dir() const { return host_path("/proc"); }
  // A path of the host (the daemon's view) under --host-root.
  std::string host_path(const std::string& path) const { return (root_ == "/" ? "" : root_) + path; }

  // path as process pid saw it, from the root of its mount namespace: a relative path starts at its directory
  // fd dirfd, or its working directory for AT_FDCWD, which only a live process can tell. nullopt when the start
  // is not a directory in the namespace's tree (a deleted directory, an anon inode) or cannot be read.
  std::optional<std::string> logical_path(uint32_t pid, bool alive, const std::string& path, int dirfd) const {
    if (path.empty()) return std::nullopt;
    if (path[0] == '/') return path;
    if (!alive || (dirfd != AT_FDCWD && dirfd < 0)) return std::nullopt;
    std::string start = dirfd == AT_FDCWD ? "cwd" : "fd/" + std::to_string(dirfd);
    char buf[4096];
    ssize_t n = readlink(context::proc_path(root_, static_cast<int>(pid), start).c_str(), buf, sizeof(buf) - 1);
    if (n <= 0 || buf[0] != '/') return std::nullopt;
    return std::string(buf, static_cast<size_t>(n)) + "/" + path;
  }

  // Sums `count` over the fdinfo of every anon-inode fd named `anon` held by processes of this effective uid
  // (notification limits are ucounts, charged to the euid). An fd shared by several processes is counted for
  // each.
  template <typename Count>
  std::optional<uint64_t> count_of_uid(uint32_t uid, const std::string& anon, Count count) {
    DIR* d = opendir(proc_dir().c_str());
    if (!d) return std::nullopt;
    uint64_t total = 0;
    while (dirent* de = readdir(d)) {
      int pid = std::atoi(de->d_name);
      if (pid <= 0) continue;
      auto st = context::read_status(root_, pid);
      if (!st || st->uid[1] != uid) continue;
      auto links = context::read_fd_links(root_, pid);
      if (!links) continue;
      for (const auto& l : *links) {
        if (l.kind != context::FdKind::anon_inode || l.anon != anon) continue;
        if (auto info = context::read_fdinfo(root_, pid, l.fd)) total += count(*info);
      }
    }
    closedir(d);
    return total;
  }

  std::string root_;
  std::mutex mu_;
  context::Sysctls sysctls_;
  std::optional<Clock::time_point> sysctls_at_;
};

}  // namespace

std::unique_ptr<HostFacts> make_live_host_facts(std::string root) {
  return std::make_unique<LiveHostFacts>(std::move(root));
}

}  // namespace enospcd::diagnose
