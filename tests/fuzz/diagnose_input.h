// The input of the diagnose fuzz target: an Event and every answer of a fake HostFacts, read from the fuzz
// input with FuzzedDataProvider. visit() is the one description of the layout: the harness runs it with a
// Reader, the seed writer (write_seeds.cpp) with a Writer that produces the bytes a Reader turns back into the
// same scenario, so the checked-in seeds are readable scenarios rather than opaque bytes.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/names.h"
#include "diagnose/diagnose.h"
#include "model/event.h"

namespace enospcd::fuzz {

// Everything diagnose() can see. HostFacts answers are consumed in call order; an exhausted list answers
// nullopt (fs_for_path, fs_for_dev) or the failing pid (pid_in_mntns, like the interface's default).
struct DiagnoseScenario {
  Event event;
  context::Sysctls sysctls;
  std::vector<std::optional<diagnose::PathFs>> path_answers, dev_answers;
  std::vector<std::optional<uint32_t>> viewers;
  std::optional<uint64_t> inotify_watches, fanotify_marks;
  std::vector<std::pair<std::string, uint64_t>> top_sources;
};

constexpr uint32_t kTmpfsMagic = 0x01021994;
constexpr uint32_t kExt4Magic = 0xEF53;

// Reads values with FuzzedDataProvider: numbers from the end of the input, string bytes from the front.
class Reader {
 public:
  explicit Reader(FuzzedDataProvider& p) : p_(p) {}
  template <class T>
  void num(T& v, T lo = std::numeric_limits<T>::min(), T hi = std::numeric_limits<T>::max()) {
    v = p_.ConsumeIntegralInRange<T>(lo, hi);
  }
  void flag(bool& b) { b = p_.ConsumeBool(); }
  void bytes(std::string& s, std::size_t max) {
    s = p_.ConsumeBytesAsString(p_.ConsumeIntegralInRange<std::size_t>(0, max));
  }

