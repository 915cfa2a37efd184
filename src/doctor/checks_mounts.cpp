// mount_count and shadowed_mounts.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "doctor/checks.h"
#include "doctor/shadow.h"
#include "context/text.h"

namespace enospcd::doctor::checks {

namespace {

std::string ns_label(const HostSnapshot& host, const MountNamespace& ns) {
  std::string s = "mnt:[" + std::to_string(ns.inode) + "]";
  if (!ns.pids.empty()) {
    if (const ProcessInfo* p = host.process(ns.pids.front())) {
      s += " (" + process_label(*p) + ", " + std::to_string(ns.pids.size()) + " process" +
           (ns.pids.size() == 1 ? "" : "es");
      if (p->container && p->container->runtime != "systemd") {
        s += ", " + p->container->runtime + " " + p->container->id.substr(0, 12);
      }
      s += ")";
    }
  }
  return s;
}

nlohmann::json top_counts(const std::map<std::string, std::size_t>& counts, std::size_t n, const char* key,
                          std::size_t min_count) {
  std::vector<std::pair<std::string, std::size_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < v.size() && i < n; i++) {
    if (v[i].second < min_count) break;
    out.push_back({{key, v[i].first}, {"count", v[i].second}});
  }
  return out;
}

nlohmann::json ns_json(const HostSnapshot& host, const MountNamespace& ns, std::optional<uint64_t> limit,
                       std::size_t top_n, bool details) {
  nlohmann::json j = {{"ns", ns.inode}, {"mounts", ns.mounts.size()}, {"processes", ns.pids.size()},
                      {"reader_pid", ns.reader_pid}, {"self", ns.is_self}};
  if (limit) j["used_pct"] = percent_ceil(ns.mounts.size(), *limit);
  if (!ns.pids.empty()) {
    if (const ProcessInfo* p = host.process(ns.pids.front())) {
      j["pid"] = p->pid;
      j["comm"] = p->comm;
      if (p->container) j["container"] = to_json(*p->container);
    }
  }
  if (details) {
    std::map<std::string, std::size_t> sources, points;
    for (const auto& m : ns.mounts) {
      sources[m.fstype + " " + m.source]++;
      points[m.mount_point]++;
    }
    j["top_sources"] = top_counts(sources, top_n, "fstype_source", 1);
    j["repeated_mount_points"] = top_counts(points, top_n, "mount_point", 2);
  }
  return j;
}

}  // namespace

