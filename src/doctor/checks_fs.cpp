// fs_usage, ghost_space, orphaned_fs: where the blocks and inodes went.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "doctor/checks.h"
#include "context/text.h"

namespace enospcd::doctor::checks {

namespace {

std::string pct_str(unsigned p) { return std::to_string(p) + "%"; }

std::string fs_label(const std::string& mount_point, const std::string& fstype, dev_t dev) {
  return mount_point + " (" + fstype + " " + dev_string(dev) + ")";
}

std::vector<std::size_t> namespace_order(const HostSnapshot& host) {
  std::vector<std::size_t> order(host.namespaces.size());
  for (std::size_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) { return host.namespaces[i].is_self; });
  return order;
}

}  // namespace

// ------------------------------------------------------------------------------------------------- fs_usage

std::vector<FsUsageEntry> gather_fs_usage(const HostSnapshot& host, const DoctorOptions& opts, std::string& detail) {
  std::vector<FsUsageEntry> out;
  std::unordered_map<dev_t, std::size_t> index;          // dev -> out[]
  std::unordered_map<dev_t, std::size_t> last_ns;        // dev -> namespace that last counted it
  std::unordered_set<dev_t> ignored;                     // pseudo filesystems, remote when excluded
  std::size_t hidden = 0, failed = 0, remote = 0;

  for (std::size_t ni : namespace_order(host)) {
    const auto& ns = host.namespaces[ni];
    if (!ns.readable) continue;
    const std::string proc_root = proc_path(host.root, ns.reader_pid, "root");
    for (const auto& m : ns.mounts) {
      const dev_t dev = m.dev();
      if (ignored.count(dev)) continue;
      if (auto it = index.find(dev); it != index.end()) {
        auto& e = out[it->second];
        if (last_ns[dev] != ni) {
          e.namespaces++;
          last_ns[dev] = ni;
        } else if (e.mount_points.size() < 4 &&
                   std::find(e.mount_points.begin(), e.mount_points.end(), m.mount_point) == e.mount_points.end()) {
          e.mount_points.push_back(m.mount_point);
        }
        continue;
      }
      // autofs: statfs would trigger the automount. Images are full by design; read-only cannot take writes.
      if (m.fstype == "autofs" || is_static_image_fstype(m.fstype) || m.read_only()) {
        ignored.insert(dev);
        continue;
      }
      if (!opts.include_remote && is_remote_fstype(m.fstype)) {
        ignored.insert(dev);
        remote++;
        continue;
      }
      std::string path = proc_root + (m.mount_point == "/" ? std::string("/") : m.mount_point);
      // Through /proc/<pid>/root the walk follows that namespace's mounts. A mount point covered by another
      // mount resolves to the one on top: check we reached the mount we mean (mount id, else device).
      auto st = stat_file(path);
      if (!st) {
        failed++;
        continue;
      }
      const FileStat& fst = *st;
      bool reached = fst.mnt_id ? static_cast<int>(*fst.mnt_id) == m.mount_id : fst.dev == dev;
      if (!reached) {
        hidden++;
        continue;
      }
      auto fs = stat_fs(path);
      if (!fs) {
        failed++;
        continue;
      }
      if (fs->blocks == 0 && fs->inodes == 0) {  // proc, sysfs, cgroup ...: nothing to fill
        ignored.insert(dev);
        continue;
      }
      FsUsageEntry e;
      e.dev = dev;
      e.fstype = m.fstype;
      e.source = m.source;
      e.mount_points.push_back(m.mount_point);
      e.namespaces = 1;
      e.stats = *fs;
      index[dev] = out.size();
      last_ns[dev] = ni;
      out.push_back(std::move(e));
    }
  }
  std::vector<std::string> notes;
  if (remote) notes.push_back(std::to_string(remote) + " remote/FUSE filesystems not queried (include_remote)");
  if (hidden) notes.push_back(std::to_string(hidden) + " mounts covered by another mount");
  if (failed) notes.push_back(std::to_string(failed) + " mounts could not be queried");
  for (std::size_t i = 0; i < notes.size(); i++) detail += (i ? "; " : "") + notes[i];
  return out;
}

