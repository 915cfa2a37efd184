// Writes the seed corpora of the decode and diagnose fuzz targets from readable scenarios, or checks that the
// checked-in files are what it writes (CTest fuzz_seeds_current), so a change of an input layout cannot leave
// the seeds meaning something else.
//
//   fuzz_write_seeds --write CORPUS_DIR   writes CORPUS_DIR/decode/* and CORPUS_DIR/diagnose/*
//   fuzz_write_seeds --check CORPUS_DIR   exits 1 when a file is missing or differs

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/decode_input.h"
#include "fuzz/diagnose_input.h"

namespace {

using namespace enospcd;
using fuzz::DiagnoseScenario;
using diagnose::PathFs;

// The inverse of Reader: numbers go where FuzzedDataProvider takes them from (the end of the input, most
// significant byte last), string bytes to the front, each after its length.
class Writer {
 public:
  template <class T>
  void num(T& v, T lo = std::numeric_limits<T>::min(), T hi = std::numeric_limits<T>::max()) {
    if (v < lo || v > hi) throw std::runtime_error("value out of its range");
    uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    uint64_t r = static_cast<uint64_t>(v) - static_cast<uint64_t>(lo);
    size_t n = 0;
    for (size_t bits = 0; bits < sizeof(T) * 8 && (range >> bits) > 0; bits += 8) n++;
    for (size_t i = 0; i < n; i++) back_.push_back(static_cast<char>(r >> (8 * (n - 1 - i))));
  }
  void flag(bool& b) { back_.push_back(b ? 1 : 0); }
  void bytes(std::string& s, size_t max) {
    if (s.size() > max) throw std::runtime_error("string longer than its field: " + s);
    size_t n = s.size();
    num(n, size_t{0}, max);
    front_ += s;
  }
  std::string data() const { return front_ + std::string(back_.rbegin(), back_.rend()); }

