// A HostFacts whose answers a test sets: filesystems by device and by path, sysctls, holders.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>

#include "diagnose/diagnose.h"

namespace enospcd::diagnose::fakes {

class FakeFacts : public HostFacts {
 public:
  const context::Sysctls& sysctls() override { return limits; }
  // A path relative to a directory fd is looked up as "fd<N>:<path>".
  std::optional<PathFs> fs_for_path(uint32_t, const std::string& path, int dirfd) override {
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
  std::optional<uint32_t> pid_in_mntns(uint32_t pid, uint32_t, uint32_t) override {
    if (namespace_gone) return std::nullopt;
    return pid;
  }
  std::optional<uint64_t> inotify_watches_of_uid(uint32_t) override { return inotify_watches; }
  std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t, uint32_t) override { return {}; }

  context::Sysctls limits;
  std::map<uint32_t, PathFs> by_dev;
  std::map<std::string, PathFs> by_path;
  bool namespace_gone = false;
  std::optional<uint64_t> inotify_watches;
};

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

}  // namespace enospcd::diagnose::fakes
