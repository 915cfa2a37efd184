// Parsers for /proc/<pid>/... files. Each file has a pure parse_*() over its text (unit-tested, fuzzable) and a
// read_*() that takes the root of the tree ("/" on a host, a fake tree in tests) and returns errors as values.
// A process can exit between any two reads: readers report that as an Error with code ENOENT/ESRCH
// (see is_gone()), callers treat it as normal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace enospcd::context {

// pid 0 means "self" in every reader below.
std::string proc_path(std::string_view root, int pid, std::string_view rel);

// ---- mountinfo (proc(5), Documentation/filesystems/proc.rst "3.5 /proc/<pid>/mountinfo") ----
struct MountInfo {
  int mount_id = 0;
  int parent_id = 0;
  uint32_t major = 0;  // decimal in mountinfo (unlike maps, which prints hex)
  uint32_t minor = 0;
  std::string root;           // unescaped
  std::string mount_point;    // unescaped, relative to the reading process's root
  std::string mount_options;  // per-mount: rw/ro, nosuid, relatime ...
  std::vector<std::string> optional_fields;  // shared:N master:N propagate_from:N unbindable
  std::string fstype;         // "ext4", "fuse.sshfs"
  std::string source;         // unescaped; "none" when the kernel has no name
  std::string super_options;  // per-superblock

  dev_t dev() const;
  bool read_only() const;  // the superblock is read-only
};

std::optional<MountInfo> parse_mountinfo_line(std::string_view line);
// Malformed lines are skipped; their number is stored in *malformed when given.
std::vector<MountInfo> parse_mountinfo(std::string_view text, std::size_t* malformed = nullptr);
Result<std::vector<MountInfo>> read_mountinfo(std::string_view root, int pid);

// ---- status ----
struct ProcStatus {
  std::string name;
  char state = '?';
  int tgid = 0;
  int pid = 0;
  int ppid = 0;
  uint32_t uid[4] = {0, 0, 0, 0};  // real, effective, saved, filesystem
  uint32_t gid[4] = {0, 0, 0, 0};
  int threads = 0;
  uint64_t vm_rss_kib = 0;
};
Result<ProcStatus> parse_status(std::string_view text);
Result<ProcStatus> read_status(std::string_view root, int pid);

// ---- stat (field numbers as in proc(5)) ----
struct ProcStat {
  int pid = 0;
  std::string comm;  // may contain spaces and ')'
  char state = '?';
  int ppid = 0;
  int pgrp = 0;
  int session = 0;
  uint64_t flags = 0;
  uint64_t utime = 0;  // clock ticks
  uint64_t stime = 0;
  int64_t num_threads = 0;
  uint64_t starttime = 0;  // clock ticks after boot; with pid, identifies a process across pid reuse
  uint64_t vsize = 0;
  int64_t rss_pages = 0;
  uint64_t blkio_ticks = 0;  // field 42, delayacct_blkio_ticks
};
Result<ProcStat> parse_stat(std::string_view text);
Result<ProcStat> read_stat(std::string_view root, int pid);
Result<ProcStat> read_task_stat(std::string_view root, int pid, int tid);

Result<std::string> read_comm(std::string_view root, int pid);
std::vector<std::string> parse_cmdline(std::string_view text);
Result<std::vector<std::string>> read_cmdline(std::string_view root, int pid);

// ---- links: exe, cwd, root, fd/N ----
inline constexpr std::string_view kDeletedSuffix = " (deleted)";

struct ExeLink {
  std::string path;  // without " (deleted)"
  bool deleted = false;
};
ExeLink parse_exe_link(std::string_view target);
Result<ExeLink> read_exe(std::string_view root, int pid);

// "mnt:[4026531841]" -> 4026531841
std::optional<uint64_t> parse_ns_link(std::string_view target);
Result<uint64_t> read_ns_inode(std::string_view root, int pid, std::string_view ns = "mnt");