CheckResult mount_count(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  const auto limit = host.sysctls.mount_max;
  std::vector<const MountNamespace*> list;
  std::size_t unreadable = 0;
  for (const auto& ns : host.namespaces) {
    if (ns.readable) {
      list.push_back(&ns);
    } else {
      unreadable++;
    }
  }
  std::sort(list.begin(), list.end(), [](const MountNamespace* a, const MountNamespace* b) {
    return a->mounts.size() > b->mounts.size();
  });

  for (const MountNamespace* ns : list) {
    if (!limit || *limit == 0) break;
    const unsigned pct = percent_ceil(ns->mounts.size(), *limit);
    const bool full = ns->mounts.size() >= *limit;
    if (pct < opts.warning_pct && !full) continue;
    Finding f;
    f.check = std::string(kCheckMountCount);
    f.severity = (full || pct >= opts.critical_pct) ? Severity::critical : Severity::warning;
    f.summary = "mount namespace " + ns_label(host, *ns) + ": " + std::to_string(ns->mounts.size()) +
                " mounts of fs.mount-max " + std::to_string(*limit) + " (" + std::to_string(pct) + "%)";
    f.evidence = ns_json(host, *ns, limit, opts.top_n, true);
    f.evidence["limit"] = *limit;
    if (!f.evidence["top_sources"].empty()) {
      f.summary += "; most repeated: " + f.evidence["top_sources"][0]["fstype_source"].get<std::string>() + " x" +
                   std::to_string(f.evidence["top_sources"][0]["count"].get<std::size_t>());
    }
    f.remedy = "mount(2), unshare(CLONE_NEWNS) and container starts in this namespace fail with ENOSPC once it "
               "holds fs.mount-max mounts. Find what keeps mounting (the repeated sources and mount points in "
               "the evidence; a mount point repeated many times usually means a propagation loop: make the "
               "parent private or slave), unmount the leaks (`umount -l`), or raise the limit: "
               "`sysctl -w fs.mount-max=" + std::to_string(*limit * 2) + "`.";
    r.findings.push_back(std::move(f));
  }

  // One overview, always.
  Finding f;
  f.check = std::string(kCheckMountCount);
  f.summary = std::to_string(host.namespaces.size()) + " mount namespaces";
  if (!list.empty()) {
    f.summary += "; largest " + ns_label(host, *list.front()) + " with " +
                 std::to_string(list.front()->mounts.size()) + " mounts";
    if (limit) {
      f.summary += " of fs.mount-max " + std::to_string(*limit) + " (" +
                   std::to_string(percent_ceil(list.front()->mounts.size(), *limit)) + "%)";
    }
  }
  nlohmann::json all = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < 1000; i++) {
    all.push_back(ns_json(host, *list[i], limit, opts.top_n, i < opts.top_n));
  }
  f.evidence = {{"namespaces", all},
                {"namespace_count", host.namespaces.size()},
                {"unreadable", unreadable},
                {"truncated", list.size() > 1000}};
  if (limit) f.evidence["limit"] = *limit;
  f.remedy = "Nothing to do.";
  auto mx = host.sysctls.max_namespaces.find("mnt");
  if (mx != host.sysctls.max_namespaces.end()) {
    f.evidence["max_mnt_namespaces"] = mx->second;
    const unsigned pct = percent_ceil(host.namespaces.size(), mx->second);
    if (pct >= opts.warning_pct) {
      f.severity = pct >= opts.critical_pct ? Severity::critical : Severity::warning;
      f.summary += "; " + std::to_string(host.namespaces.size()) + " mount namespaces of user.max_mnt_namespaces " +
                   std::to_string(mx->second) + " (" + std::to_string(pct) + "%)";
      f.remedy = "unshare(CLONE_NEWNS)/clone fail with ENOSPC at user.max_mnt_namespaces (per user): find who "
                 "creates namespaces, or raise it with `sysctl -w user.max_mnt_namespaces=N`.";
    }
  }
  r.findings.push_back(std::move(f));
  std::size_t unknown_ns = 0;
  for (const auto& p : host.processes) unknown_ns += p.mnt_ns == 0 ? 1 : 0;
  std::vector<std::string> notes;
  if (unreadable) notes.push_back(std::to_string(unreadable) + " namespaces whose processes exited before their mountinfo was read");
  if (unknown_ns)
    notes.push_back(std::to_string(unknown_ns) + " processes whose /proc/PID/ns/mnt was not readable " +
                    (::geteuid() == 0 ? "(they exited during the scan, or a security module denies root)"
                                      : "(run as root)"));
  for (std::size_t i = 0; i < notes.size(); i++) r.detail += (i ? "; " : "") + notes[i];
  return r;
}

