#include "doctor/scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>

#include "context/text.h"

namespace enospcd::doctor {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Counters {
  std::atomic<std::size_t> vanished{0}, denied{0}, fds{0}, fdinfo_reads{0}, stat_calls{0}, maps_read{0},
      threads_read{0}, malformed{0};
};

bool is_notify_anon(std::string_view anon) {
  return anon == "inotify" || anon == "[fanotify]" || anon == "[eventpoll]";
}

bool is_under(std::string_view path, std::string_view mount_point) {
  if (mount_point == "/") return true;
  return starts_with(path, mount_point) && (path.size() == mount_point.size() || path[mount_point.size()] == '/');
}

// Read-only view of what pass two needs to decide which files to keep.
struct FilePassContext {
  const HostSnapshot& host;
  const ScanOptions& opts;
  // Per namespace: mount points of remote/FUSE filesystems, where we must not stat.
  std::unordered_map<uint64_t, std::vector<std::string>> remote_points;

  bool known_mount(int id) const { return id >= 0 && host.known_mount_ids.count(id) != 0; }
  bool known_dev(dev_t d) const { return host.known_devs.count(d) != 0; }
  bool remote_path(uint64_t ns, std::string_view path) const {
    auto it = remote_points.find(ns);
    if (it == remote_points.end()) return false;
    for (const auto& mp : it->second) {
      if (mp != "/" && is_under(path, mp)) return true;
    }
    return false;
  }
};

// An O_PATH fd on /proc/<pid>: relative opens skip the path walk, and a recycled pid cannot swap the files
// under us (reads through the old directory fail with ESRCH instead).
class PidDir {
 public:
  PidDir(const std::string& root, int pid) {
    fd_ = ::open(proc_path(root, pid, "").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    err_ = fd_ < 0 ? errno : 0;
  }
  ~PidDir() {
    if (fd_ >= 0) ::close(fd_);
  }
  PidDir(const PidDir&) = delete;
  PidDir& operator=(const PidDir&) = delete;
  int fd() const { return fd_; }
  int error() const { return err_; }

 private:
  int fd_ = -1;
  int err_ = 0;
};

template <typename F>
void for_each_numeric_entry(int dirfd, const char* rel, F&& f, bool* denied = nullptr) {
  int fd = ::openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (denied && errno == EACCES) *denied = true;
    return;
  }
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  while (auto* e = ::readdir(d)) {
    int n = 0;
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && parse_int(e->d_name, n)) f(n, e->d_name);
  }
  ::closedir(d);
}

void scan_identity(const std::string& root, ProcessInfo& p, Counters& c, bool& alive) {
  PidDir dir(root, p.pid);
  Result<ProcStatus> st = dir.fd() < 0 ? Result<ProcStatus>(make_error("gone", dir.error())) : [&] {
    auto text = read_file_at(dir.fd(), "status");
    return text ? parse_status(*text) : Result<ProcStatus>(text.error());
  }();
  if (!st) {
    if (is_gone(st.error())) {
      c.vanished++;
    } else {
      c.malformed++;
    }
    alive = false;
    return;
  }
  p.comm = st->name;
  p.state = st->state;
  p.ppid = st->ppid;
  p.uid = st->uid[0];
  p.euid = st->uid[1];
  p.threads = st->threads;
  if (auto l = read_link_at(dir.fd(), "ns/mnt")) {
    if (auto ino = parse_ns_link(*l)) p.mnt_ns = *ino;
  }
}

void fill_link(FileRef& ref, std::string link) {
  ref.link = std::move(link);
  std::string_view v = ref.link;
  if (ends_with(v, kDeletedSuffix)) {
    ref.deleted = true;
    v.remove_suffix(kDeletedSuffix.size());
  }
  ref.path = std::string(v);
}

