// The kernel functions known to make (or pass on) the watched errors, in one table: where each one sits and
// which cause it points at. The loader attaches a probe to each one the running kernel has; the diagnosis reads
// the cause of the innermost one that failed. Names differ between kernels (tmpfs accounting especially): every
// alternative is listed and probing picks what exists. A function inlined into its caller on some kernels is
// covered by listing the caller too.
#pragma once

#include <string_view>
#include <vector>

namespace enospcd {

struct Origin {
  std::string_view func;
  // mount, namespace, tmpfs, ext4, xattr, quota, inotify, fanotify, epoll, ipc, mqueue, pty, device, cgroup,
  // overlay
  std::string_view subsystem;
  // The cause id a failure of this function points at; empty for a layer the error passes through (overlayfs),
  // which names where the call went but not what refused it.
  std::string_view cause;
  bool null_is_error = false;  // a NULL pointer return means "no space" (5.10's shmem_get_inode)
};

const std::vector<Origin>& origin_table();

// The table's entry for a function, or nullptr (a --probe function is in no table).
const Origin* find_origin(std::string_view func);

}  // namespace enospcd
