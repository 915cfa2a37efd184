// The sysctls behind the kernel's ENOSPC limits, read from <root>/proc/sys. A missing knob (older kernel,
// CONFIG off) stays empty rather than failing the whole read.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace enospcd::context {

struct Sysctls {
  std::optional<uint64_t> mount_max;                   // fs.mount-max: mounts per mount namespace
  std::optional<uint64_t> inotify_max_user_watches;    // per user
  std::optional<uint64_t> inotify_max_user_instances;  // per user
  std::optional<uint64_t> fanotify_max_user_marks;     // fs.fanotify.*, since 5.13
  std::optional<uint64_t> fanotify_max_user_groups;
  std::optional<uint64_t> epoll_max_user_watches;
  std::optional<uint64_t> shmmni;  // SysV shm ids per IPC namespace
  std::optional<uint64_t> shmall;  // pages
  std::optional<uint64_t> shmmax;  // bytes per segment
  std::optional<uint64_t> msgmni;
  std::optional<std::array<uint64_t, 4>> sem;  // SEMMSL SEMMNS SEMOPM SEMMNI
  std::optional<uint64_t> mqueue_queues_max;
  std::optional<uint64_t> mqueue_msg_max;
  std::optional<uint64_t> pty_max;      // kernel.pty.max: ptys on the host
  std::optional<uint64_t> pty_reserve;  // kernel.pty.reserve: of those, kept for the initial namespace's devpts
  std::optional<uint64_t> pty_nr;       // kernel.pty.nr: ptys open now
  std::map<std::string, uint64_t> max_namespaces;  // "mnt" -> user.max_mnt_namespaces, ...
};

// "fs.inotify.max_user_watches" -> "<root>/proc/sys/fs/inotify/max_user_watches"
std::string sysctl_path(std::string_view root, std::string_view name);
Result<std::string> read_sysctl(std::string_view root, std::string_view name);
Result<uint64_t> read_sysctl_u64(std::string_view root, std::string_view name);

Sysctls read_sysctls(std::string_view root);
nlohmann::json to_json(const Sysctls& s);

}  // namespace enospcd::context