void scan_cwd_root(const FilePassContext& ctx, ProcessInfo& p, Counters& c, int dirfd, bool blocked, bool ns_remote) {
  for (auto [name, ref] : {std::pair{"cwd", &p.cwd}, std::pair{"root", &p.root}}) {
    // Usually only the device matters; the link text is read when it will be shown or must be checked first.
    const bool link_first = blocked || ns_remote;
    if (link_first) {
      auto l = read_link_at(dirfd, name);
      if (!l) {
        if (l.error().code == EACCES) c.denied++;
        continue;
      }
      fill_link(*ref, std::move(*l));
      if (blocked || ref->path.empty() || ref->path.front() != '/' || ctx.remote_path(p.mnt_ns, ref->path)) continue;
    }
    c.stat_calls++;
    auto st = stat_file_at(dirfd, name);
    if (st) {
      ref->st = *st;
      if (st->mnt_id) ref->mnt_id = static_cast<int>(*st->mnt_id);
    } else if (st.error().code == EACCES) {
      c.denied++;
      continue;
    }
    const bool known = ctx.known_mount(ref->mnt_id) || (ref->st && ctx.known_dev(ref->st->dev));
    if (!link_first && !known) {
      if (auto l = read_link_at(dirfd, name)) fill_link(*ref, std::move(*l));
    }
  }
}

void scan_fd_table(const FilePassContext& ctx, ProcessInfo& p, Counters& c, int dirfd, bool blocked, bool ns_remote) {
  char rel[48];
  char info_rel[48];
  for_each_numeric_entry(
      dirfd, "fd",
      [&](int fd, const char* name) {
        p.fd_count++;
        std::snprintf(rel, sizeof rel, "fd/%s", name);
        std::snprintf(info_rel, sizeof info_rel, "fdinfo/%s", name);
        auto l = read_link_at(dirfd, rel);
        if (!l) return;
        FdLink link = classify_fd_target(fd, *l);
        if (link.kind == FdKind::anon_inode && is_notify_anon(link.anon)) {
          c.fdinfo_reads++;
          auto text = read_file_at(dirfd, info_rel, 16u << 20);
          if (!text) return;
          OpenFile of;
          of.fd = fd;
          of.kind = link.kind;
          of.anon = link.anon;
          of.info = parse_fdinfo(*text);
          p.files.push_back(std::move(of));
          return;
        }
        if (link.kind != FdKind::path || is_internal_path(link.path)) return;

        OpenFile of;
        of.fd = fd;
        of.kind = FdKind::path;
        fill_link(of.file, std::move(*l));
        auto fdinfo_mnt_id = [&]() -> int {
          c.fdinfo_reads++;
          auto text = read_file_at(dirfd, info_rel);
          return text ? parse_fdinfo(*text).mnt_id : -1;
        };
        bool keep = false;
        if (blocked || (ns_remote && ctx.remote_path(p.mnt_ns, of.file.path))) {
          // fdinfo is generated from the struct file alone: no filesystem call, safe on a dead NFS server.
          of.file.mnt_id = fdinfo_mnt_id();
          keep = blocked || of.file.deleted || !ctx.known_mount(of.file.mnt_id);
        } else {
          c.stat_calls++;
          auto st = stat_file_at(dirfd, rel);
          if (!st) return;
          of.file.st = *st;
          if (st->mnt_id) of.file.mnt_id = static_cast<int>(*st->mnt_id);
          if (of.file.deleted) {
            keep = true;
          } else if (!ctx.known_dev(st->dev)) {
            // btrfs subvolumes report their own st_dev; the mount id settles whether the mount is listed.
            if (!st->mnt_id) of.file.mnt_id = fdinfo_mnt_id();
            keep = !ctx.known_mount(of.file.mnt_id);
          }
        }
        if (keep) p.files.push_back(std::move(of));
      },
      &p.fds_denied);
  if (p.fds_denied) c.denied++;
  c.fds += p.fd_count;
}

