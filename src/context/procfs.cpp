#include "context/procfs.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "context/text.h"

namespace enospcd::context {

std::string proc_path(std::string_view root, int pid, std::string_view rel) {
  std::string p = "/proc/";
  p += pid == 0 ? std::string("self") : std::to_string(pid);
  if (!rel.empty()) {
    p.push_back('/');
    p.append(rel);
  }
  return join_root(root, p);
}

// ---------------------------------------------------------------- mountinfo

namespace {

// Single-space split: mountinfo separates fields with exactly one space, and an empty source (mount("", ...))
// shows as two consecutive spaces, which a whitespace-run split would lose.
std::vector<std::string_view> split_single_space(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t sp = s.find(' ', start);
    if (sp == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, sp - start));
    start = sp + 1;
  }
}

bool has_option(std::string_view opts, std::string_view want) {
  std::size_t start = 0;
  while (start <= opts.size()) {
    std::size_t comma = opts.find(',', start);
    if (comma == std::string_view::npos) comma = opts.size();
    if (opts.substr(start, comma - start) == want) return true;
    start = comma + 1;
  }
  return false;
}

}  // namespace

dev_t MountInfo::dev() const { return makedev(major, minor); }
bool MountInfo::read_only() const { return has_option(super_options, "ro"); }

std::optional<MountInfo> parse_mountinfo_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto f = split_single_space(line);
  // id parent maj:min root mount_point options [optional...] - fstype source super_options
  std::size_t sep = 6;
  while (sep < f.size() && f[sep] != "-") sep++;
  if (f.size() < 9 || sep + 2 >= f.size()) return std::nullopt;  // need "-", fstype and source after it
  MountInfo m;
  if (!parse_int(f[0], m.mount_id) || !parse_int(f[1], m.parent_id)) return std::nullopt;
  auto colon = f[2].find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uint64_t maj = 0, min = 0;
  if (!parse_u64(f[2].substr(0, colon), maj) || !parse_u64(f[2].substr(colon + 1), min)) return std::nullopt;
  m.major = static_cast<uint32_t>(maj);
  m.minor = static_cast<uint32_t>(min);
  if (f[3].empty() || f[4].empty()) return std::nullopt;
  m.root = unescape_octal(f[3]);
  m.mount_point = unescape_octal(f[4]);
  m.mount_options = std::string(f[5]);
  for (std::size_t i = 6; i < sep; i++) {
    if (!f[i].empty()) m.optional_fields.emplace_back(f[i]);
  }
  m.fstype = unescape_octal(f[sep + 1]);
  m.source = unescape_octal(f[sep + 2]);
  // The super options are the last field; anything after it (future kernels) is ignored.
  if (sep + 3 < f.size()) m.super_options = std::string(f[sep + 3]);
  if (m.fstype.empty()) return std::nullopt;
  return m;
}

std::vector<MountInfo> parse_mountinfo(std::string_view text, std::size_t* malformed) {
  std::vector<MountInfo> out;
  std::size_t bad = 0;
  for (auto line : split_lines(text)) {
    if (auto m = parse_mountinfo_line(line)) {
      out.push_back(std::move(*m));
    } else {
      bad++;
    }
  }
  if (malformed) *malformed = bad;
  return out;
}

Result<std::vector<MountInfo>> read_mountinfo(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "mountinfo"));
  if (!text) return text.error();
  return parse_mountinfo(*text);
}

// ---------------------------------------------------------------- status