std::vector<Finding> evaluate_fs_usage(const std::vector<FsUsageEntry>& fs, const DoctorOptions& opts) {
  std::vector<Finding> out;
  struct Usage {
    const FsUsageEntry* e;
    unsigned worst;
  };
  std::vector<Usage> all;
  for (const auto& e : fs) {
    const auto& s = e.stats;
    const bool has_blocks = s.blocks > 0;
    const bool has_inodes = s.inodes > 0;
    const unsigned bpct = has_blocks ? s.blocks_used_pct() : 0;
    const unsigned ipct = has_inodes ? s.inodes_used_pct() : 0;
    all.push_back({&e, std::max(bpct, ipct)});

    const bool blocks_out = has_blocks && s.blocks_avail == 0;
    const bool inodes_out = has_inodes && s.inodes_free == 0;
    const bool blocks_crit = has_blocks && (blocks_out || bpct >= opts.critical_pct);
    const bool inodes_crit = has_inodes && (inodes_out || ipct >= opts.critical_pct);
    const bool blocks_warn = has_blocks && bpct >= opts.warning_pct;
    const bool inodes_warn = has_inodes && ipct >= opts.warning_pct;
    const bool tmpfs = e.fstype == "tmpfs";
    const bool tiny_inodes = tmpfs && has_inodes && s.inodes < opts.tiny_tmpfs_inodes;
    if (!blocks_warn && !inodes_warn && !blocks_crit && !inodes_crit && !tiny_inodes) continue;

    Finding f;
    f.check = std::string(kCheckFsUsage);
    f.severity = (blocks_crit || inodes_crit) ? Severity::critical
                 : (blocks_warn || inodes_warn) ? Severity::warning
                                                : Severity::info;
    const std::string& mp = e.mount_points.front();
    std::string sum = fs_label(mp, e.fstype, e.dev) + ": ";
    if (has_blocks) {
      sum += "blocks " + format_bytes(s.total_bytes() - s.free_bytes()) + "/" + format_bytes(s.total_bytes()) +
             " used (" + pct_str(bpct) + "), " + format_bytes(s.avail_bytes()) + " available";
    }
    if (has_inodes) {
      sum += std::string(has_blocks ? "; " : "") + "inodes " + std::to_string(s.inodes_used()) + "/" +
             std::to_string(s.inodes) + " used (" + pct_str(ipct) + ")";
    }
    const uint64_t reserved = s.reserved_bytes();
    if (reserved > 0 && (blocks_warn || blocks_crit)) {
      sum += "; " + format_bytes(reserved) + " more reserved for root";
    }
    if (tiny_inodes && !inodes_warn && !inodes_crit) sum += "; tmpfs allows only " + std::to_string(s.inodes) + " inodes";
    f.summary = std::move(sum);

    std::vector<std::string> remedies;
    std::vector<std::string> conditions;
    if (inodes_crit || inodes_warn) {
      conditions.push_back(inodes_out ? "inodes_exhausted" : "inodes_high");
      if (tmpfs) {
        remedies.push_back("The tmpfs inode limit (nr_inodes=" + std::to_string(s.inodes) +
                           ") is reached before its size: raise it with `mount -o remount,nr_inodes=" +
                           std::to_string(std::max<uint64_t>(s.inodes * 4, 1024)) + " " + mp +
                           "` (nr_inodes=0: no limit), or set it where the tmpfs is created (fstab, container "
                           "runtime --tmpfs/--shm options).");
      } else {
        remedies.push_back("Inodes are used up while blocks may remain: find directories with many small files "
                           "(`find " + mp + " -xdev -printf '%h\\n' | sort | uniq -c | sort -n | tail`) and remove "
                           "them; on ext4 the inode count is fixed at mkfs time (-N / -i).");
      }
    }
    if (blocks_crit || blocks_warn) {
      conditions.push_back(blocks_out ? "blocks_exhausted" : "blocks_high");
      if (tmpfs) {
        remedies.push_back("tmpfs size is used up: delete files, or raise it with `mount -o remount,size=" +
                           format_bytes(s.total_bytes() * 2) + " " + mp + "` (memory-backed: mind RAM and swap).");
      } else {
        remedies.push_back("Free space: `du -xh --max-depth=2 " + mp +
                           " | sort -h | tail`; also see ghost_space (deleted files still open) and "
                           "shadowed_mounts (files hidden under mount points); or grow the filesystem.");
      }
      if (reserved > 0) {
        conditions.push_back("reserved_blocks");
        remedies.push_back(format_bytes(reserved) +
                           " is reserved for root: unprivileged writers get ENOSPC while root can still write "
                           "(ext4 reserved blocks; `tune2fs -m` changes the share).");
      }
    }
    if (tiny_inodes) {
      conditions.push_back("tmpfs_tiny_inode_limit");
      if (!inodes_crit && !inodes_warn) {
        remedies.push_back("This tmpfs was created with a small nr_inodes (" + std::to_string(s.inodes) +
                           "): creating more files than that fails with ENOSPC even with free space.");
      }
    }
    for (std::size_t i = 0; i < remedies.size(); i++) f.remedy += (i ? " " : "") + remedies[i];

    f.evidence = to_json(s);
    f.evidence["dev"] = dev_string(e.dev);
    f.evidence["fstype"] = e.fstype;
    f.evidence["source"] = e.source;
    f.evidence["mount_points"] = e.mount_points;
    f.evidence["namespaces"] = e.namespaces;
    f.evidence["conditions"] = conditions;
    out.push_back(std::move(f));
  }

  if (out.empty()) {
    std::sort(all.begin(), all.end(), [](const Usage& a, const Usage& b) { return a.worst > b.worst; });
    Finding f;
    f.check = std::string(kCheckFsUsage);
    f.severity = Severity::info;
    f.summary = std::to_string(fs.size()) + " filesystems checked, none at or above " +
                std::to_string(static_cast<int>(opts.warning_pct)) + "% of blocks or inodes";
    if (!all.empty()) {
      const auto& top = *all.front().e;
      f.summary += "; fullest " + top.mount_points.front() + " at " + pct_str(all.front().worst);
    }
    f.remedy = "Nothing to do.";
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < all.size() && i < opts.top_n; i++) {
      const auto& e = *all[i].e;
      list.push_back({{"mount_point", e.mount_points.front()},
                      {"fstype", e.fstype},
                      {"dev", dev_string(e.dev)},
                      {"blocks_used_pct", e.stats.blocks > 0 ? e.stats.blocks_used_pct() : 0},
                      {"inodes_used_pct", e.stats.inodes > 0 ? e.stats.inodes_used_pct() : 0}});
    }
    f.evidence = {{"filesystems", fs.size()}, {"fullest", list}};
    out.push_back(std::move(f));
  }
  return out;
}