void scan_maps(const FilePassContext& ctx, ProcessInfo& p, Counters& c, int dirfd) {
  auto text = read_file_at(dirfd, "maps", 256u << 20);
  if (!text) {
    if (text.error().code == EACCES) {
      p.maps_denied = true;
      c.denied++;
    }
    return;
  }
  c.maps_read++;
  std::unordered_map<uint64_t, std::size_t> by_key;  // (dev, ino) -> index in p.mappings
  for (auto line : split_lines(*text)) {
    if (line.find('/') == std::string_view::npos) continue;  // anonymous, [heap], [stack] ...
    auto m = parse_maps_line(line);
    if (!m || m->path.empty() || m->path.front() != '/' || m->inode == 0 || is_internal_path(m->path)) continue;
    if (!m->deleted && ctx.known_dev(m->dev())) continue;
    uint64_t key = (static_cast<uint64_t>(m->dev()) * 1000003u) ^ m->inode;
    auto it = by_key.find(key);
    if (it != by_key.end() && p.mappings[it->second].dev == m->dev() && p.mappings[it->second].ino == m->inode) {
      p.mappings[it->second].mapped_bytes += m->end - m->start;
      continue;
    }
    MappedFile mf;
    mf.range = m->map_files_name();
    mf.dev = m->dev();
    mf.ino = m->inode;
    mf.path = m->path;
    mf.deleted = m->deleted;
    mf.mapped_bytes = m->end - m->start;
    by_key[key] = p.mappings.size();
    p.mappings.push_back(std::move(mf));
  }
  for (auto& mf : p.mappings) {
    c.stat_calls++;
    if (auto st = stat_file_at(dirfd, ("map_files/" + mf.range).c_str())) mf.st = *st;
  }
  std::erase_if(p.mappings, [&](const MappedFile& mf) {
    return !mf.deleted && mf.st && mf.st->mnt_id && ctx.known_mount(static_cast<int>(*mf.st->mnt_id));
  });
}

void scan_threads(const FilePassContext& ctx, ProcessInfo& p, Counters& c, int dirfd, bool blocked) {
  auto add_blocked = [&](int tid, const ProcStat& ts) {
    BlockedThread b;
    b.tid = tid;
    b.comm = ts.comm;
    b.starttime = ts.starttime;
    std::string rel = "task/" + std::to_string(tid) + "/wchan";
    if (auto w = read_file_at(dirfd, rel.c_str())) b.wchan = parse_wchan(*w);
    p.blocked.push_back(std::move(b));
  };
  auto task_stat = [&](int tid) -> Result<ProcStat> {
    std::string rel = "task/" + std::to_string(tid) + "/stat";
    auto text = read_file_at(dirfd, rel.c_str());
    if (!text) return text.error();
    return parse_stat(*text);
  };
  // The main thread's state came with status; other threads need their own stat.
  if (ctx.opts.thread_states && p.threads > 1) {
    for_each_numeric_entry(dirfd, "task", [&](int tid, const char*) {
      c.threads_read++;
      auto ts = task_stat(tid);
      if (ts && ts->state == 'D') add_blocked(tid, *ts);
    });
  } else if (blocked) {
    if (auto ts = task_stat(p.pid); ts && ts->state == 'D') add_blocked(p.pid, *ts);
  }
}

void scan_files(const FilePassContext& ctx, ProcessInfo& p, Counters& c, bool representative) {
  if (!ctx.opts.files && !ctx.opts.maps && !ctx.opts.thread_states && !representative && p.state != 'D') return;
  PidDir dir(ctx.host.root, p.pid);
  if (dir.fd() < 0) {
    if (is_gone(make_error("", dir.error()))) c.vanished++;
    return;
  }
  const bool blocked = p.state == 'D';
  const bool ns_remote = ctx.remote_points.count(p.mnt_ns) != 0;
  if (ctx.opts.files) {
    scan_cwd_root(ctx, p, c, dir.fd(), blocked, ns_remote);
    scan_fd_table(ctx, p, c, dir.fd(), blocked, ns_remote);
  }
  // Reading maps takes the target's mmap_lock: a D-state task may hold it for write, so leave those alone.
  if (ctx.opts.maps && !blocked) scan_maps(ctx, p, c, dir.fd());
  scan_threads(ctx, p, c, dir.fd(), blocked);
  // Container attribution only for processes a finding can name.
  const bool cwd_odd = (p.cwd.st && !ctx.known_dev(p.cwd.st->dev)) || (p.root.st && !ctx.known_dev(p.root.st->dev));
  if (representative || !p.files.empty() || !p.mappings.empty() || !p.blocked.empty() || cwd_odd) {
    if (auto cg = read_file_at(dir.fd(), "cgroup")) {
      p.cgroup = parse_proc_cgroup(*cg);
      p.container = cgroup_to_container(p.cgroup);
    }
  }
}

}  // namespace