namespace {

// proc_task_name() escapes '\n' and '\\' in Name:.
std::string unescape_status_name(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      if (s[i + 1] == 'n') {
        out.push_back('\n');
        i++;
        continue;
      }
      if (s[i + 1] == '\\') {
        out.push_back('\\');
        i++;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

void parse_id_quad(std::string_view v, uint32_t (&out)[4]) {
  auto f = split_fields(v);
  for (std::size_t i = 0; i < 4 && i < f.size(); i++) {
    uint64_t x = 0;
    if (parse_u64(f[i], x)) out[i] = static_cast<uint32_t>(x);
  }
}

}  // namespace

Result<ProcStatus> parse_status(std::string_view text) {
  ProcStatus st;
  bool have_name = false, have_state = false;
  for (auto line : split_lines(text)) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto key = line.substr(0, colon);
    auto raw = line.substr(colon + 1);
    auto val = trim(raw);
    if (key == "Name") {
      // Keep inner spaces of the name; only the tab after the colon is a separator.
      if (!raw.empty() && raw.front() == '\t') raw.remove_prefix(1);
      st.name = unescape_status_name(raw);
      have_name = true;
    } else if (key == "State") {
      if (!val.empty()) {
        st.state = val.front();
        have_state = true;
      }
    } else if (key == "Tgid") {
      parse_int(val, st.tgid);
    } else if (key == "Pid") {
      parse_int(val, st.pid);
    } else if (key == "PPid") {
      parse_int(val, st.ppid);
    } else if (key == "Uid") {
      parse_id_quad(val, st.uid);
    } else if (key == "Gid") {
      parse_id_quad(val, st.gid);
    } else if (key == "Threads") {
      parse_int(val, st.threads);
    } else if (key == "VmRSS") {
      auto f = split_fields(val);
      if (!f.empty()) parse_u64(f[0], st.vm_rss_kib);
    }
  }
  if (!have_name || !have_state) return make_error("status: no Name or State line", EINVAL);
  return st;
}

Result<ProcStatus> read_status(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "status"));
  if (!text) return text.error();
  return parse_status(*text);
}

// ---------------------------------------------------------------- stat

Result<ProcStat> parse_stat(std::string_view text) {
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so cut at the LAST ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return make_error("stat: no (comm)", EINVAL);
  }
  ProcStat st;
  if (!parse_int(text.substr(0, open), st.pid)) return make_error("stat: bad pid", EINVAL);
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  auto f = split_fields(trim(text.substr(close + 1)));
  // f[0] is field 3 (state): field N is f[N - 3].
  if (f.empty() || f[0].size() != 1) return make_error("stat: no state", EINVAL);
  st.state = f[0][0];
  auto u64 = [&](std::size_t field, uint64_t& out) {
    if (field - 3 < f.size()) parse_u64(f[field - 3], out);
  };
  auto i64 = [&](std::size_t field, int64_t& out) {
    if (field - 3 < f.size()) parse_i64(f[field - 3], out);
  };
  auto i32 = [&](std::size_t field, int& out) {
    if (field - 3 < f.size()) parse_int(f[field - 3], out);
  };
  i32(4, st.ppid);
  i32(5, st.pgrp);
  i32(6, st.session);
  u64(9, st.flags);
  u64(14, st.utime);
  u64(15, st.stime);
  i64(20, st.num_threads);
  u64(22, st.starttime);
  u64(23, st.vsize);
  i64(24, st.rss_pages);
  u64(42, st.blkio_ticks);
  return st;
}

Result<ProcStat> read_stat(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "stat"));
  if (!text) return text.error();
  return parse_stat(*text);
}

Result<ProcStat> read_task_stat(std::string_view root, int pid, int tid) {
  auto text = read_file(proc_path(root, pid, "task/" + std::to_string(tid) + "/stat"));
  if (!text) return text.error();
  return parse_stat(*text);
}

Result<std::string> read_comm(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "comm"));
  if (!text) return text.error();
  std::string s = std::move(*text);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::vector<std::string> parse_cmdline(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nul = text.find('\0', start);
    if (nul == std::string_view::npos) nul = text.size();
    out.emplace_back(text.substr(start, nul - start));
    start = nul + 1;
  }
  return out;
}

Result<std::vector<std::string>> read_cmdline(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "cmdline"), 1u << 20);
  if (!text) return text.error();
  return parse_cmdline(*text);
}

// ---------------------------------------------------------------- links

ExeLink parse_exe_link(std::string_view target) {
  ExeLink e;
  if (ends_with(target, kDeletedSuffix)) {
    e.deleted = true;
    target.remove_suffix(kDeletedSuffix.size());
  }
  e.path = std::string(target);
  return e;
}