CheckResult fs_usage(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  auto fs = gather_fs_usage(host, opts, r.detail);
  r.findings = evaluate_fs_usage(fs, opts);
  return r;
}

// ---------------------------------------------------------------------------------------------- ghost_space

namespace {

struct Holder {
  const ProcessInfo* p = nullptr;
  std::string kind;  // fd, cwd, root, map
  int fd = -1;
  std::string range;
  std::string path;

  std::string proc_link(const std::string& root) const {
    if (kind == "fd") return proc_path(root, p->pid, "fd/" + std::to_string(fd));
    if (kind == "map") return proc_path(root, p->pid, "map_files/" + range);
    return proc_path(root, p->pid, kind);
  }
  nlohmann::json json() const {
    nlohmann::json j = process_json(*p);
    j["via"] = kind;
    if (kind == "fd") j["fd"] = fd;
    if (kind == "map") j["map"] = range;
    if (!path.empty()) j["path"] = path;
    return j;
  }
  std::string label() const {
    std::string s = process_label(*p);
    if (kind == "fd") return s + " fd " + std::to_string(fd);
    if (kind == "map") return s + " (mapping)";
    return s + " (" + kind + ")";
  }
};

void add_holder(std::vector<Holder>& holders, Holder h) {
  for (const auto& x : holders) {
    if (x.p == h.p && x.kind == h.kind && x.fd == h.fd) return;
  }
  holders.push_back(std::move(h));
}

struct GhostFile {
  dev_t dev = 0;
  uint64_t ino = 0;
  int mnt_id = -1;
  std::string path;
  uint64_t size = 0;
  uint64_t allocated = 0;
  bool sized = false;
  bool open_fd = false;  // held by an fd (truncatable), not only mapped
  std::vector<Holder> holders;
};

}  // namespace

