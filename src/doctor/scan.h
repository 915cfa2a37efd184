// One pass over /proc that every doctor check shares: processes, their mount namespaces and mount tables, and
// the open files and mappings the checks look at. Built to stay fast with tens of thousands of processes:
// parallel over pids, one statx per path fd, fdinfo only where needed, and only interesting files kept.
//
// Never blocks on a dead server on purpose: stat goes through statx(AT_STATX_DONT_SYNC); files under NFS/FUSE
// mounts and everything of a process in D state are identified through fdinfo (mnt_id) and readlink only, and
// the maps of a D-state process are not read (it may hold mmap_lock).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "context/container.h"
#include "context/fs.h"
#include "context/procfs.h"
#include "context/sysctl.h"

namespace enospcd::doctor {

// The doctor is built on the host readers (context/): their names are used here as its own.
using namespace enospcd::context;  // NOLINT(google-build-using-namespace)

struct FileRef {
  std::string link;  // readlink text
  std::string path;  // without " (deleted)"
  bool deleted = false;
  std::optional<FileStat> st;  // absent when not stat'ed (remote fs, D state) or the stat failed
  int mnt_id = -1;             // from statx or fdinfo; -1 unknown
};

struct OpenFile {
  int fd = -1;
  FdKind kind = FdKind::other;
  std::string anon;  // "inotify", "[fanotify]", "[eventpoll]" for notification/epoll instances
  FileRef file;      // kind == path
  std::optional<FdInfo> info;
};

struct MappedFile {
  std::string range;  // first VMA, as named in /proc/<pid>/map_files/
  dev_t dev = 0;      // from maps: the superblock's s_dev, same numbering as mountinfo
  uint64_t ino = 0;
  std::string path;
  bool deleted = false;
  uint64_t mapped_bytes = 0;  // sum over the file's VMAs
  std::optional<FileStat> st; // through map_files (needs CAP_SYS_ADMIN)
};

struct BlockedThread {
  int tid = 0;
  std::string comm;
  uint64_t starttime = 0;
  std::string wchan;
};

struct ProcessInfo {
  int pid = 0;
  std::string comm;
  char state = '?';
  int ppid = 0;
  uint32_t uid = 0;   // real
  uint32_t euid = 0;  // owner of inotify/fanotify/epoll accounting (ucounts use the euid)
  int threads = 0;
  uint64_t mnt_ns = 0;
  std::string cgroup;
  std::optional<ContainerRef> container;

  FileRef cwd;
  FileRef root;
  std::size_t fd_count = 0;
  // Kept: notification/epoll instances, deleted files, files on a mount absent from every mount table, and
  // every path fd of a process in D state.
  std::vector<OpenFile> files;
  std::vector<MappedFile> mappings;  // kept: deleted, or on a device absent from every mount table
  std::vector<BlockedThread> blocked;
  bool fds_denied = false;
  bool maps_denied = false;
};

struct MountNamespace {
  uint64_t inode = 0;
  std::vector<int> pids;
  int reader_pid = 0;  // whose mountinfo was read
  std::vector<MountInfo> mounts;
  bool readable = false;
  bool is_self = false;
};

struct ScanStats {
  std::size_t pids_listed = 0;
  std::size_t processes = 0;
  std::size_t vanished = 0;       // exited during the scan
  std::size_t denied = 0;         // fd or maps not readable (not root)
  std::size_t fds = 0;
  std::size_t fdinfo_reads = 0;
  std::size_t stat_calls = 0;
  std::size_t maps_read = 0;
  std::size_t threads_read = 0;
  std::size_t malformed = 0;      // unparsable lines or files
  unsigned workers = 1;
  double list_ms = 0, identity_ms = 0, namespaces_ms = 0, files_ms = 0, total_ms = 0;
};
nlohmann::json to_json(const ScanStats& s);

struct ScanOptions {
  std::string root = "/";
  unsigned threads = 0;        // 0: min(hardware threads, 8)
  bool files = true;           // fd tables, cwd, root
  bool maps = true;
  bool thread_states = true;   // look at every thread for D state, not only the main thread
};

struct HostSnapshot {
  HostSnapshot() = default;
  HostSnapshot(const HostSnapshot&) = delete;  // the lookup maps point into namespaces[]
  HostSnapshot& operator=(const HostSnapshot&) = delete;
  HostSnapshot(HostSnapshot&&) = default;
  HostSnapshot& operator=(HostSnapshot&&) = default;

  std::string root;
  int self_pid = 0;
  uint64_t self_mnt_ns = 0;
  std::vector<ProcessInfo> processes;  // sorted by pid
  std::vector<MountNamespace> namespaces;
  Sysctls sysctls;
  ScanStats stats;
  std::chrono::steady_clock::time_point scanned_at;

  // Every mount id and device present in at least one readable mount table.
  std::unordered_set<int> known_mount_ids;
  std::unordered_set<dev_t> known_devs;

  const ProcessInfo* process(int pid) const;
  const MountNamespace* ns(uint64_t inode) const;
  // A mount carrying this device, preferring the doctor's own namespace; nullptr when none.
  const MountInfo* mount_for_dev(dev_t dev) const;
  const MountInfo* mount_by_id(int mount_id) const;
  // Longest mount point that prefixes path in that namespace (for links of processes we must not stat).
  const MountInfo* mount_for_path(uint64_t mnt_ns, const std::string& path) const;

  std::unordered_map<uint64_t, std::size_t> ns_index;
  std::unordered_map<int, std::size_t> pid_index;
  std::unordered_map<int, const MountInfo*> mount_ids;
  std::unordered_map<dev_t, const MountInfo*> mount_devs;
};

HostSnapshot scan_host(const ScanOptions& opts);

// Runs f(i) for i in [0, n) on up to `threads` workers; inline when threads <= 1 or a thread cannot start.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& f);
unsigned default_workers();

}  // namespace enospcd::doctor
