#include "model/event.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <utility>

#include "common/names.h"
#include "common/strings.h"

namespace enospcd {

int64_t monotonic_to_realtime_offset_ns() {
  // Bracket the realtime read with two monotonic reads and take the midpoint, to keep the error small.
  struct timespec m1 {}, r {}, m2 {};
  clock_gettime(CLOCK_MONOTONIC, &m1);
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_MONOTONIC, &m2);
  auto ns = [](const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
  return ns(r) - (ns(m1) + ns(m2)) / 2;
}

namespace {

FileInfo file_from_raw(const enospcd_file_info& raw) {
  FileInfo f;
  f.dev = raw.dev;
  f.magic = raw.magic;
  f.ino = raw.ino;
  f.mode = raw.mode;
  f.rdev = raw.rdev;
  f.fstype = fixed_string(raw.fstype);
  f.name = fixed_string(raw.name);
  f.mount_name = fixed_string(raw.mnt_name);
  f.shmem_max_blocks = raw.shmem_max_blocks;
  f.shmem_used_blocks = raw.shmem_used_blocks;
  f.shmem_max_inodes = raw.shmem_max_inodes;
  f.shmem_free_inodes = raw.shmem_free_inodes;
  f.shmem_used_exact = (raw.flags & ENOSPCD_FI_USED_SUMMED) != 0;
  if ((raw.flags & ENOSPCD_FI_EXT4) && raw.ext4_block_size)
    f.ext4 = FileInfo::Ext4Counts{raw.ext4_blocks,      raw.ext4_free_blocks, raw.ext4_reserved_blocks,
                                  raw.ext4_inodes,      raw.ext4_free_inodes, raw.ext4_block_size,
                                  (raw.flags & ENOSPCD_FI_EXT4_SUMMED) != 0};
  return f;
}

}  // namespace

std::optional<Event> decode_event(const void* data, std::size_t size, int64_t realtime_offset_ns,
                                  const std::vector<std::string>& origin_names) {
  if (size < sizeof(enospcd_event)) return std::nullopt;
  enospcd_event raw;
  std::memcpy(&raw, data, sizeof(raw));
  if (raw.hdr.kind != ENOSPCD_KIND_SYSCALL_FAILURE || raw.hdr.size != sizeof(enospcd_event)) return std::nullopt;
  Event e;
  e.ktime_ns = raw.hdr.ktime_ns;
  // Unsigned arithmetic wraps where a signed sum would be undefined (a record's time is the kernel's word).
  e.time_ns = raw.hdr.ktime_ns + static_cast<uint64_t>(realtime_offset_ns);
  e.pid = raw.pid;
  e.tid = raw.tid;
  e.ppid = raw.ppid;
  e.uid = raw.uid;
  e.gid = raw.gid;
  e.comm = fixed_string(raw.comm);
  e.syscall_nr = raw.syscall_nr;
  e.syscall = syscall_name(raw.syscall_nr);
  e.err = static_cast<int>(raw.err);
  e.errno_name = errno_name(e.err);
  e.ret = raw.ret;
  e.cgroup_id = raw.cgroup_id;
  e.cgroup_name = fixed_string(raw.cgroup_name);
  e.cgroup_name_truncated = raw.flags & ENOSPCD_EF_CGNAME_TRUNCATED;
  e.has_mntns = raw.flags & ENOSPCD_EF_HAS_MNTNS;
  e.mntns = raw.mntns_inum;
  e.mnt_count = raw.mnt_count;
  e.mnt_pending = raw.mnt_pending;
  if (raw.flags & ENOSPCD_EF_HAS_MOUNT_MAX) e.mount_max = raw.mount_max;
  if (raw.flags & ENOSPCD_EF_HAS_IPCNS) {
    Event::IpcLimits ipc{raw.ipcns_inum, raw.shm_ctlmni, raw.msg_ctlmni, raw.mq_queues_max, raw.sem_ctlmni};
    ipc.sem_ids = raw.ipc_in_use[ENOSPCD_IPC_SEM];
    ipc.msg_ids = raw.ipc_in_use[ENOSPCD_IPC_MSG];
    ipc.shm_ids = raw.ipc_in_use[ENOSPCD_IPC_SHM];
    ipc.sem_semmns = raw.sem_semmns;
    ipc.sem_used = raw.sem_used;
    ipc.shm_tot = raw.shm_tot;
    ipc.shm_ctlall = raw.shm_ctlall;
    ipc.mq_queues_count = raw.mq_queues_count;
    e.ipc = ipc;
  }
  if (raw.flags & ENOSPCD_EF_HAS_USERNS) {
    e.userns = raw.userns_inum;
    e.userns_max_mnt = raw.userns_max_mnt;
  }
  if (raw.ucount_kind >= ENOSPCD_UC_INOTIFY_WATCHES && raw.ucount_kind <= ENOSPCD_UC_FANOTIFY_MARKS &&
      raw.ucount_levels > 0) {
    Ucounts u;
    u.kind = static_cast<UcountKind>(raw.ucount_kind - ENOSPCD_UC_INOTIFY_WATCHES);
    for (uint32_t i = 0; i < std::min<uint32_t>(raw.ucount_levels, ENOSPCD_UCOUNT_LEVELS); i++) {
      const auto& l = raw.ucount[i];
      UcountLevel level{l.userns_inum, l.uid, std::nullopt, l.max, (l.flags & ENOSPCD_UCL_INITIAL) != 0};
      if (!(l.flags & ENOSPCD_UCL_NO_COUNT)) level.count = l.count;
      u.levels.push_back(level);
    }
    e.ucounts = std::move(u);
  }
  e.args_valid = raw.flags & ENOSPCD_EF_ARGS_VALID;
  if (e.args_valid)
    for (int i = 0; i < 6; i++) e.args[i] = raw.args[i];
  e.path = fixed_string(raw.path);
  e.path2 = fixed_string(raw.path2);
  e.path_truncated = raw.flags & ENOSPCD_EF_PATH_TRUNCATED;
  if (raw.flags & ENOSPCD_EF_HAS_FILE) {
    FileInfo f = file_from_raw(raw.file);
    f.role = raw.flags & ENOSPCD_EF_FILE_PARENT ? FileRole::Parent
             : raw.flags & ENOSPCD_EF_FILE_DIRFD ? FileRole::Dirfd
             : raw.flags & ENOSPCD_EF_FILE_CWD   ? FileRole::Cwd
                                                 : FileRole::Fd;
    e.file = f;
    if (raw.flags & ENOSPCD_EF_HAS_UPPER) e.upper = file_from_raw(raw.upper);
    if (raw.flags & ENOSPCD_EF_HAS_PRJQUOTA) {
      const auto& q = raw.project_quota;
      e.project_quota = ProjectQuotaUse{q.id, q.blocksize, q.blk_reserved, q.blk_hardlimit, q.ino_reserved,
                                        q.ino_hardlimit};
    }
  }
  if (raw.flags & ENOSPCD_EF_HAS_PTY) e.pty = PtyCounts{raw.pty_nr, raw.pty_max, raw.pty_reserve};
  if (raw.flags & ENOSPCD_EF_HAS_EPOLL) {
    EpollWatches w{raw.epoll_uid, raw.epoll_watches, (raw.epoll_flags & ENOSPCD_EPF_SUMMED) != 0, std::nullopt};
    if (raw.epoll_flags & ENOSPCD_EPF_MAX) w.max = raw.epoll_max;
    e.epoll = w;
  }
  if (raw.flags & ENOSPCD_EF_HAS_MEMCG)
    e.memcg = MemcgHierarchy{raw.memcg_hierarchy, raw.memcg_descendants, raw.memcg_dying};
  unsigned chain_len = raw.chain_len > ENOSPCD_CHAIN_MAX ? ENOSPCD_CHAIN_MAX : raw.chain_len;
  for (unsigned i = 0; i < chain_len; i++) {
    const auto& l = raw.chain[i];
    ChainLink link;
    link.func = l.origin_id < origin_names.size() ? origin_names[l.origin_id] : "origin_" + std::to_string(l.origin_id);
    link.ret = l.ret;
    link.ktime_ns = l.ktime_ns;
    link.returns = l.repeats == UINT32_MAX ? UINT32_MAX : l.repeats + 1;
    e.chain.push_back(std::move(link));
  }
  if (chain_len == ENOSPCD_CHAIN_MAX) e.chain_dropped = raw.chain_dropped;
  unsigned stack_len = raw.stack_len > ENOSPCD_STACK_MAX ? ENOSPCD_STACK_MAX : raw.stack_len;
  for (unsigned i = 0; i < stack_len; i++)
    if (raw.kstack[i]) e.kstack_addrs.push_back(raw.kstack[i]);
  unsigned outer_len = raw.outer_stack_len > ENOSPCD_STACK_MAX ? ENOSPCD_STACK_MAX : raw.outer_stack_len;
  // A scanned stack is the only way out even for a chain of one: the unwound one stops at the trampoline.
  e.chain_outer_scanned = chain_len > 0 && (raw.flags & ENOSPCD_EF_OUTER_SCANNED);
  if (chain_len > 1 || e.chain_outer_scanned)
    for (unsigned i = 0; i < outer_len; i++)
      if (raw.outer_stack[i]) e.outer_stack_addrs.push_back(raw.outer_stack[i]);
  return e;
}

std::string dev_text(uint32_t kernel_dev) {
  return std::to_string(kernel_dev >> 20) + ":" + std::to_string(kernel_dev & ((1u << 20) - 1));
}

uint32_t dev_from_text(const std::string& text) {
  unsigned maj = 0, min = 0;
  return std::sscanf(text.c_str(), "%u:%u", &maj, &min) == 2 ? (maj << 20) | min : 0;
}

nlohmann::json to_json(const Event::IpcLimits& ipc) {
  return {{"inum", ipc.inum},           {"shmmni", ipc.shm_ctlmni},   {"msgmni", ipc.msg_ctlmni},
          {"mqueue_queues_max", ipc.mq_queues_max}, {"semmni", ipc.sem_ctlmni}, {"semmns", ipc.sem_semmns},
          {"sem_ids", ipc.sem_ids},     {"msg_ids", ipc.msg_ids},     {"shm_ids", ipc.shm_ids},
          {"semaphores", ipc.sem_used}, {"shm_pages", ipc.shm_tot},   {"shmall", ipc.shm_ctlall},
          {"mqueue_queues", ipc.mq_queues_count}};
}


const char* file_role_name(FileRole role) {
  switch (role) {
    case FileRole::Dirfd: return "dirfd";
    case FileRole::Cwd: return "cwd";
    case FileRole::Parent: return "parent";
    case FileRole::Fd: break;
  }
  return "fd";
}

namespace {

std::string hex_string(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A 64-bit member written by to_json (a decimal or 0x string) or by its earlier versions (a JSON number).
uint64_t u64_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  return json_u64(*it).value_or(0);
}
nlohmann::json file_to_json(const FileInfo& f) {
  nlohmann::json fj = {{"dev", dev_text(f.dev)},
                       {"fstype", f.fstype},
                       {"name", f.name},
                       {"magic", f.magic},
                       {"ino", std::to_string(f.ino)}};
  if (S_ISCHR(f.mode) || S_ISBLK(f.mode))
    fj["device"] = {{"type", S_ISCHR(f.mode) ? "char" : "block"}, {"rdev", dev_text(f.rdev)}};
  if (!f.mount_name.empty()) fj["mount_name"] = f.mount_name;
  if (f.role != FileRole::Fd) fj["role"] = file_role_name(f.role);
  if (f.shmem_max_blocks || f.shmem_max_inodes)
    fj["tmpfs"] = {{"max_blocks", f.shmem_max_blocks},
                   {"used_blocks", f.shmem_used_blocks},
                   {"used_blocks_exact", f.shmem_used_exact},
                   {"max_inodes", f.shmem_max_inodes},
                   {"free_inodes", f.shmem_free_inodes}};
  if (f.ext4)
    fj["ext4"] = {{"blocks", f.ext4->blocks},
                  {"free_blocks", f.ext4->free_blocks},
                  {"reserved_blocks", f.ext4->reserved_blocks},
                  {"inodes", f.ext4->inodes},
                  {"free_inodes", f.ext4->free_inodes},
                  {"block_size", f.ext4->block_size},
                  {"exact", f.ext4->exact}};
  return fj;
}

FileInfo file_from_json(const nlohmann::json& fj) {
  FileInfo f;
  std::string role = fj.value("role", "");
  for (FileRole r : {FileRole::Dirfd, FileRole::Cwd, FileRole::Parent})
    if (role == file_role_name(r)) f.role = r;
  f.fstype = fj.value("fstype", "");
  f.name = fj.value("name", "");
  f.mount_name = fj.value("mount_name", "");
  f.magic = fj.value("magic", 0u);
  f.ino = u64_member(fj, "ino");
  if (fj.contains("device") && fj["device"].is_object()) {
    const auto& d = fj["device"];
    f.mode = d.value("type", "") == "block" ? S_IFBLK : S_IFCHR;
    f.rdev = dev_from_text(d.value("rdev", "0:0"));
  }
  f.dev = dev_from_text(fj.value("dev", "0:0"));
  if (fj.contains("tmpfs")) {
    const auto& t = fj["tmpfs"];
    f.shmem_max_blocks = t.value("max_blocks", uint64_t{0});
    f.shmem_used_blocks = t.value("used_blocks", uint64_t{0});
    f.shmem_used_exact = t.value("used_blocks_exact", false);
    f.shmem_max_inodes = t.value("max_inodes", uint64_t{0});
    f.shmem_free_inodes = t.value("free_inodes", uint64_t{0});
  }
  if (auto x = fj.find("ext4"); x != fj.end() && x->is_object()) {
    auto size = x->find("block_size");
    const uint64_t bs = size != x->end() ? json_u64(*size).value_or(0) : 0;
    auto exact = x->find("exact");
    if (bs && bs <= UINT32_MAX)
      f.ext4 = FileInfo::Ext4Counts{u64_member(*x, "blocks"),      u64_member(*x, "free_blocks"),
                                    u64_member(*x, "reserved_blocks"), u64_member(*x, "inodes"),
                                    u64_member(*x, "free_inodes"), static_cast<uint32_t>(bs),
                                    exact != x->end() && exact->is_boolean() && exact->get<bool>()};
  }
  return f;
}

Event::IpcLimits ipc_from_json(const nlohmann::json& i) {
  Event::IpcLimits ipc{i.value("inum", 0u), i.value("shmmni", 0), i.value("msgmni", 0u),
                       i.value("mqueue_queues_max", 0u), i.value("semmni", 0)};
  ipc.sem_semmns = i.value("semmns", 0);
  ipc.sem_ids = i.value("sem_ids", 0u);
  ipc.msg_ids = i.value("msg_ids", 0u);
  ipc.shm_ids = i.value("shm_ids", 0u);
  ipc.sem_used = i.value("semaphores", 0);
  ipc.shm_tot = u64_member(i, "shm_pages");
  ipc.shm_ctlall = u64_member(i, "shmall");
  ipc.mq_queues_count = i.value("mqueue_queues", 0u);
  return ipc;
}
}  // namespace

std::optional<uint64_t> json_u64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return std::nullopt;
    return static_cast<uint64_t>(i);
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  uint64_t out = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    if (s.size() > 18) return std::nullopt;
    for (size_t i = 2; i < s.size(); i++) {
      char c = s[i];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else return std::nullopt;
      out = out << 4 | d;
    }
    return out;
  }
  for (char c : s)
    if (c < '0' || c > '9' || !checked_add_digit(&out, c)) return std::nullopt;
  return out;
}

