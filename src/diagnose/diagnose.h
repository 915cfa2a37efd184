// Diagnosis: one rule per cause turns an event (its chain, its BPF evidence) plus host state into a cause id,
// a one-line explanation with numbers, a remedy and a confidence. Unknown chains get `unknown`, never a guess.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "context/fs.h"
#include "context/sysctl.h"
#include "model/cause.h"
#include "model/event.h"

namespace enospcd::diagnose {

// The filesystem a path or device lives on, as the failing process saw it where possible.
struct PathFs {
  std::string mount_point;
  std::string fstype;
  std::string source;
  std::string super_options;  // e.g. "rw,size=1024k,nr_inodes=16"
  context::FsStats stats;
  // The numbers in stats are BPF's, read at the failure (an ext4's superblock), not statfs's now; exact: with
  // every CPU's delta added to the free counts.
  bool numbers_at_failure = false;
  bool numbers_exact = true;
};

// One project's quota as XFS keeps it: usage and hard limits (0: none), in bytes and inodes.
struct ProjectQuota {
  uint32_t id = 0;
  uint64_t bytes = 0, bytes_hard = 0;
  uint64_t inodes = 0, inodes_hard = 0;
};

// A btrfs's space by kind, as its sysfs directory (/sys/fs/btrfs/<fsid>/allocation) tells it: what each kind's
// chunks hold and use, and what of its devices no chunk holds yet.
struct BtrfsSpace {
  uint64_t data_total = 0, data_used = 0;
  uint64_t metadata_total = 0, metadata_used = 0;  // used counts what is reserved for writes in flight too
  uint64_t unallocated = 0;
};

// A cgroup v1 cpuset as its files read: its directory as the process saw it, its CPUs and memory nodes (empty
// when none).
struct CpusetState {
  std::string dir;
  std::string cpus, mems;
};

// Whether a mount point as mountinfo lists it can be the mount BPF saw mounted on a directory named mount_name:
// its last component is that name, or it is the root of a (container's) namespace, whose mount point BPF names
// from the tree it was mounted in. An empty mount_name (not recorded) matches any.
bool mount_name_matches(const std::string& mount_point, const std::string& mount_name);

// Host state the rules consult. The live implementation reads /proc and statfs; tests fake it.
class HostFacts {
 public:
  virtual ~HostFacts() = default;
  // fs_for_path, asked of the host once per diagnosis: rules that look at the same path share the answer (each
  // ask reads the process's mountinfo).
  std::optional<PathFs> fs_for_path_once(uint32_t pid, const std::string& path, int dirfd) {
    auto key = std::make_tuple(pid, path, dirfd);
    if (auto it = path_answers_.find(key); it != path_answers_.end()) return it->second;
    return path_answers_[key] = fs_for_path(pid, path, dirfd);
  }
  virtual const context::Sysctls& sysctls() = 0;
  // The filesystem of path as process pid sees it; a relative path starts at its directory fd dirfd, or at its
  // working directory for AT_FDCWD.
  virtual std::optional<PathFs> fs_for_path(uint32_t pid, const std::string& path, int dirfd) = 0;
  // The filesystem mounted with device number kernel_dev as process pid (or else the daemon) sees it. A device
  // number is reused once its filesystem is unmounted: with mount_name (the last component of the mount point
  // at the failure, from BPF) only a mount on a directory of that name, or a namespace's root, is taken.
  virtual std::optional<PathFs> fs_for_dev(uint32_t pid, uint32_t kernel_dev, const std::string& mount_name) = 0;
  // A live process whose mount namespace is mntns, to resolve paths as the failing process saw them: pid or
  // ppid while they live, else any process in that namespace; nullopt when the namespace is gone.
  virtual std::optional<uint32_t> pid_in_mntns(uint32_t pid, uint32_t ppid, uint32_t mntns) {
    (void)ppid, (void)mntns;
    return pid;
  }
  // Inotify watches held by processes of this (effective) uid; nullopt when not countable.
  virtual std::optional<uint64_t> inotify_watches_of_uid(uint32_t uid) = 0;
  // Fanotify marks charged to this (effective) uid: groups with FAN_UNLIMITED_MARKS are not; nullopt when not
  // countable.
  virtual std::optional<uint64_t> fanotify_marks_of_uid(uint32_t uid) {
    (void)uid;
    return std::nullopt;
  }
  // The ptys allocated in the devpts instance mounted on directory dir, as process pid sees it (its numbered
  // entries); nullopt when dir is not a directory there.
  virtual std::optional<uint64_t> ptys_in_use(uint32_t pid, const std::string& dir) {
    (void)pid, (void)dir;
    return std::nullopt;
  }
  // The project quotas with a block or inode hard limit on the filesystem (XFS: quotactl Q_XGETNEXTQUOTA on its
  // device), at most `max` of them; empty when it has none or they cannot be read.
  virtual std::vector<ProjectQuota> project_quotas(const PathFs& fs, std::size_t max) {
    (void)fs, (void)max;
    return {};
  }
  // The ext4 superblock's incompatible-feature flags (s_feature_incompat), read from the filesystem's device;
  // nullopt when it cannot be read or is not ext4.
  virtual std::optional<uint32_t> ext4_incompat_features(const PathFs& fs) {
    (void)fs;
    return std::nullopt;
  }
  // The size in bytes of directory dir as process pid sees it (relative to its dirfd, or cwd for AT_FDCWD);
  // nullopt when it cannot be resolved now.
  virtual std::optional<uint64_t> directory_bytes(uint32_t pid, const std::string& dir, int dirfd) {
    (void)pid, (void)dir, (void)dirfd;
    return std::nullopt;
  }
  // The btrfs's space by kind; nullopt when it is not a btrfs or its sysfs directory is not found.
  virtual std::optional<BtrfsSpace> btrfs_space(const PathFs& fs) {
    (void)fs;
    return std::nullopt;
  }
  // The cpuset whose file process pid has open as fd (tasks, cpuset.cpus, ...); nullopt when the process or
  // the fd is gone, or the file's directory has no cpuset files.
  virtual std::optional<CpusetState> cpuset_of_fd(uint32_t pid, uint64_t fd) {
    (void)pid, (void)fd;
    return std::nullopt;
  }
  // CLOCK_MONOTONIC now, the clock of an event's ktime_ns: how long after the failure host state is read.
  virtual uint64_t monotonic_ns();
  // Most repeated mount sources ("overlay under /var/lib/docker", count) in the namespace of pid.
  virtual std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t pid, uint32_t mntns) = 0;
 private:
  friend Cause diagnose(const Event& e, HostFacts& facts);
  std::map<std::tuple<uint32_t, std::string, int>, std::optional<PathFs>> path_answers_;
};

// The live implementation (procfs, statfs, sysctls), with short caches so storms do not re-read the host.
std::unique_ptr<HostFacts> make_live_host_facts(std::string root = "/");

// One rule per kind of failure, offered the failures whose chain named no origin that decides (or none was
// recorded), in the order of rules(): the first that applies to the event and explains it gives the cause.
// A rule that applies but cannot tell (no number it rests on, not its filesystem) returns nullopt, and the next
// is asked; when none explains it, the cause is `unknown`, with what was seen.
struct Rule {
  std::string_view name;
  std::vector<CauseId> causes;  // every cause it can give
  bool (*applies)(const Event& e);
  std::optional<Cause> (*explain)(const Event& e, HostFacts& facts, Confidence confidence);
};
const std::vector<Rule>& rules();

Cause diagnose(const Event& e, HostFacts& facts);

// "99 841" (thin grouping, as the examples in the design read)
std::string grouped(uint64_t n);

}  // namespace enospcd::diagnose