CheckResult shadowed_mounts(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  if (!opts.shadowed_mounts) {
    r.skipped = "disabled";
    return r;
  }
  if (!(host.root.empty() || host.root == "/")) {
    r.skipped = "needs the real root (this is a fake tree)";
    return r;
  }
  if (::geteuid() != 0) {
    r.skipped = "needs root (CAP_SYS_ADMIN) to look under mount points";
    return r;
  }
  std::vector<MountInfo> mounts;
  if (opts.shadowed_mounts_pid > 0) {
    auto m = read_mountinfo(host.root, opts.shadowed_mounts_pid);
    if (!m) {
      r.skipped = m.error().message;
      return r;
    }
    mounts = std::move(*m);
  } else if (const MountNamespace* self = host.ns(host.self_mnt_ns); self && self->readable) {
    mounts = self->mounts;
  } else {
    auto m = read_mountinfo(host.root, 0);
    if (!m) {
      r.skipped = m.error().message;
      return r;
    }
    mounts = std::move(*m);
  }

  ShadowProbeOptions po;
  po.root = host.root;
  po.ns_pid = opts.shadowed_mounts_pid;
  po.timeout = opts.shadow_timeout;
  po.max_mounts = opts.shadow_max_mounts;
  po.max_entries = opts.shadow_max_entries;
  po.include_remote = opts.include_remote;
  auto res = probe_shadowed_mounts(mounts, po);
  if (!res) {
    r.skipped = res.error().message;
    return r;
  }
  if (!res->child_error.empty()) {
    r.skipped = res->child_error;
    return r;
  }

  std::unordered_map<int, const MountInfo*> by_id;
  for (const auto& m : mounts) by_id[m.mount_id] = &m;
  std::size_t errors = 0, truncated = 0;
  for (const auto& e : res->entries) {
    if (e.error) errors++;
    if (e.truncated) truncated++;
    // Empty directories, device nodes and empty files are the skeleton of mount points (an image's /dev/pts,
    // /dev/console); only files holding blocks are data someone wrote there before the mount.
    if (!e.walked || e.file_bytes == 0) continue;
    auto mit = by_id.find(e.mount_id);
    if (mit == by_id.end()) continue;
    const MountInfo& m = *mit->second;
    auto pit = by_id.find(m.parent_id);
    if (pit == by_id.end()) continue;
    const MountInfo& parent = *pit->second;
    const bool stacked = parent.mount_point == m.mount_point;

    Finding f;
    f.check = std::string(kCheckShadowedMounts);
    f.severity = e.file_bytes >= (1ull << 30) ? Severity::warning : Severity::info;
    std::string names;
    for (std::size_t i = 0; i < e.sample.size(); i++) names += (i ? ", " : "") + e.sample[i];
    f.summary = m.mount_point + " (" + m.fstype + " " + dev_string(m.dev()) + ") hides " + (e.truncated ? "at least " : "") +
                std::to_string(e.files) + " file" + (e.files == 1 ? "" : "s") + " (" + format_bytes(e.file_bytes) +
                ") in " + std::to_string(e.entries) + " entr" + (e.entries == 1 ? "y" : "ies") + " " + (stacked ? "in the root of the " : "of the directory beneath it on ") +
                parent.mount_point + " (" + parent.fstype + " " + dev_string(parent.dev()) + ")" +
                (stacked ? " mounted below it" : "") + ": " + names + (e.entries > e.sample.size() ? ", ..." : "");
    if (stacked) {
      f.remedy = "Two filesystems are mounted on " + m.mount_point + "; the lower " + parent.fstype +
                 " still holds data nobody can reach by path (and, for tmpfs, memory). If the lower mount is a "
                 "leftover, move what is needed out of it and unmount it (from a namespace where it is on top).";
    } else {
      std::string rel = parent.mount_point == "/" ? m.mount_point : m.mount_point.substr(parent.mount_point.size());
      f.remedy = "Files written to " + m.mount_point + " before the mount are hidden below it and still use space on " +
                 parent.mount_point + ", invisible to du. To reach them without unmounting: `mkdir /run/under && "
                 "mount --bind " + parent.mount_point + " /run/under && ls -la /run/under" + rel +
                 "`; move or delete them there, then `umount /run/under`.";
    }
    f.evidence = {{"mount_point", m.mount_point},
                  {"mount_id", m.mount_id},
                  {"fstype", m.fstype},
                  {"source", m.source},
                  {"dev", dev_string(m.dev())},
                  {"parent",
                   {{"mount_point", parent.mount_point},
                    {"mount_id", parent.mount_id},
                    {"fstype", parent.fstype},
                    {"dev", dev_string(parent.dev())}}},
                  {"stacked", stacked},
                  {"hidden_entries", e.entries},
                  {"hidden_bytes", e.bytes},
                  {"hidden_files", e.files},
                  {"hidden_file_bytes", e.file_bytes},
                  {"walked_entries", e.visited},
                  {"truncated", e.truncated},
                  {"sample", e.sample}};
    r.findings.push_back(std::move(f));
  }
  std::size_t walked = 0;
  for (const auto& e : res->entries) walked += e.walked ? 1 : 0;
  if (r.findings.empty()) {
    Finding f;
    f.check = std::string(kCheckShadowedMounts);
    f.summary = std::to_string(walked) + " mount points looked under, none hides data";
    f.remedy = "Nothing to do.";
    f.evidence = {{"mounts", mounts.size()}, {"walked", walked}, {"planned", res->planned}};
    r.findings.push_back(std::move(f));
  }
  std::vector<std::string> notes;
  if (res->timed_out) notes.push_back("stopped at the " + std::to_string(opts.shadow_timeout.count()) + " ms limit");
  if (res->entries.size() < mounts.size() - 1 && !res->timed_out && mounts.size() > opts.shadow_max_mounts) {
    notes.push_back("only the first " + std::to_string(opts.shadow_max_mounts) + " mounts looked at");
  }
  if (errors) notes.push_back(std::to_string(errors) + " mounts could not be unmounted or opened in the probe");
  if (truncated) notes.push_back(std::to_string(truncated) + " walks stopped at the entry limit");
  for (std::size_t i = 0; i < notes.size(); i++) r.detail += (i ? "; " : "") + notes[i];
  return r;
}

}  // namespace enospcd::doctor::checks
