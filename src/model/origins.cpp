#include "model/origins.h"

#include <algorithm>

namespace enospcd {

const std::vector<Origin>& origin_table() {
  // Innermost producers first within each subsystem; the chain's order comes from the order of return anyway.
  static const std::vector<Origin> table = {
      // Mount: count_mounts() compares the namespace's mounts with fs.mount-max (fs/namespace.c).
      {"count_mounts", "mount", "mount_max"},
      {"attach_recursive_mnt", "mount", ""},
      {"graft_tree", "mount", ""},
      {"do_add_mount", "mount", ""},
      {"do_new_mount", "mount", ""},
      {"do_loopback", "mount", ""},
      {"do_move_mount", "mount", ""},
      {"path_mount", "mount", ""},
      {"do_mount", "mount", ""},
      {"__do_loopback", "mount", ""},
      {"vfs_create_mount", "mount", ""},
      {"alloc_mnt_ns", "namespace", "namespace_limit"},
      {"copy_mnt_ns", "namespace", "namespace_limit"},
      {"create_new_namespaces", "namespace", "namespace_limit"},
      // tmpfs/shmem: inode and block accounting, named differently across kernels.
      {"shmem_reserve_inode", "tmpfs", "tmpfs_inodes"},
      {"shmem_link", "tmpfs", "tmpfs_inodes"},  // shmem_reserve_inode is inlined into it on 6.1 and 6.12
      {"shmem_get_inode", "tmpfs", "tmpfs_inodes", true},  // returned NULL on failure before v6.3
      {"__shmem_get_inode", "tmpfs", "tmpfs_inodes"},
      {"shmem_inode_acct_blocks", "tmpfs", "tmpfs_blocks"},
      {"shmem_inode_acct_block", "tmpfs", "tmpfs_blocks"},
      {"shmem_acct_block", "tmpfs", "tmpfs_blocks"},
      {"shmem_alloc_and_add_folio", "tmpfs", "tmpfs_blocks"},
      {"shmem_alloc_and_acct_folio", "tmpfs", "tmpfs_blocks"},
      {"shmem_alloc_and_acct_page", "tmpfs", "tmpfs_blocks"},
      {"shmem_get_folio_gfp", "tmpfs", ""},
      {"shmem_getpage_gfp", "tmpfs", ""},
      {"shmem_mknod", "tmpfs", ""},
      {"shmem_fallocate", "tmpfs", "tmpfs_blocks"},  // its own check of the size, before any page is charged
      // ext4 block and inode allocation.
      {"ext4_claim_free_clusters", "ext4", "fs_blocks"},
      {"ext4_da_reserve_space", "ext4", "fs_blocks"},
      {"__ext4_new_inode", "ext4", "fs_inodes"},
      {"ext4_xattr_set_handle", "xattr", "xattr_space"},
      // Disk quotas (fs/quota/dquot.c): dquot_add_space()/dquot_add_inodes() compare the charge with the limits
      // and return -EDQUOT; __dquot_alloc_space()/dquot_alloc_inode() are what filesystems call.
      {"dquot_add_space", "quota", "quota"},
      {"dquot_add_inodes", "quota", "quota"},
      {"__dquot_alloc_space", "quota", "quota"},
      {"dquot_alloc_inode", "quota", "quota"},
      // Watch and id limits. inotify_new_watch() is inlined into inotify_update_watch() and ep_insert() into
      // do_epoll_ctl() on Debian's kernels; SEMMNS is checked in newary(), SHMALL in newseg().
      {"inotify_new_watch", "inotify", "inotify_watches"},
      {"inotify_update_watch", "inotify", "inotify_watches"},
      {"fanotify_add_new_mark", "fanotify", "fanotify_marks"},
      {"ep_insert", "epoll", "epoll_watches"},
      {"do_epoll_ctl", "epoll", "epoll_watches"},
      {"ipc_addid", "ipc", "sysv_ipc"},
      {"newseg", "ipc", "sysv_ipc"},
      {"newary", "ipc", "sysv_ipc"},
      {"mqueue_create_attr", "mqueue", "mqueue"},
      // A pty index: the host's kernel.pty.max or the devpts instance's max= (fs/devpts/inode.c).
      {"devpts_new_index", "pty", "pty"},
      // /dev/full refuses every write (drivers/char/mem.c).
      {"write_full", "device", "device"},
      // A new cgroup's memory controller state, refused when no memory cgroup id is left (mm/memcontrol.c:
      // mem_cgroup_alloc() is inlined into it).
      {"mem_cgroup_css_alloc", "cgroup", "cgroup_ids"},
      // overlayfs passes a write on to its upper layer: the layer the explanation names.
      {"ovl_write_iter", "overlay", ""},
  };
  return table;
}

const Origin* find_origin(std::string_view func) {
  const auto& t = origin_table();
  auto it = std::find_if(t.begin(), t.end(), [&](const Origin& o) { return o.func == func; });
  return it == t.end() ? nullptr : &*it;
}

}  // namespace enospcd