unsigned default_workers() {
  unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  return std::min(hw, 8u);
}

void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& f) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      // An exception escaping a std::thread terminates the process; one item's failure must not.
      try {
        f(i);
      } catch (const std::exception&) {
      }
    }
  };
  std::vector<std::thread> pool;
  if (threads > 1 && n > 64) {
    for (unsigned t = 1; t < threads; t++) {
      try {
        pool.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // no more threads available: the remaining workers (and this one) finish the job
      }
    }
  }
  work();
  for (auto& t : pool) t.join();
}

nlohmann::json to_json(const ScanStats& s) {
  return {
      {"pids_listed", s.pids_listed},   {"processes", s.processes},     {"vanished", s.vanished},
      {"denied", s.denied},             {"fds", s.fds},                 {"fdinfo_reads", s.fdinfo_reads},
      {"stat_calls", s.stat_calls},     {"maps_read", s.maps_read},     {"threads_read", s.threads_read},
      {"malformed", s.malformed},       {"workers", s.workers},
      {"phases_ms",
       {{"list", s.list_ms}, {"identity", s.identity_ms}, {"namespaces", s.namespaces_ms}, {"files", s.files_ms}}},
      {"total_ms", s.total_ms},
  };
}

const ProcessInfo* HostSnapshot::process(int pid) const {
  auto it = pid_index.find(pid);
  return it == pid_index.end() ? nullptr : &processes[it->second];
}

const MountNamespace* HostSnapshot::ns(uint64_t inode) const {
  auto it = ns_index.find(inode);
  return it == ns_index.end() ? nullptr : &namespaces[it->second];
}

const MountInfo* HostSnapshot::mount_for_dev(dev_t dev) const {
  auto it = mount_devs.find(dev);
  return it == mount_devs.end() ? nullptr : it->second;
}

const MountInfo* HostSnapshot::mount_by_id(int id) const {
  auto it = mount_ids.find(id);
  return it == mount_ids.end() ? nullptr : it->second;
}

const MountInfo* HostSnapshot::mount_for_path(uint64_t mnt_ns, const std::string& path) const {
  const MountNamespace* n = ns(mnt_ns);
  if (!n) return nullptr;
  const MountInfo* best = nullptr;
  for (const auto& m : n->mounts) {
    // Later entries with the same mount point are stacked on top of earlier ones: prefer them (>=).
    if (is_under(path, m.mount_point) && (!best || m.mount_point.size() >= best->mount_point.size())) best = &m;
  }
  return best;
}

