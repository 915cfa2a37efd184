#include "diagnose/diagnose.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <cstdio>
#include <map>
#include <set>

#include "common/names.h"
#include "common/strings.h"
#include "context/text.h"
#include "enospcd/abi.h"
#include "model/origins.h"

namespace enospcd::diagnose {
namespace {

constexpr uint32_t kTmpfsMagic = TMPFS_MAGIC;
constexpr uint32_t kXfsMagic = XFS_SUPER_MAGIC;
constexpr uint32_t kOverlayMagic = OVERLAYFS_SUPER_MAGIC;

bool is_cgroup_magic(uint64_t magic) { return magic == CGROUP_SUPER_MAGIC || magic == CGROUP2_SUPER_MAGIC; }

// The cause an origin function points at; empty for a layer, or a function in no table (--probe).
std::optional<CauseId> origin_cause(const std::string& func) {
  const Origin* o = find_origin(func);
  return o ? cause_from_name(o->cause) : std::nullopt;
}

const std::set<std::string> kMountSyscalls = {"mount", "move_mount", "open_tree", "fsmount", "fsconfig", "pivot_root"};
const std::set<std::string> kNsSyscalls = {"unshare", "clone", "clone3", "setns"};
const std::set<std::string> kCreateSyscalls = {"open", "openat", "openat2", "creat", "mkdir", "mkdirat", "mknod",
                                               "mknodat", "symlink", "symlinkat", "link", "linkat", "rename",
                                               "renameat", "renameat2"};
const std::set<std::string> kWriteSyscalls = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "fallocate",
                                              "ftruncate", "truncate", "copy_file_range", "sendfile", "splice"};
const std::set<std::string> kWritebackSyscalls = {"fsync", "fdatasync", "sync_file_range", "close", "msync",
                                                  "syncfs"};
const std::set<std::string> kXattrSyscalls = {"setxattr", "lsetxattr", "fsetxattr"};
const std::set<std::string> kIpcSyscalls = {"shmget", "msgget", "semget"};

std::string who(const Event& e) {
  std::string container = e.container ? short_name(*e.container) : "-";
  return e.comm + " (pid " + std::to_string(e.pid) + ", container " + container + ")";
}

// "write(2)", or for an io_uring or Linux AIO request that failed asynchronously "io_uring write request",
// "aio pwrite request" (or "an io_uring request" where the kernel does not tell the opcode).
std::string call(const Event& e) {
  if (is_io_uring(e.syscall_nr) || is_aio(e.syscall_nr)) {
    if (e.syscall_nr == ENOSPCD_NR_IO_URING + ENOSPCD_IO_URING_OP_UNKNOWN) return "an io_uring request";
    if (e.syscall_nr == ENOSPCD_NR_AIO + ENOSPCD_AIO_OP_UNKNOWN) return "an aio request";
    std::string name = syscall_name(e.syscall_nr);
    return name.substr(0, name.find(':')) + " " + name.substr(name.find(':') + 1) + " request";
  }
  return e.syscall + "(2)";
}

// The syscall whose rules explain an io_uring or AIO request: the request does what that syscall does.
std::string sync_equivalent(const std::string& request_name) {
  static const std::map<std::string, std::string> m = {
      {"io_uring:write", "pwrite64"},       {"io_uring:write_fixed", "pwrite64"},
      {"io_uring:writev", "pwritev"},       {"io_uring:writev_fixed", "pwritev"},
      {"io_uring:fallocate", "fallocate"},  {"io_uring:ftruncate", "ftruncate"},
      {"io_uring:openat", "openat"},        {"io_uring:openat2", "openat2"},
      {"io_uring:mkdirat", "mkdirat"},      {"io_uring:symlinkat", "symlinkat"},
      {"io_uring:linkat", "linkat"},        {"io_uring:renameat", "renameat2"},
      {"io_uring:fsync", "fsync"},          {"io_uring:sync_file_range", "sync_file_range"},
      {"io_uring:setxattr", "setxattr"},    {"io_uring:fsetxattr", "fsetxattr"},
      {"io_uring:splice", "splice"},        {"io_uring:tee", "splice"},
      {"io_uring:epoll_ctl", "epoll_ctl"},
      {"aio:pwrite", "pwrite64"},           {"aio:pwritev", "pwritev"},
      {"aio:fsync", "fsync"},               {"aio:fdsync", "fdatasync"},
  };
  auto it = m.find(request_name);
  return it == m.end() ? request_name : it->second;
}

std::string opening(const Event& e) {
  std::string s = call(e);
  if (!e.path.empty()) s += " of " + e.path;
  return s + " by " + who(e) + " failed";
}

// Where the event's relative path starts: the dirfd argument of an *at call (AT_FDCWD: the working directory).
// nullopt when the event does not tell (its arguments were not read).
std::optional<int> start_dirfd(const Event& e) {
  auto spec = path_args_of(sync_equivalent(e.syscall));
  if (!spec || spec->dir_arg == 0 || spec->dir_arg == ENOSPCD_DIR_CWD) return AT_FDCWD;
  if (!e.args_valid || spec->dir_arg > 6) return std::nullopt;
  return static_cast<int>(static_cast<int32_t>(e.args[spec->dir_arg - 1]));
}

// The filesystem of the event's path, looked up now in the failing process's mount namespace.
std::optional<PathFs> path_fs(const Event& e, HostFacts& facts) {
  bool relative = e.path.empty() || e.path[0] != '/';
  std::optional<int> dirfd = relative ? start_dirfd(e) : AT_FDCWD;
  if (!dirfd) return std::nullopt;
  // The process whose view is used may exit during the lookup (the failing process, then its parent: a shell
  // loop that ends): each pass picks the next one still in the namespace, until one answers or none is new.
  std::vector<uint32_t> tried;
  for (int attempt = 0; attempt < 4; attempt++) {
    auto viewer = facts.pid_in_mntns(e.pid, e.ppid, e.has_mntns ? e.mntns : 0);
    if (!viewer || std::find(tried.begin(), tried.end(), *viewer) != tried.end()) return std::nullopt;
    // A relative path starts at the failing process's cwd or directory fd, which only that process can tell.
    if (*viewer != e.pid && relative) return std::nullopt;
    if (auto fs = facts.fs_for_path_once(*viewer, e.path, *dirfd)) return fs;
    tried.push_back(*viewer);
  }
  return std::nullopt;
}

// The filesystem the failing call targeted: the superblock BPF read at the failure (the fd's file, or the
// directory a relative path starts from), or else the path's filesystem as resolved now.
std::optional<PathFs> target_fs(const Event& e, HostFacts& facts) {
  std::optional<PathFs> fs;
  if (e.file) fs = facts.fs_for_dev(e.pid, e.file->dev, e.file->mount_name);
  if (!fs && !e.path.empty()) return path_fs(e, facts);
  // An ext4's space and inodes as BPF read them at the failure replace statfs's numbers now.
  if (fs && e.file->ext4 && fs->stats.magic == EXT4_SUPER_MAGIC) {
    const auto& x = *e.file->ext4;
    auto& s = fs->stats;
    s.block_size = x.block_size;
    s.blocks = x.blocks;
    s.blocks_free = x.free_blocks;
    s.blocks_avail = x.free_blocks > x.reserved_blocks ? x.free_blocks - x.reserved_blocks : 0;
    s.inodes = x.inodes;
    s.inodes_free = x.free_inodes;
    fs->numbers_at_failure = true;
    fs->numbers_exact = x.exact;
  }
  return fs;
}

// Said of numbers that were not read at the failure but when the event is explained (statfs of a path).
constexpr std::string_view kReadAfterWords = "read after the failure";
constexpr std::string_view kReadAfter = " (read after the failure)";

// How a summary ends that rests on a filesystem's numbers: read at the failure, or after it.
std::string numbers_end(const PathFs& fs) {
  if (!fs.numbers_at_failure) return std::string(kReadAfter) + ".";
  return fs.numbers_exact ? "." : " (the free counts folded so far, short by up to a batch per CPU).";
}

// The bytes a write or fallocate asked for, from its arguments as read at the failure.
std::optional<uint64_t> requested_bytes(const Event& e) {
  if (!e.args_valid) return std::nullopt;
  if (e.syscall == "write" || e.syscall == "pwrite64") return e.args[2];
  if (e.syscall == "fallocate") return e.args[3];
  return std::nullopt;
}

bool creates_inode(const Event& e) {
  if (!kCreateSyscalls.count(e.syscall)) return false;
  // open/openat without O_CREAT or O_TMPFILE (an unnamed file: Python's TemporaryFile, glibc's tmpfile) do not
  // create inodes.
  if (e.args_valid && (e.syscall == "open" || e.syscall == "openat")) {
    uint64_t flags = e.syscall == "open" ? e.args[1] : e.args[2];
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  }
  return true;
}

std::string option_value(const std::string& opts, const std::string& key) {
  for (auto part : split(opts, ',')) {
    if (part.rfind(key + "=", 0) == 0) return std::string(part.substr(key.size() + 1));
  }
  return "";
}

Cause make(CauseId id, std::string summary, std::string remedy, Confidence confidence) {
  Cause c;
  c.id = id;
  c.summary = std::move(summary);
  c.remedy = std::move(remedy);
  c.confidence = confidence;
  return c;
}

std::vector<std::string> chain_names(const Event& e) {
  std::vector<std::string> names;
  names.reserve(e.chain.size());
  for (const auto& l : e.chain) names.push_back(l.func);
  return names;
}

// The filesystem an explanation names: everything known of it, or only where it is mounted.
FsRef fs_ref(const PathFs& fs) {
  return {fs.mount_point, fs.fstype, fs.source, context::statfs_numbers(fs.stats)};
}
FsRef mount_point_of(const PathFs& fs) { return {.mount_point = fs.mount_point}; }
FsRef with_statfs(const PathFs& fs) { return {.mount_point = fs.mount_point, .statfs = context::statfs_numbers(fs.stats)}; }

// fs.mount-max: as the kernel had it at the failure (read in BPF), which beats the sysctl now, which may have
// changed.
std::optional<uint64_t> mount_limit(const Event& e, HostFacts& facts) {
  return e.mount_max ? std::optional<uint64_t>(*e.mount_max) : facts.sysctls().mount_max;
}

Cause mount_max(const Event& e, HostFacts& facts, Confidence confidence) {
  // Where kallsyms lists no data symbols (CONFIG_KALLSYMS_ALL off), BPF cannot find the sysctl: the value now
  // is said to be read later, and whether it would have let the call through.
  std::optional<uint64_t> max = mount_limit(e, facts);
  std::string limit = max ? grouped(*max) : "unknown";
  if (max && !e.mount_max) {
    limit += " (read after the failure)";
    if (e.mnt_count + e.mnt_pending + 1 <= *max) limit += ", which would have let the mount through: it was lower then";
  }
  Cause c = make(CauseId::MountMax,
                 call(e) + " by " + who(e) + " failed: mount namespace " + std::to_string(e.mntns) + " holds " +
                     grouped(e.mnt_count) + " mounts" +
                     (e.mnt_pending ? " (+" + grouped(e.mnt_pending) + " pending)" : "") + ", fs.mount-max is " +
                     limit + ".",
                 "Raise fs.mount-max (sysctl -w fs.mount-max=N) or find the mount leak", confidence);
  auto top = facts.top_mount_sources(e.pid, e.mntns);
  if (!top.empty()) c.remedy += ": " + grouped(top[0].second) + " of them are " + top[0].first;
  c.remedy += ".";
  MountEvidence m{.mntns = e.mntns, .mounts = e.mnt_count, .pending = e.mnt_pending, .mount_max = max};
  for (const auto& [src, n] : top) m.top_sources.push_back({src, n});
  c.evidence.detail = std::move(m);
  return c;
}

// A tmpfs's inodes: those of the superblock BPF read at the failure (of the call's file or directory), else
// statfs's of the filesystem resolved now; nr_inodes= from its mount options as they are now, beside numbers of
// the failure only while they agree (no remount since).
struct TmpfsInodeCount {
  uint64_t total = 0, free = 0;
  std::string nr_inodes;
  std::string option_text() const { return nr_inodes.empty() ? "" : " (nr_inodes=" + nr_inodes + ")"; }
};

TmpfsInodeCount tmpfs_inode_count(const Event& e, const std::optional<PathFs>& fs, bool at_failure) {
  TmpfsInodeCount n;
  const bool from_bpf = e.file && e.file->shmem_max_inodes;
  n.total = from_bpf ? e.file->shmem_max_inodes : fs ? fs->stats.inodes : 0;
  n.free = from_bpf ? e.file->shmem_free_inodes : fs ? fs->stats.inodes_free : 0;
  if (fs) n.nr_inodes = option_value(fs->super_options, "nr_inodes");
  if (at_failure && fs && fs->stats.inodes != n.total) n.nr_inodes.clear();
  return n;
}

// tmpfs: BPF evidence (the fd's superblock) is exact at failure time; a path is resolved now with statfs.
// Returns nullopt when neither the fd's superblock nor the resolved filesystem is a tmpfs; a resolved
// filesystem that is not a tmpfs is never described as one.
std::optional<Cause> tmpfs_rule(const Event& e, const std::optional<PathFs>& resolved, bool inode_side,
                                Confidence confidence) {
  std::optional<PathFs> fs;
  if (resolved && resolved->stats.magic == kTmpfsMagic) fs = resolved;
  // Without the superblock BPF read at the failure, the numbers are statfs's, read when the event is explained.
  const bool at_failure = e.file && e.file->magic == kTmpfsMagic;
  if (!at_failure && !fs) return std::nullopt;
  std::string where = fs ? " at " + fs->mount_point : "";
  const std::string end = at_failure ? "." : std::string(kReadAfter) + ".";
  Evidence ev;
  if (fs) ev.fs = with_statfs(*fs);
  TmpfsEvidence t;
  if (e.file) {
    t.at_failure = TmpfsAtFailure{file_role_name(e.file->role), e.file->shmem_max_blocks, e.file->shmem_used_blocks,
                                  e.file->shmem_max_inodes, e.file->shmem_free_inodes};
  }
  if (inode_side) {
    const TmpfsInodeCount n = tmpfs_inode_count(e, fs, at_failure);
    const uint64_t total = n.total, free = n.free;
    Cause c = make(CauseId::TmpfsInodes,
                   opening(e) + ": the tmpfs" + where + " has " + grouped(total) + " inodes" + n.option_text() + ", " +
                       grouped(total - std::min(total, free)) + " in use, " + grouped(free) + " free" + end,
                   "Remount with more inodes (mount -o remount,nr_inodes=N" + (fs ? " " + fs->mount_point : std::string()) +
                       ") or remove files; df -i shows it while df shows free space.",
                   confidence);
    t.inodes = total;
    t.inodes_free = free;
    c.evidence = std::move(ev);
    c.evidence.detail = std::move(t);
    return c;
  }
  uint64_t page = 4096;
  // The limit from BPF is exact, and so is the usage when BPF added every CPU's delta to the percpu_counter (as
  // percpu_counter_sum() does). The folded count alone lags by up to a batch per CPU, so without the sum usage
  // comes from statfs when the filesystem is still there, read after the failure and said to be.
  const bool used_at_failure = at_failure && e.file->shmem_used_exact;
  uint64_t max = e.file && e.file->shmem_max_blocks ? e.file->shmem_max_blocks * page : fs ? fs->stats.total_bytes() : 0;
  uint64_t used = used_at_failure         ? e.file->shmem_used_blocks * page
                  : fs && fs->stats.blocks ? fs->stats.used_bytes()
                  : e.file                 ? e.file->shmem_used_blocks * page
                                           : 0;
  const bool folded = !used_at_failure && !(fs && fs->stats.blocks) && e.file;
  const std::string used_end = used_at_failure ? "."
                               : folded        ? " (the count folded so far, short by up to a batch of pages per CPU)."
                                               : std::string(kReadAfter) + ".";
  std::string size = fs ? option_value(fs->super_options, "size") : "";
  if (at_failure && fs && fs->stats.total_bytes() != max) size.clear();
  std::string sized = size.empty() ? "" : " (size=" + size + ")";
  auto asked = requested_bytes(e);
  const uint64_t need = std::max(asked.value_or(page), page);
  std::string state;
  if (used + need <= max && used_at_failure) {
    state = " refused " + format_bytes(need) + " with " + format_bytes(used) + " of " + format_bytes(max) + sized +
            " used" + used_end;
  } else if (used + need <= max) {
    // Numbers read after the failure that would have let the call through: the space was freed since (a
    // deleted journal, a truncated file). Said as such, never as "full".
    state = " could not hold the " + format_bytes(need) + " the call asked for; " + format_bytes(used) + " of " +
            format_bytes(max) + sized + (folded ? " were" : " are") + " used" + (folded ? "" : " now") + used_end;
  } else if (asked && used + page <= max) {
    // An all-or-nothing request (fallocate) larger than what is free fails on a tmpfs that is not full: the
    // request is the point, and "full" would contradict the numbers.
    state = " has " + format_bytes(max - used) + " free of " + format_bytes(max) + sized + ", less than the " +
            format_bytes(*asked) + " the call asked for" + used_end;
  } else {
    state = " is full: " + format_bytes(used) + " of " + format_bytes(max) + sized + " used" +
            (asked ? " (the call asked for " + format_bytes(*asked) + ")" : std::string()) + used_end;
  }
  Cause c = make(CauseId::TmpfsBlocks,
                 opening(e) + ": the tmpfs" + where + state,
                 "Remount with a larger size (mount -o remount,size=N" + (fs ? " " + fs->mount_point : std::string()) +
 ") or delete files; deleted-but-open files still count (enospcctl doctor lists them).",
                 confidence);
  t.bytes_max = max;
  t.bytes_used = used;
  t.bytes_used_at_failure = used_at_failure;
  c.evidence = std::move(ev);
  c.evidence.detail = std::move(t);
  c.evidence.bytes_requested = asked;
  return c;
}

std::optional<Cause> disk_rule(const Event& e, const std::optional<PathFs>& fs, bool inode_side,
                               Confidence confidence) {
  // A cgroup filesystem holds no blocks: its statfs says nothing of what refused.
  if (!fs || is_cgroup_magic(fs->stats.magic)) return std::nullopt;
  const auto& s = fs->stats;
  std::string fsdesc = fs->fstype + " " + fs->source + " at " + fs->mount_point;
  Evidence ev;
  ev.fs = fs_ref(*fs);
  // statfs's numbers, read when the event is explained, unless BPF read the superblock's at the failure: the
  // summary says which.
  const std::string end = numbers_end(*fs);
  if (inode_side && s.inodes && s.inodes_free == 0) {
    Cause c = make(CauseId::FsInodes,
                   opening(e) + ": " + fsdesc + " has used all " + grouped(s.inodes) + " inodes while " +
                       format_bytes(s.avail_bytes()) + " of space are free" + end,
                   "Delete small files (find the directory with the most entries) or recreate the filesystem with "
                   "more inodes (mkfs -i/-N).",
                   confidence);
    c.evidence = ev;
    return c;
  }
  uint64_t slack = std::max<uint64_t>(s.total_bytes() / 100, 1 << 20);  // within 1% (or 1 MiB) of full
  // A writer other than root is refused once what is left is the root reserve (ext4 -m). statfs then shows
  // (almost) nothing available while blocks stay free; not exactly nothing, because ext4's delayed allocation
  // reserves blocks for the pages being written and gives the unused ones back at writeback, right after.
  if (e.uid != 0 && s.avail_bytes() <= slack && s.reserved_bytes() > s.avail_bytes()) {
    Cause c = make(CauseId::FsReservedBlocks,
                   opening(e) + ": " + fsdesc + " has " + format_bytes(s.free_bytes()) + " free, but " +
                       format_bytes(s.reserved_bytes()) + " of it is reserved for root; uid " + std::to_string(e.uid) +
                       " may use only " + format_bytes(s.avail_bytes()) + end,
                   "Free space, or lower the root reserve (tune2fs -m 1 " + fs->source + ").", confidence);
    c.evidence = ev;
    return c;
  }
  // fallocate is all or nothing: a request larger than what is available fails with room left. So is a
  // buffered write on a filesystem that reserves the whole range before copying (XFS's delayed allocation, with
  // the blocks it keeps aside), where ext4 would write part of it. (The numbers are statfs's, read when the
  // event is explained.)
  auto asked = requested_bytes(e);
  if (asked && s.avail_bytes() > slack && *asked > s.avail_bytes()) {
    Cause c = make(CauseId::FsBlocks,
                   opening(e) + ": " + fsdesc + " has " + format_bytes(s.avail_bytes()) + " available of " +
                       format_bytes(s.total_bytes()) + ", less than the " + format_bytes(*asked) +
                       " the call asked for" + end,
                   "Free space on " + fs->mount_point + " or ask for less.", confidence);
    c.evidence = ev;
    c.evidence.bytes_requested = asked;
    return c;
  }
  if (s.avail_bytes() <= slack) {
    Cause c = make(CauseId::FsBlocks,
                   opening(e) + ": " + fsdesc + " is full: " + format_bytes(s.avail_bytes()) + " available of " +
                       format_bytes(s.total_bytes()) + end,
                   "Free space on " + fs->mount_point +
                       "; deleted-but-open files keep their space until closed (enospcctl doctor lists them).",
                   confidence);
    c.evidence = ev;
    return c;
  }
  return std::nullopt;
}

// SysV IPC and POSIX message queues. The limits belong to the task's IPC namespace and BPF read them, with what
// they are compared with, at the failure; the daemon's own sysctls describe only its namespace. Which limit
// refused follows ipc/sem.c newary(), ipc/shm.c newseg(), ipc/util.c ipc_addid() and ipc/mqueue.c
// mqueue_create_attr().
Cause ipc_rule(const Event& e, const context::Sysctls& sc) {
  auto n = [](int64_t v) { return grouped(static_cast<uint64_t>(std::max<int64_t>(0, v))); };
  std::string where = e.ipc ? " in IPC namespace " + std::to_string(e.ipc->inum) : "";
  std::optional<IpcNumbers> numbers;
  if (e.ipc) {
    const auto& i = *e.ipc;
    numbers = IpcNumbers{i.inum,    i.shm_ctlmni, i.msg_ctlmni, i.mq_queues_max, i.sem_ctlmni, i.sem_semmns, i.sem_ids,
                         i.msg_ids, i.shm_ids,    i.sem_used,   i.shm_tot,       i.shm_ctlall, i.mq_queues_count};
  }
  auto sysv = [&](std::string limit, std::string what) {
    Cause c = make(CauseId::SysvIpc, call(e) + " by " + who(e) + " failed: " + what + where + ".",
                   "Remove stale IPC objects (ipcs; ipcrm) or raise " + limit + ".", e.ipc ? Confidence::High : Confidence::Medium);
    c.evidence.detail = IpcEvidence{std::move(limit), numbers};
    return c;
  };
  if (e.syscall == "mq_open") {
    std::string what = e.ipc ? "fs.mqueue.queues_max is " + n(e.ipc->mq_queues_max) + " and " +
                                   n(e.ipc->mq_queues_count) + " queues exist"
                     : "fs.mqueue.queues_max is " + (sc.mqueue_queues_max ? grouped(*sc.mqueue_queues_max)
                                                                            : std::string("unknown"));
    Cause c = make(CauseId::Mqueue, opening(e) + ": " + what + where + ".",
                   "Unlink unused queues (ls /dev/mqueue) or raise fs.mqueue.queues_max.", e.ipc ? Confidence::High : Confidence::Medium);
    c.evidence.detail = IpcEvidence{"fs.mqueue.queues_max", numbers};
    return c;
  }
  if (!e.ipc) {
    std::string limit = e.syscall == "shmget" ? "kernel.shmmni or kernel.shmall"
                        : e.syscall == "msgget" ? "kernel.msgmni"
                                                : "kernel.sem (SEMMNI or SEMMNS)";
    return sysv(limit, "a limit of " + limit + " is reached");
  }
  const auto& i = *e.ipc;
  if (e.syscall == "semget") {
    // newary(): the set's semaphores must fit under SEMMNS before its id is taken against SEMMNI.
    uint64_t nsems = e.args_valid ? static_cast<uint32_t>(e.args[1]) : 0;
    bool semmns = e.args_valid ? static_cast<uint64_t>(std::max(0, i.sem_used)) + nsems >
                                     static_cast<uint64_t>(std::max(0, i.sem_semmns))
                               : i.sem_ids < static_cast<uint32_t>(std::max(0, i.sem_ctlmni));
    if (semmns)
      return sysv("SEMMNS (the second field of kernel.sem)",
                  "SEMMNS (kernel.sem) is " + n(i.sem_semmns) + " semaphores, " + n(i.sem_used) + " are in use" +
                      (e.args_valid ? " and the set asked for " + grouped(nsems) : std::string()));
    return sysv("SEMMNI (the fourth field of kernel.sem)",
                "SEMMNI (kernel.sem) is " + n(i.sem_ctlmni) + " semaphore sets and " + grouped(i.sem_ids) + " exist");
  }
  if (e.syscall == "shmget") {
    // newseg(): the segment's pages must fit under SHMALL before its id is taken against SHMMNI.
    uint64_t pages = e.args_valid ? (e.args[1] + 4095) / 4096 : 0;
    bool shmall = e.args_valid ? i.shm_tot + pages > i.shm_ctlall || i.shm_tot + pages < i.shm_tot
                               : i.shm_ids < static_cast<uint32_t>(std::max(0, i.shm_ctlmni));
    if (shmall)
      return sysv("kernel.shmall", "kernel.shmall is " + grouped(i.shm_ctlall) + " pages, " + grouped(i.shm_tot) +
                                       " are in use" +
                                       (e.args_valid ? " and the segment asked for " + grouped(pages) : std::string()));
    return sysv("kernel.shmmni",
                "kernel.shmmni is " + n(i.shm_ctlmni) + " segments and " + grouped(i.shm_ids) + " exist");
  }
  return sysv("kernel.msgmni", "kernel.msgmni is " + grouped(i.msg_ctlmni) + " queues and " + grouped(i.msg_ids) +
                                   " exist");
}

constexpr uint32_t kDevptsMagic = DEVPTS_SUPER_MAGIC;
constexpr uint64_t kPtyInstanceMaxDefault = 1 << 20;  // NR_UNIX98_PTY_MAX: a devpts mounted without max=

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Opening a pty multiplexer (/dev/ptmx, or a devpts instance's own ptmx) that failed for want of a pty index.
bool opens_ptmx(const Event& e) {
  if (e.syscall != "open" && e.syscall != "openat" && e.syscall != "openat2") return false;
  auto slash = e.path.find_last_of('/');
  return (slash == std::string::npos ? e.path : e.path.substr(slash + 1)) == "ptmx";
}

// devpts_new_index() (fs/devpts/inode.c) refuses a new pty with ENOSPC in two ways: the host's count would
// reach kernel.pty.max (less kernel.pty.reserve for a devpts mounted outside the initial mount namespace), or
// the instance has handed out all the indices its max= allows. The kernel keeps neither count where BPF can
// read it at the failure, so both are read when the event is explained, and said to be.
Cause pty_rule(const Event& e, HostFacts& facts) {
  const auto& sc = facts.sysctls();
  // The instance: the devpts the path is on (a bind mount of pts/ptmx, or the instance's own ptmx), or the one
  // on "pts" beside a ptmx device node, which is where the kernel looks (devpts_ptmx_path()).
  std::optional<PathFs> inst = path_fs(e, facts);
  std::vector<std::string> dirs;
  if (inst && inst->stats.magic == kDevptsMagic) {
    dirs.push_back(inst->mount_point);
  } else {
    Event beside = e;
    beside.path = parent_dir(e.path) + "/pts";
    inst = path_fs(beside, facts);
    if (inst && inst->stats.magic != kDevptsMagic) inst.reset();
  }
  dirs.push_back(parent_dir(e.path) + "/pts");
  std::optional<uint64_t> in_use;
  std::string dir;
  auto viewer = inst ? facts.pid_in_mntns(e.pid, e.ppid, e.has_mntns ? e.mntns : 0) : std::nullopt;
  if (viewer) {
    for (const auto& d : dirs) {
      in_use = facts.ptys_in_use(*viewer, d);
      if (in_use) {
        dir = d;
        break;
      }
    }
  }
  std::optional<uint64_t> inst_max;
  if (inst) {
    std::string v = option_value(inst->super_options, "max");
    uint64_t n = 0;
    if (!v.empty() && context::parse_u64(v, n)) inst_max = n;
  }
  std::string where = inst ? "the devpts at " + (dir.empty() ? inst->mount_point : dir) : "the devpts";
  // The host's count and limits: BPF's, as devpts_new_index() compared them at the failure, or the sysctls now.
  struct HostPtys {
    uint64_t nr = 0, max = 0, reserve = 0;
    bool at_failure = false;
  };
  std::optional<HostPtys> host;
  if (e.pty) host = HostPtys{e.pty->nr, e.pty->max, e.pty->reserve, true};
  else if (sc.pty_max && sc.pty_nr) host = HostPtys{*sc.pty_nr, *sc.pty_max, sc.pty_reserve.value_or(0), false};
  Evidence ev;
  PtyEvidence p{sc.pty_max, sc.pty_reserve, sc.pty_nr, inst_max, in_use, std::nullopt, std::nullopt};
  if (e.pty) p.at_failure = PtyAtFailure{e.pty->nr, e.pty->max, e.pty->reserve};
  if (inst) ev.fs = mount_point_of(*inst), p.options = inst->super_options;
  ev.detail = std::move(p);
  const std::string after = std::string(kReadAfter) + ".";
  const std::string remedy_inst = "Close ptys that are no longer used, or remount that devpts with a larger max= (mount -o "
                                  "remount,max=N " + (dir.empty() ? std::string("/dev/pts") : dir) + ").";
  const std::string remedy_host = "Raise kernel.pty.max (sysctl -w kernel.pty.max=N), or find who holds the ptys (ls "
                                  "/dev/pts; lsof /dev/pts/*).";
  // The host's limit: the count may not reach it (atomic_inc_return(&pty_count) >= limit fails); a devpts mounted
  // outside the initial mount namespace (without the reserve option) may not take the last kernel.pty.reserve.
  auto host_refused = [&](const HostPtys& h) -> std::optional<Cause> {
    uint64_t outside = h.max > h.reserve ? h.max - h.reserve : 0;
    if (h.nr + 1 < outside) return std::nullopt;
    bool all = h.nr + 1 >= h.max;
    std::string open = h.at_failure ? " ptys were open on the host at the failure"
                                    : " ptys are open on the host (kernel.pty.nr, read after the failure)";
    Cause c = make(CauseId::Pty,
                   opening(e) + ": kernel.pty.max is " + grouped(h.max) + " and " + grouped(h.nr) + open +
                       (all ? "" : "; a devpts mounted outside the initial mount namespace may use " + grouped(outside) +
                                       " of them (kernel.pty.reserve is " + grouped(h.reserve) + ")") + ".",
                   remedy_host, Confidence::High);
    c.evidence = ev;
    return c;
  };
  // 1. The host's, reached at the failure: the kernel checks it before the instance's.
  if (host && host->at_failure)
    if (auto c = host_refused(*host)) return *c;
  // 2. The instance's own limit, reached.
  if (inst_max && in_use && *in_use >= *inst_max) {
    Cause c = make(CauseId::Pty, opening(e) + ": " + where + " allows " + grouped(*inst_max) + " ptys (max=" +
                              std::to_string(*inst_max) + ") and " + grouped(*in_use) + " are in use" + after,
                   remedy_inst, Confidence::High);
    c.evidence = ev;
    return c;
  }
  // 3. The host's, reached now.
  if (host && !host->at_failure)
    if (auto c = host_refused(*host)) return *c;
  // 4. Neither is reached now: the ptys were closed since (the process that held them exited). With the host's
  //    numbers of the failure, the instance is the one that refused; without, its own small limit is the likely
  //    one.
  std::string now = in_use ? grouped(*in_use) + " are in use there now" : "how many are in use there is unknown";
  std::string state =
      !host              ? now
      : host->at_failure ? "the host had " + grouped(host->nr) + " of its " + grouped(host->max) +
                               " ptys (kernel.pty.max) open at the failure; " + now
                         : now + "; kernel.pty.max is " + grouped(host->max) + " with " + grouped(host->nr) +
                               " open on the host";
  std::string summary =
      inst_max ? opening(e) + ": no pty index was free: " + where + " allows only " + grouped(*inst_max) +
                     " ptys (max=" + std::to_string(*inst_max) + "); " + state + after
               : opening(e) + ": no pty index was free: " + where + " allows " + grouped(kPtyInstanceMaxDefault) +
                     " ptys; " + state + after;
  Cause c = make(CauseId::Pty, summary, inst_max || (host && host->at_failure) ? remedy_inst : remedy_host,
                 host && host->at_failure ? Confidence::High : Confidence::Medium);
  c.evidence = ev;
  return c;
}

// A per-user-namespace count at its limit (kernel/ucount.c inc_ucount()), with the numbers BPF read at the
// failure at each level: the namespace the call was charged in, then its ancestors. In the initial namespace
// the inotify and fanotify limits are fs.inotify.max_user_watches and fs.fanotify.max_user_marks (the same values
// as its user.max_inotify_watches and user.max_fanotify_marks).
Cause ucount_rule(const Event& e, const Ucounts& u) {
  const std::optional<size_t> refusing = u.refusing();
  const UcountLevel& l = u.levels[refusing.value_or(0)];
  const bool inotify = u.kind == UcountKind::InotifyWatches;
  const bool fanotify = u.kind == UcountKind::FanotifyMarks;
  const bool notify = inotify || fanotify;
  std::string kind = ucount_kind_name(u.kind);
  std::string type = kind.substr(0, kind.find('_'));
  std::string what = inotify    ? "watches"
                     : fanotify ? "marks"
                                : (type == "mnt" ? "mount" : type == "net" ? "network" : type) + " namespaces";
  std::string host_limit = inotify ? "fs.inotify.max_user_watches" : "fs.fanotify.max_user_marks";
  std::string limit = notify && l.initial ? host_limit : ucount_sysctl(u.kind);
  std::string where = l.initial ? "" : " in user namespace " + std::to_string(l.userns);
  std::string held = l.count ? grouped(static_cast<uint64_t>(std::max<int64_t>(0, *l.count)))
                             : std::string("an unknown number of");
  std::string summary = opening(e) + ": " + limit + " is " +
                        grouped(static_cast<uint64_t>(std::max<int64_t>(0, l.max))) + where + " and uid " +
                        std::to_string(l.uid) + (notify ? " holds " : " has ") + held + " " + what +
                        (where.empty() ? "" : " there");
  if (refusing && *refusing > 0) {
    const UcountLevel& charged = u.levels[0];
    summary += ", counting those of the user namespaces it owns; the call was charged to uid " +
               std::to_string(charged.uid) + " in user namespace " + std::to_string(charged.userns);
  }
  if (!refusing) summary += "; no level was at its limit when read at the failure";
  summary += ".";
  const std::string holder = inotify ? "watcher" : "agent";
  std::string remedy =
      notify ? (l.initial ? "Raise " + host_limit + ", or find the " + holder + ": enospcctl doctor lists the top holders."
                          : "Raise " + ucount_sysctl(u.kind) + " in user namespace " + std::to_string(l.userns) +
                                " (its owner can write /proc/sys/user/max_" + kind + " there), or find the " + holder +
                                ".")
             : "Raise " + limit + (l.initial ? "" : " in user namespace " + std::to_string(l.userns)) +
                   ", or find who creates " + what + " without releasing them.";
  if (fanotify) remedy += " Mount or filesystem marks, instead of one per inode, need fewer.";
  Cause c = make(inotify ? CauseId::InotifyWatches : fanotify ? CauseId::FanotifyMarks : CauseId::NamespaceLimit, summary, remedy,
                 refusing ? Confidence::High : Confidence::Medium);
  c.evidence.detail = UcountEvidence{limit, l.userns, l.uid, l.max, l.count, u};
  return c;
}

std::string number_or_unknown(const std::optional<uint64_t>& v) { return v ? grouped(*v) : std::string("unknown"); }

// The rules a failure is offered to when no origin in its chain decided, in this order: the first that applies
// to the failure and explains it gives the cause.

bool is_mount_call(const Event& e) { return kMountSyscalls.count(e.syscall) > 0; }

std::optional<Cause> mount_rule(const Event& e, HostFacts& facts, Confidence) {
  std::optional<uint64_t> max = mount_limit(e, facts);
  if (!e.has_mntns || !max) return std::nullopt;
  return mount_max(e, facts, e.mnt_count + e.mnt_pending + 1 > *max ? Confidence::High : Confidence::Medium);
}

bool is_namespace_call(const Event& e) { return kNsSyscalls.count(e.syscall) > 0; }

std::optional<Cause> namespace_rule(const Event& e, HostFacts& facts, Confidence confidence) {
  if (e.ucounts && e.ucounts->kind != UcountKind::InotifyWatches && e.ucounts->kind != UcountKind::FanotifyMarks &&
      !e.ucounts->levels.empty())
    return ucount_rule(e, *e.ucounts);
  NamespaceEvidence ns;
  for (const auto& [k, v] : facts.sysctls().max_namespaces) ns.limits[k] = v;
  // CLONE_NEWNS in the flags (unshare arg 0, clone arg 0): the limit is user.max_mnt_namespaces of the
  // task's user namespace, as BPF read it at failure time.
  constexpr uint64_t kCloneNewns = 0x00020000;
  bool newns = e.args_valid && (e.syscall == "unshare" || e.syscall == "clone") && (e.args[0] & kCloneNewns);
  std::string what = "a namespace limit (user.max_*_namespaces) is reached";
  if (newns && e.userns_max_mnt)
    what = "user.max_mnt_namespaces is " + grouped(static_cast<uint64_t>(std::max<int64_t>(0, *e.userns_max_mnt))) +
           " in user namespace " + std::to_string(e.userns.value_or(0));
  Cause c = make(CauseId::NamespaceLimit, call(e) + " by " + who(e) + " failed: " + what + ".",
                 "Raise the user.max_<type>_namespaces sysctl (in that user namespace), or find who creates "
                 "namespaces without releasing them.",
                 confidence == Confidence::High || newns ? Confidence::High : Confidence::Medium);
  if (e.userns) ns.userns = UsernsLimit{*e.userns, e.userns_max_mnt};
  c.evidence.detail = std::move(ns);
  return c;
}

bool is_inotify_call(const Event& e) {
  return e.syscall == "inotify_add_watch" || e.syscall == "inotify_init" || e.syscall == "inotify_init1";
}

std::optional<Cause> inotify_rule(const Event& e, HostFacts& facts, Confidence) {
  if (e.syscall == "inotify_add_watch" && e.ucounts && e.ucounts->kind == UcountKind::InotifyWatches &&
      !e.ucounts->levels.empty())
    return ucount_rule(e, *e.ucounts);
  // Without the count read at the failure (a kernel whose BTF lacks it): the host's limit and the watches
  // the uid holds now, which the failing process may no longer hold.
  const auto& sc = facts.sysctls();
  auto held = facts.inotify_watches_of_uid(e.uid);
  Cause c = make(CauseId::InotifyWatches,
                 opening(e) + ": fs.inotify.max_user_watches is " + number_or_unknown(sc.inotify_max_user_watches) +
                     " and uid " + std::to_string(e.uid) + " holds " +
                     (held ? grouped(*held) : std::string("an unknown number of")) + " watches" +
                     std::string(kReadAfter) + ".",
                 "Raise fs.inotify.max_user_watches, or find the watcher: enospcctl doctor lists the top holders.",
                 Confidence::Medium);
  c.evidence.detail = InotifyHeldEvidence{sc.inotify_max_user_watches, e.uid, held};
  return c;
}

bool is_fanotify_call(const Event& e) { return e.syscall == "fanotify_mark"; }

std::optional<Cause> fanotify_rule(const Event& e, HostFacts& facts, Confidence) {
  if (e.ucounts && e.ucounts->kind == UcountKind::FanotifyMarks && !e.ucounts->levels.empty())
    return ucount_rule(e, *e.ucounts);
  // Without the count read at the failure (before v5.13 the limit was the group's, not the user's): the
  // host's limit and the marks the uid holds now.
  const auto& sc = facts.sysctls();
  auto held = facts.fanotify_marks_of_uid(e.uid);
  Cause c = make(CauseId::FanotifyMarks,
                 opening(e) + ": fs.fanotify.max_user_marks is " + number_or_unknown(sc.fanotify_max_user_marks) +
                     " and uid " + std::to_string(e.uid) + " holds " +
                     (held ? grouped(*held) : std::string("an unknown number of")) + " marks.",
                 "Raise fs.fanotify.max_user_marks, or have the agent use mount or filesystem marks instead of one "
                 "per inode: enospcctl doctor lists the top holders.",
                 Confidence::High);
  c.evidence.detail = FanotifyHeldEvidence{sc.fanotify_max_user_marks, e.uid, held};
  return c;
}

bool is_epoll_call(const Event& e) { return e.syscall == "epoll_ctl"; }

// ep_insert() refuses a watch once the user who made the epoll instance holds fs.epoll.max_user_watches of them
// (all of that user's instances together). BPF reads that user's count at the failure, and the limit where the
// kernel lists its data symbols; otherwise the limit is the sysctl read after.
std::optional<Cause> epoll_rule(const Event& e, HostFacts& facts, Confidence) {
  const auto& sc = facts.sysctls();
  const std::optional<int64_t> then = e.epoll ? e.epoll->max : std::nullopt;
  std::string summary = call(e) + " by " + who(e) + " failed: fs.epoll.max_user_watches ";
  summary += then ? "was " + grouped(static_cast<uint64_t>(std::max<int64_t>(0, *then)))
                  : "is " + number_or_unknown(sc.epoll_max_user_watches) + std::string(kReadAfter);
  if (e.epoll) {
    const uint64_t held = static_cast<uint64_t>(std::max<int64_t>(0, e.epoll->watches));
    summary += std::string(then ? " and" : ", and") + " uid " + std::to_string(e.epoll->uid) + " held " + grouped(held) +
               " epoll watches at the failure" +
               (e.epoll->exact ? "" : " (the count folded so far, short by up to a batch per CPU)");
    if (!then && sc.epoll_max_user_watches && held < *sc.epoll_max_user_watches && e.epoll->exact)
      summary += ": the limit was lower then";
  }
  Cause c = make(CauseId::EpollWatches, summary + ".",
                 "Raise fs.epoll.max_user_watches or find the process leaking epoll registrations (the watches of "
                 "every epoll instance the user made count).",
                 Confidence::High);
  EpollEvidence ep{sc.epoll_max_user_watches, std::nullopt};
  if (e.epoll) ep.at_failure = EpollAtFailure{e.epoll->uid, e.epoll->watches, e.epoll->exact, then};
  c.evidence.detail = std::move(ep);
  return c;
}

bool is_ipc_call(const Event& e) { return kIpcSyscalls.count(e.syscall) > 0 || e.syscall == "mq_open"; }

bool is_bpf_call(const Event& e) { return e.syscall == "bpf"; }

// bpf(2) refuses with ENOSPC for room of its own, never a filesystem's: a program or BTF load whose verifier
// log did not fit the buffer the caller gave (kernel/bpf/log.c: the load fails when the log is truncated), a
// map update on a map at max_entries that says so with ENOSPC (an LPM trie, kernel/bpf/lpm_trie.c), a test run
// whose output did not fit (BPF_PROG_TEST_RUN). The command is the first argument.
std::optional<Cause> bpf_rule(const Event& e, HostFacts&, Confidence) {
  static const char* const kCommands[] = {
      "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
      "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH",
      "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID",
      "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD",
      "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE",
      "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH",
      "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID",
      "BPF_ENABLE_STATS", "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE"};
  constexpr uint64_t kProgLoad = 5, kTestRun = 10, kBtfLoad = 18, kUpdate = 2, kUpdateBatch = 26;
  std::optional<uint64_t> cmd = e.args_valid ? std::optional<uint64_t>(e.args[0]) : std::nullopt;
  std::string name = !cmd ? "bpf" : *cmd < std::size(kCommands) ? kCommands[*cmd] : "command " + std::to_string(*cmd);
  std::string what, remedy;
  Confidence confidence = Confidence::High;
  if (cmd == kProgLoad || cmd == kBtfLoad) {
    what = std::string(cmd == kProgLoad ? "the verifier's log" : "the BTF check's log") +
           " did not fit the buffer the caller gave (log_size), and a truncated log fails the load; the " +
           (cmd == kProgLoad ? "program" : "BTF") + " itself may be valid";
    remedy = "Give the load a larger log buffer (log_size, up to UINT32_MAX >> 2), or load with log_level 0 and ask "
             "for the log only when the load fails.";
  } else if (cmd == kUpdate || cmd == kUpdateBatch) {
    what = "the map is full: it holds max_entries elements and its kind refuses a new key with ENOSPC (an LPM "
           "trie does)";
    remedy = "Delete stale entries or create the map with a larger max_entries (bpftool map show lists it).";
  } else if (cmd == kTestRun) {
    what = "the program's output did not fit the buffer the caller gave (data_size_out or ctx_size_out)";
    remedy = "Give the test run larger output buffers.";
  } else {
    what = "the BPF subsystem refused it for room of its own";
    remedy = "See the event's kernel chain for the function that refused.";
    confidence = Confidence::Medium;
  }
  Cause c = make(CauseId::Bpf, call(e) + " " + name + " by " + who(e) + " failed with " + e.errno_name + ": " + what +
                                   "; no filesystem is involved.",
                 remedy, confidence);
  c.evidence.detail = BpfEvidence{name, cmd};
  return c;
}

bool is_xattr_call(const Event& e) { return kXattrSyscalls.count(e.syscall) > 0; }

std::optional<Cause> xattr_rule(const Event& e, HostFacts& facts, Confidence confidence) {
  // tmpfs (v6.6 and later) takes a user xattr's size from the space of its nr_inodes (1 KiB an inode, what df -i
  // shows free): the numbers of the fd's superblock at the failure, or of the path's filesystem read later.
  const bool at_failure = e.file && e.file->magic == kTmpfsMagic && e.file->shmem_max_inodes;
  std::optional<PathFs> fs = target_fs(e, facts);
  if (fs && fs->stats.magic != kTmpfsMagic) fs.reset();
  if (at_failure || fs) {
    const TmpfsInodeCount n = tmpfs_inode_count(e, fs, at_failure);
    const uint64_t total = n.total, free = n.free;
    std::string asked = e.args_valid ? ", and the call asked for " + format_bytes(e.args[3]) + " of value" : "";
    Cause c = make(CauseId::XattrSpace,
                   opening(e) + ": the tmpfs" + (fs ? " at " + fs->mount_point : std::string()) + " has room for " +
                       grouped(free) + " more of its " + grouped(total) + " inodes" + n.option_text() +
                       ", from which user xattrs take their size (1 KiB an inode)" + asked +
                       (at_failure ? "." : std::string(kReadAfter) + "."),
                   "Remount with a larger nr_inodes (mount -o remount,nr_inodes=N" +
                       (fs ? " " + fs->mount_point : std::string()) + ") or store smaller xattrs.",
                   at_failure ? Confidence::High : Confidence::Medium);
    c.evidence.detail = XattrEvidence{total, free, at_failure};
    if (fs) c.evidence.fs = mount_point_of(*fs);
    return c;
  }
  return make(CauseId::XattrSpace,
              opening(e) + ": no room for the extended attribute (the inode's xattr space or block is full).",
              "Store less in xattrs, or use a filesystem with larger inodes (mkfs.ext4 -I 512).",
              confidence == Confidence::High ? Confidence::High : Confidence::Medium);
}

// A write to a file of a cgroup v1 hierarchy (CGROUP_SUPER_MAGIC). There only the cpuset controller refuses
// with ENOSPC: a task attached (tasks, cgroup.procs) to a cpuset without CPUs or memory nodes
// (cpuset_can_attach()), or a cpuset that has tasks left without them (cpuset.cpus, cpuset.mems).
bool on_a_cgroup_v1_file(const Event& e) {
  return e.file && e.file->role == FileRole::Fd && e.file->magic == CGROUP_SUPER_MAGIC && kWriteSyscalls.count(e.syscall);
}

std::optional<Cause> cpuset_rule(const Event& e, HostFacts& facts, Confidence) {
  const std::string& file = e.file->name;
  const bool attach = file == "tasks" || file == "cgroup.procs";
  if (!attach && file != "cpuset.cpus" && file != "cpuset.mems") return std::nullopt;
  std::optional<CpusetState> now;
  if (e.args_valid) now = facts.cpuset_of_fd(e.pid, e.args[0]);
  const std::string dir = now ? " " + now->dir : std::string();
  std::string summary = opening(e) + ": ";
  std::string remedy;
  Confidence confidence = Confidence::High;
  auto state = [](const std::string& v) { return v.empty() ? std::string("empty") : v; };
  if (attach) {
    summary += "a task cannot be attached to the cgroup v1 cpuset" + dir +
               " while its cpuset.cpus or cpuset.mems is empty, which cgroup v1 refuses with ENOSPC";
    if (now && (now->cpus.empty() || now->mems.empty())) {
      summary += "; cpuset.cpus is " + state(now->cpus) + " and cpuset.mems is " + state(now->mems) +
                 std::string(kReadAfter);
    } else if (now) {
      summary += "; cpuset.cpus is " + now->cpus + " and cpuset.mems is " + now->mems + " now" +
                 std::string(kReadAfter) + ": they were set since";
      confidence = Confidence::Medium;
    } else {
      summary += "; the cpuset could not be read (the process or its file is gone)";
    }
    const std::string d = now ? now->dir : std::string("DIR");
    remedy = "Give the cpuset CPUs and memory nodes before attaching tasks (echo 0-N > " + d + "/cpuset.cpus; echo 0 > " +
             d + "/cpuset.mems), or set cgroup.clone_children to 1 in its parent so that new cpusets copy the parent's.";
  } else {
    const std::string what = file == "cpuset.cpus" ? "CPUs" : "memory nodes";
    summary += "the cgroup v1 cpuset" + dir + " has tasks, and a cpuset with tasks cannot be left without " + what +
               " (the value written to " + file + " is empty), which cgroup v1 refuses with ENOSPC";
    if (now) summary += "; " + file + " is " + state(file == "cpuset.cpus" ? now->cpus : now->mems) + std::string(kReadAfter);
    remedy = "Move the cpuset's tasks to another cpuset first, or write a list that is not empty.";
  }
  Cause c = make(CauseId::Cpuset, summary + ".", remedy, confidence);
  CpusetEvidence ev{file, e.file->mount_name, std::nullopt, std::nullopt, std::nullopt};
  if (now) ev.cpuset = now->dir, ev.cpus = now->cpus, ev.mems = now->mems;
  c.evidence.detail = std::move(ev);
  return c;
}

// The memory controller gives every memory cgroup an id of 16 bits (MEM_CGROUP_ID_MAX, include/linux/
// memcontrol.h): once all are taken, a new cgroup is refused with ENOSPC (mem_cgroup_alloc(); Debian's 6.12, which
// keeps the ids in an xarray, refuses with EBUSY), whatever the hierarchy's own cgroup.max.descendants (which
// refuses with EAGAIN). The ids are held by the memory cgroups that exist, the root's too; a removed (dying)
// cgroup gives its id back when it goes offline, unless swapped-out memory is still charged to it. BPF read the
// hierarchy's live and dying cgroups at the failure.
constexpr uint64_t kMemcgIds = 65535;

bool makes_a_directory(const Event& e) { return e.syscall == "mkdir" || e.syscall == "mkdirat"; }

std::optional<Cause> cgroup_rule(const Event& e, HostFacts& facts, Confidence confidence) {
  // In a cgroup filesystem: the chain's origin says so, or the directory BPF described at the failure, or else
  // the path's filesystem now.
  const bool origin_says = std::any_of(e.chain.begin(), e.chain.end(), [](const ChainLink& l) {
    return origin_cause(l.func) == CauseId::CgroupIds;
  });
  std::optional<PathFs> fs;
  if (!origin_says && !(e.file && is_cgroup_magic(e.file->magic))) {
    fs = path_fs(e, facts);
    if (!fs || !is_cgroup_magic(fs->stats.magic)) return std::nullopt;
  }
  std::string summary = opening(e) + ": the memory controller had no id left for a new cgroup: it gives out at most " +
                        grouped(kMemcgIds) + ", one for each memory cgroup, the root's too";
  Confidence conf = confidence == Confidence::High ? Confidence::High : Confidence::Medium;
  CgroupIdsEvidence ev{kMemcgIds, std::nullopt};
  if (e.memcg) {
    const auto& m = *e.memcg;
    const uint64_t live = static_cast<uint64_t>(std::max(0, m.descendants));
    const uint64_t dying = static_cast<uint64_t>(std::max(0, m.dying));
    ev.at_failure = MemcgAtFailure{m.hierarchy, m.descendants, m.dying};
    const std::string hierarchy =
        m.hierarchy == 0 ? std::string("cgroup v2") : "cgroup v1 hierarchy " + std::to_string(m.hierarchy);
    summary += "; its hierarchy (" + hierarchy + ") held " + grouped(live) + " cgroups below its root at the failure";
    // Within one of the ids (5.10's allocator stops one short): the live cgroups hold them. Short of that, dying
    // cgroups may hold the rest, and only while swapped-out memory is charged to them; otherwise the ids did not
    // run out and another of the cgroup's controllers refused it.
    const uint64_t held = live + 1;
    if (held + 1 >= kMemcgIds) {
      if (dying == 1) summary += ", and 1 dying one, which gave its id back";
      if (dying > 1) summary += ", and " + grouped(dying) + " dying ones, which gave their ids back";
      conf = Confidence::High;
    } else if (held + dying + 1 >= kMemcgIds) {
      summary += ", and " + grouped(dying) + " dying ones: the other " + grouped(kMemcgIds - held) +
                 " ids are theirs, kept while swapped-out memory is charged to them";
    } else {
      summary += " (and " + grouped(dying) + " dying): fewer than the ids, so another of the cgroup's controllers "
                 "refused it";
      conf = Confidence::Low;
    }
  }
  Cause c = make(CauseId::CgroupIds, summary + ".",
                 "Remove the cgroups that are no longer used (systemd-cgls lists them; a runtime or job runner that "
                 "never removes its cgroups leaks them), or create the new cgroup where its parent does not enable "
                 "the memory controller.",
                 conf);
  if (fs) c.evidence.fs = mount_point_of(*fs);
  c.evidence.detail = ev;
  return c;
}

bool on_a_device(const Event& e) {
  return e.file && e.file->role == FileRole::Fd && (S_ISCHR(e.file->mode) || S_ISBLK(e.file->mode));
}

// A device refused: its driver, not the filesystem that holds its node (devtmpfs for /dev/full).
std::optional<Cause> device_rule(const Event& e, HostFacts&, Confidence) {
  bool chr = S_ISCHR(e.file->mode);
  std::string rdev = dev_text(e.file->rdev);
  std::string name = e.path.empty() ? e.file->name : e.path;
  Cause c = make(CauseId::Device,
                 call(e) + " of " + (chr ? "the character device " : "the block device ") + name + " (" + rdev +
                     ") by " + who(e) + " failed: the device's driver refused it with " + e.errno_name +
                     (chr ? "" : " (a write past the end of the device, or a thin-provisioned device out of space)") +
                     "; no filesystem is involved.",
                 chr ? "Write to a file or another device: this device refuses the write itself (/dev/full "
                       "refuses every write)."
                     : "Check the device's size and its backing storage (lsblk; dmsetup status for thin pools).",
                 Confidence::High);
  c.evidence.detail = DeviceEvidence{chr ? "char" : "block", rdev, e.file->name};
  return c;
}

bool is_writeback_call(const Event& e) { return kWritebackSyscalls.count(e.syscall) > 0; }

std::optional<Cause> writeback_rule(const Event& e, HostFacts& facts, Confidence) {
  std::optional<PathFs> fs;
  if (e.file) fs = facts.fs_for_dev(e.pid, e.file->dev, e.file->mount_name);
  Cause c = make(CauseId::WritebackError,
                 call(e) + " by " + who(e) +
                     " failed with ENOSPC: earlier writes were accepted into the page cache but could not be "
                     "written back" + (fs ? " to " + fs->fstype + " at " + fs->mount_point : std::string()) + ".",
                 "Data written since the last successful fsync may be lost: free space, then have the application "
                 "rewrite it.",
                 Confidence::Medium);
  if (fs) c.evidence.fs = with_statfs(*fs);
  return c;
}

// btrfs keeps file data and metadata (inodes, directory entries, small files inline, checksums) in chunks of
// their own. Once every byte of its devices is in a chunk, metadata that fills its chunks refuses a new inode
// or extent with ENOSPC while the data chunks, which statfs and df show, still have room.
std::optional<Cause> btrfs_metadata_rule(const Event& e, HostFacts& facts, const std::optional<PathFs>& fs) {
  if (!fs || fs->fstype != "btrfs") return std::nullopt;
  auto space = facts.btrfs_space(*fs);
  if (!space || space->metadata_total == 0) return std::nullopt;
  // Full: a change reserves room for every tree level it may touch (16 KiB nodes, up to 8 levels, per item) in
  // advance, so metadata is refused with a fair part of its chunks still free: less than a quarter left counts.
  // No chunk can be added (less than 16 MiB of the devices unallocated), and data has room.
  constexpr uint64_t kNoNewChunk = 16 << 20, kDataRoom = 16 << 20;
  const uint64_t meta_free = space->metadata_total > space->metadata_used ? space->metadata_total - space->metadata_used : 0;
  const uint64_t data_free = space->data_total > space->data_used ? space->data_total - space->data_used : 0;
  if (meta_free * 4 > space->metadata_total || space->unallocated >= kNoNewChunk || data_free < kDataRoom)
    return std::nullopt;
  Cause c = make(CauseId::FsBlocks,
                 opening(e) + ": btrfs " + fs->source + " at " + fs->mount_point + " has no room for metadata: " +
                     format_bytes(space->metadata_used) + " of its " + format_bytes(space->metadata_total) +
                     " of metadata chunks used or held for changes in flight, and " + format_bytes(space->unallocated) +
                     " of its devices left for new chunks, while its data chunks have " + format_bytes(data_free) +
                     " free" + std::string(kReadAfter) + ".",
                 "Free metadata (delete files, snapshots) or add a device; btrfs balance -dusage=0 -dusage=10 " +
                     fs->mount_point + " gives nearly empty data chunks back for metadata to use.",
                 Confidence::Medium);
  c.evidence.fs = fs_ref(*fs);
  c.evidence.detail = BtrfsEvidence{{space->metadata_total, space->metadata_used, space->data_total, space->data_used,
                                     space->unallocated}};
  return c;
}

// XFS reports a project quota's hard limit as ENOSPC, not EDQUOT (xfs_trans_dqresv()): a directory tree with
// a project (a container runtime's storage size=, a DaemonSet's volume) is full while its filesystem is not.
// The project the file is charged to and its numbers are BPF's, read at the failure, where this kernel's XFS
// types were known when the programs were loaded. Otherwise which project is not known: the projects whose usage
// and this request reach their hard limit are the candidates, read when the event is explained.
std::string project_remedy(uint32_t id, const std::optional<PathFs>& fs) {
  return "Raise the project's limit (xfs_quota -x -c 'limit -p bhard=SIZE " + std::to_string(id) + "'" +
         (fs ? " " + fs->mount_point : std::string()) +
         ") or free space in its directory tree; a container runtime's storage size= option sets this limit.";
}

std::optional<Cause> project_quota_at_failure(const Event& e, const std::optional<PathFs>& fs, bool inode_side) {
  const ProjectQuotaUse& q = *e.project_quota;
  const uint64_t bs = q.blocksize ? q.blocksize : 4096;
  const auto asked = requested_bytes(e);
  const uint64_t need_blocks = std::max<uint64_t>((asked.value_or(0) + bs - 1) / bs, 1);
  const bool blocks = q.blocks_hard && q.blocks_reserved + need_blocks > q.blocks_hard;
  const bool inodes = inode_side && q.inodes_hard && q.inodes_reserved + 1 > q.inodes_hard;
  if (!blocks && !inodes) return std::nullopt;
  const std::string where =
      fs ? " on " + fs->source + " at " + fs->mount_point : std::string(" (its filesystem is no longer mounted)");
  std::string usage = blocks ? format_bytes(q.blocks_reserved * bs) + " of its " + format_bytes(q.blocks_hard * bs) +
                                   " hard limit"
                             : grouped(q.inodes_reserved) + " of its " + grouped(q.inodes_hard) + " inodes";
  std::string summary = opening(e) + ": XFS project " + std::to_string(q.id) + where + " had used " + usage;
  if (blocks && asked) summary += " when the call asked for " + format_bytes(*asked);
  summary += "; XFS reports a project quota as ENOSPC";
  if (fs)
    summary += ", while the filesystem has " + format_bytes(fs->stats.avail_bytes()) + " available" +
               std::string(kReadAfter);
  Cause c = make(CauseId::Quota, summary + ".", project_remedy(q.id, fs), Confidence::High);
  const ProjectQuotaRow at{q.id, q.blocks_reserved * bs, q.blocks_hard * bs, q.inodes_reserved, q.inodes_hard, true};
  c.evidence.detail = ProjectQuotaEvidence{at, {at}};
  if (fs) c.evidence.fs = fs_ref(*fs);
  return c;
}

std::optional<Cause> project_quota_rule(const Event& e, HostFacts& facts, const std::optional<PathFs>& fs,
                                        bool inode_side) {
  // The file's own project as read at the failure had room: another project's numbers now would not explain it.
  if (!fs || fs->fstype != "xfs" || e.project_quota) return std::nullopt;
  constexpr std::size_t kMaxProjects = 256;
  const uint64_t asked = std::max<uint64_t>(requested_bytes(e).value_or(0), 4096);
  auto over_blocks = [&](const ProjectQuota& q) { return q.bytes_hard && q.bytes + asked > q.bytes_hard; };
  auto over_inodes = [&](const ProjectQuota& q) { return inode_side && q.inodes_hard && q.inodes + 1 > q.inodes_hard; };
  std::vector<ProjectQuota> at_limit;
  for (const ProjectQuota& q : facts.project_quotas(*fs, kMaxProjects))
    if (over_blocks(q) || over_inodes(q)) at_limit.push_back(q);
  if (at_limit.empty()) return std::nullopt;
  const ProjectQuota& q = at_limit.front();
  const bool by_inodes = !over_blocks(q);
  std::string usage = by_inodes ? grouped(q.inodes) + " of its " + grouped(q.inodes_hard) + " inodes"
                                : format_bytes(q.bytes) + " of its " + format_bytes(q.bytes_hard) + " hard limit";
  std::string summary = opening(e) + ": ";
  if (at_limit.size() == 1) {
    summary += "XFS project " + std::to_string(q.id) + " on " + fs->source + " at " + fs->mount_point +
               " has used " + usage + std::string(kReadAfter);
  } else {
    std::string ids;
    for (const auto& p : at_limit) ids += (ids.empty() ? "" : ", ") + std::to_string(p.id);
    summary += "one of the XFS projects " + ids + " on " + fs->source + " at " + fs->mount_point +
               " is at its hard limit (project " + std::to_string(q.id) + " has used " + usage + ")" +
               std::string(kReadAfter);
  }
  if (!by_inodes && requested_bytes(e)) summary += ", and the call asked for " + format_bytes(*requested_bytes(e));
  summary += "; XFS reports a project quota as ENOSPC while the filesystem has " +
             format_bytes(fs->stats.avail_bytes()) + " available.";
  Cause c = make(CauseId::Quota, summary, project_remedy(q.id, fs),
                 at_limit.size() == 1 ? Confidence::Medium : Confidence::Low);
  std::vector<ProjectQuotaRow> candidates;
  for (const auto& p : at_limit)
    candidates.push_back({p.id, p.bytes, p.bytes_hard, p.inodes, p.inodes_hard, false});
  c.evidence.fs = fs_ref(*fs);
  c.evidence.detail = ProjectQuotaEvidence{candidates.front(), candidates};
  return c;
}

// An ext4 directory's hash index (htree) has two levels below its root unless the filesystem has the large_dir
// feature (three then): a directory that fills them refuses a new entry with ENOSPC ("Directory index full!",
// ext4_dx_add_entry()) while the filesystem has blocks and inodes free. Told by the numbers: a new entry, on an
// ext4 with both free, and without large_dir.
std::optional<Cause> directory_index_rule(const Event& e, HostFacts& facts, const std::optional<PathFs>& fs) {
  constexpr uint32_t kLargeDir = 0x4000;  // EXT4_FEATURE_INCOMPAT_LARGEDIR
  if (!fs || fs->fstype != "ext4" || !kCreateSyscalls.count(e.syscall)) return std::nullopt;
  if (e.syscall.starts_with("open") && !creates_inode(e)) return std::nullopt;
  const auto& s = fs->stats;
  if (s.inodes_free == 0 || s.avail_bytes() == 0) return std::nullopt;
  auto features = facts.ext4_incompat_features(*fs);
  if (!features || (*features & kLargeDir)) return std::nullopt;
  std::string dir = e.path.find('/') == std::string::npos ? "." : parent_dir(e.path);
  std::optional<uint64_t> bytes;
  if (auto dirfd = start_dirfd(e)) bytes = facts.directory_bytes(e.pid, dir, *dirfd);
  std::string dirname = e.file && e.file->role == FileRole::Parent && !e.file->name.empty() ? e.file->name : dir;
  Cause c = make(CauseId::DirectoryIndex,
                 opening(e) + ": the hash index of the directory " + dirname +
                     (bytes ? " (" + format_bytes(*bytes) + " of entries)" : std::string()) +
                     " is full; ext4 " + fs->source + " at " + fs->mount_point + " has " +
                     format_bytes(s.avail_bytes()) + " and " + grouped(s.inodes_free) +
                     " inodes free, and without the large_dir feature a directory's index has two levels" +
                     std::string(kReadAfter) + ".",
                 "Spread the entries over subdirectories, or enable large_dir (tune2fs -O large_dir " + fs->source +
                     ", on a kernel of v4.13 or later).",
                 Confidence::Medium);
  c.evidence.fs = fs_ref(*fs);
  c.evidence.detail = DirectoryIndexEvidence{false, dirname, bytes};
  return c;
}

bool uses_fs_space(const Event& e) {
  return creates_inode(e) || kWriteSyscalls.count(e.syscall) > 0 || kCreateSyscalls.count(e.syscall) > 0;
}

// Filesystem space: the fd's superblock (BPF evidence) or the path's filesystem.
std::optional<Cause> fs_space_rule(const Event& e, HostFacts& facts, Confidence confidence) {
  bool inode_side = creates_inode(e);
  std::optional<PathFs> fs = target_fs(e, facts);
  Confidence conf = confidence == Confidence::High ? Confidence::High : Confidence::Medium;
  if (auto c = tmpfs_rule(e, fs, inode_side && !(e.file && kWriteSyscalls.count(e.syscall)), conf)) {
    // Without a chain, a create on tmpfs may also fail for blocks (directory growth); check the numbers.
    const auto* t = std::get_if<TmpfsEvidence>(&c->evidence.detail);
    if (c->id == CauseId::TmpfsInodes && t && t->inodes_free.value_or(1) != 0) {
      if (auto b = tmpfs_rule(e, fs, false, Confidence::Low)) return *b;
    }
    return c;
  }
  // Before the statfs numbers: an XFS project at its limit as BPF read it at the failure, and btrfs, which
  // reports nothing available once its metadata is full, whatever data holds.
  if (e.project_quota && e.file && e.file->magic == kXfsMagic) {
    std::optional<PathFs> xfs = fs && fs->stats.magic == kXfsMagic ? fs : std::nullopt;
    if (auto c = project_quota_at_failure(e, xfs, inode_side)) return c;
  }
  if (auto c = btrfs_metadata_rule(e, facts, fs)) return c;
  if (auto c = disk_rule(e, fs, inode_side, conf)) return c;
  if (auto c = project_quota_rule(e, facts, fs, inode_side)) return c;
  return directory_index_rule(e, facts, fs);
}

}  // namespace

const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = {
      {"mount", {CauseId::MountMax}, is_mount_call, mount_rule},
      {"namespaces", {CauseId::NamespaceLimit}, is_namespace_call, namespace_rule},
      {"inotify", {CauseId::InotifyWatches}, is_inotify_call, inotify_rule},
      {"fanotify", {CauseId::FanotifyMarks}, is_fanotify_call, fanotify_rule},
      {"epoll", {CauseId::EpollWatches}, is_epoll_call, epoll_rule},
      {"pty", {CauseId::Pty}, opens_ptmx, [](const Event& e, HostFacts& f, Confidence) -> std::optional<Cause> {
         return pty_rule(e, f);
       }},
      {"ipc", {CauseId::SysvIpc, CauseId::Mqueue}, is_ipc_call,
       [](const Event& e, HostFacts& f, Confidence) -> std::optional<Cause> { return ipc_rule(e, f.sysctls()); }},
      {"bpf", {CauseId::Bpf}, is_bpf_call, bpf_rule},
      {"xattr", {CauseId::XattrSpace}, is_xattr_call, xattr_rule},
      {"cpuset", {CauseId::Cpuset}, on_a_cgroup_v1_file, cpuset_rule},
      {"cgroup", {CauseId::CgroupIds}, makes_a_directory, cgroup_rule},
      {"device", {CauseId::Device}, on_a_device, device_rule},
      {"writeback", {CauseId::WritebackError}, is_writeback_call, writeback_rule},
      {"fs_space",
       {CauseId::TmpfsInodes, CauseId::TmpfsBlocks, CauseId::FsBlocks, CauseId::FsInodes, CauseId::FsReservedBlocks,
        CauseId::Quota, CauseId::DirectoryIndex},
       uses_fs_space, fs_space_rule},
  };
  return table;
}