 private:
  std::string front_, back_;
};

std::string encode(DiagnoseScenario s) {
  Writer w;
  fuzz::visit(w, s);
  std::string out = w.data();
  // What the harness reads from these bytes must write back to the same bytes.
  FuzzedDataProvider p(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  fuzz::Reader r(p);
  DiagnoseScenario again;
  fuzz::visit(r, again);
  Writer w2;
  fuzz::visit(w2, again);
  if (w2.data() != out) throw std::runtime_error("diagnose seed does not read back");
  return out;
}

// --- diagnose scenarios ---

Event event(const std::string& syscall, int err = 28) {
  Event e;
  e.syscall = syscall;
  e.err = err;
  e.ret = -err;
  e.pid = 21183;
  e.ppid = 21100;
  e.uid = 0;
  e.comm = "touch";
  return e;
}

ChainLink link(const std::string& func, int64_t ret = -28) { return ChainLink{func, ret, 0}; }

PathFs tmpfs(uint64_t inodes, uint64_t inodes_free, uint64_t blocks, uint64_t blocks_free) {
  PathFs fs;
  fs.mount_point = "/mnt/ci-cache";
  fs.fstype = "tmpfs";
  fs.source = "tmpfs";
  fs.super_options = "rw,size=8192k,nr_inodes=64";
  fs.stats.magic = fuzz::kTmpfsMagic;
  fs.stats.block_size = 4096;
  fs.stats.blocks = blocks;
  fs.stats.blocks_free = fs.stats.blocks_avail = blocks_free;
  fs.stats.inodes = inodes;
  fs.stats.inodes_free = inodes_free;
  return fs;
}

PathFs ext4(uint64_t blocks_free, uint64_t blocks_avail, uint64_t inodes_free) {
  PathFs fs;
  fs.mount_point = "/";
  fs.fstype = "ext4";
  fs.source = "/dev/sda1";
  fs.super_options = "rw,relatime,errors=remount-ro";
  fs.stats.magic = fuzz::kExt4Magic;
  fs.stats.block_size = 4096;
  fs.stats.blocks = 2048;
  fs.stats.blocks_free = blocks_free;
  fs.stats.blocks_avail = blocks_avail;
  fs.stats.inodes = 2048;
  fs.stats.inodes_free = inodes_free;
  return fs;
}

FileInfo file_on(uint32_t magic, const std::string& fstype) {
  FileInfo f;
  f.dev = 64;  // 0:64
  f.magic = magic;
  f.ino = 12;
  f.fstype = fstype;
  f.name = "obj1.o";
  if (magic == fuzz::kTmpfsMagic) f.shmem_max_blocks = 2048, f.shmem_used_blocks = 2048, f.shmem_max_inodes = 64;
  return f;
}

std::map<std::string, DiagnoseScenario> diagnose_scenarios() {
  std::map<std::string, DiagnoseScenario> out;
  auto add = [&](const std::string& name, DiagnoseScenario s) { out[name] = std::move(s); };
  {
    DiagnoseScenario s;
    s.event = event("mount");
    s.event.comm = "mount";
    s.event.path = "none";
    s.event.path2 = "/mnt/target";
    s.event.has_mntns = true, s.event.mntns = 4026531841u, s.event.mnt_count = 14, s.event.mount_max = 14;
    for (const char* f : {"count_mounts", "attach_recursive_mnt", "graft_tree", "do_add_mount", "path_mount"})
      s.event.chain.push_back(link(f));
    s.top_sources = {{"overlay under /var/lib/docker", 9}};
    add("mount_max_chain", s);
    s.event.chain.clear(), s.event.mount_max.reset(), s.event.mnt_pending = 2;
    s.sysctls.mount_max = 14;
    add("mount_max_gate_only", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("openat");
    s.event.path = "/mnt/ci-cache/obj70.o";
    s.event.args_valid = true, s.event.args = {0, 0, 0x41, 0, 0, 0};
    s.path_answers = {tmpfs(64, 0, 2048, 100)};
    add("tmpfs_inodes_gate_only", s);
    s.event.chain = {link("shmem_reserve_inode"), link("shmem_get_inode"), link("shmem_mknod")};
    s.path_answers = {tmpfs(64, 0, 2048, 100)};
    add("tmpfs_inodes_chain", s);
    s.event.chain.clear();
    s.path_answers = {tmpfs(64, 3, 2048, 0)};
    add("tmpfs_create_out_of_blocks", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("write");
    s.event.comm = "dd";
    s.event.file = file_on(fuzz::kTmpfsMagic, "tmpfs");
    s.dev_answers = {tmpfs(64, 10, 2048, 0)};
    add("tmpfs_blocks_write", s);
    s.event.chain = {link("shmem_inode_acct_blocks"), link("shmem_alloc_and_add_folio"), link("vfs_write")};
    add("tmpfs_blocks_chain", s);
    s.dev_answers.clear();
    add("tmpfs_blocks_chain_fs_gone", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("fallocate");
    s.event.chain = {link("shmem_acct_block")};
    add("tmpfs_chain_no_evidence", s);
    // The chain names a tmpfs, but the filesystem resolved now is another one: the tmpfs was unmounted, or
    // the path is resolved where it means something else.
    s.event.file = file_on(fuzz::kExt4Magic, "ext4");
    s.dev_answers = {ext4(1000, 1000, 1000)};
    add("tmpfs_chain_resolves_ext4", s);
    s.event = event("openat");
    s.event.path = "obj1.o";
    s.event.chain = {link("shmem_reserve_inode")};
    PathFs unknown = tmpfs(0, 0, 0, 0);
    unknown.stats.magic = 0;
    s.dev_answers.clear();
    s.path_answers = {unknown};
    add("tmpfs_chain_resolves_no_magic", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("write");
    s.event.uid = 1000;
    s.event.file = file_on(fuzz::kExt4Magic, "ext4");
    s.dev_answers = {ext4(0, 0, 100)};
    add("fs_blocks_write", s);
    s.event.chain = {link("ext4_da_reserve_space")};
    add("fs_blocks_chain", s);
    s.event.chain.clear();
    s.dev_answers = {ext4(80, 0, 100)};
    add("fs_reserved_blocks", s);
    s.event.chain = {link("ext4_da_reserve_space")};
    s.event.file.reset();
    s.event.path = "obj1.o";
    s.viewers = {std::nullopt};
    add("fs_blocks_chain_relative_path_gone", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("mkdir");
    s.event.path = "/var/tmp/d";
    s.viewers = {21100};
    s.path_answers = {std::nullopt, ext4(1000, 1000, 0)};
    add("fs_inodes_mkdir", s);
    s.event.chain = {link("__ext4_new_inode")};
    add("fs_inodes_chain", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("write", 122);
    s.event.uid = 1000;
    s.event.path = "/home/u/big";
    s.event.chain = {link("dquot_add_space", -122), link("__dquot_alloc_space", -122)};
    s.path_answers = {ext4(1000, 1000, 1000)};
    add("quota_blocks", s);
    s.event.syscall = "openat";
    s.event.chain = {link("dquot_add_inodes", -122)};
    add("quota_inodes", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("inotify_add_watch");
    s.event.uid = 1000;
    s.event.comm = "code";
    s.sysctls.inotify_max_user_watches = 8192;
    s.inotify_watches = 8192;
    add("inotify_watches", s);
    s.event.chain = {link("inotify_new_watch")};
    add("inotify_chain", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("fanotify_mark");
    s.sysctls.fanotify_max_user_marks = 8192;
    s.fanotify_marks = 8192;
    add("fanotify_marks", s);
    s.event = event("epoll_ctl");
    s.sysctls.epoll_max_user_watches = 14;
    add("epoll_watches", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("mkdir");
    s.event.comm = "runc";
    s.event.path = "/sys/fs/cgroup/jobs/j65533";
    s.event.memcg = MemcgHierarchy{0, 65534, 12};
    PathFs cg = ext4(0, 0, 0);
    cg.mount_point = "/sys/fs/cgroup", cg.fstype = "cgroup2", cg.source = "cgroup2", cg.stats.magic = 0x63677270;
    s.path_answers = {cg};
    add("cgroup_ids", s);
    s.event.chain = {link("mem_cgroup_css_alloc")};
    add("cgroup_ids_chain", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("shmget");
    s.event.ipc = Event::IpcLimits{4026531839u, 32, 32, 256, 128};
    add("sysv_shm_ipcns", s);
    s.event.chain = {link("newseg")};
    add("sysv_shm_chain", s);
    s.event = event("msgget");
    s.sysctls.msgmni = 32000;
    add("sysv_msg_host", s);
    s.event = event("semget");
    s.event.chain = {link("ipc_addid")};
    add("sysv_sem_chain", s);
    s.event = event("mq_open");
    s.event.path = "/queue";
    s.event.ipc = Event::IpcLimits{4026531839u, 32, 32, 256, 128};
    add("mqueue", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("unshare");
    s.event.args_valid = true, s.event.args = {0x20000, 0, 0, 0, 0, 0};
    s.event.userns = 4026531837u, s.event.userns_max_mnt = 0;
    s.sysctls.max_namespaces = {{"mnt", 0}, {"user", 100}};
    add("namespace_mnt_userns", s);
    s.event = event("clone3");
    s.event.chain = {link("copy_mnt_ns"), link("create_new_namespaces")};
    add("namespace_chain", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("setxattr");
    s.event.path = "/srv/f";
    s.event.chain = {link("ext4_xattr_set_handle")};
    add("xattr_chain", s);
    s.event = event("fsync");
    s.event.comm = "postgres";
    s.event.file = file_on(fuzz::kExt4Magic, "ext4");
    s.dev_answers = {ext4(0, 0, 100)};
    add("writeback_fsync", s);
  }
  {
    DiagnoseScenario s;
    s.event = event("bpf");
    s.event.chain = {link("origin_41"), link("vfs_write")};
    s.event.container = ContainerRef{.name = "web-1"};
    add("unknown_chain", s);
    s.event = event("io_uring_setup");
    s.event.container = ContainerRef{.id = "3f2a9c0d5b7e41d8a6c2e0f1b3d5a7c9"};
    add("unknown_table_syscall", s);
    s.event = event("syscall_999", 5);
    s.event.comm = std::string("\xff\xfe", 2);
    s.event.path = std::string("/tmp/\xc3", 6);
    add("unknown_free_syscall", s);
  }
  return out;
}

// --- decode records ---

template <size_t N>
void set(char (&dst)[N], const std::string& s) {
  std::memset(dst, 0, N);
  std::memcpy(dst, s.data(), std::min(N, s.size()));
}

enospcd_event record(const char* syscall, const char* comm) {
  enospcd_event r;
  std::memset(&r, 0, sizeof r);
  r.hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
  r.hdr.size = sizeof r;
  r.hdr.ktime_ns = 4'000'123'456'789ULL;
  r.pid = r.tid = 21183;
  r.ppid = 21100;
  r.syscall_nr = syscall_number(syscall).value_or(0);
  r.ret = -28;
  r.err = 28;
  r.cgroup_id = 1;
  r.mntns_inum = 4026531841u;
  r.mnt_count = 30;
  r.flags = ENOSPCD_EF_HAS_MNTNS;
  set(r.comm, comm);
  return r;
}

void add_chain(enospcd_event& r, std::initializer_list<uint32_t> ids) {
  for (uint32_t id : ids) r.chain[r.chain_len++] = {-28, r.hdr.ktime_ns - 1000, id, 0};
}

std::string bytes(uint8_t control, const enospcd_event& r, size_t size = sizeof(enospcd_event)) {
  std::string out(1, static_cast<char>(control));
  std::string body(reinterpret_cast<const char*>(&r), sizeof r);
  body.resize(size, '\x5a');
  return out + body;
}

std::map<std::string, std::string> decode_seeds() {
  std::map<std::string, std::string> out;
  using fuzz::kKeepHeader;
  using fuzz::kPatchHeader;
  {
    auto r = record("mount", "mount");
    r.flags |= ENOSPCD_EF_HAS_MOUNT_MAX | ENOSPCD_EF_ARGS_VALID;
    r.mount_max = 30;
    r.args[0] = 0x7ffd0000, r.args[1] = 0x7ffd0100, r.args[3] = 0x1000;
    set(r.path, "none");
    set(r.path2, "/mnt/target");
    add_chain(r, {0, 1, 2, 3, 4});
    r.stack_len = 5;
    for (uint64_t i = 0; i < 5; i++) r.kstack[i] = 0xffffffff81000000ULL + 0x1000 * i;
    out["mount_chain"] = bytes(kKeepHeader, r);
    out["mount_chain_offset"] = bytes(kKeepHeader | 0x04, r);
  }
  {
    auto r = record("openat", "touch");
    r.flags |= ENOSPCD_EF_ARGS_VALID | ENOSPCD_EF_HAS_FILE;
    r.args[0] = static_cast<uint64_t>(-100), r.args[2] = 0x41;
    set(r.path, "/mnt/ci-cache/obj70.o");
    r.file = {64, 0x01021994, 12, 2048, 100, 64, 0, {}, {}};
    set(r.file.fstype, "tmpfs");
    set(r.file.name, "obj70.o");
    add_chain(r, {5, 6});
    set(r.cgroup_name, "cri-containerd-3f2a9c0d5b7e41d8a6c2e0f1b3d5a7c93f2a9c0d5b7e41d8a6c2e0f1b3d5a7c9.scope");
    out["tmpfs_openat_file"] = bytes(kKeepHeader, r);
  }
  {
    auto r = record("shmget", "postgres");
    r.flags |= ENOSPCD_EF_HAS_IPCNS | ENOSPCD_EF_HAS_USERNS;
    r.ipcns_inum = 4026531839u, r.shm_ctlmni = 32, r.msg_ctlmni = 32, r.mq_queues_max = 256, r.sem_ctlmni = -1;
    r.userns_inum = 4026531837u, r.userns_max_mnt = -5;
    out["ipc_userns"] = bytes(kKeepHeader | 0x08, r);
  }
  {
    auto r = record("write", "dd");
    r.err = 122, r.ret = -122;
    r.chain_len = 0xffff;  // more than the array holds
    r.chain[0] = {-122, 1, 7, 0};
    r.chain[1] = {-122, 2, 0xffffffffu, 0};
    r.stack_len = 0xffff;
    r.kstack[0] = 0xffffffff81000000ULL;
    r.kstack[31] = 0xffffffff81000100ULL;
    out["chain_and_stack_overlong"] = bytes(kKeepHeader, r);
  }
  {
    // Every string fills its array: no terminator.
    auto r = record("openat", "");
    std::memset(r.comm, 'c', sizeof r.comm);
    std::memset(r.cgroup_name, 'g', sizeof r.cgroup_name);
    std::memset(r.path, 'p', sizeof r.path);
    std::memset(r.path2, 'q', sizeof r.path2);
    r.flags |= ENOSPCD_EF_PATH_TRUNCATED | ENOSPCD_EF_CGNAME_TRUNCATED | ENOSPCD_EF_HAS_FILE;
    std::memset(r.file.fstype, 't', sizeof r.file.fstype);
    std::memset(r.file.name, 'n', sizeof r.file.name);
    out["strings_unterminated"] = bytes(kKeepHeader, r);
    set(r.comm, "\xff\xfe");
    set(r.path, "/tmp/\xc3(");
    set(r.file.name, "\xed\xa0\x80");
    out["strings_not_utf8"] = bytes(kKeepHeader, r);
  }
  {
    auto r = record("fsync", "postgres");
    r.syscall_nr = 100000;  // no such syscall
    r.err = 0xffffffffu;    // no such errno
    r.flags = 0xffffffffu;  // every flag, also unknown ones
    out["numbers_unknown"] = bytes(kKeepHeader, r);
  }
  {
    auto r = record("write", "dd");
    out["trailing_bytes"] = bytes(kKeepHeader, r, sizeof r + 64);
    out["short"] = bytes(kKeepHeader, r, sizeof r - 1);
    r.hdr.kind = ENOSPCD_KIND_INVALID;
    out["kind_invalid"] = bytes(kKeepHeader, r);
    out["kind_invalid_patched"] = bytes(kPatchHeader, r);
    r.hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
    r.hdr.size = sizeof r - 8;  // a record of an older layout
    out["size_mismatch"] = bytes(kKeepHeader, r);
  }
  {
    // Bytes that were never a record, with a header written over them.
    enospcd_event r;
    auto* p = reinterpret_cast<unsigned char*>(&r);
    for (size_t i = 0; i < sizeof r; i++) p[i] = static_cast<unsigned char>(i * 37 + 11);
    r.hdr.ktime_ns = 1;
    out["noise_patched"] = bytes(kPatchHeader, r);
  }
  return out;
}

std::map<std::string, std::string> all_seeds() {
  std::map<std::string, std::string> out;
  for (const auto& [name, data] : decode_seeds()) out["decode/" + name] = data;
  for (const auto& [name, s] : diagnose_scenarios()) out["diagnose/" + name] = encode(s);
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "--write") != 0 && std::strcmp(argv[1], "--check") != 0)) {
    std::fprintf(stderr, "usage: %s --write|--check CORPUS_DIR\n", argv[0]);
    return 2;
  }
  bool write = std::strcmp(argv[1], "--write") == 0;
  std::filesystem::path dir = argv[2];
  int stale = 0;
  for (const auto& [name, data] : all_seeds()) {
    auto path = dir / name;
    if (write) {
      std::filesystem::create_directories(path.parent_path());
      std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    } else if (!std::filesystem::exists(path) || read_file(path) != data) {
      std::fprintf(stderr, "%s is missing or stale: run fuzz_write_seeds --write %s\n", path.c_str(), argv[2]);
      stale++;
    }
  }
  if (!write) std::printf("%s\n", stale ? "seeds are stale" : "seeds are current");
  return stale ? 1 : 0;
}