Result<ExeLink> read_exe(std::string_view root, int pid) {
  auto t = read_link(proc_path(root, pid, "exe"));
  if (!t) return t.error();
  return parse_exe_link(*t);
}

std::optional<uint64_t> parse_ns_link(std::string_view target) {
  auto open = target.find(":[");
  if (open == std::string_view::npos || target.empty() || target.back() != ']') return std::nullopt;
  uint64_t ino = 0;
  if (!parse_u64(target.substr(open + 2, target.size() - open - 3), ino)) return std::nullopt;
  return ino;
}

Result<uint64_t> read_ns_inode(std::string_view root, int pid, std::string_view ns) {
  auto t = read_link(proc_path(root, pid, "ns/" + std::string(ns)));
  if (!t) return t.error();
  auto ino = parse_ns_link(*t);
  if (!ino) return make_error("ns link: unexpected target '" + *t + "'", EINVAL);
  return *ino;
}

std::string_view to_string(FdKind k) {
  switch (k) {
    case FdKind::path: return "path";
    case FdKind::socket: return "socket";
    case FdKind::pipe: return "pipe";
    case FdKind::anon_inode: return "anon_inode";
    case FdKind::ns: return "ns";
    case FdKind::other: return "other";
  }
  return "other";
}

FdLink classify_fd_target(int fd, std::string_view target) {
  FdLink l;
  l.fd = fd;
  l.target = std::string(target);
  if (!target.empty() && target.front() == '/') {
    l.kind = FdKind::path;
    if (ends_with(target, kDeletedSuffix)) {
      l.deleted = true;
      target.remove_suffix(kDeletedSuffix.size());
    }
    l.path = std::string(target);
  } else if (starts_with(target, "socket:[")) {
    l.kind = FdKind::socket;
  } else if (starts_with(target, "pipe:[")) {
    l.kind = FdKind::pipe;
  } else if (starts_with(target, "anon_inode:")) {
    l.kind = FdKind::anon_inode;
    l.anon = std::string(target.substr(11));
  } else if (parse_ns_link(target)) {
    l.kind = FdKind::ns;
  }
  return l;
}

bool is_internal_path(std::string_view path) {
  return starts_with(path, "/memfd:") || starts_with(path, "/SYSV") || path == "/dev/zero" ||
         starts_with(path, "/anon_hugepage") || path == "/secretmem" || starts_with(path, "/dmabuf:") ||
         starts_with(path, "/[");
}

Result<std::vector<int>> list_fds(std::string_view root, int pid) {
  std::string dir = proc_path(root, pid, "fd");
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    int err = errno;
    return make_error("opendir " + dir + ": " + std::strerror(err), err);
  }
  std::vector<int> out;
  while (auto* e = ::readdir(d.get())) {
    int fd = 0;
    if (parse_int(e->d_name, fd) && fd >= 0) out.push_back(fd);
  }
  return out;
}

Result<std::vector<FdLink>> read_fd_links(std::string_view root, int pid) {
  auto fds = list_fds(root, pid);
  if (!fds) return fds.error();
  std::vector<FdLink> out;
  out.reserve(fds->size());
  std::string base = proc_path(root, pid, "fd/");
  for (int fd : *fds) {
    auto t = read_link(base + std::to_string(fd));
    if (!t) continue;  // closed meanwhile
    out.push_back(classify_fd_target(fd, *t));
  }
  return out;
}

// ---------------------------------------------------------------- fdinfo

namespace {

// Tokens are "key:value" or "key:" followed by the value (epoll pads with spaces: "tfd:        5").
template <typename F>
void for_each_kv(std::string_view line, F&& f) {
  auto tok = split_fields(line);
  for (std::size_t i = 0; i < tok.size(); i++) {
    auto colon = tok[i].find(':');
    if (colon == std::string_view::npos) continue;
    auto key = tok[i].substr(0, colon);
    auto val = tok[i].substr(colon + 1);
    if (val.empty() && i + 1 < tok.size() && tok[i + 1].find(':') == std::string_view::npos) val = tok[++i];
    f(key, val);
  }
}

uint64_t hex(std::string_view v) {
  uint64_t x = 0;
  parse_u64(v, x, 16);
  return x;
}

}  // namespace

