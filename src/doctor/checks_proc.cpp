// d_state and ipc_ids.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <thread>

#include "doctor/checks.h"
#include "context/text.h"

namespace enospcd::doctor::checks {

// ---------------------------------------------------------------------------------------------------- d_state

namespace {

nlohmann::json mount_json(const MountInfo& m) {
  return {{"mount_point", m.mount_point}, {"fstype", m.fstype}, {"source", m.source},
          {"dev", dev_string(m.dev())},   {"mount_id", m.mount_id}};
}

bool wchan_hints_remote(std::string_view w) {
  for (auto k : {"nfs", "rpc", "fuse", "cifs", "smb", "ceph", "p9_", "afs"}) {
    if (w.find(k) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

CheckResult d_state(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  struct Candidate {
    const ProcessInfo* p;
    const BlockedThread* t;
  };
  std::vector<Candidate> cands;
  for (const auto& p : host.processes) {
    for (const auto& t : p.blocked) cands.push_back({&p, &t});
  }
  // A moment in D is normal (disk I/O): only what is still in D, the same task, after the recheck delay counts.
  if (!cands.empty() && opts.d_state_recheck.count() > 0) {
    auto due = host.scanned_at + opts.d_state_recheck;
    auto now = std::chrono::steady_clock::now();
    if (due > now) std::this_thread::sleep_for(due - now);
  }
  std::map<const ProcessInfo*, std::vector<const BlockedThread*>> persistent;
  std::size_t transient = 0;
  for (const auto& c : cands) {
    auto ts = read_task_stat(host.root, c.p->pid, c.t->tid);
    if (ts && ts->state == 'D' && ts->starttime == c.t->starttime) {
      persistent[c.p].push_back(c.t);
    } else {
      transient++;
    }
  }

  for (const auto& [p, threads] : persistent) {
    // Which mounts is it touching? cwd and open files, identified without touching the filesystems.
    const MountInfo* cwd_m = p->cwd.mnt_id >= 0 ? host.mount_by_id(p->cwd.mnt_id) : nullptr;
    if (!cwd_m && !p->cwd.path.empty()) cwd_m = host.mount_for_path(p->mnt_ns, p->cwd.path);
    std::map<const MountInfo*, std::size_t> fd_mounts;
    for (const auto& of : p->files) {
      if (of.kind != FdKind::path) continue;
      const MountInfo* m = of.file.mnt_id >= 0 ? host.mount_by_id(of.file.mnt_id) : nullptr;
      if (!m) m = host.mount_for_path(p->mnt_ns, of.file.path);
      if (m) fd_mounts[m]++;
    }
    const MountInfo* suspect = nullptr;
    if (cwd_m && is_remote_fstype(cwd_m->fstype)) suspect = cwd_m;
    for (const auto& [m, n] : fd_mounts) {
      if (!suspect && is_remote_fstype(m->fstype)) suspect = m;
    }
    const std::string& wchan = threads.front()->wchan;
    std::vector<int> children;
    // The vfork() parent sleeps in wait_for_vfork_done(), which is usually inlined into kernel_clone
    // (_do_fork before 5.10).
    if (wchan.find("vfork") != std::string::npos || wchan == "kernel_clone" || wchan == "_do_fork" ||
        wchan == "do_fork") {
      for (const auto& q : host.processes) {
        if (q.ppid == p->pid) children.push_back(q.pid);
      }
    }

    Finding f;
    f.check = std::string(kCheckDState);
    f.severity = Severity::warning;
    f.summary = process_label(*p);
    if (threads.size() > 1 || threads.front()->tid != p->pid) {
      f.summary += ": " + std::to_string(threads.size()) + " thread" + (threads.size() == 1 ? "" : "s") + " (tid " +
                   std::to_string(threads.front()->tid) + (threads.size() > 1 ? ", ..." : "") + ")";
    }
    f.summary += " in uninterruptible sleep (D) for at least " + std::to_string(opts.d_state_recheck.count()) + " ms";
    if (!wchan.empty()) f.summary += " in " + wchan;
    if (!children.empty()) {
      f.summary += ", waiting for its vfork() child pid " + std::to_string(children.front());
    } else if (suspect) {
      f.summary += "; likely stuck on " + suspect->mount_point + " (" + suspect->fstype + " " + suspect->source + ")";
    } else if (cwd_m) {
      f.summary += "; cwd on " + cwd_m->mount_point + " (" + cwd_m->fstype + " " + dev_string(cwd_m->dev()) + ")";
    }

    if (!children.empty()) {
      f.remedy = "A vfork() parent sleeps until the child calls exec or exits: look at child " +
                 std::to_string(children.front()) + " (what it runs, whether it is stuck); killing the child "
                 "releases the parent.";
    } else if (suspect || wchan_hints_remote(wchan)) {
      f.remedy = "The task waits on a network/FUSE filesystem" +
                 (suspect ? " (" + suspect->mount_point + ")" : std::string()) +
                 ": check the server and the network; a hard NFS mount waits forever, `umount -f` (NFS) or "
                 "`umount -l` detaches it. Tasks in D cannot be killed until the call returns.";
    } else {
      f.remedy = "Uninterruptible sleep usually means I/O or a kernel lock: see `cat /proc/" + std::to_string(p->pid) +
                 "/stack` (root), dmesg for 'blocked for more than' (hung task), and the health of the device behind "
                 "its files (`iostat -x 1`). Tasks in D cannot be killed until the call returns.";
    }
    nlohmann::json tj = nlohmann::json::array();
    for (const auto* t : threads) tj.push_back({{"tid", t->tid}, {"comm", t->comm}, {"wchan", t->wchan}});
    nlohmann::json fm = nlohmann::json::array();
    for (const auto& [m, n] : fd_mounts) {
      auto j = mount_json(*m);
      j["fds"] = n;
      fm.push_back(std::move(j));
    }
    f.evidence = process_json(*p);
    f.evidence["state"] = "D";
    f.evidence["wchan"] = wchan;
    f.evidence["threads"] = tj;
    f.evidence["cwd"] = p->cwd.link;
    if (cwd_m) f.evidence["cwd_mount"] = mount_json(*cwd_m);
    f.evidence["fd_mounts"] = fm;
    if (suspect) f.evidence["suspect_mount"] = mount_json(*suspect);
    if (!children.empty()) f.evidence["vfork_children"] = children;
    f.evidence["ppid"] = p->ppid;
    r.findings.push_back(std::move(f));
  }
  if (r.findings.empty()) {
    Finding f;
    f.check = std::string(kCheckDState);
    f.summary = "no task in uninterruptible sleep (D) for " + std::to_string(opts.d_state_recheck.count()) +
                " ms or more (" + std::to_string(transient) + " briefly)";
    f.remedy = "Nothing to do.";
    f.evidence = {{"transient", transient}};
    r.findings.push_back(std::move(f));
  }
  if (!opts.thread_states) r.detail = "main threads only (thread_states off)";
  return r;
}

// ---------------------------------------------------------------------------------------------------- ipc_ids

std::optional<std::size_t> SysvIpcTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); i++) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

SysvIpcTable parse_sysvipc(std::string_view text) {
  SysvIpcTable t;
  auto lines = split_lines(text);
  if (lines.empty()) return t;
  for (auto c : split_fields(lines[0])) t.columns.emplace_back(c);
  for (std::size_t i = 1; i < lines.size(); i++) {
    auto f = split_fields(lines[i]);
    if (f.size() < t.columns.size()) continue;
    std::vector<std::string> row;
    row.reserve(f.size());
    for (auto x : f) row.emplace_back(x);
    t.rows.push_back(std::move(row));
  }
  return t;
}

CheckResult ipc_ids(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  const auto& sc = host.sysctls;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE) > 0 ? ::sysconf(_SC_PAGESIZE) : 4096);
  nlohmann::json overview = nlohmann::json::object();
  std::vector<std::string> parts;