namespace {

Cause from_syscall(const Event& e, HostFacts& facts, Confidence confidence) {
  for (const Rule& r : rules()) {
    if (!r.applies(e)) continue;
    if (auto c = r.explain(e, facts, confidence)) return *c;
  }
  Cause c = make(CauseId::Unknown,
                 opening(e) + " with " + e.errno_name + "; no rule explains it" +
                     (e.chain.empty() ? " (no kernel chain was recorded)." : "."),
                 "Look at the chain and kernel stack of the event; report it so a rule can be added.", Confidence::Low);
  c.evidence.chain = chain_names(e);
  return c;
}

// EDQUOT. A quota origin in the chain tells which limit refused the charge: dquot_add_space() and
// __dquot_alloc_space() charge blocks, dquot_add_inodes() and dquot_alloc_inode() inodes (fs/quota/dquot.c).
Cause quota(const Event& e, HostFacts& facts) {
  std::optional<PathFs> fs = target_fs(e, facts);
  const ChainLink* charge = nullptr;
  for (const auto& link : e.chain) {
    if (origin_cause(link.func) == CauseId::Quota) {
      charge = &link;
      break;
    }
  }
  std::string limit = "disk", by;
  if (charge) {
    limit = charge->func == "dquot_add_inodes" || charge->func == "dquot_alloc_inode" ? "inode" : "block";
    by = " (" + charge->func + " returned " + std::to_string(charge->ret) + ")";
  }
  Cause c = make(CauseId::Quota,
                 opening(e) + ": uid " + std::to_string(e.uid) + " (or its group/project) is over its " + limit +
                     " quota" + (fs ? " on " + fs->mount_point : std::string()) + by + ".",
                 "Check with quota -v / repquota and raise the limit or free the user's files.", Confidence::High);
  if (fs) c.evidence.fs = mount_point_of(*fs);
  if (!e.chain.empty()) c.evidence.chain = chain_names(e);
  if (charge) c.evidence.origin = charge->func;
  return c;
}

}  // namespace

