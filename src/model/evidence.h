// The numbers and names an explanation rests on, typed: what is common to every cause (the filesystem named,
// the kernel chain and its origin, the overlay a write went through, the bytes asked for) and one detail per
// kind of limit. JSON only where it leaves: the API's and the journal's "evidence" object, whose keys and
// shapes docs/api.md describes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/ucounts.h"

namespace enospcd {

enum class CauseId : uint8_t;

// statfs(2)'s numbers of a filesystem ("statfs"), in bytes and inodes, as df(1) shows them.
struct StatfsNumbers {
  std::string type;  // "ext4", "" when the magic is not known
  uint64_t magic = 0, block_size = 0;
  uint64_t total_bytes = 0, used_bytes = 0, free_bytes = 0, avail_bytes = 0, reserved_bytes = 0;
  unsigned blocks_used_pct = 0;
  uint64_t inodes_total = 0, inodes_used = 0, inodes_free = 0;
  unsigned inodes_used_pct = 0;
  bool operator==(const StatfsNumbers&) const = default;
};

// The filesystem an explanation names: its mount point, and where known its type, source and statfs numbers.
struct FsRef {
  std::string mount_point;
  std::optional<std::string> fstype, source;
  std::optional<StatfsNumbers> statfs;
  bool operator==(const FsRef&) const = default;
};

// The overlay a write went through, whose upper layer's filesystem the explanation is about.
struct OverlayRef {
  std::optional<std::string> mount_point;  // null when the overlay could not be found again
  std::string upper_dev, upper_fstype;
  bool operator==(const OverlayRef&) const = default;
};

struct MountSourceCount {
  std::string source;
  uint64_t count = 0;
  bool operator==(const MountSourceCount&) const = default;
};

// fs.mount-max: the namespace's mounts and pending mounts at the failure, the limit (null when unknown) and
// the most repeated sources now.
struct MountEvidence {
  uint64_t mntns = 0, mounts = 0, pending = 0;
  std::optional<uint64_t> mount_max;
  std::vector<MountSourceCount> top_sources;
  bool operator==(const MountEvidence&) const = default;
};

// A tmpfs's superblock as BPF read it at the failure (blocks are pages).
struct TmpfsAtFailure {
  std::string of;  // "fd", "dirfd", "cwd", "parent"
  uint64_t max_blocks = 0, used_blocks = 0, max_inodes = 0, free_inodes = 0;
  bool operator==(const TmpfsAtFailure&) const = default;
};

// A tmpfs out of inodes (inodes, inodes_free) or of blocks (bytes_*).
struct TmpfsEvidence {
  std::optional<TmpfsAtFailure> at_failure;
  std::optional<uint64_t> inodes, inodes_free;
  std::optional<uint64_t> bytes_max, bytes_used;
  std::optional<bool> bytes_used_at_failure;
  bool operator==(const TmpfsEvidence&) const = default;
};

struct BtrfsSpace {
  uint64_t metadata_total = 0, metadata_used = 0, data_total = 0, data_used = 0, unallocated = 0;
  bool operator==(const BtrfsSpace&) const = default;
};

// btrfs metadata full while data has room.
struct BtrfsEvidence {
  BtrfsSpace btrfs;
  bool operator==(const BtrfsEvidence&) const = default;
};

struct ProjectQuotaRow {
  uint32_t project = 0;
  uint64_t bytes = 0, bytes_hard = 0, inodes = 0, inodes_hard = 0;
  bool at_failure = false;  // BPF's numbers of the file's own project, or a candidate read later
  bool operator==(const ProjectQuotaRow&) const = default;
};

// An XFS project at its hard limit: the one the explanation names, and every candidate.
struct ProjectQuotaEvidence {
  ProjectQuotaRow project_quota;
  std::vector<ProjectQuotaRow> projects_at_limit;
  bool operator==(const ProjectQuotaEvidence&) const = default;
};

// An ext4 directory whose hash index is full.
struct DirectoryIndexEvidence {
  bool large_dir = false;
  std::string directory;
  std::optional<uint64_t> directory_bytes;  // null when its size could not be read
  bool operator==(const DirectoryIndexEvidence&) const = default;
};

// An IPC namespace's limits and counts at the failure (the keys of an event's "ipcns", the number as "ipcns").
struct IpcNumbers {
  uint32_t ipcns = 0;
  int32_t shmmni = 0;
  uint32_t msgmni = 0, mqueue_queues_max = 0;
  int32_t semmni = 0, semmns = 0;
  uint32_t sem_ids = 0, msg_ids = 0, shm_ids = 0;
  int32_t semaphores = 0;
  uint64_t shm_pages = 0, shmall = 0;
  uint32_t mqueue_queues = 0;
  bool operator==(const IpcNumbers&) const = default;
};

// SysV IPC and POSIX mqueue: the limit that refused, and the namespace's numbers where BPF read them.
struct IpcEvidence {
  std::string limit;
  std::optional<IpcNumbers> numbers;
  bool operator==(const IpcEvidence&) const = default;
};

struct PtyAtFailure {
  uint32_t nr = 0, max = 0, reserve = 0;
  bool operator==(const PtyAtFailure&) const = default;
};

// ptys: the host's sysctls and the devpts instance's max= and count (read later; null when unknown), and the
// host's count and limits at the failure.
struct PtyEvidence {
  std::optional<uint64_t> pty_max, pty_reserve, pty_nr, instance_max, instance_in_use;
  std::optional<PtyAtFailure> at_failure;
  std::optional<std::string> options;  // the devpts instance's mount options
  bool operator==(const PtyEvidence&) const = default;
};

// A per-user-namespace count at its limit: the level that refused (its limit's name, namespace, uid, limit and
// count, null when unreadable) and every level BPF read. The JSON adds the count and limit under the names of
// the kind (watches and max_user_watches, marks and max_user_marks).
struct UcountEvidence {
  std::string limit;
  uint32_t userns = 0, uid = 0;
  int64_t max = 0;
  std::optional<int64_t> count;
  Ucounts ucounts;
  bool operator==(const UcountEvidence&) const = default;
};

struct UsernsLimit {
  uint32_t inum = 0;
  std::optional<int64_t> max_mnt_namespaces;
  bool operator==(const UsernsLimit&) const = default;
};

// A namespace limit without the per-level counts: the daemon's user.max_*_namespaces, and the caller's user
// namespace with its user.max_mnt_namespaces at the failure.
struct NamespaceEvidence {
  std::map<std::string, uint64_t> limits;
  std::optional<UsernsLimit> userns;
  bool operator==(const NamespaceEvidence&) const = default;
};

// inotify watches without the count read at the failure: the host's limit and what the uid holds now.
struct InotifyHeldEvidence {
  std::optional<uint64_t> max_user_watches;
  uint32_t uid = 0;
  std::optional<uint64_t> watches;
  bool operator==(const InotifyHeldEvidence&) const = default;
};

// fanotify marks likewise.
struct FanotifyHeldEvidence {
  std::optional<uint64_t> max_user_marks;
  uint32_t uid = 0;
  std::optional<uint64_t> marks;
  bool operator==(const FanotifyHeldEvidence&) const = default;
};

struct EpollAtFailure {
  uint32_t uid = 0;
  int64_t watches = 0;
  bool watches_exact = false;
  std::optional<int64_t> max_user_watches;
  bool operator==(const EpollAtFailure&) const = default;
};

// epoll watches: the sysctl read later, and the user's count (and the limit where readable) at the failure.
struct EpollEvidence {
  std::optional<uint64_t> max_user_watches;
  std::optional<EpollAtFailure> at_failure;
  bool operator==(const EpollEvidence&) const = default;
};

struct BpfEvidence {
  std::string command;
  std::optional<uint64_t> cmd;
  bool operator==(const BpfEvidence&) const = default;
};

// A tmpfs's user xattr space (its free inodes' worth).
struct XattrEvidence {
  uint64_t inodes = 0, inodes_free = 0;
  bool at_failure = false;
  bool operator==(const XattrEvidence&) const = default;
};

struct CpusetEvidence {
  std::string file, hierarchy;
  std::optional<std::string> cpuset, cpus, mems;  // read later, while the fd still showed the file
  bool operator==(const CpusetEvidence&) const = default;
};

struct DeviceEvidence {
  std::string device;  // "char" or "block"
  std::string rdev, name;
  bool operator==(const DeviceEvidence&) const = default;
};

struct MemcgAtFailure {
  uint32_t hierarchy = 0;  // 0: cgroup v2
  int32_t descendants = 0, dying_descendants = 0;
  bool operator==(const MemcgAtFailure&) const = default;
};

// A cgroup the memory controller had no id for: how many ids it gives out, and the cgroups of its hierarchy at
// the failure.
struct CgroupIdsEvidence {
  uint64_t memory_cgroup_ids = 0;
  std::optional<MemcgAtFailure> at_failure;
  bool operator==(const CgroupIdsEvidence&) const = default;
};

using EvidenceDetail =
    std::variant<std::monostate, MountEvidence, TmpfsEvidence, BtrfsEvidence, ProjectQuotaEvidence,
                 DirectoryIndexEvidence, IpcEvidence, PtyEvidence, UcountEvidence, NamespaceEvidence,
                 InotifyHeldEvidence, FanotifyHeldEvidence, EpollEvidence, BpfEvidence, XattrEvidence, CpusetEvidence,
                 DeviceEvidence, CgroupIdsEvidence>;

struct Evidence {
  std::optional<FsRef> fs;
  EvidenceDetail detail;
  std::optional<uint64_t> bytes_requested;  // what a write or fallocate asked for, from its arguments
  std::optional<std::vector<std::string>> chain;
  std::optional<std::string> origin;  // the chain's function that decided the cause
  std::optional<OverlayRef> overlay;
  bool operator==(const Evidence&) const = default;
};

// The "evidence" object: every member at the top level (fs's and the detail's too).
nlohmann::json to_json(const Evidence& e);
// And back, for a cause of the given id; members of the wrong type are left out, never thrown on.
Evidence evidence_from_json(CauseId id, const nlohmann::json& j);
nlohmann::json to_json(const StatfsNumbers& s);

}  // namespace enospcd
