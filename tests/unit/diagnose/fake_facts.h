// A HostFacts whose answers a test sets: filesystems by device and by path, sysctls, holders.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>

#include "diagnose/diagnose.h"

namespace enospcd::diagnose::fakes {

class FakeFacts : public HostFacts {
 public:
  const context::Sysctls& sysctls() override { return limits; }
  uint64_t monotonic_ns() override { return now_ns; }
  std::optional<CpusetState> cpuset_of_fd(uint32_t, uint64_t fd) override {
    auto it = cpusets.find(fd);
    if (it == cpusets.end()) return std::nullopt;
    return it->second;
  }
  // A path relative to a directory fd is looked up as "fd<N>:<path>".
  std::optional<PathFs> fs_for_path(uint32_t viewer, const std::string& path, int dirfd) override {
    path_lookups++;
    // A viewer that exits while its view is read answers nothing and is gone for the next pick.
    if (exits_during_lookup.count(viewer)) {
      gone.insert(viewer);
      return std::nullopt;
    }
    auto it = by_path.find(dirfd == AT_FDCWD ? path : "fd" + std::to_string(dirfd) + ":" + path);
    if (it == by_path.end()) return std::nullopt;
    return it->second;
  }
  std::optional<PathFs> fs_for_dev(uint32_t, uint32_t dev, const std::string& mount_name) override {
    auto it = by_dev.find(dev);
    if (it == by_dev.end()) return std::nullopt;
    if (!mount_name_matches(it->second.mount_point, mount_name)) return std::nullopt;
    return it->second;
  }
  // The failing process, its parent, then the daemon (kSelf), whichever is still there.
  std::optional<uint32_t> pid_in_mntns(uint32_t pid, uint32_t ppid, uint32_t) override {
    if (namespace_gone) return std::nullopt;
    for (uint32_t p : {pid, ppid, kSelf}) {
      if (!gone.count(p)) return p;
    }
    return std::nullopt;
  }
  std::optional<uint64_t> inotify_watches_of_uid(uint32_t) override { return inotify_watches; }
  std::optional<uint64_t> ptys_in_use(uint32_t, const std::string& dir) override {
    auto it = ptys.find(dir);
    if (it == ptys.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t, uint32_t) override { return {}; }
  std::optional<uint32_t> ext4_incompat_features(const PathFs&) override { return ext4_features; }
  std::optional<BtrfsSpace> btrfs_space(const PathFs&) override { return btrfs; }
  std::optional<uint64_t> directory_bytes(uint32_t, const std::string& dir, int dirfd) override {
    auto it = directories.find(dirfd == AT_FDCWD ? dir : "fd" + std::to_string(dirfd) + ":" + dir);
    if (it == directories.end()) return std::nullopt;
    return it->second;
  }
  std::vector<ProjectQuota> project_quotas(const PathFs&, std::size_t max) override {
    project_quota_reads++;
    return {projects.begin(), projects.begin() + static_cast<std::ptrdiff_t>(std::min(max, projects.size()))};
  }

  context::Sysctls limits;
  std::map<uint32_t, PathFs> by_dev;
  std::map<std::string, PathFs> by_path;
  bool namespace_gone = false;
  static constexpr uint32_t kSelf = 900;
  std::set<uint32_t> exits_during_lookup;
  std::set<uint32_t> gone;
  std::optional<uint64_t> inotify_watches;
  std::map<std::string, uint64_t> ptys;  // devpts directory -> ptys allocated there
  std::vector<ProjectQuota> projects;    // the filesystem's project quotas (any filesystem asked)
  int project_quota_reads = 0;
  int path_lookups = 0;  // fs_for_path calls (each reads a mountinfo on a live host)
  std::map<uint64_t, CpusetState> cpusets;  // by fd
  uint64_t now_ns = 0;  // the clock when the facts are read; 0: before every event
  std::optional<uint32_t> ext4_features;          // s_feature_incompat of any ext4 asked
  std::optional<BtrfsSpace> btrfs;                // the space of any btrfs asked
  std::map<std::string, uint64_t> directories;    // directory (as fs_for_path keys paths) -> its size in bytes
};

// A syscall that failed with errno (ENOSPC unless said otherwise), by comm and pid.
inline Event failing(std::string syscall, std::string comm, uint32_t pid, std::string errno_name = "ENOSPC",
                     int32_t err = 28) {
  Event e;
  e.pid = pid;
  e.comm = std::move(comm);
  e.syscall = std::move(syscall);
  e.errno_name = std::move(errno_name);
  e.err = err;
  e.ret = -err;
  return e;
}

// A filesystem as statfs and mountinfo describe it.
inline PathFs make_fs(std::string mount_point, std::string fstype, uint64_t magic, uint64_t blocks = 0,
                      uint64_t blocks_free = 0, uint64_t inodes = 0, uint64_t inodes_free = 0) {
  PathFs fs;
  fs.mount_point = std::move(mount_point);
  fs.fstype = std::move(fstype);
  fs.source = "none";
  fs.stats.magic = magic;
  fs.stats.block_size = 4096;
  fs.stats.blocks = blocks;
  fs.stats.blocks_free = fs.stats.blocks_avail = blocks_free;
  fs.stats.inodes = inodes;
  fs.stats.inodes_free = inodes_free;
  return fs;
}

// A directory BPF described at the failure: a tmpfs of `max_inodes` inodes with `free_inodes` free, as
// shmem_sb_info held it, and 3 of its 64 blocks used.
inline FileInfo tmpfs_dir(FileRole role, uint32_t dev, uint64_t max_inodes = 8, uint64_t free_inodes = 0) {
  FileInfo f;
  f.role = role;
  f.dev = dev;
  f.magic = 0x01021994;
  f.fstype = "tmpfs";
  f.name = "out";
  f.shmem_max_inodes = max_inodes;
  f.shmem_free_inodes = free_inodes;
  f.shmem_max_blocks = 64;
  f.shmem_used_blocks = 3;
  return f;
}

}  // namespace enospcd::diagnose::fakes

namespace enospcd::diagnose {

// The evidence as the API shows it: what the tests assert on.
inline nlohmann::json evidence_json(const Cause& c) { return to_json(c)["evidence"]; }

}  // namespace enospcd::diagnose
