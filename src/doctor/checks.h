// The doctor's checks. Each takes the shared snapshot and returns findings; the ones that need more than the
// snapshot (statfs, kcmp, sysvipc) split into a gather step and a pure evaluate step that unit tests drive
// with synthetic numbers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "doctor/doctor.h"
#include "context/fs.h"
#include "doctor/scan.h"

namespace enospcd::doctor::checks {

struct CheckResult {
  std::vector<Finding> findings;
  std::string skipped;  // non-empty: the check did not run, and why
  std::string detail;   // partial results, caveats
};

// {"pid", "comm", "uid", "container"?} for evidence lists.
nlohmann::json process_json(const ProcessInfo& p);
// "pid 123 (nginx)"
std::string process_label(const ProcessInfo& p);

// ---- fs_usage
struct FsUsageEntry {
  dev_t dev = 0;
  std::string fstype;
  std::string source;
  std::vector<std::string> mount_points;  // first few, as seen from the first namespace listing the device
  std::size_t namespaces = 0;             // how many mount namespaces mount it
  FsStats stats;
};
std::vector<FsUsageEntry> gather_fs_usage(const HostSnapshot& host, const DoctorOptions& opts, std::string& detail);
std::vector<Finding> evaluate_fs_usage(const std::vector<FsUsageEntry>& fs, const DoctorOptions& opts);
CheckResult fs_usage(const HostSnapshot& host, const DoctorOptions& opts);

// ---- mount_count
CheckResult mount_count(const HostSnapshot& host, const DoctorOptions& opts);

// ---- inotify_watches / fanotify_marks / epoll_watches
enum class WatchKind { inotify, fanotify, epoll };
struct WatchInstance {
  int pid = 0;
  int fd = -1;
  uint32_t euid = 0;
  std::size_t count = 0;        // watches, marks or epoll targets charged to the user
  std::size_t uncounted = 0;    // marks of a FAN_UNLIMITED_MARKS group: held, but not charged
  uint64_t content_hash = 0;    // equal for fds that may be one shared file
  std::vector<int> sharing_pids;  // other processes holding the same file (found with kcmp)
};
// Same open file seen from two fds? The real one is kcmp(KCMP_FILE); tests pass their own.
using SameFileFn = std::function<bool(int pid_a, int fd_a, int pid_b, int fd_b)>;
SameFileFn kcmp_same_file();  // nullptr-like empty function when kcmp(2) is unavailable
std::vector<WatchInstance> collect_watch_instances(const HostSnapshot& host, WatchKind kind,
                                                   const SameFileFn& same_file);
struct WatchLimits {
  std::optional<uint64_t> per_user;            // watches / marks
  std::optional<uint64_t> instances_per_user;  // instances / groups
};
std::vector<Finding> evaluate_watches(WatchKind kind, const std::vector<WatchInstance>& instances,
                                      const WatchLimits& limits, const HostSnapshot& host, const DoctorOptions& opts,
                                      bool deduplicated);
CheckResult inotify_watches(const HostSnapshot& host, const DoctorOptions& opts);
CheckResult fanotify_marks(const HostSnapshot& host, const DoctorOptions& opts);
CheckResult epoll_watches(const HostSnapshot& host, const DoctorOptions& opts);

// ---- ghost_space / orphaned_fs
CheckResult ghost_space(const HostSnapshot& host, const DoctorOptions& opts);
CheckResult orphaned_fs(const HostSnapshot& host, const DoctorOptions& opts);

// ---- d_state
CheckResult d_state(const HostSnapshot& host, const DoctorOptions& opts);

// ---- ipc_ids: SysV shm/msg/sem ids and mqueue queues of the doctor's IPC namespace
struct SysvIpcTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::optional<std::size_t> column(std::string_view name) const;
};
SysvIpcTable parse_sysvipc(std::string_view text);
CheckResult ipc_ids(const HostSnapshot& host, const DoctorOptions& opts);

// ---- shadowed_mounts
CheckResult shadowed_mounts(const HostSnapshot& host, const DoctorOptions& opts);

}  // namespace enospcd::doctor::checks
