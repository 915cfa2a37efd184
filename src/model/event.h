// A syscall failure as user space sees it: decoded from the ring-buffer record, then enriched.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "enospcd/abi.h"
#include "model/cause.h"
#include "model/container_ref.h"
#include "model/ucounts.h"

namespace enospcd {

struct ChainLink {
  std::string func;
  int64_t ret = 0;        // of its first return
  uint64_t ktime_ns = 0;  // of its first return
  uint32_t returns = 1;   // how often it returned the error in this call (more than once: a retry)
};

// What the file evidence describes, read in BPF at the failure.
enum class FileRole {
  Fd,      // the file of the call's fd argument (or an io_uring request's)
  Dirfd,   // the directory a relative path starts from: the dirfd argument
  Cwd,     // ... or the working directory
  Parent,  // the directory the failing call was creating in, read when the first origin failed
};

struct FileInfo {
  FileRole role = FileRole::Fd;
  uint32_t dev = 0;  // kernel dev_t encoding
  uint32_t magic = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;  // i_mode: a character or block device is not a file of the filesystem holding its node
  uint32_t rdev = 0;  // a device's number, kernel encoding
  std::string fstype;
  std::string name;  // dentry name of the file
  std::string mount_name;  // the last component of its mount point then ("/" for a namespace's root)
  // tmpfs only (zero elsewhere); blocks are pages.
  uint64_t shmem_max_blocks = 0, shmem_used_blocks = 0, shmem_max_inodes = 0, shmem_free_inodes = 0;
  // shmem_used_blocks is the exact sum (every CPU's delta added), not the folded count that lags by up to a
  // batch per CPU.
  bool shmem_used_exact = false;
  // ext4 only: its space and inodes as ext4_statfs() counts them, read at the failure.
  struct Ext4Counts {
    uint64_t blocks = 0, free_blocks = 0, reserved_blocks = 0, inodes = 0, free_inodes = 0;
    uint32_t block_size = 0;
    bool exact = false;  // every CPU's delta added to the free counts
  };
  std::optional<Ext4Counts> ext4;
};

// The XFS project quota the file evidence's inode is charged to, read in BPF at the failure (XFS refuses a
// charge over a project's hard limit with ENOSPC). Blocks are the filesystem's; reserved counts what is used plus
// what changes in flight hold; a limit of 0 is none.
struct ProjectQuotaUse {
  uint32_t id = 0;
  uint32_t blocksize = 0;
  uint64_t blocks_reserved = 0, blocks_hard = 0, inodes_reserved = 0, inodes_hard = 0;
};

// The host's ptys at the failure of an open, read in BPF: how many were open (pty_count) and kernel.pty.max and
// kernel.pty.reserve, as devpts_new_index() compares them.
struct PtyCounts {
  uint32_t nr = 0, max = 0, reserve = 0;
};

// The epoll watches of the user an epoll instance is charged to (ep->user, the user who made it), read in BPF at
// the failure of epoll_ctl, and fs.epoll.max_user_watches then where the kernel lists its data symbols.
struct EpollWatches {
  uint32_t uid = 0;
  int64_t watches = 0;
  bool exact = false;  // every CPU's delta added (or an atomic count, before v5.13)
  std::optional<int64_t> max;
};

// The cgroup hierarchy the memory controller is bound to, read in BPF at the failure of a mkdir: its root's live
// and dying descendants, whose memory cgroups hold the controller's ids.
struct MemcgHierarchy {
  uint32_t hierarchy = 0;  // 0: cgroup v2
  int32_t descendants = 0, dying = 0;
};

struct Event {
  uint64_t id = 0;
  uint64_t ktime_ns = 0;
  uint64_t time_ns = 0;  // wall clock, Unix epoch
  uint32_t pid = 0, tid = 0, ppid = 0, uid = 0, gid = 0;
  std::string comm;
  uint32_t syscall_nr = 0;
  std::string syscall;
  int err = 0;
  std::string errno_name;
  int64_t ret = 0;
  uint64_t cgroup_id = 0;
  std::string cgroup_name;
  bool cgroup_name_truncated = false;
  uint32_t mntns = 0, mnt_count = 0, mnt_pending = 0;
  bool has_mntns = false;
  std::optional<uint32_t> mount_max;  // fs.mount-max read in BPF at failure time
  // The task's IPC namespace limits and user.max_mnt_namespaces, read in BPF at failure time.
  struct IpcLimits {
    uint32_t inum = 0;
    int32_t shm_ctlmni = 0;
    uint32_t msg_ctlmni = 0, mq_queues_max = 0;
    int32_t sem_ctlmni = 0;
    // What the limits are compared with: ids in use per kind (semaphore sets, queues, segments), semaphores
    // in use against SEMMNS, shared memory pages against SHMALL, queues against fs.mqueue.queues_max.
    uint32_t sem_ids = 0, msg_ids = 0, shm_ids = 0;
    int32_t sem_semmns = 0, sem_used = 0;
    uint64_t shm_tot = 0, shm_ctlall = 0;
    uint32_t mq_queues_count = 0;
  };
  std::optional<IpcLimits> ipc;
  std::optional<uint32_t> userns;
  std::optional<int64_t> userns_max_mnt;
  std::optional<Ucounts> ucounts;  // read in BPF at the failure, for inotify_add_watch, unshare, clone, clone3
  bool args_valid = false;
  std::array<uint64_t, 6> args{};
  std::string path, path2;
  bool path_truncated = false;
  std::optional<FileInfo> file;
  // For a file on overlayfs, the file of its upper layer the write went to (its filesystem's numbers at the
  // failure).
  std::optional<FileInfo> upper;
  std::optional<ProjectQuotaUse> project_quota;
  std::optional<PtyCounts> pty;
  std::optional<EpollWatches> epoll;
  std::optional<MemcgHierarchy> memcg;
  std::vector<ChainLink> chain;
  uint32_t chain_dropped = 0;  // links dropped between the innermost half and the outermost ones
  // The callers of the chain's outermost link, innermost first: the chain's way out to the syscall entry.
  std::vector<std::string> chain_outer;
  std::string chain_outer_truncated;
  // chain_outer (and outer_stack_addrs) was found by scanning the stack for return addresses, where the kernel
  // cannot unwind through a kretprobe's trampoline (ENOSPCD_EF_OUTER_SCANNED): a frame may be stale.
  bool chain_outer_scanned = false;
  std::vector<std::string> kstack;
  // Why the stack stops short, e.g. at a kretprobe trampoline the kernel cannot unwind through.
  std::string kstack_truncated;
  std::vector<uint64_t> kstack_addrs;
  std::vector<uint64_t> outer_stack_addrs;  // as the outermost link returned; empty for a chain of one
  // Filled in user space after decoding, while the process may still exist.
  std::string exe, cmdline, cgroup_path;
  std::optional<ContainerRef> container;
  std::optional<Cause> cause;  // set by the diagnosis
};

// Wall-clock offset: add to bpf_ktime_get_ns() (CLOCK_MONOTONIC) to get Unix-epoch ns.
int64_t monotonic_to_realtime_offset_ns();

// Decodes one ring-buffer record. Returns nullopt when the record is not a well-formed failure record.
// origin_names maps enospcd_chain_link.origin_id to the function name.
std::optional<Event> decode_event(const void* data, std::size_t size, int64_t realtime_offset_ns,
                                  const std::vector<std::string>& origin_names);

// The JSON form the API, the journal and the --once report share. Values that can exceed 2^53 (id, time_ns,
// ktime_ns, file.ino, the syscall args as 0x hex) are strings; "time" is RFC 3339 UTC with nanoseconds.
// "maj:min" of a kernel dev_t (MAJOR << 20 | MINOR), and back (0 for text that is not one).
std::string dev_text(uint32_t kernel_dev);
uint32_t dev_from_text(const std::string& text);
// The IPC namespace's limits and counts as events carry them ("ipcns").
nlohmann::json to_json(const Event::IpcLimits& ipc);
// "fd", "dirfd", "cwd".
const char* file_role_name(FileRole role);

nlohmann::json to_json(const Event& e);
// Reads what to_json writes, and the journal records of earlier versions, where those values were numbers.
Event event_from_json(const nlohmann::json& j);

// A non-negative integer given as a JSON number, a decimal string or a 0x hex string; nullopt otherwise.
std::optional<uint64_t> json_u64(const nlohmann::json& v);

}  // namespace enospcd
