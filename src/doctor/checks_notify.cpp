// inotify_watches, fanotify_marks, epoll_watches: per-user watch limits, counted from fdinfo.
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <unordered_map>

#include "doctor/checks.h"
#include "context/text.h"

namespace enospcd::doctor::checks {

namespace {

constexpr int kKcmpFile = 0;  // KCMP_FILE, linux/kcmp.h

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

bool matches(WatchKind kind, const OpenFile& of) {
  if (!of.info) return false;
  switch (kind) {
    case WatchKind::inotify: return of.anon == "inotify";
    case WatchKind::fanotify: return of.anon == "[fanotify]";
    case WatchKind::epoll: return of.anon == "[eventpoll]";
  }
  return false;
}

struct KindNames {
  const char* kind;       // "inotify"
  const char* unit;       // "watches"
  const char* instances;  // "instances"
  const char* limit;      // sysctl of the per-user count
  const char* instance_limit;
  const char* remedy;
};

KindNames names_for(WatchKind k) {
  switch (k) {
    case WatchKind::inotify:
      return {"inotify", "watches", "instances", "fs.inotify.max_user_watches", "fs.inotify.max_user_instances",
              "inotify_add_watch(2) fails with ENOSPC once a user holds fs.inotify.max_user_watches watches "
              "(inotify_init1(2) with EMFILE at max_user_instances). Raise the limit, e.g. `sysctl -w "
              "fs.inotify.max_user_watches=524288` persisted in /etc/sysctl.d/, or make the top holders watch "
              "less (file sync, IDEs and log agents watching whole trees; exclude node_modules, .git)."};
    case WatchKind::fanotify:
      return {"fanotify", "marks", "groups", "fs.fanotify.max_user_marks", "fs.fanotify.max_user_groups",
              "fanotify_mark(2) fails with ENOSPC once a user holds fs.fanotify.max_user_marks marks "
              "(fanotify_init(2) with EMFILE at max_user_groups). Raise it with `sysctl -w "
              "fs.fanotify.max_user_marks=N`, or have the holder (usually a security/AV agent) use mount or "
              "filesystem marks instead of one mark per inode."};
    case WatchKind::epoll:
      return {"epoll", "watches", "instances", "fs.epoll.max_user_watches", nullptr,
              "epoll_ctl(EPOLL_CTL_ADD) fails with ENOSPC once a user's epoll instances watch "
              "fs.epoll.max_user_watches file descriptors in total. Look for leaks in the top holders (fds "
              "added and never removed), or raise it with `sysctl -w fs.epoll.max_user_watches=N`."};
  }
  return {};
}

std::unordered_map<uint32_t, std::string> read_passwd(const std::string& root) {
  std::unordered_map<uint32_t, std::string> out;
  auto text = read_file(join_root(root, "/etc/passwd"), 8u << 20);
  if (!text) return out;
  for (auto line : split_lines(*text)) {
    auto c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    auto c2 = line.find(':', c1 + 1);
    auto c3 = c2 == std::string_view::npos ? c2 : line.find(':', c2 + 1);
    if (c3 == std::string_view::npos) continue;
    uint64_t uid = 0;
    if (parse_u64(line.substr(c2 + 1, c3 - c2 - 1), uid)) out.try_emplace(static_cast<uint32_t>(uid), line.substr(0, c1));
  }
  return out;
}

}  // namespace

SameFileFn kcmp_same_file() {
  // EBADF means kcmp(2) exists (CONFIG_KCMP); ENOSYS that it does not.
  pid_t self = ::getpid();
  if (::syscall(SYS_kcmp, self, self, kKcmpFile, -1, -1) != 0 && errno == ENOSYS) return {};
  return [](int pid_a, int fd_a, int pid_b, int fd_b) {
    return ::syscall(SYS_kcmp, pid_a, pid_b, kKcmpFile, fd_a, fd_b) == 0;
  };
}

std::vector<WatchInstance> collect_watch_instances(const HostSnapshot& host, WatchKind kind,
                                                   const SameFileFn& same_file) {
  std::vector<WatchInstance> all;
  for (const auto& p : host.processes) {
    for (const auto& of : p.files) {
      if (!of.info || !matches(kind, of)) continue;
      const FdInfo& fi = *of.info;
      WatchInstance w;
      w.pid = p.pid;
      w.fd = of.fd;
      w.euid = p.euid;
      uint64_t h = static_cast<uint64_t>(kind);
      switch (kind) {
        case WatchKind::inotify:
          w.count = fi.inotify.size();
          for (const auto& x : fi.inotify) h = mix(mix(mix(mix(h, x.wd), x.ino), x.sdev), x.mask);
          break;
        case WatchKind::fanotify:
          // fanotify_add_new_mark() charges fs.fanotify.max_user_marks only for groups without
          // FAN_UNLIMITED_MARKS (which needs CAP_SYS_ADMIN); fdinfo shows the init flags.
          if (fi.fanotify_flags & FAN_UNLIMITED_MARKS) {
            w.uncounted = fi.fanotify.size();
          } else {
            w.count = fi.fanotify.size();
          }
          h = mix(mix(h, fi.fanotify_flags), fi.fanotify_event_flags);
          for (const auto& x : fi.fanotify) h = mix(mix(mix(mix(h, x.ino), x.sdev), x.mask), x.mnt_id);
          break;
        case WatchKind::epoll:
          w.count = fi.epoll.size();
          for (const auto& x : fi.epoll) h = mix(mix(mix(mix(h, x.tfd), x.events), x.data), x.ino);
          break;
      }
      w.content_hash = h;
      all.push_back(std::move(w));
    }
  }
  if (!same_file) return all;

  // fds inherited over fork() or passed over a socket are one instance: the kernel counts it once. Only fds
  // with identical contents can be the same file, so kcmp is asked only inside such groups (bounded).
  std::map<std::tuple<uint32_t, uint64_t, std::size_t>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < all.size(); i++)
    groups[{all[i].euid, all[i].content_hash, all[i].count + all[i].uncounted}].push_back(i);
  std::vector<char> drop(all.size(), 0);
  for (auto& [key, idx] : groups) {
    if (idx.size() < 2 || idx.size() > 256) continue;
    std::vector<std::size_t> reps;
    for (std::size_t i : idx) {
      bool dup = false;
      for (std::size_t r : reps) {
        if (same_file(all[r].pid, all[r].fd, all[i].pid, all[i].fd)) {
          if (all[r].pid != all[i].pid &&
              std::find(all[r].sharing_pids.begin(), all[r].sharing_pids.end(), all[i].pid) ==
                  all[r].sharing_pids.end()) {
            all[r].sharing_pids.push_back(all[i].pid);
          }
          dup = true;
          break;
        }
      }
      if (dup) {
        drop[i] = 1;
      } else {
        reps.push_back(i);
      }
    }
  }
  std::vector<WatchInstance> out;
  for (std::size_t i = 0; i < all.size(); i++) {
    if (!drop[i]) out.push_back(std::move(all[i]));
  }
  return out;
}

