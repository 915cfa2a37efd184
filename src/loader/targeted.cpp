#include "loader/targeted.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/names.h"

namespace enospcd {
namespace {

constexpr unsigned kSpace = 1;  // ENOSPC
constexpr unsigned kQuota = 2;  // EDQUOT

struct Entry {
  TargetedSyscall syscall;
  unsigned errnos;
};

// Kept in the order of docs/targeted.md, which a test compares with this table.
const std::vector<Entry>& table() {
  static const std::vector<Entry> t = {
      {{"write", "writes data: a full filesystem or tmpfs (size=), a quota XFS reports as ENOSPC, a cgroup file "
                 "(cpuset)"}, kSpace | kQuota},
      {{"pwrite64", "writes data, as write(2)"}, kSpace | kQuota},
      {{"writev", "writes data, as write(2)"}, kSpace | kQuota},
      {{"pwritev", "writes data, as write(2)"}, kSpace | kQuota},
      {{"pwritev2", "writes data, as write(2)"}, kSpace | kQuota},
      {{"fallocate", "reserves blocks"}, kSpace | kQuota},
      {{"truncate", "a size change may need blocks or metadata (extents, btrfs)"}, kSpace | kQuota},
      {{"ftruncate", "a size change may need blocks or metadata (extents, btrfs)"}, kSpace | kQuota},
      {{"open", "creates an inode (O_CREAT, O_TMPFILE: tmpfs nr_inodes=, a full inode table) or takes a pty "
                "index (/dev/ptmx: kernel.pty.max)"}, kSpace | kQuota},
      {{"openat", "as open(2)"}, kSpace | kQuota},
      {{"openat2", "as open(2)"}, kSpace | kQuota},
      {{"creat", "as open(2)"}, kSpace | kQuota},
      {{"mkdir", "creates an inode and a directory block"}, kSpace | kQuota},
      {{"mkdirat", "as mkdir(2)"}, kSpace | kQuota},
      {{"mknod", "creates an inode"}, kSpace | kQuota},
      {{"mknodat", "as mknod(2)"}, kSpace | kQuota},
      {{"symlink", "creates an inode and, for a long target, a block"}, kSpace | kQuota},
      {{"symlinkat", "as symlink(2)"}, kSpace | kQuota},
      {{"link", "adds a directory entry, which may need a block (ext4's directory index full)"}, kSpace | kQuota},
      {{"linkat", "as link(2)"}, kSpace | kQuota},
      {{"rename", "adds a directory entry, which may need a block"}, kSpace | kQuota},
      {{"renameat", "as rename(2)"}, kSpace | kQuota},
      {{"renameat2", "as rename(2)"}, kSpace | kQuota},
      {{"unlink", "btrfs reserves metadata space to delete"}, kSpace},
      {{"unlinkat", "as unlink(2)"}, kSpace},
      {{"rmdir", "as unlink(2)"}, kSpace},
      {{"setxattr", "stores an extended attribute: xattr space, tmpfs nr_inodes="}, kSpace | kQuota},
      {{"lsetxattr", "as setxattr(2)"}, kSpace | kQuota},
      {{"fsetxattr", "as setxattr(2)"}, kSpace | kQuota},
      {{"removexattr", "btrfs reserves metadata space to change an inode"}, kSpace},
      {{"lremovexattr", "as removexattr(2)"}, kSpace},
      {{"fremovexattr", "as removexattr(2)"}, kSpace},
      {{"chmod", "rewrites a POSIX ACL's extended attribute; btrfs reserves metadata to update the inode"},
       kSpace | kQuota},
      {{"fchmod", "as chmod(2)"}, kSpace | kQuota},
      {{"fchmodat", "as chmod(2)"}, kSpace | kQuota},
      {{"fchmodat2", "as chmod(2)"}, kSpace | kQuota},
      {{"chown", "moves the file's usage to another quota; btrfs reserves metadata to update the inode"},
       kSpace | kQuota},
      {{"fchown", "as chown(2)"}, kSpace | kQuota},
      {{"lchown", "as chown(2)"}, kSpace | kQuota},
      {{"fchownat", "as chown(2)"}, kSpace | kQuota},
      {{"utime", "btrfs reserves metadata to update the inode"}, kSpace},
      {{"utimes", "as utime(2)"}, kSpace},
      {{"utimensat", "as utime(2)"}, kSpace},
      {{"futimesat", "as utime(2)"}, kSpace},
      {{"fsync", "reports an error from writeback: delayed allocation meeting a full filesystem"}, kSpace | kQuota},
      {{"fdatasync", "as fsync(2)"}, kSpace | kQuota},
      {{"sync_file_range", "as fsync(2)"}, kSpace | kQuota},
      {{"syncfs", "as fsync(2), for a whole filesystem"}, kSpace | kQuota},
      {{"msync", "as fsync(2), for a shared mapping"}, kSpace | kQuota},
      {{"close", "network filesystems (NFS, CIFS) report a deferred write error at close"}, kSpace | kQuota},
      {{"copy_file_range", "writes data into a file"}, kSpace | kQuota},
      {{"sendfile", "writes data into a file"}, kSpace | kQuota},
      {{"splice", "writes data into a file"}, kSpace | kQuota},
      {{"ioctl", "filesystem and driver ioctls: FICLONE, FIDEDUPERANGE, btrfs, ext4 resize, loop devices"},
       kSpace | kQuota},
      {{"mount", "adds mounts: fs.mount-max per mount namespace"}, kSpace},
      {{"move_mount", "as mount(2)"}, kSpace},
      {{"open_tree", "copies a tree of mounts (OPEN_TREE_CLONE): fs.mount-max"}, kSpace},
      {{"fsmount", "as mount(2)"}, kSpace},
      {{"fsconfig", "creates a superblock (FSCONFIG_CMD_CREATE)"}, kSpace},
      {{"unshare", "copies the mount namespace (fs.mount-max) or makes namespaces past user.max_*_namespaces"},
       kSpace},
      {{"clone", "as unshare(2)"}, kSpace},
      {{"clone3", "as unshare(2)"}, kSpace},
      {{"inotify_add_watch", "fs.inotify.max_user_watches"}, kSpace},
      {{"fanotify_mark", "fs.fanotify.max_user_marks"}, kSpace},
      {{"epoll_ctl", "fs.epoll.max_user_watches"}, kSpace},
      {{"msgget", "System V message queue ids (kernel.msgmni)"}, kSpace},
      {{"semget", "System V semaphore ids and semaphores (kernel.sem)"}, kSpace},
      {{"shmget", "System V shared memory ids and pages (kernel.shmmni, kernel.shmall)"}, kSpace},
      {{"semop", "no undo structure for SEM_UNDO"}, kSpace},
      {{"semtimedop", "as semop(2)"}, kSpace},
      {{"mq_open", "POSIX message queues (fs.mqueue.queues_max)"}, kSpace},
      {{"bpf", "a verifier log buffer too small (BPF_PROG_LOAD, BPF_BTF_LOAD)"}, kSpace},
      {{"perf_event_open", "no hardware breakpoint slot left"}, kSpace},
      {{"bind", "creates the socket inode of an AF_UNIX address"}, kSpace | kQuota},
      {{"add_key", "the owner's key quota (kernel.keys.maxbytes, maxkeys)"}, kQuota},
      {{"keyctl", "as add_key(2)"}, kQuota},
      {{"request_key", "as add_key(2)"}, kQuota},
  };
  return t;
}

// Where the entry function's name is not the syscall's (x86_64 and arm64 enter sendfile(2) through sys_sendfile64).
std::string entry_name(const std::string& syscall) { return syscall == "sendfile" ? "sendfile64" : syscall; }

struct Prefixes {
  const char* native;
  std::vector<const char*> compat;  // the first one the kernel has
};

// The syscall wrappers' prefixes of each architecture (x86_64 since v4.17, arm64 since v4.19): native, then
// compat. The kernel's own BTF tells which ones it has: the set whose native read(2) entry it holds.
const Prefixes kPrefixes[] = {
    {"__x64_sys_", {"__ia32_compat_sys_", "__ia32_sys_"}},
    {"__arm64_sys_", {"__arm64_compat_sys_"}},
};

const Prefixes* probe_prefixes(const BtfFunctions& btf_functions) {
  for (const auto& p : kPrefixes)
    if (btf_functions.count(std::string(p.native) + "read")) return &p;
  return nullptr;
}

}  // namespace

const std::vector<TargetedSyscall>& enospc_syscalls() {
  static const std::vector<TargetedSyscall> out = [] {
    std::vector<TargetedSyscall> v;
    for (const auto& e : table()) v.push_back(e.syscall);
    return v;
  }();
  return out;
}

Result<std::vector<std::string>> targeted_set(const std::vector<int>& errnos, const std::vector<std::string>& edits) {
  unsigned want = 0;
  for (int e : errnos) {
    if (e == ENOSPC)
      want |= kSpace;
    else if (e == EDQUOT)
      want |= kQuota;
    else
      return make_error("no syscall set is derived for " + errno_name(e) + " (targeted mode knows ENOSPC and EDQUOT)",
                        EINVAL);
  }
  std::vector<std::string> set;
  auto has = [&](const std::string& n) { return std::find(set.begin(), set.end(), n) != set.end(); };
  for (const auto& e : table())
    if ((e.errnos & want) && syscall_number(e.syscall.name)) set.emplace_back(e.syscall.name);
  for (const auto& raw : edits) {
    bool drop = !raw.empty() && raw[0] == '-';
    std::string name = !raw.empty() && (raw[0] == '-' || raw[0] == '+') ? raw.substr(1) : raw;
    if (!syscall_number(name))
      return make_error("--targeted-syscalls: \"" + name + "\" is not a syscall of this architecture", EINVAL);
    if (drop)
      set.erase(std::remove(set.begin(), set.end(), name), set.end());
    else if (!has(name))
      set.push_back(name);
  }
  return set;
}

std::vector<EntryFunctions> entry_functions(const std::vector<std::string>& syscalls, const BtfFunctions& btf_functions) {
  const Prefixes* found = probe_prefixes(btf_functions);
  static const Prefixes kNone = {"", {}};
  const Prefixes& p = found ? *found : kNone;
  std::vector<EntryFunctions> out;
  for (const auto& s : syscalls) {
    EntryFunctions e{s, {}};
    if (!found) {
      out.push_back(std::move(e));
      continue;
    }
    // The function the syscall table names first: __x64_sys_sendfile exists too, but x86_64's sendfile(2) is
    // sendfile64's.
    for (const std::string& name : {entry_name(s), s}) {
      std::string native = p.native + name;
      if (btf_functions.count(native)) {
        e.functions.push_back(native);
        break;
      }
    }
    for (const char* prefix : p.compat) {
      std::string compat = prefix + s;
      if (btf_functions.count(compat) &&
          std::find(e.functions.begin(), e.functions.end(), compat) == e.functions.end()) {
        e.functions.push_back(compat);
        break;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<BtfFunctions> kernel_syscall_functions() {
  std::unique_ptr<btf, void (*)(btf*)> b(btf__load_vmlinux_btf(), btf__free);
  if (!b) return make_error(std::string("cannot read the kernel's BTF: ") + strerror(errno), errno);
  BtfFunctions out;
  const uint32_t n = btf__type_cnt(b.get());
  for (uint32_t id = 1; id < n; id++) {
    const btf_type* t = btf__type_by_id(b.get(), id);
    if (!t || !btf_is_func(t)) continue;
    const char* name = btf__name_by_offset(b.get(), t->name_off);
    if (name && name[0] == '_' && name[1] == '_' && std::strstr(name, "_sys_")) out.emplace(name, t->type);
  }
  return out;
}

}  // namespace enospcd