FdInfo parse_fdinfo(std::string_view text) {
  FdInfo fi;
  for (auto line : split_lines(text)) {
    if (starts_with(line, "inotify ")) {
      // fs/notify/fdinfo.c: "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:0 ..."
      InotifyWatch w;
      for_each_kv(line.substr(8), [&](std::string_view k, std::string_view v) {
        if (k == "wd") w.wd = static_cast<int>(hex(v));
        else if (k == "ino") w.ino = hex(v);
        else if (k == "sdev") w.sdev = hex(v);
        else if (k == "mask") w.mask = hex(v);
      });
      fi.inotify.push_back(w);
    } else if (starts_with(line, "fanotify ")) {
      bool group = false, has_ino = false, has_mnt = false, has_sdev = false;
      FanotifyMark m;
      for_each_kv(line.substr(9), [&](std::string_view k, std::string_view v) {
        if (k == "flags") {
          group = true;
          fi.fanotify_flags = hex(v);
        } else if (k == "event-flags") {
          group = true;
          fi.fanotify_event_flags = hex(v);
        } else if (k == "ino") {
          has_ino = true;
          m.ino = hex(v);
        } else if (k == "sdev") {
          has_sdev = true;
          m.sdev = hex(v);
        } else if (k == "mnt_id") {
          has_mnt = true;
          m.mnt_id = static_cast<int>(hex(v));
        } else if (k == "mflags") {
          m.mflags = hex(v);
        } else if (k == "mask") {
          m.mask = hex(v);
        } else if (k == "ignored_mask") {
          m.ignored_mask = hex(v);
        }
      });
      if (group) {
        fi.fanotify_group = true;
      } else {
        m.kind = has_ino ? FanotifyMark::Kind::inode
                 : has_mnt ? FanotifyMark::Kind::mount
                 : has_sdev ? FanotifyMark::Kind::sb
                            : FanotifyMark::Kind::other;
        fi.fanotify.push_back(m);
      }
    } else if (starts_with(line, "tfd:")) {
      // fs/eventpoll.c: "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x"
      EpollTarget t;
      for_each_kv(line, [&](std::string_view k, std::string_view v) {
        if (k == "tfd") parse_int(v, t.tfd);
        else if (k == "events") t.events = hex(v);
        else if (k == "data") t.data = hex(v);
        else if (k == "ino") t.ino = hex(v);
        else if (k == "sdev") t.sdev = hex(v);
      });
      fi.epoll.push_back(t);
    } else {
      auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      auto key = line.substr(0, colon);
      auto val = trim(line.substr(colon + 1));
      if (key == "pos") parse_u64(val, fi.pos);
      else if (key == "flags") parse_u64(val, fi.flags, 8);
      else if (key == "mnt_id") parse_int(val, fi.mnt_id);
      else if (key == "ino") {
        uint64_t ino = 0;
        if (parse_u64(val, ino)) fi.ino = ino;
      }
    }
  }
  return fi;
}

Result<FdInfo> read_fdinfo(std::string_view root, int pid, int fd) {
  auto text = read_file(proc_path(root, pid, "fdinfo/" + std::to_string(fd)), 16u << 20);
  if (!text) return text.error();
  return parse_fdinfo(*text);
}

// ---------------------------------------------------------------- maps

dev_t MapEntry::dev() const { return makedev(dev_major, dev_minor); }

std::string MapEntry::map_files_name() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llx-%llx", static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(end));
  return buf;
}