bool mount_name_matches(const std::string& mount_point, const std::string& mount_name) {
  if (mount_name.empty() || mount_point == "/") return true;
  auto slash = mount_point.find_last_of('/');
  return mount_point.compare(slash == std::string::npos ? 0 : slash + 1, std::string::npos, mount_name) == 0;
}

std::string grouped(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), " ");
  return s;
}

namespace {

Cause explain(const Event& e, HostFacts& facts) {
  if (is_io_uring(e.syscall_nr) || is_aio(e.syscall_nr)) {
    // The rules of the synchronous call the request stands for; the summary still names the request.
    std::string sync = sync_equivalent(e.syscall);
    if (sync != e.syscall) {
      Event as_sync = e;
      as_sync.syscall = std::move(sync);
      return explain(as_sync, facts);
    }
  }
  // A write through overlayfs lands on the filesystem of its upper layer: that filesystem's numbers explain
  // it, and the overlay the call went through is named.
  if (e.upper && e.file && e.file->magic == kOverlayMagic) {
    Event through = e;
    FileInfo upper = *e.upper;
    upper.role = e.file->role;
    through.file = upper;
    through.upper.reset();
    Cause c = explain(through, facts);
    auto ovl = facts.fs_for_dev(e.pid, e.file->dev, e.file->mount_name);
    if (c.id != CauseId::Unknown)
      c.summary += " The call wrote through the overlay" + (ovl ? " at " + ovl->mount_point : std::string()) +
                   ", whose upper layer is on this filesystem.";
    c.evidence.overlay = OverlayRef{ovl ? std::optional<std::string>(ovl->mount_point) : std::nullopt,
                                    dev_text(upper.dev), upper.fstype};
    return c;
  }
  // Quota charges fail with EDQUOT only; the errno decides even when no origin could attach.
  if (e.errno_name == "EDQUOT") return quota(e, facts);
  // The innermost origin that maps to a cause decides; the chain is the evidence.
  for (const auto& link : e.chain) {
    const std::optional<CauseId> origin = origin_cause(link.func);
    if (!origin) continue;
    const CauseId id = *origin;
    Cause c;
    if (id == CauseId::MountMax) {
      c = mount_max(e, facts, Confidence::High);
    } else if (id == CauseId::TmpfsInodes || id == CauseId::TmpfsBlocks) {
      std::optional<PathFs> fs = target_fs(e, facts);
      // The chain says a tmpfs refused. A filesystem resolved now that is not a tmpfs is another one (the
      // tmpfs was unmounted, or lived in a mount namespace that is gone, or the path was relative to a
      // directory that cannot be resolved now) and says nothing about the one that failed.
      if (fs && fs->stats.magic != kTmpfsMagic) fs.reset();
      std::optional<Cause> numbers = tmpfs_rule(e, fs, id == CauseId::TmpfsInodes, Confidence::High);
      if (numbers) {
        c = std::move(*numbers);
      } else {
        std::string ret = link.ret == 0 ? "NULL" : std::to_string(link.ret);
        c = make(id, opening(e) + ": " + link.func + " returned " + ret + " (tmpfs " +
                         (id == CauseId::TmpfsInodes ? "inode" : "block") + " accounting).",
                 id == CauseId::TmpfsInodes ? "Remount the tmpfs with a larger nr_inodes or remove files."
                                      : "Remount the tmpfs with a larger size or delete files.",
                 Confidence::High);
      }
    } else if (id == CauseId::FsBlocks || id == CauseId::FsInodes) {
      if (auto d = disk_rule(e, target_fs(e, facts), id == CauseId::FsInodes, Confidence::High)) {
        c = std::move(*d);
      } else {
        c = make(id, opening(e) + ": " + link.func + " returned " + std::to_string(link.ret) + ".",
                 "Free space or inodes on the filesystem.", Confidence::High);
      }
    } else {
      c = from_syscall(e, facts, Confidence::High);
      if (c.id != id) {
        c = make(id, opening(e) + ": " + link.func + " returned " + std::to_string(link.ret) + ".",
                 "See the evidence and the kernel chain.", Confidence::High);
      }
    }
    c.evidence.chain = chain_names(e);
    c.evidence.origin = link.func;
    return c;
  }
  Cause c = from_syscall(e, facts, e.chain.empty() ? Confidence::Medium : Confidence::Low);
  if (!e.chain.empty()) c.evidence.chain = chain_names(e);
  return c;
}

}  // namespace

uint64_t HostFacts::monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

Cause diagnose(const Event& e, HostFacts& facts) {
  facts.path_answers_.clear();
  Cause c = explain(e, facts);
  facts.path_answers_.clear();
  // Numbers read from the host when the event is explained are said to be in the summary; how long after the
  // failure that was is in the evidence.
  if (c.summary.find(kReadAfterWords) != std::string::npos && e.ktime_ns) {
    const uint64_t now = facts.monotonic_ns();
    if (now >= e.ktime_ns) c.read_after_ms = (now - e.ktime_ns) / 1'000'000;
  }
  return c;
}

}  // namespace enospcd::diagnose