 private:
  FuzzedDataProvider& p_;
};

// Index of v in list, list.size() when absent.
template <class List, class T>
std::size_t index_in(const List& list, const T& v) {
  return static_cast<std::size_t>(std::find(list.begin(), list.end(), v) - list.begin());
}

// One of the list's strings, else free bytes (at most max).
template <class Io, class List>
void pick_from(Io& io, std::string& s, const List& list, std::size_t max) {
  std::size_t i = index_in(list, s);
  io.num(i, std::size_t{0}, list.size());
  if (i < list.size())
    s = *(list.begin() + i);
  else
    io.bytes(s, max);
}
template <class Io>
void pick(Io& io, std::string& s, std::initializer_list<const char*> list, std::size_t max) {
  pick_from(io, s, list, max);
}
template <class Io>
void pick(Io& io, std::string& s, const std::vector<std::string>& list, std::size_t max) {
  pick_from(io, s, list, max);
}

// One of the list's numbers, else any value of the type.
template <class Io, class T, class List>
void pick_num_from(Io& io, T& v, const List& list) {
  std::size_t i = index_in(list, v);
  io.num(i, std::size_t{0}, list.size());
  if (i < list.size())
    v = static_cast<T>(*(list.begin() + i));
  else
    io.num(v);
}
template <class Io, class T>
void pick_num(Io& io, T& v, std::initializer_list<std::type_identity_t<T>> list) {
  pick_num_from(io, v, list);
}

template <class Io, class T, class F>
void maybe(Io& io, std::optional<T>& o, F&& f) {
  bool has = o.has_value();
  io.flag(has);
  if (!has) {
    o.reset();
    return;
  }
  if (!o) o = T{};
  f(*o);
}

template <class Io, class T, class F>
void list_of(Io& io, std::vector<T>& v, std::size_t max, F&& f) {
  std::size_t n = v.size();
  io.num(n, std::size_t{0}, max);
  v.resize(n);
  for (auto& x : v) f(x);
}

inline const std::vector<std::string>& relevant_syscalls() {
  static const std::vector<std::string> v = {
      "mount", "move_mount", "fsmount", "open_tree", "pivot_root", "open", "openat", "openat2", "creat", "mkdir",
      "mknodat", "symlink", "link", "rename", "write", "pwrite64", "writev", "fallocate", "ftruncate",
      "copy_file_range", "splice", "unshare", "clone", "clone3", "setns", "inotify_add_watch", "inotify_init1",
      "fanotify_mark", "epoll_ctl", "shmget", "semget", "msgget", "mq_open", "setxattr", "fsetxattr", "fsync",
      "fdatasync", "close", "msync", "syncfs", "bpf", "io_uring_enter"};
  return v;
}

// The origin functions of the diagnosis's table (origin_causes() in src/diagnose/diagnose.cpp).
inline const std::vector<std::string>& cause_origins() {
  static const std::vector<std::string> v = {
      "count_mounts", "shmem_reserve_inode", "shmem_get_inode", "__shmem_get_inode", "shmem_inode_acct_blocks",
      "shmem_inode_acct_block", "shmem_acct_block", "shmem_alloc_and_add_folio", "shmem_alloc_and_acct_folio",
      "shmem_alloc_and_acct_page", "ext4_claim_free_clusters", "ext4_da_reserve_space", "__ext4_new_inode",
      "ext4_xattr_set_handle", "dquot_add_space", "dquot_add_inodes", "__dquot_alloc_space", "dquot_alloc_inode",
      "inotify_new_watch", "fanotify_add_new_mark", "ep_insert", "ipc_addid", "newseg", "mqueue_create_attr",
      "alloc_mnt_ns", "copy_mnt_ns", "create_new_namespaces", "mem_cgroup_css_alloc"};
  return v;
}

// Names a chain link can carry: the origins above, then functions that map to no cause.
inline const std::vector<std::string>& chain_functions() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> all = cause_origins();
    for (const char* f : {"attach_recursive_mnt", "graft_tree", "do_add_mount", "path_mount", "shmem_mknod",
                          "ext4_mb_new_blocks", "vfs_write", "origin_41"})
      all.emplace_back(f);
    return all;
  }();
  return v;
}

constexpr std::initializer_list<const char*> kFstypes = {"", "tmpfs", "ext4", "xfs", "btrfs", "overlay", "nfs4"};

// Superblock magics: none, tmpfs, ext2/3/4, xfs, btrfs, overlayfs, cgroup2, cgroup.
constexpr std::initializer_list<uint64_t> kMagics = {0,          kTmpfsMagic, kExt4Magic, 0x58465342,
                                                     0x9123683E, 0x794c7630,  0x63677270, 0x27e0eb};

template <class Io>
void visit(Io& io, diagnose::PathFs& fs) {
  pick(io, fs.mount_point, {"/mnt/ci-cache", "/", "/tmp", "/var/lib/docker", "/home", "/sys/fs/cgroup"}, 64);
  pick(io, fs.fstype, kFstypes, 16);
  pick(io, fs.source, {"tmpfs", "/dev/sda1", "/dev/loop0", "overlay", "none"}, 32);
  pick(io, fs.super_options,
       {"rw", "rw,size=8192k,nr_inodes=64", "rw,nr_inodes=16", "rw,size=1024k", "rw,relatime,errors=remount-ro",
        "size=,nr_inodes=", "nr_inodes"},
       64);
  auto& s = fs.stats;
  pick_num_from(io, s.magic, kMagics);
  pick_num(io, s.block_size, {4096, 1024, 0});
  for (uint64_t* n : {&s.blocks, &s.blocks_free, &s.blocks_avail, &s.inodes, &s.inodes_free})
    pick_num(io, *n, {0, 1, 64, 2048});
}

