// Filesystem facts: statfs(2) numbers, magic -> type names, and stat through /proc links without waking up
// remote filesystems.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "model/evidence.h"

namespace enospcd::context {

struct FsStats {
  uint64_t magic = 0;       // f_type
  uint64_t block_size = 0;  // f_frsize: the unit of blocks/bfree/bavail (falls back to f_bsize)
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;   // includes blocks reserved for root (ext4 -m)
  uint64_t blocks_avail = 0;  // what unprivileged writers can use
  uint64_t inodes = 0;        // 0: the filesystem has no fixed inode count (btrfs, ...)
  uint64_t inodes_free = 0;
  uint64_t flags = 0;  // ST_RDONLY ...
  uint64_t name_max = 0;

  uint64_t total_bytes() const { return blocks * block_size; }
  uint64_t used_bytes() const { return (blocks - blocks_free) * block_size; }
  uint64_t free_bytes() const { return blocks_free * block_size; }
  uint64_t avail_bytes() const { return blocks_avail * block_size; }
  uint64_t reserved_bytes() const { return blocks_free > blocks_avail ? (blocks_free - blocks_avail) * block_size : 0; }
  uint64_t inodes_used() const { return inodes >= inodes_free ? inodes - inodes_free : 0; }
  // Percent of the space a non-root writer can reach that is used, as df(1) computes it.
  unsigned blocks_used_pct() const;
  unsigned inodes_used_pct() const;
};

Result<FsStats> stat_fs(const std::string& path);
Result<FsStats> stat_fs_fd(int fd);
// The numbers as explanations and the API show them ("statfs").
StatfsNumbers statfs_numbers(const FsStats& s);
nlohmann::json to_json(const FsStats& s);

// "tmpfs" for 0x01021994, "ext4" for 0xEF53 (ext2/3/4 share it), ... ; "" when unknown.
std::string_view fs_type_name(uint64_t magic);
// Network and FUSE filesystems: a stat or statfs there can block for as long as the server is away.
bool is_remote_fstype(std::string_view fstype);
// Filesystems that are always 100 % full by design (squashfs, iso9660, erofs ...).
bool is_static_image_fstype(std::string_view fstype);
// Kernel-internal filesystems that never appear in a mount table (pipes, sockets, anon inodes, nsfs ...).
bool is_internal_magic(uint64_t magic);

struct FileStat {
  dev_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  uint64_t allocated = 0;  // st_blocks * 512
  std::optional<uint64_t> mnt_id;  // statx STATX_MNT_ID (5.8+)
};
// statx(2) with AT_STATX_DONT_SYNC, so NFS/FUSE answer from cache instead of asking a server that may be gone.
Result<FileStat> stat_file(const std::string& path, bool follow = true);
Result<FileStat> stat_file_at(int dirfd, const char* rel, bool follow = true);

std::string dev_string(dev_t dev);  // "8:1"

}  // namespace enospcd::context