std::optional<MapEntry> parse_maps_line(std::string_view line) {
  // "start-end perms offset maj:min inode    pathname" (fs/proc/task_mmu.c show_vma_header_prefix)
  std::size_t pos = 0;
  auto next = [&]() -> std::string_view {
    while (pos < line.size() && line[pos] == ' ') pos++;
    std::size_t start = pos;
    while (pos < line.size() && line[pos] != ' ') pos++;
    return line.substr(start, pos - start);
  };
  auto range = next(), perms = next(), offset = next(), dev = next(), inode = next();
  if (inode.empty()) return std::nullopt;
  MapEntry e;
  auto dash = range.find('-');
  auto colon = dev.find(':');
  uint64_t maj = 0, min = 0;
  if (dash == std::string_view::npos || colon == std::string_view::npos ||
      !parse_u64(range.substr(0, dash), e.start, 16) || !parse_u64(range.substr(dash + 1), e.end, 16) ||
      !parse_u64(offset, e.offset, 16) || !parse_u64(dev.substr(0, colon), maj, 16) ||
      !parse_u64(dev.substr(colon + 1), min, 16) || !parse_u64(inode, e.inode)) {
    return std::nullopt;
  }
  e.perms = std::string(perms);
  e.dev_major = static_cast<uint32_t>(maj);
  e.dev_minor = static_cast<uint32_t>(min);
  while (pos < line.size() && line[pos] == ' ') pos++;
  std::string_view path = line.substr(pos);
  while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.remove_suffix(1);
  if (!path.empty() && path.front() == '/' && ends_with(path, kDeletedSuffix)) {
    e.deleted = true;
    path.remove_suffix(kDeletedSuffix.size());
  }
  e.path = std::string(path);
  return e;
}

std::vector<MapEntry> parse_maps(std::string_view text) {
  std::vector<MapEntry> out;
  for (auto line : split_lines(text)) {
    if (auto e = parse_maps_line(line)) out.push_back(std::move(*e));
  }
  return out;
}

Result<std::vector<MapEntry>> read_maps(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "maps"), 256u << 20);
  if (!text) return text.error();
  return parse_maps(*text);
}

// ---------------------------------------------------------------- wchan, cgroup

std::string parse_wchan(std::string_view text) {
  auto t = trim(text);
  if (t == "0") return {};
  return std::string(t);
}

Result<std::string> read_wchan(std::string_view root, int pid, int tid) {
  auto text = read_file(tid == 0 ? proc_path(root, pid, "wchan")
                                 : proc_path(root, pid, "task/" + std::to_string(tid) + "/wchan"));
  if (!text) return text.error();
  return parse_wchan(*text);
}

std::string parse_proc_cgroup(std::string_view text) {
  std::string_view first, systemd;
  for (auto line : split_lines(text)) {
    auto c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    auto id = line.substr(0, c1);
    auto controllers = line.substr(c1 + 1, c2 - c1 - 1);
    auto path = line.substr(c2 + 1);
    if (id == "0" && controllers.empty()) return std::string(path);
    if (controllers == "name=systemd" && systemd.empty()) systemd = path;
    if (first.empty()) first = path;
  }
  return std::string(systemd.empty() ? first : systemd);
}

Result<std::string> read_cgroup(std::string_view root, int pid) {
  auto text = read_file(proc_path(root, pid, "cgroup"));
  if (!text) return text.error();
  return parse_proc_cgroup(*text);
}

// ---------------------------------------------------------------- listings

namespace {

Result<std::vector<int>> list_numeric(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    int err = errno;
    return make_error("opendir " + dir + ": " + std::strerror(err), err);
  }
  std::vector<int> out;
  while (auto* e = ::readdir(d.get())) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    int v = 0;
    if (parse_int(e->d_name, v) && v > 0) out.push_back(v);
  }
  return out;
}

}  // namespace

Result<std::size_t> count_numbered_entries(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    int err = errno;
    return make_error("opendir " + dir + ": " + std::strerror(err), err);
  }
  std::size_t n = 0;
  while (auto* e = ::readdir(d.get())) {
    int v = 0;
    if (parse_int(e->d_name, v) && v >= 0) n++;
  }
  return n;
}

Result<std::vector<int>> list_pids(std::string_view root) { return list_numeric(join_root(root, "/proc")); }

Result<std::vector<int>> list_tids(std::string_view root, int pid) { return list_numeric(proc_path(root, pid, "task")); }

int self_pid(std::string_view root) {
  auto t = read_link(join_root(root, "/proc/self"));
  int pid = 0;
  if (t && parse_int(*t, pid)) return pid;
  return 0;
}

}  // namespace enospcd::context
