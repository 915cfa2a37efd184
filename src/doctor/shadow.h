// What is hidden under mount points. Files written to a directory before something was mounted on it still
// use space on the parent filesystem, but ls/du can no longer see them ("df says full, du says not").
//
// Method, read-only for the host: a forked child enters a private copy of the mount namespace
// (unshare(CLONE_NEWNS), then MS_REC|MS_PRIVATE on "/" so nothing propagates back; it aborts if either step
// fails or the namespace inode did not change). There it lazily unmounts the mounts children-first
// (post-order over the mount tree), and after each unmount looks at the directory that appears: number of
// entries, a few names, and the allocated bytes below it (bounded walk on that filesystem only,
// AT_NO_AUTOMOUNT, no symlinks followed). Stacked mounts work the same way: unmounting the top one reveals
// the root of the one below. The parent reads the results over a pipe and kills the child at the deadline.
// Directories of pseudo filesystems (proc, sysfs, devpts, cgroup ...) and of remote/FUSE ones are not walked.
// A non-recursive bind mount of the parent (`mount --bind / /mnt/x`) shows the same to an operator.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "context/procfs.h"

namespace enospcd::doctor {

// The doctor is built on the host readers (context/): their names are used here as its own.
using namespace enospcd::context;  // NOLINT(google-build-using-namespace)

struct ShadowProbeOptions {
  std::string root = "/";
  int ns_pid = 0;  // probe this process's mount namespace (setns) instead of ours
  std::chrono::milliseconds timeout{5000};
  std::size_t max_mounts = 4000;
  uint64_t max_entries = 200000;  // entries walked in total
  bool include_remote = false;
};

struct ShadowEntry {
  int mount_id = 0;
  int error = 0;          // errno of the umount or of opening the directory; 0 when looked at
  bool walked = false;    // false: unmounted only (parent is a pseudo or remote filesystem)
  uint64_t entries = 0;   // entries directly in the hidden directory
  uint64_t bytes = 0;     // allocated bytes below it, on the parent filesystem (directories included)
  uint64_t files = 0;     // regular files below it
  uint64_t file_bytes = 0;  // allocated bytes of those files
  uint64_t visited = 0;   // entries walked
  bool truncated = false; // the walk stopped at a limit
  std::vector<std::string> sample;  // first few names
};

struct ShadowProbeResult {
  std::vector<ShadowEntry> entries;
  std::size_t planned = 0;  // mounts the child was asked to look at
  bool timed_out = false;
  std::string child_error;  // set when the child refused to start (no CAP_SYS_ADMIN, ...)
};

// Mounts in the order the child unmounts them: children before parents, siblings by shallower path first
// (a sibling mounted over another's path must go first, or the deeper one is unreachable). The root of the
// tree is never included.
std::vector<const MountInfo*> shadow_probe_order(const std::vector<MountInfo>& mounts);
// Parent filesystems whose directories are not worth walking (no user data).
bool is_pseudo_fstype(std::string_view fstype);

Result<ShadowProbeResult> probe_shadowed_mounts(const std::vector<MountInfo>& mounts, const ShadowProbeOptions& opts);

// The child's line protocol, exposed for tests:
//   "M <mount_id> <errno> <walked> <entries> <bytes> <visited> <truncated> <files> <file_bytes>"  per mount
//   "N <mount_id> <name, octal-escaped>"                                     sample names
//   "E <errno> <stage>"                                                      the child gave up
//   "T"                                                                      deadline reached
void parse_shadow_output(std::string_view text, ShadowProbeResult& out);

}  // namespace enospcd::doctor