CheckResult ghost_space(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  std::map<std::pair<dev_t, uint64_t>, GhostFile> files;
  std::size_t unsized = 0;
  for (const auto& p : host.processes) {
    for (const auto& of : p.files) {
      if (of.kind != FdKind::path || !of.file.deleted) continue;
      if (!of.file.st) {
        unsized++;
        continue;
      }
      const auto& st = *of.file.st;
      if (!S_ISREG(st.mode) || st.nlink != 0) continue;  // "(deleted)" but another hard link keeps the name
      auto& g = files[{st.dev, st.ino}];
      g.dev = st.dev;
      g.ino = st.ino;
      g.mnt_id = of.file.mnt_id;
      g.path = of.file.path;
      g.size = st.size;
      g.allocated = st.allocated;
      g.sized = true;
      g.open_fd = true;
      add_holder(g.holders, Holder{&p, "fd", of.fd, {}, {}});
    }
    for (const auto& mf : p.mappings) {
      if (!mf.deleted) continue;
      if (mf.st && (!S_ISREG(mf.st->mode) || mf.st->nlink != 0)) continue;
      dev_t dev = mf.st ? mf.st->dev : mf.dev;
      auto& g = files[{dev, mf.ino}];
      g.dev = dev;
      g.ino = mf.ino;
      if (g.path.empty()) g.path = mf.path;
      if (mf.st && !g.sized) {
        g.size = mf.st->size;
        g.allocated = mf.st->allocated;
        g.sized = true;
        if (mf.st->mnt_id) g.mnt_id = static_cast<int>(*mf.st->mnt_id);
      }
      add_holder(g.holders, Holder{&p, "map", -1, mf.range, {}});
    }
  }

  // Per filesystem.
  struct Group {
    std::vector<const GhostFile*> listed;
    std::size_t small_files = 0;
    uint64_t small_bytes = 0;
    uint64_t allocated = 0;
    uint64_t size = 0;
  };
  std::map<dev_t, Group> groups;
  std::size_t total_files = 0;
  uint64_t total_bytes = 0;
  for (const auto& entry : files) {
    const GhostFile& g = entry.second;
    auto& grp = groups[g.dev];
    total_files++;
    uint64_t bytes = std::max(g.size, g.allocated);
    total_bytes += g.allocated;
    grp.allocated += g.allocated;
    grp.size += g.size;
    if (g.sized && bytes >= opts.ghost_min_bytes) {
      grp.listed.push_back(&g);
    } else {
      grp.small_files++;
      grp.small_bytes += g.allocated;
    }
  }

  for (auto& entry : groups) {
    const dev_t dev = entry.first;
    Group& grp = entry.second;
    if (grp.listed.empty()) continue;
    std::sort(grp.listed.begin(), grp.listed.end(),
              [](const GhostFile* a, const GhostFile* b) { return a->allocated > b->allocated; });
    const GhostFile& top = *grp.listed.front();
    const MountInfo* m = host.mount_for_dev(dev);
    if (!m && top.mnt_id >= 0) m = host.mount_by_id(top.mnt_id);
    std::string mp = m ? m->mount_point : "?";
    std::string fstype = m ? m->fstype : "";
    std::optional<FsStats> fs;
    for (const auto& h : top.holders) {
      if (h.p->state == 'D') continue;
      if (auto s = stat_fs(h.proc_link(host.root))) {
        fs = *s;
        break;
      }
    }
    if (fstype.empty() && fs) fstype = std::string(fs_type_name(fs->magic));

    Finding f;
    f.check = std::string(kCheckGhostSpace);
    const std::size_t count = grp.listed.size() + grp.small_files;
    f.summary = format_bytes(grp.allocated) + " held by " + std::to_string(count) + " deleted-but-open file" +
                (count == 1 ? "" : "s") + " on " + fs_label(mp, fstype, dev) + "; largest " + top.path + " (" +
                format_bytes(std::max(top.allocated, top.size)) + ") held by " + top.holders.front().label();
    if (top.holders.size() > 1) f.summary += " and " + std::to_string(top.holders.size() - 1) + " more";
    f.severity = Severity::info;
    if (fs && fs->total_bytes() > 0) {
      const double share = 100.0 * static_cast<double>(grp.allocated) / static_cast<double>(fs->total_bytes());
      const unsigned used = fs->blocks_used_pct();
      const bool full = fs->blocks_avail == 0 || used >= opts.critical_pct;
      if (full && share >= 1.0) {
        f.severity = Severity::critical;
      } else if (share >= 5.0 || grp.allocated >= (1ull << 30) || (used >= opts.warning_pct && share >= 1.0)) {
        f.severity = Severity::warning;
      }
      const uint64_t bs = std::max<uint64_t>(fs->block_size, 1);
      const uint64_t ghost_blocks = std::min(grp.allocated / bs, fs->blocks - fs->blocks_free);
      const uint64_t used_after = fs->blocks - fs->blocks_free - ghost_blocks;
      f.summary += "; filesystem " + pct_str(used) + " used, " +
                   pct_str(percent_ceil(used_after, used_after + fs->blocks_avail + ghost_blocks)) + " once released";
    } else if (grp.allocated >= (1ull << 30)) {
      f.severity = Severity::warning;
    }
    const Holder& h0 = top.holders.front();
    f.remedy = "The space returns only when the last holder closes the file. Restart or reload the holders (for "
               "logs: make the writer reopen its file, e.g. logrotate postrotate, instead of deleting it)";
    if (top.open_fd && h0.kind == "fd") {
      f.remedy += ", or, if the data is not needed, truncate it through the fd: `: > /proc/" +
                  std::to_string(h0.p->pid) + "/fd/" + std::to_string(h0.fd) + "`";
    }
    f.remedy += ". Mapped files are released only when unmapped (restart the process).";

    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < grp.listed.size() && i < opts.top_n * 4; i++) {
      const GhostFile& g = *grp.listed[i];
      nlohmann::json holders = nlohmann::json::array();
      for (std::size_t k = 0; k < g.holders.size() && k < opts.top_n * 4; k++) holders.push_back(g.holders[k].json());
      list.push_back({{"path", g.path},
                      {"ino", g.ino},
                      {"size_bytes", g.size},
                      {"allocated_bytes", g.allocated},
                      {"holders", holders}});
    }
    f.evidence = {{"dev", dev_string(dev)},
                  {"fstype", fstype},
                  {"mount_point", mp},
                  {"files", count},
                  {"allocated_bytes", grp.allocated},
                  {"size_bytes", grp.size},
                  {"small_files", grp.small_files},
                  {"small_files_bytes", grp.small_bytes},
                  {"largest", list}};
    if (fs) f.evidence["filesystem"] = to_json(*fs);
    r.findings.push_back(std::move(f));
  }

  if (r.findings.empty()) {
    Finding f;
    f.check = std::string(kCheckGhostSpace);
    f.summary = "no deleted-but-open file of " + format_bytes(opts.ghost_min_bytes) + " or more (" +
                std::to_string(total_files) + " smaller ones, " + format_bytes(total_bytes) + " in total)";
    f.remedy = "Nothing to do.";
    f.evidence = {{"files", total_files}, {"allocated_bytes", total_bytes}};
    r.findings.push_back(std::move(f));
  }
  if (unsized) r.detail = std::to_string(unsized) + " deleted files not sized (remote filesystem or D-state holder)";
  return r;
}