template <class Io>
void visit(Io& io, FileInfo& f) {
  io.num(f.dev);
  uint64_t magic = f.magic;
  pick_num_from(io, magic, kMagics);
  f.magic = static_cast<uint32_t>(magic);
  io.num(f.ino);
  pick(io, f.fstype, kFstypes, 16);
  pick(io, f.name, {"obj1.o", ""}, 64);
  for (uint64_t* n : {&f.shmem_max_blocks, &f.shmem_used_blocks, &f.shmem_max_inodes, &f.shmem_free_inodes})
    pick_num(io, *n, {0, 64, 2048});
}

template <class Io>
void visit(Io& io, Event& e) {
  // The syscall: a relevant one, any number (named by the build's table), or free text.
  const auto& calls = relevant_syscalls();
  std::size_t mode = index_in(calls, e.syscall) < calls.size() ? 0 : syscall_number(e.syscall) ? 1 : 2;
  io.num(mode, std::size_t{0}, std::size_t{2});
  if (mode == 0) {
    std::size_t i = index_in(calls, e.syscall);
    io.num(i, std::size_t{0}, calls.size() - 1);
    e.syscall = calls[i];
  } else if (mode == 1) {
    uint32_t nr = syscall_number(e.syscall).value_or(e.syscall_nr);
    io.num(nr);
    e.syscall_nr = nr;
    e.syscall = syscall_name(nr);
  } else {
    io.bytes(e.syscall, 24);
  }
  if (mode != 1) e.syscall_nr = syscall_number(e.syscall).value_or(0);
  pick_num(io, e.err, {28, 122});
  e.errno_name = errno_name(e.err);
  pick_num(io, e.ret, {-28, -122});

  io.num(e.pid);
  io.num(e.ppid);
  io.num(e.uid);
  pick(io, e.comm, {"touch", "dd", "mount", "containerd"}, ENOSPCD_COMM_LEN);
  pick(io, e.path, {"", "/mnt/ci-cache/obj70.o", "obj1.o", "/tmp/t9/obj8.o", "none", "../x"}, ENOSPCD_PATH_LEN);
  pick(io, e.path2, {"", "/mnt/target"}, ENOSPCD_PATH_LEN);

  io.flag(e.has_mntns);
  io.num(e.mntns);
  io.num(e.mnt_count);
  io.num(e.mnt_pending);
  maybe(io, e.mount_max, [&](uint32_t& v) { io.num(v); });
  maybe(io, e.ipc, [&](Event::IpcLimits& l) {
    io.num(l.inum);
    io.num(l.shm_ctlmni);
    io.num(l.msg_ctlmni);
    io.num(l.mq_queues_max);
    io.num(l.sem_ctlmni);
  });
  // The user namespace and its limit come together (one flag in the record).
  bool userns = e.userns.has_value();
  io.flag(userns);
  if (userns) {
    uint32_t inum = e.userns.value_or(0);
    int64_t max = e.userns_max_mnt.value_or(0);
    io.num(inum);
    io.num(max);
    e.userns = inum, e.userns_max_mnt = max;
  } else {
    e.userns.reset(), e.userns_max_mnt.reset();
  }
  io.flag(e.args_valid);
  if (e.args_valid)
    for (auto& a : e.args) pick_num(io, a, {0, 0x41 /* O_WRONLY|O_CREAT */, 0x20000 /* CLONE_NEWNS */});

  maybe(io, e.file, [&](FileInfo& f) { visit(io, f); });
  list_of(io, e.chain, ENOSPCD_CHAIN_MAX, [&](ChainLink& l) {
    pick(io, l.func, chain_functions(), ENOSPCD_FNAME_LEN);
    pick_num(io, l.ret, {-28, -122, 0});
  });

  // The container as the daemon attributes it: none, or an object with a name or an id.
  std::size_t container = e.container ? (!e.container->name.empty() ? 1 : 2) : 0;
  io.num(container, std::size_t{0}, std::size_t{2});
  if (container == 0) {
    e.container.reset();
  } else {
    std::string v = e.container ? (container == 1 ? e.container->name : e.container->id) : "";
    io.bytes(v, 72);
    e.container = ContainerRef{};
    (container == 1 ? e.container->name : e.container->id) = v;
  }
  maybe(io, e.memcg, [&](MemcgHierarchy& m) {
    io.num(m.hierarchy);
    pick_num(io, m.descendants, {0, 65533, 65534, -1});
    pick_num(io, m.dying, {0, 1, 2000});
  });
}