nlohmann::json to_json(const Event& e) {
  nlohmann::json j = {
      // 64-bit values as strings: JSON readers that hold numbers as doubles (JavaScript, jq) keep 53 bits.
      {"id", std::to_string(e.id)},
      {"time", format_rfc3339(e.time_ns, 9)},
      {"time_ns", std::to_string(e.time_ns)},
      {"ktime_ns", std::to_string(e.ktime_ns)},
      {"pid", e.pid},
      {"tid", e.tid},
      {"ppid", e.ppid},
      {"comm", e.comm},
      {"uid", e.uid},
      {"gid", e.gid},
      {"syscall", e.syscall},
      {"syscall_nr", e.syscall_nr},
      {"errno", e.errno_name},
      {"ret", e.ret},
      {"path", e.path},
      {"cgroup_id", e.cgroup_id},
      {"cgroup", e.cgroup_name},
      {"mntns", e.mntns},
  };
  if (!e.path2.empty()) j["path2"] = e.path2;
  if (e.path_truncated) j["path_truncated"] = true;
  if (e.has_mntns) j["mnt_count"] = e.mnt_count, j["mnt_pending"] = e.mnt_pending;
  if (e.mount_max) j["mount_max"] = *e.mount_max;
  if (e.ipc)
    j["ipcns"] = to_json(*e.ipc);
  if (e.userns) {
    nlohmann::json u = {{"inum", *e.userns}};
    if (e.userns_max_mnt) u["max_mnt_namespaces"] = *e.userns_max_mnt;
    j["userns"] = std::move(u);
  }
  if (e.ucounts) j["ucounts"] = to_json(*e.ucounts);
  if (e.args_valid) {
    nlohmann::json args = nlohmann::json::array();
    for (uint64_t a : e.args) args.push_back(hex_string(a));
    j["args"] = std::move(args);
  }
  if (!e.exe.empty()) j["exe"] = e.exe;
  if (!e.cmdline.empty()) j["cmdline"] = e.cmdline;
  if (!e.cgroup_path.empty()) j["cgroup_path"] = e.cgroup_path;
  if (e.file) j["file"] = file_to_json(*e.file);
  if (e.upper) j["upper"] = file_to_json(*e.upper);
  if (e.project_quota) {
    const ProjectQuotaUse& q = *e.project_quota;
    j["project_quota"] = {{"project", q.id},
                          {"blocksize", q.blocksize},
                          {"blocks_reserved", std::to_string(q.blocks_reserved)},
                          {"blocks_hard", std::to_string(q.blocks_hard)},
                          {"inodes_reserved", std::to_string(q.inodes_reserved)},
                          {"inodes_hard", std::to_string(q.inodes_hard)}};
  }
  if (e.memcg)
    j["memcg"] = {{"hierarchy", e.memcg->hierarchy},
                  {"descendants", e.memcg->descendants},
                  {"dying_descendants", e.memcg->dying}};
  if (e.pty) j["pty"] = {{"nr", e.pty->nr}, {"max", e.pty->max}, {"reserve", e.pty->reserve}};
  if (e.epoll)
    j["epoll"] = {{"uid", e.epoll->uid},
                  {"watches", e.epoll->watches},
                  {"watches_exact", e.epoll->exact},
                  {"max_user_watches", e.epoll->max ? nlohmann::json(*e.epoll->max) : nlohmann::json()}};
  nlohmann::json chain = nlohmann::json::array();
  for (const auto& l : e.chain) chain.push_back({{"func", l.func}, {"ret", l.ret}, {"returns", l.returns}});
  j["chain"] = chain;
  if (e.chain_dropped) j["chain_dropped"] = e.chain_dropped;
  j["chain_outer"] = e.chain_outer;
  if (!e.chain_outer_truncated.empty()) j["chain_outer_truncated"] = e.chain_outer_truncated;
  if (e.chain_outer_scanned) j["chain_outer_scanned"] = true;
  j["kstack"] = e.kstack;
  if (!e.kstack_truncated.empty()) j["kstack_truncated"] = e.kstack_truncated;
  j["container"] = e.container ? to_json(*e.container) : nlohmann::json();
  j["cause"] = e.cause ? to_json(*e.cause) : nlohmann::json();
  return j;
}

