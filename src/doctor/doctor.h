// The doctor: a snapshot of the host conditions behind ENOSPC, no tracing needed. Each check turns the shared
// /proc scan (plus statfs and, optionally, a look under mount points) into findings with numbers, evidence
// and a remedy. Safe to call from the daemon: errors become findings or check statuses, never exceptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "doctor/scan.h"

namespace enospcd::doctor {

enum class Severity { info = 0, warning = 1, critical = 2 };
std::string_view to_string(Severity s);

struct Finding {
  std::string check;  // one of doctor_check_ids()
  Severity severity = Severity::info;
  std::string summary;  // one line, with the numbers
  std::string remedy;
  nlohmann::json evidence = nlohmann::json::object();
};

// Check ids, in the order they run.
inline constexpr std::string_view kCheckFsUsage = "fs_usage";
inline constexpr std::string_view kCheckMountCount = "mount_count";
inline constexpr std::string_view kCheckInotify = "inotify_watches";
inline constexpr std::string_view kCheckFanotify = "fanotify_marks";
inline constexpr std::string_view kCheckEpoll = "epoll_watches";
inline constexpr std::string_view kCheckGhostSpace = "ghost_space";
inline constexpr std::string_view kCheckOrphanedFs = "orphaned_fs";
inline constexpr std::string_view kCheckDState = "d_state";
inline constexpr std::string_view kCheckIpc = "ipc_ids";
inline constexpr std::string_view kCheckShadowedMounts = "shadowed_mounts";
const std::vector<std::string_view>& doctor_check_ids();

struct DoctorOptions {
  std::string root = "/";           // a fake tree in tests
  std::vector<std::string> checks;  // empty: all
  unsigned threads = 0;             // scan workers; 0: min(hardware threads, 8)

  double warning_pct = 90;   // usage at or above: warning
  double critical_pct = 98;  // usage at or above (or nothing left): critical
  std::size_t top_n = 5;     // holders/namespaces/sources listed in evidence

  uint64_t tiny_tmpfs_inodes = 4096;  // tmpfs with fewer inodes than this is pointed out
  bool include_remote = false;        // statfs NFS/CIFS/FUSE too (can block on a dead server)

  uint64_t ghost_min_bytes = 1u << 20;  // deleted-but-open files smaller than this are only counted
  bool scan_maps = true;  // read every /proc/<pid>/maps for deleted or orphaned mapped files (a third of the scan)

  bool thread_states = true;  // look at every thread for D state
  std::chrono::milliseconds d_state_recheck{100};  // D must persist this long to be reported

  // shadowed_mounts needs CAP_SYS_ADMIN and the real root; it forks a child into a private copy of the mount
  // namespace and unmounts there (see shadow.h). Bounded by these limits.
  bool shadowed_mounts = true;
  int shadowed_mounts_pid = 0;  // look at this process's mount namespace instead of ours
  std::chrono::milliseconds shadow_timeout{5000};
  std::size_t shadow_max_mounts = 4000;
  uint64_t shadow_max_entries = 200000;  // directory entries walked under all mount points together
};

struct CheckStatus {
  std::string id;
  std::string status;  // "ok" (only info findings), "findings", "skipped", "error"
  std::string detail;  // why skipped, what was partial
  std::size_t findings = 0;
  Severity worst = Severity::info;
  double duration_ms = 0;
};

struct DoctorReport {
  std::string root;
  std::vector<Finding> findings;  // most severe first, then in check order
  std::vector<CheckStatus> checks;
  ScanStats scan;
  std::size_t mount_namespaces = 0;
  nlohmann::json sysctls = nlohmann::json::object();
  double duration_ms = 0;
};

DoctorReport run_doctor(const DoctorOptions& opts);

nlohmann::json to_json(const Finding& f);
nlohmann::json to_json(const CheckStatus& c);
nlohmann::json to_json(const DoctorReport& r);

// Entry for the API and the daemon: run_doctor + to_json.
nlohmann::json doctor_json(const DoctorOptions& opts);

}  // namespace enospcd::doctor