enum class FdKind { path, socket, pipe, anon_inode, ns, other };
std::string_view to_string(FdKind k);

struct FdLink {
  int fd = -1;
  std::string target;  // readlink text as is
  FdKind kind = FdKind::other;
  std::string path;    // kind == path: target without " (deleted)"
  bool deleted = false;
  std::string anon;    // kind == anon_inode: "inotify", "[fanotify]", "[eventpoll]", "[eventfd]" ...
};
FdLink classify_fd_target(int fd, std::string_view target);
// Files on kernel-internal mounts that print like paths but belong to no mounted filesystem:
// memfd_create(2), SysV shm, shared anonymous mappings, MAP_HUGETLB, secretmem.
bool is_internal_path(std::string_view path);
Result<std::vector<FdLink>> read_fd_links(std::string_view root, int pid);
Result<std::vector<int>> list_fds(std::string_view root, int pid);

// ---- fdinfo (proc(5) "/proc/pid/fdinfo") ----
struct InotifyWatch {
  int wd = 0;
  uint64_t ino = 0;
  uint64_t sdev = 0;  // kernel-internal dev_t encoding (major << 20 | minor)
  uint64_t mask = 0;
};
struct FanotifyMark {
  enum class Kind { inode, mount, sb, other } kind = Kind::inode;  // other: newer mark types (mntns)
  uint64_t ino = 0;
  uint64_t sdev = 0;
  int mnt_id = 0;
  uint64_t mflags = 0;
  uint64_t mask = 0;
  uint64_t ignored_mask = 0;
};
struct EpollTarget {
  int tfd = 0;
  uint64_t events = 0;
  uint64_t data = 0;
  uint64_t ino = 0;
  uint64_t sdev = 0;
};
struct FdInfo {
  uint64_t pos = 0;
  uint64_t flags = 0;  // octal in the file
  int mnt_id = -1;
  std::optional<uint64_t> ino;
  std::vector<InotifyWatch> inotify;
  bool fanotify_group = false;
  uint64_t fanotify_flags = 0;
  uint64_t fanotify_event_flags = 0;
  std::vector<FanotifyMark> fanotify;
  std::vector<EpollTarget> epoll;
};
FdInfo parse_fdinfo(std::string_view text);
Result<FdInfo> read_fdinfo(std::string_view root, int pid, int fd);

// ---- maps ----
struct MapEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;
  uint64_t offset = 0;
  uint32_t dev_major = 0;  // hex in maps
  uint32_t dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // without " (deleted)"; "[heap]", "" for anonymous
  bool deleted = false;

  dev_t dev() const;
  // Name of the entry under /proc/<pid>/map_files/: "7f00a000-7f00b000".
  std::string map_files_name() const;
};
std::optional<MapEntry> parse_maps_line(std::string_view line);
std::vector<MapEntry> parse_maps(std::string_view text);
Result<std::vector<MapEntry>> read_maps(std::string_view root, int pid);

// ---- wchan: "" when the task runs or the symbol is hidden ("0") ----
std::string parse_wchan(std::string_view text);
Result<std::string> read_wchan(std::string_view root, int pid, int tid = 0);

// ---- cgroup: the unified ("0::") path when present, else the name=systemd v1 hierarchy, else the first ----
std::string parse_proc_cgroup(std::string_view text);
Result<std::string> read_cgroup(std::string_view root, int pid);

// Numeric entries of /proc (processes, not threads) and of /proc/<pid>/task.
Result<std::vector<int>> list_pids(std::string_view root);
// Entries of dir named by a number, 0 included (a devpts instance's ptys).
Result<std::size_t> count_numbered_entries(const std::string& dir);
Result<std::vector<int>> list_tids(std::string_view root, int pid);
// The pid /proc/self points to in this tree (the caller's own pid on a real host).
int self_pid(std::string_view root);

}  // namespace enospcd::context