  auto add = [&](const std::string& what, uint64_t used, std::optional<uint64_t> limit, const std::string& limit_name,
                 const std::string& remedy, nlohmann::json evidence) {
    evidence["used"] = used;
    if (limit) {
      evidence["limit"] = *limit;
      evidence["limit_name"] = limit_name;
    }
    overview[what] = evidence;
    std::string line = std::to_string(used) + " " + what + (limit ? " of " + limit_name + " " + std::to_string(*limit) : "");
    parts.push_back(line);
    if (!limit || *limit == 0) return;
    const unsigned pct = percent_ceil(used, *limit);
    if (pct < opts.warning_pct && used < *limit) return;
    Finding f;
    f.check = std::string(kCheckIpc);
    f.severity = (used >= *limit || pct >= opts.critical_pct) ? Severity::critical : Severity::warning;
    f.summary = line + " (" + std::to_string(pct) + "%) in this IPC namespace";
    f.remedy = remedy;
    f.evidence = evidence;
    r.findings.push_back(std::move(f));
  };

  std::size_t readable = 0;
  if (auto text = read_file(join_root(host.root, "/proc/sysvipc/shm"))) {
    readable++;
    auto t = parse_sysvipc(*text);
    auto size_col = t.column("size"), nattch_col = t.column("nattch"), id_col = t.column("shmid");
    uint64_t bytes = 0, pages = 0, orphan_bytes = 0;
    std::vector<std::pair<uint64_t, std::string>> orphans;
    for (const auto& row : t.rows) {
      uint64_t sz = 0, na = 1;
      if (size_col) parse_u64(row[*size_col], sz);
      if (nattch_col) parse_u64(row[*nattch_col], na);
      bytes += sz;
      pages += (sz + page - 1) / page;
      if (na == 0) {
        orphan_bytes += sz;
        orphans.emplace_back(sz, id_col ? row[*id_col] : "");
      }
    }
    std::sort(orphans.begin(), orphans.end(), std::greater<>());
    nlohmann::json oj = nlohmann::json::array();
    for (std::size_t i = 0; i < orphans.size() && i < opts.top_n; i++) {
      oj.push_back({{"shmid", orphans[i].second}, {"bytes", orphans[i].first}});
    }
    const std::string shm_remedy =
        "shmget(2) fails with ENOSPC at kernel.shmmni segments or when the total would pass kernel.shmall pages. "
        "Remove segments nobody attaches (`ipcs -m`, nattch 0: `ipcrm -m <shmid>`) or raise the sysctl.";
    add("shm segments", t.rows.size(), sc.shmmni, "kernel.shmmni", shm_remedy,
        {{"bytes", bytes}, {"unattached", orphans.size()}, {"unattached_bytes", orphan_bytes}, {"largest_unattached", oj}});
    add("shm pages", pages, sc.shmall, "kernel.shmall", shm_remedy, {{"bytes", bytes}});
  }
  if (auto text = read_file(join_root(host.root, "/proc/sysvipc/msg"))) {
    readable++;
    auto t = parse_sysvipc(*text);
    add("message queues", t.rows.size(), sc.msgmni, "kernel.msgmni",
        "msgget(2) fails with ENOSPC at kernel.msgmni queues: remove stale ones (`ipcs -q`, `ipcrm -q <id>`) or "
        "raise the sysctl.",
        nlohmann::json::object());
  }
  if (auto text = read_file(join_root(host.root, "/proc/sysvipc/sem"))) {
    readable++;
    auto t = parse_sysvipc(*text);
    auto nsems_col = t.column("nsems");
    uint64_t nsems = 0;
    for (const auto& row : t.rows) {
      uint64_t n = 0;
      if (nsems_col && parse_u64(row[*nsems_col], n)) nsems += n;
    }
    const std::string sem_remedy =
        "semget(2) fails with ENOSPC at SEMMNI sets or SEMMNS semaphores (kernel.sem = SEMMSL SEMMNS SEMOPM "
        "SEMMNI): remove stale sets (`ipcs -s`, `ipcrm -s <id>`) or raise kernel.sem.";
    add("semaphore sets", t.rows.size(), sc.sem ? std::optional<uint64_t>((*sc.sem)[3]) : std::nullopt,
        "SEMMNI (kernel.sem[3])", sem_remedy, nlohmann::json::object());
    add("semaphores", nsems, sc.sem ? std::optional<uint64_t>((*sc.sem)[1]) : std::nullopt, "SEMMNS (kernel.sem[1])",
        sem_remedy, nlohmann::json::object());
  }
  // POSIX message queues: the mqueue filesystem lists the queues of the IPC namespace that mounted it.
  if (const MountNamespace* self = host.ns(host.self_mnt_ns)) {
    for (const auto& m : self->mounts) {
      if (m.fstype != "mqueue") continue;
      std::string dir = join_root(host.root, m.mount_point);
      std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
      if (!d) break;
      uint64_t n = 0;
      while (auto* e = ::readdir(d.get())) n += e->d_name[0] != '.';
      add("POSIX message queues", n, sc.mqueue_queues_max, "fs.mqueue.queues_max",
          "mq_open(3) fails with ENOSPC at fs.mqueue.queues_max queues (per IPC namespace, unless the caller has "
          "CAP_SYS_RESOURCE): remove stale queues under " + m.mount_point + " or raise the sysctl.",
          {{"mount_point", m.mount_point}});
      break;
    }
  }
  if (readable == 0) {
    r.skipped = "/proc/sysvipc not readable (CONFIG_SYSVIPC off?)";
    return r;
  }
  Finding f;
  f.check = std::string(kCheckIpc);
  f.summary = "IPC namespace of the doctor: ";
  for (std::size_t i = 0; i < parts.size(); i++) f.summary += (i ? ", " : "") + parts[i];
  f.remedy = "Nothing to do.";
  f.evidence = overview;
  r.findings.push_back(std::move(f));
  r.detail = "only the doctor's own IPC namespace is visible in /proc/sysvipc";
  return r;
}

}  // namespace enospcd::doctor::checks