Event event_from_json(const nlohmann::json& j) {
  Event e;
  e.id = u64_member(j, "id");
  e.time_ns = u64_member(j, "time_ns");
  e.ktime_ns = u64_member(j, "ktime_ns");
  e.pid = j.value("pid", 0u);
  e.tid = j.value("tid", 0u);
  e.ppid = j.value("ppid", 0u);
  e.comm = j.value("comm", "");
  e.uid = j.value("uid", 0u);
  e.gid = j.value("gid", 0u);
  e.syscall = j.value("syscall", "");
  e.syscall_nr = j.value("syscall_nr", 0u);
  e.errno_name = j.value("errno", "");
  e.err = errno_number(e.errno_name).value_or(0);
  e.ret = j.value("ret", int64_t{0});
  e.path = j.value("path", "");
  e.path2 = j.value("path2", "");
  e.path_truncated = j.value("path_truncated", false);
  e.cgroup_id = j.value("cgroup_id", uint64_t{0});
  e.cgroup_name = j.value("cgroup", "");
  e.mntns = j.value("mntns", 0u);
  e.has_mntns = j.contains("mnt_count");
  e.mnt_count = j.value("mnt_count", 0u);
  e.mnt_pending = j.value("mnt_pending", 0u);
  if (j.contains("mount_max")) e.mount_max = j["mount_max"].get<uint32_t>();
  if (j.contains("ipcns") && j["ipcns"].is_object()) e.ipc = ipc_from_json(j["ipcns"]);
  if (j.contains("userns") && j["userns"].is_object()) {
    e.userns = j["userns"].value("inum", 0u);
    e.userns_max_mnt = j["userns"].value("max_mnt_namespaces", int64_t{0});
  }
  if (j.contains("ucounts")) e.ucounts = ucounts_from_json(j["ucounts"]);
  if (j.contains("args") && j["args"].is_array() && j["args"].size() == 6) {
    e.args_valid = true;
    for (int i = 0; i < 6; i++) e.args[i] = json_u64(j["args"][i]).value_or(0);
  }
  e.exe = j.value("exe", "");
  e.cmdline = j.value("cmdline", "");
  e.cgroup_path = j.value("cgroup_path", "");
  if (j.contains("file") && j["file"].is_object()) e.file = file_from_json(j["file"]);
  if (j.contains("upper") && j["upper"].is_object()) e.upper = file_from_json(j["upper"]);
  if (j.contains("project_quota") && j["project_quota"].is_object()) {
    const auto& q = j["project_quota"];
    e.project_quota = ProjectQuotaUse{q.value("project", 0u), q.value("blocksize", 0u),
                                      u64_member(q, "blocks_reserved"), u64_member(q, "blocks_hard"),
                                      u64_member(q, "inodes_reserved"), u64_member(q, "inodes_hard")};
  }
  if (j.contains("epoll") && j["epoll"].is_object()) {
    const auto& w = j["epoll"];
    e.epoll = EpollWatches{w.value("uid", 0u), w.value("watches", int64_t{0}), w.value("watches_exact", false),
                           std::nullopt};
    // A limit beyond 2^53 in magnitude is written as a string of digits at the API's edge.
    if (auto m = w.find("max_user_watches"); m != w.end() && !m->is_null()) {
      int64_t v = 0;
      const std::string text = m->is_string() ? m->get<std::string>() : std::string();
      if (m->is_number_integer())
        e.epoll->max = m->get<int64_t>();
      else if (!text.empty() && std::from_chars(text.data(), text.data() + text.size(), v).ptr == text.data() + text.size())
        e.epoll->max = v;
    }
  }
  if (auto m = j.find("memcg"); m != j.end() && m->is_object()) {
    auto int_of = [&](const char* key) -> int64_t {
      auto it = m->find(key);
      return it != m->end() && it->is_number_integer() ? it->get<int64_t>() : 0;
    };
    e.memcg = MemcgHierarchy{static_cast<uint32_t>(std::clamp<int64_t>(int_of("hierarchy"), 0, UINT32_MAX)),
                             static_cast<int32_t>(std::clamp<int64_t>(int_of("descendants"), INT32_MIN, INT32_MAX)),
                             static_cast<int32_t>(std::clamp<int64_t>(int_of("dying_descendants"), INT32_MIN, INT32_MAX))};
  }
  if (j.contains("pty") && j["pty"].is_object())
    e.pty = PtyCounts{j["pty"].value("nr", 0u), j["pty"].value("max", 0u), j["pty"].value("reserve", 0u)};
  if (j.contains("chain"))
    for (const auto& l : j["chain"])
      if (l.is_object())
        e.chain.push_back({l.value("func", ""), l.value("ret", int64_t{0}), 0, l.value("returns", uint32_t{1})});
  e.chain_dropped = j.value("chain_dropped", uint32_t{0});
  if (j.contains("chain_outer"))
    for (const auto& s : j["chain_outer"]) e.chain_outer.push_back(s.get<std::string>());
  e.chain_outer_truncated = j.value("chain_outer_truncated", "");
  e.chain_outer_scanned = j.value("chain_outer_scanned", false);
  if (j.contains("kstack"))
    for (const auto& s : j["kstack"]) e.kstack.push_back(s.get<std::string>());
  e.kstack_truncated = j.value("kstack_truncated", "");
  if (auto it = j.find("container"); it != j.end()) e.container = container_from_json(*it);
  if (auto it = j.find("cause"); it != j.end()) e.cause = cause_from_json(*it);
  return e;
}

}  // namespace enospcd