template <class Io>
void visit(Io& io, context::Sysctls& s) {
  for (auto* v : {&s.mount_max, &s.inotify_max_user_watches, &s.fanotify_max_user_marks, &s.epoll_max_user_watches,
                  &s.shmmni, &s.msgmni, &s.mqueue_queues_max})
    maybe(io, *v, [&](uint64_t& n) { pick_num(io, n, {14, 8192}); });
  maybe(io, s.sem, [&](std::array<uint64_t, 4>& a) {
    for (auto& n : a) io.num(n);
  });
  std::vector<std::pair<std::string, uint64_t>> ns(s.max_namespaces.begin(), s.max_namespaces.end());
  list_of(io, ns, 3, [&](std::pair<std::string, uint64_t>& kv) {
    pick(io, kv.first, {"mnt", "user", "pid", "net", "ipc", "uts", "cgroup", "time"}, 16);
    io.num(kv.second);
  });
  s.max_namespaces = {ns.begin(), ns.end()};
}

template <class Io>
void visit(Io& io, DiagnoseScenario& s) {
  visit(io, s.event);
  visit(io, s.sysctls);
  auto fs_answer = [&](std::optional<diagnose::PathFs>& a) { maybe(io, a, [&](diagnose::PathFs& fs) { visit(io, fs); }); };
  list_of(io, s.dev_answers, 3, fs_answer);
  list_of(io, s.path_answers, 3, fs_answer);
  list_of(io, s.viewers, 3, [&](std::optional<uint32_t>& v) { maybe(io, v, [&](uint32_t& pid) { io.num(pid); }); });
  for (auto* v : {&s.inotify_watches, &s.fanotify_marks}) maybe(io, *v, [&](uint64_t& n) { io.num(n); });
  list_of(io, s.top_sources, 3, [&](std::pair<std::string, uint64_t>& kv) {
    pick(io, kv.first, {"overlay under /var/lib/docker", "tmpfs"}, 64);
    io.num(kv.second);
  });
}

// HostFacts that answer from a scenario.
class ScenarioFacts : public diagnose::HostFacts {
 public:
  explicit ScenarioFacts(const DiagnoseScenario& s) : s_(s) {}
  const context::Sysctls& sysctls() override { return s_.sysctls; }
  std::optional<diagnose::PathFs> fs_for_path(uint32_t, const std::string&, int) override {
    return next_path_ < s_.path_answers.size() ? s_.path_answers[next_path_++] : std::nullopt;
  }
  std::optional<diagnose::PathFs> fs_for_dev(uint32_t, uint32_t, const std::string&) override {
    return next_dev_ < s_.dev_answers.size() ? s_.dev_answers[next_dev_++] : std::nullopt;
  }
  std::optional<uint32_t> pid_in_mntns(uint32_t pid, uint32_t, uint32_t) override {
    return next_viewer_ < s_.viewers.size() ? s_.viewers[next_viewer_++] : pid;
  }
  std::optional<uint64_t> inotify_watches_of_uid(uint32_t) override { return s_.inotify_watches; }
  std::optional<uint64_t> fanotify_marks_of_uid(uint32_t) override { return s_.fanotify_marks; }
  std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t, uint32_t) override {
    return s_.top_sources;
  }

 private:
  const DiagnoseScenario& s_;
  std::size_t next_path_ = 0, next_dev_ = 0, next_viewer_ = 0;
};

}  // namespace enospcd::fuzz
