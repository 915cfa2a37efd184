#include "context/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "context/text.h"

namespace enospcd::context {

unsigned FsStats::blocks_used_pct() const {
  uint64_t used = blocks - blocks_free;
  return percent_ceil(used, used + blocks_avail);
}

unsigned FsStats::inodes_used_pct() const { return percent_ceil(inodes_used(), inodes); }

namespace {

FsStats from_statfs(const struct statfs& s) {
  FsStats f;
  f.magic = static_cast<uint64_t>(static_cast<uint32_t>(s.f_type));
  f.block_size = s.f_frsize ? static_cast<uint64_t>(s.f_frsize) : static_cast<uint64_t>(s.f_bsize);
  f.blocks = s.f_blocks;
  f.blocks_free = s.f_bfree;
  f.blocks_avail = s.f_bavail;
  f.inodes = s.f_files;
  f.inodes_free = s.f_ffree;
  f.flags = static_cast<uint64_t>(s.f_flags);
  f.name_max = static_cast<uint64_t>(s.f_namelen);
  // Some filesystems report more free than total in transient states; keep the arithmetic sane.
  if (f.blocks_free > f.blocks) f.blocks_free = f.blocks;
  if (f.blocks_avail > f.blocks_free) f.blocks_avail = f.blocks_free;
  if (f.inodes_free > f.inodes) f.inodes_free = f.inodes;
  return f;
}

}  // namespace

Result<FsStats> stat_fs(const std::string& path) {
  struct statfs s{};
  if (::statfs(path.c_str(), &s) != 0) {
    int err = errno;
    return make_error("statfs " + path + ": " + std::strerror(err), err);
  }
  return from_statfs(s);
}

Result<FsStats> stat_fs_fd(int fd) {
  struct statfs s{};
  if (::fstatfs(fd, &s) != 0) {
    int err = errno;
    return make_error(std::string("fstatfs: ") + std::strerror(err), err);
  }
  return from_statfs(s);
}

StatfsNumbers statfs_numbers(const FsStats& s) {
  return {.type = std::string(fs_type_name(s.magic)),
          .magic = s.magic,
          .block_size = s.block_size,
          .total_bytes = s.total_bytes(),
          .used_bytes = s.used_bytes(),
          .free_bytes = s.free_bytes(),
          .avail_bytes = s.avail_bytes(),
          .reserved_bytes = s.reserved_bytes(),
          .blocks_used_pct = s.blocks_used_pct(),
          .inodes_total = s.inodes,
          .inodes_used = s.inodes_used(),
          .inodes_free = s.inodes_free,
          .inodes_used_pct = s.inodes_used_pct()};
}

nlohmann::json to_json(const FsStats& s) { return enospcd::to_json(statfs_numbers(s)); }

std::string_view fs_type_name(uint64_t magic) {
  struct Entry {
    uint64_t magic;
    std::string_view name;
  };
  // include/uapi/linux/magic.h plus a few filesystems that define their magic privately.
  static constexpr std::array<Entry, 72> table{{
      {0x01021994, "tmpfs"},      {0xEF53, "ext4"},           {0x58465342, "xfs"},
      {0x9123683E, "btrfs"},      {0x794c7630, "overlay"},    {0x6969, "nfs"},
      {0xFF534D42, "cifs"},       {0xFE534D42, "smb2"},       {0x517B, "smb"},
      {0x00c36400, "ceph"},       {0x65735546, "fuse"},       {0x65735543, "fusectl"},
      {0x9fa0, "proc"},           {0x62656572, "sysfs"},      {0x63677270, "cgroup2"},
      {0x27e0eb, "cgroup"},       {0x1cd1, "devpts"},         {0x73717368, "squashfs"},
      {0xE0F5E1E2, "erofs"},      {0x28cd3d45, "cramfs"},     {0x9660, "iso9660"},
      {0x15013346, "udf"},        {0x4d44, "vfat"},           {0x2011BAB0, "exfat"},
      {0x5346544e, "ntfs"},       {0x7366746e, "ntfs3"},      {0xF2F52010, "f2fs"},
      {0x2fc12fc1, "zfs"},        {0xca451a4e, "bcachefs"},   {0x3434, "nilfs2"},
      {0x52654973, "reiserfs"},   {0x3153464a, "jfs"},        {0x01161970, "gfs2"},
      {0x7461636f, "ocfs2"},      {0x858458f6, "ramfs"},      {0x958458f6, "hugetlbfs"},
      {0x64626720, "debugfs"},    {0x74726163, "tracefs"},    {0x73636673, "securityfs"},
      {0xcafe4a11, "bpf"},        {0x19800202, "mqueue"},     {0x6e736673, "nsfs"},
      {0x50495045, "pipefs"},     {0x534F434B, "sockfs"},     {0x09041934, "anon_inodefs"},
      {0x0187, "autofs"},         {0x42494e4d, "binfmt_misc"},{0xf97cff8c, "selinuxfs"},
      {0x43415d53, "smackfs"},    {0x5a3c69f0, "apparmorfs"}, {0x6165676C, "pstore"},
      {0xde5e81e4, "efivarfs"},   {0x62656570, "configfs"},   {0x67596969, "rpc_pipefs"},
      {0x01021997, "9p"},         {0xf15f, "ecryptfs"},       {0x5346414F, "afs"},
      {0x6B414653, "afs"},        {0x24051905, "ubifs"},      {0x72b6, "jffs2"},
      {0x5a4f4653, "zonefs"},     {0x444d4142, "dmabuf"},     {0x5345434d, "secretmem"},
      {0x50494446, "pidfs"},      {0x62646576, "bdev"},       {0x64646178, "dax"},
      {0x6c6f6f70, "binder"},     {0x7655821, "resctrl"},     {0x454d444d, "devmem"},
      {0x73757245, "coda"},       {0x4244, "hfs"},            {0x482b, "hfsplus"},
  }};
  for (const auto& e : table) {
    if (e.magic == magic) return e.name;
  }
  return {};
}

bool is_remote_fstype(std::string_view t) {
  static constexpr std::string_view remote[] = {"nfs",  "nfs4", "cifs", "smb3", "smb", "ceph", "glusterfs",
                                                "9p",   "afs",  "lustre", "gfs2", "ocfs2", "fuse", "fuseblk",
                                                "davfs", "coda", "ncpfs", "virtiofs"};
  for (auto r : remote) {
    if (t == r) return true;
  }
  return starts_with(t, "fuse.");
}

bool is_static_image_fstype(std::string_view t) {
  return t == "squashfs" || t == "iso9660" || t == "erofs" || t == "cramfs" || t == "udf" || t == "romfs";
}

bool is_internal_magic(uint64_t m) {
  return m == 0x50495045 /*pipefs*/ || m == 0x534F434B /*sockfs*/ || m == 0x09041934 /*anon_inodefs*/ ||
         m == 0x6e736673 /*nsfs*/ || m == 0x50494446 /*pidfs*/ || m == 0x5345434d /*secretmem*/ ||
         m == 0x444d4142 /*dmabuf*/ || m == 0x62646576 /*bdev*/ || m == 0x64646178 /*dax*/ ||
         m == 0x454d444d /*devmem*/;
}

Result<FileStat> stat_file(const std::string& path, bool follow) { return stat_file_at(AT_FDCWD, path.c_str(), follow); }

Result<FileStat> stat_file_at(int dirfd, const char* rel, bool follow) {
  struct statx sx{};
  int flags = AT_STATX_DONT_SYNC | (follow ? 0 : AT_SYMLINK_NOFOLLOW);
  if (::statx(dirfd, rel, flags, STATX_BASIC_STATS | STATX_MNT_ID, &sx) != 0) {
    int err = errno;
    return make_error(std::string("statx ") + rel + ": " + std::strerror(err), err);
  }
  FileStat f;
  f.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  f.ino = sx.stx_ino;
  f.mode = sx.stx_mode;
  f.nlink = sx.stx_nlink;
  f.size = sx.stx_size;
  f.allocated = sx.stx_blocks * 512;
  if (sx.stx_mask & STATX_MNT_ID) f.mnt_id = sx.stx_mnt_id;
  return f;
}

std::string dev_string(dev_t dev) { return std::to_string(major(dev)) + ":" + std::to_string(minor(dev)); }

}  // namespace enospcd::context