std::vector<Finding> evaluate_watches(WatchKind kind, const std::vector<WatchInstance>& instances,
                                      const WatchLimits& limits, const HostSnapshot& host, const DoctorOptions& opts,
                                      bool deduplicated) {
  const KindNames n = names_for(kind);
  const std::string check_id(kind == WatchKind::inotify   ? kCheckInotify
                             : kind == WatchKind::fanotify ? kCheckFanotify
                                                           : kCheckEpoll);
  struct HolderAgg {
    std::size_t instances = 0;
    std::size_t count = 0;
    std::size_t uncounted = 0;
    std::vector<int> sharing;
  };
  struct UserAgg {
    std::size_t instances = 0;
    std::size_t count = 0;
    std::size_t uncounted = 0;
    std::map<int, HolderAgg> holders;
  };
  std::map<uint32_t, UserAgg> users;
  std::size_t total = 0, total_uncounted = 0;
  for (const auto& w : instances) {
    auto& u = users[w.euid];
    u.instances++;
    u.count += w.count;
    u.uncounted += w.uncounted;
    auto& h = u.holders[w.pid];
    h.instances++;
    h.count += w.count;
    h.uncounted += w.uncounted;
    h.sharing.insert(h.sharing.end(), w.sharing_pids.begin(), w.sharing_pids.end());
    total += w.count;
    total_uncounted += w.uncounted;
  }
  const std::string uncounted_key = std::string("uncounted_") + n.unit;
  auto uncounted_text = [&](std::size_t v) {
    return " (+" + std::to_string(v) + " in FAN_UNLIMITED_MARKS groups, not charged)";
  };
  auto passwd = read_passwd(host.root);
  auto user_label = [&](uint32_t uid) {
    auto it = passwd.find(uid);
    return "uid " + std::to_string(uid) + (it == passwd.end() ? "" : " (" + it->second + ")");
  };
  auto pct_of = [](std::size_t v, const std::optional<uint64_t>& lim) -> unsigned {
    return lim && *lim ? percent_ceil(v, *lim) : 0;
  };

  struct Row {
    uint32_t uid;
    const UserAgg* u;
    unsigned pct;
    unsigned ipct;
  };
  std::vector<Row> rows;
  for (const auto& entry : users) {
    const UserAgg& u = entry.second;
    rows.push_back({entry.first, &u, pct_of(u.count, limits.per_user), pct_of(u.instances, limits.instances_per_user)});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    auto ka = std::max(a.pct, a.ipct), kb = std::max(b.pct, b.ipct);
    if (ka != kb) return ka > kb;
    return a.u->count > b.u->count;
  });

  auto holders_json = [&](const UserAgg& u) {
    std::vector<std::pair<int, const HolderAgg*>> hs;
    for (const auto& [pid, h] : u.holders) hs.emplace_back(pid, &h);
    std::sort(hs.begin(), hs.end(), [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < hs.size() && i < opts.top_n; i++) {
      nlohmann::json j;
      if (const ProcessInfo* p = host.process(hs[i].first)) {
        j = process_json(*p);
      } else {
        j = {{"pid", hs[i].first}};
      }
      j[n.unit] = hs[i].second->count;
      if (hs[i].second->uncounted) j[uncounted_key] = hs[i].second->uncounted;
      j[n.instances] = hs[i].second->instances;
      if (!hs[i].second->sharing.empty()) j["shared_with"] = hs[i].second->sharing;
      out.push_back(std::move(j));
    }
    return out;
  };
  auto user_json = [&](const Row& r) {
    nlohmann::json j = {{"uid", r.uid}, {n.unit, r.u->count}, {n.instances, r.u->instances}};
    if (r.u->uncounted) j[uncounted_key] = r.u->uncounted;
    if (auto it = passwd.find(r.uid); it != passwd.end()) j["user"] = it->second;
    if (limits.per_user) {
      j["limit"] = *limits.per_user;
      j["used_pct"] = r.pct;
    }
    if (limits.instances_per_user) {
      j["instance_limit"] = *limits.instances_per_user;
      j["instances_used_pct"] = r.ipct;
    }
    j["holders"] = holders_json(*r.u);
    return j;
  };
  auto describe = [&](const Row& r) {
    std::string s = user_label(r.uid) + ": " + std::to_string(r.u->count) + " " + n.kind + " " + n.unit;
    if (limits.per_user) s += " of " + std::string(n.limit) + " " + std::to_string(*limits.per_user) + " (" + std::to_string(r.pct) + "%)";
    if (r.u->uncounted) s += uncounted_text(r.u->uncounted);
    s += ", " + std::to_string(r.u->instances) + " " + n.instances;
    if (limits.instances_per_user && n.instance_limit) {
      s += " of " + std::string(n.instance_limit) + " " + std::to_string(*limits.instances_per_user) + " (" +
           std::to_string(r.ipct) + "%)";
    }
    return s;
  };

  std::vector<Finding> out;
  for (const Row& r : rows) {
    const unsigned worst = std::max(r.pct, r.ipct);
    const bool full = (limits.per_user && r.u->count >= *limits.per_user) ||
                      (limits.instances_per_user && r.u->instances >= *limits.instances_per_user);
    if (worst < opts.warning_pct && !full) continue;
    Finding f;
    f.check = check_id;
    f.severity = (full || worst >= opts.critical_pct) ? Severity::critical : Severity::warning;
    f.summary = describe(r);
    auto hj = holders_json(*r.u);
    if (!hj.empty()) {
      f.summary += "; top holder pid " + std::to_string(hj[0]["pid"].get<int>()) +
                   (hj[0].contains("comm") ? " (" + hj[0]["comm"].get<std::string>() + ")" : "") + " with " +
                   std::to_string(hj[0][n.unit].get<std::size_t>()) + " " + n.unit;
    }
    f.remedy = n.remedy;
    f.evidence = user_json(r);
    f.evidence["deduplicated"] = deduplicated;
    out.push_back(std::move(f));
  }

  Finding f;
  f.check = check_id;
  f.summary = std::string(n.kind) + ": " + std::to_string(total) + " " + n.unit +
              (total_uncounted ? uncounted_text(total_uncounted) : std::string()) + " in " +
              std::to_string(instances.size()) + " " + n.instances + " across " + std::to_string(users.size()) +
              " user" + (users.size() == 1 ? "" : "s");
  if (!rows.empty()) f.summary += "; highest " + describe(rows.front());
  f.remedy = "Nothing to do.";
  nlohmann::json ulist = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size() && i < std::max<std::size_t>(opts.top_n, 20); i++) ulist.push_back(user_json(rows[i]));
  f.evidence = {{"users", ulist}, {n.unit, total}, {n.instances, instances.size()}, {"deduplicated", deduplicated}};
  if (total_uncounted) f.evidence[uncounted_key] = total_uncounted;
  if (limits.per_user) f.evidence["limit"] = *limits.per_user;
  if (limits.instances_per_user) f.evidence["instance_limit"] = *limits.instances_per_user;
  out.push_back(std::move(f));
  return out;
}