HostSnapshot scan_host(const ScanOptions& opts) {
  auto t0 = Clock::now();
  HostSnapshot h;
  h.root = opts.root.empty() ? "/" : opts.root;
  h.self_pid = self_pid(h.root);
  h.sysctls = read_sysctls(h.root);
  const unsigned workers = opts.threads ? opts.threads : default_workers();
  h.stats.workers = workers;
  Counters c;

  auto pids = list_pids(h.root);
  if (pids) std::sort(pids->begin(), pids->end());
  std::vector<int> pid_list = pids ? std::move(*pids) : std::vector<int>{};
  h.stats.pids_listed = pid_list.size();
  h.stats.list_ms = ms_since(t0);

  // Pass 1: who is each process, and in which mount namespace.
  auto t1 = Clock::now();
  std::vector<ProcessInfo> procs(pid_list.size());
  std::vector<char> alive(pid_list.size(), 1);
  parallel_for(pid_list.size(), workers, [&](std::size_t i) {
    procs[i].pid = pid_list[i];
    bool ok = true;
    scan_identity(h.root, procs[i], c, ok);
    alive[i] = ok ? 1 : 0;
  });
  for (std::size_t i = 0; i < procs.size(); i++) {
    if (alive[i]) h.processes.push_back(std::move(procs[i]));
  }
  for (std::size_t i = 0; i < h.processes.size(); i++) h.pid_index[h.processes[i].pid] = i;
  h.stats.identity_ms = ms_since(t1);

  // Mount namespaces: one mountinfo per namespace, from the first member that is still there.
  auto t2 = Clock::now();
  if (auto self_ns = read_ns_inode(h.root, 0, "mnt")) h.self_mnt_ns = *self_ns;
  for (const auto& p : h.processes) {
    if (p.mnt_ns == 0) continue;
    auto [it, inserted] = h.ns_index.try_emplace(p.mnt_ns, h.namespaces.size());
    if (inserted) {
      MountNamespace n;
      n.inode = p.mnt_ns;
      n.is_self = p.mnt_ns == h.self_mnt_ns;
      h.namespaces.push_back(std::move(n));
    }
    h.namespaces[it->second].pids.push_back(p.pid);
  }
  parallel_for(h.namespaces.size(), workers, [&](std::size_t i) {
    auto& n = h.namespaces[i];
    std::vector<int> order = n.pids;
    if (n.is_self && h.self_pid) order.insert(order.begin(), h.self_pid);
    // mountinfo lists only what is reachable from the reader's root: prefer a member that is not chrooted
    // (its root link reads "/"), among the first few.
    int reader = 0;
    for (std::size_t k = 0; k < order.size() && k < 16; k++) {
      auto l = read_link(proc_path(h.root, order[k], "root"));
      if (l && *l == "/") {
        reader = order[k];
        break;
      }
    }
    if (reader) order.insert(order.begin(), reader);
    for (int pid : order) {
      auto text = read_file(proc_path(h.root, pid, "mountinfo"), 512u << 20);
      if (!text) continue;
      std::size_t bad = 0;
      n.mounts = parse_mountinfo(*text, &bad);
      c.malformed += bad;
      n.reader_pid = pid;
      n.readable = true;
      break;
    }
  });
  // Self namespace first, so lookups by device name mount points as the doctor sees them.
  std::vector<std::size_t> ns_order(h.namespaces.size());
  for (std::size_t i = 0; i < ns_order.size(); i++) ns_order[i] = i;
  std::stable_partition(ns_order.begin(), ns_order.end(), [&](std::size_t i) { return h.namespaces[i].is_self; });
  for (std::size_t i : ns_order) {
    for (const auto& m : h.namespaces[i].mounts) {
      h.known_mount_ids.insert(m.mount_id);
      h.known_devs.insert(m.dev());
      h.mount_ids.try_emplace(m.mount_id, &m);
      h.mount_devs.try_emplace(m.dev(), &m);
    }
  }
  h.stats.namespaces_ms = ms_since(t2);

  // Pass 2: open files, cwd/root, mappings, blocked threads.
  auto t3 = Clock::now();
  {
    FilePassContext ctx{h, opts, {}};
    for (const auto& n : h.namespaces) {
      for (const auto& m : n.mounts) {
        if (is_remote_fstype(m.fstype)) ctx.remote_points[n.inode].push_back(m.mount_point);
      }
    }
    std::vector<char> representative(h.processes.size(), 0);
    for (const auto& n : h.namespaces) {
      if (!n.pids.empty()) representative[h.pid_index[n.pids.front()]] = 1;
    }
    parallel_for(h.processes.size(), workers,
                 [&](std::size_t i) { scan_files(ctx, h.processes[i], c, representative[i] != 0); });
  }
  h.stats.files_ms = ms_since(t3);

  h.stats.processes = h.processes.size();
  h.stats.vanished = c.vanished;
  h.stats.denied = c.denied;
  h.stats.fds = c.fds;
  h.stats.fdinfo_reads = c.fdinfo_reads;
  h.stats.stat_calls = c.stat_calls;
  h.stats.maps_read = c.maps_read;
  h.stats.threads_read = c.threads_read;
  h.stats.malformed = c.malformed;
  h.stats.total_ms = ms_since(t0);
  h.scanned_at = Clock::now();
  return h;
}

}  // namespace enospcd::doctor