// ---------------------------------------------------------------------------------------------- orphaned_fs

CheckResult orphaned_fs(const HostSnapshot& host, const DoctorOptions& opts) {
  CheckResult r;
  auto mount_known = [&](int id) { return id >= 0 && host.known_mount_ids.count(id) != 0; };
  auto dev_known = [&](dev_t d) { return host.known_devs.count(d) != 0; };

  struct Group {
    std::optional<dev_t> dev;
    int mnt_id = -1;
    std::vector<Holder> holders;
  };
  std::map<std::string, Group> groups;
  auto consider = [&](const ProcessInfo& p, const FileRef& ref, const std::string& kind, int fd) {
    if (ref.path.empty() || ref.path.front() != '/') return;
    if (mount_known(ref.mnt_id)) return;
    if (ref.st && dev_known(ref.st->dev)) return;
    if (!ref.st && ref.mnt_id < 0) return;  // nothing to go on
    std::string key = ref.st ? "dev:" + std::to_string(ref.st->dev) : "mnt:" + std::to_string(ref.mnt_id);
    auto& g = groups[key];
    if (ref.st) g.dev = ref.st->dev;
    g.mnt_id = ref.mnt_id;
    add_holder(g.holders, Holder{&p, kind, fd, {}, ref.link});
  };
  for (const auto& p : host.processes) {
    consider(p, p.cwd, "cwd", -1);
    consider(p, p.root, "root", -1);
    for (const auto& of : p.files) {
      if (of.kind == FdKind::path) consider(p, of.file, "fd", of.fd);
    }
    for (const auto& mf : p.mappings) {
      if (dev_known(mf.dev)) continue;
      if (mf.st && mf.st->mnt_id && mount_known(static_cast<int>(*mf.st->mnt_id))) continue;
      auto& g = groups["dev:" + std::to_string(mf.dev)];
      g.dev = mf.dev;
      add_holder(g.holders, Holder{&p, "map", -1, mf.range, mf.path + (mf.deleted ? " (deleted)" : "")});
    }
  }

  // Mount namespaces kept alive only by an nsfs bind mount have no process to read their mountinfo from.
  std::size_t unlisted_ns = 0;
  std::unordered_set<uint64_t> seen_ns;
  for (const auto& ns : host.namespaces) {
    for (const auto& m : ns.mounts) {
      if (m.fstype != "nsfs" || !starts_with(m.root, "mnt:[")) continue;
      auto ino = parse_ns_link(m.root);
      if (ino && !host.ns_index.count(*ino) && seen_ns.insert(*ino).second) unlisted_ns++;
    }
  }

  for (auto& entry : groups) {
    Group& g = entry.second;
    std::optional<FsStats> fs;
    for (const auto& h : g.holders) {
      if (h.p->state == 'D') continue;  // statfs could block behind what blocks the holder
      if (auto s = stat_fs(h.proc_link(host.root))) {
        fs = *s;
        break;
      }
    }
    if (fs && is_internal_magic(fs->magic)) continue;
    std::string fstype = fs ? std::string(fs_type_name(fs->magic)) : "";
    if (fstype.empty() && fs) fstype = "magic 0x" + [&] {
      char b[24];
      std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(fs->magic));
      return std::string(b);
    }();
    std::string what = (fstype.empty() ? std::string("filesystem") : fstype) + " " +
                       (g.dev ? dev_string(*g.dev) : "mount " + std::to_string(g.mnt_id));

    Finding f;
    f.check = std::string(kCheckOrphanedFs);
    f.severity = Severity::warning;
    f.summary = what + " is mounted in no mount namespace but kept alive by " + std::to_string(g.holders.size()) +
                " holder" + (g.holders.size() == 1 ? "" : "s") + " (" + g.holders.front().label() +
                (g.holders.front().path.empty() ? "" : " -> " + g.holders.front().path) + ")";
    if (fs) {
      f.summary += ": " + format_bytes(fs->used_bytes()) + " and " + std::to_string(fs->inodes_used()) +
                   " inodes pinned";
    }
    if (unlisted_ns) {
      f.summary += " (" + std::to_string(unlisted_ns) +
                   " mount namespaces without processes could not be listed: it may be mounted there)";
    }
    f.remedy = "Its mount namespace is gone (all its processes exited) but these holders keep the filesystem: "
               "the space and any backing device stay busy until they close the fds, leave the directory or "
               "unmap the files. Restart or stop the holders listed in the evidence; `ls -l /proc/<pid>/fd` "
               "shows which fds point into it.";
    nlohmann::json holders = nlohmann::json::array();
    for (std::size_t i = 0; i < g.holders.size() && i < opts.top_n * 4; i++) holders.push_back(g.holders[i].json());
    f.evidence = {{"fstype", fstype},
                  {"holders", holders},
                  {"holder_count", g.holders.size()},
                  {"unlisted_mount_namespaces", unlisted_ns}};
    if (g.dev) f.evidence["dev"] = dev_string(*g.dev);
    if (g.mnt_id >= 0) f.evidence["mount_id"] = g.mnt_id;
    if (fs) {
      f.evidence["bytes_pinned"] = fs->used_bytes();
      f.evidence["inodes_pinned"] = fs->inodes_used();
      f.evidence["filesystem"] = to_json(*fs);
    }
    r.findings.push_back(std::move(f));
  }
  if (r.findings.empty()) {
    Finding f;
    f.check = std::string(kCheckOrphanedFs);
    f.summary = "no open file, working directory or mapping on a filesystem missing from all " +
                std::to_string(host.namespaces.size()) + " mount namespaces";
    f.remedy = "Nothing to do.";
    f.evidence = {{"mount_namespaces", host.namespaces.size()}, {"unlisted_mount_namespaces", unlisted_ns}};
    r.findings.push_back(std::move(f));
  }
  return r;
}

}  // namespace enospcd::doctor::checks