namespace {

CheckResult run_watch_check(WatchKind kind, WatchLimits limits, const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  SameFileFn same = (host.root.empty() || host.root == "/") ? kcmp_same_file() : SameFileFn{};
  auto inst = collect_watch_instances(host, kind, same);
  r.findings = evaluate_watches(kind, inst, limits, host, opts, static_cast<bool>(same));
  if (!same) r.detail = "an instance shared by several processes (fork, fd passing) is counted for each (no kcmp(2))";
  return r;
}

}  // namespace

CheckResult inotify_watches(const HostSnapshot& host, const DoctorOptions& opts) {
  return run_watch_check(WatchKind::inotify,
                         {host.sysctls.inotify_max_user_watches, host.sysctls.inotify_max_user_instances}, host, opts);
}

CheckResult fanotify_marks(const HostSnapshot& host, const DoctorOptions& opts) {
  return run_watch_check(WatchKind::fanotify,
                         {host.sysctls.fanotify_max_user_marks, host.sysctls.fanotify_max_user_groups}, host, opts);
}

CheckResult epoll_watches(const HostSnapshot& host, const DoctorOptions& opts) {
  return run_watch_check(WatchKind::epoll, {host.sysctls.epoll_max_user_watches, std::nullopt}, host, opts);
}

}  // namespace enospcd::doctor::checks
