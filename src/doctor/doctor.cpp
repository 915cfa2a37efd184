#include "doctor/doctor.h"

#include <unistd.h>

#include <algorithm>
#include <exception>

#include "doctor/checks.h"

namespace enospcd::doctor {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
  }
  return "info";
}

const std::vector<std::string_view>& doctor_check_ids() {
  static const std::vector<std::string_view> ids = {kCheckFsUsage,   kCheckMountCount, kCheckInotify, kCheckFanotify,
                                                    kCheckEpoll,     kCheckGhostSpace, kCheckOrphanedFs,
                                                    kCheckDState,    kCheckIpc,        kCheckShadowedMounts};
  return ids;
}

namespace checks {

nlohmann::json process_json(const ProcessInfo& p) {
  nlohmann::json j = {{"pid", p.pid}, {"comm", p.comm}, {"uid", p.uid}};
  if (p.container) j["container"] = to_json(*p.container);
  return j;
}

std::string process_label(const ProcessInfo& p) { return "pid " + std::to_string(p.pid) + " (" + p.comm + ")"; }

}  // namespace checks

namespace {

using CheckFn = checks::CheckResult (*)(const HostSnapshot&, const DoctorOptions&);

struct CheckDef {
  std::string_view id;
  CheckFn fn;
  bool files;
  bool maps;
};

const std::vector<CheckDef>& registry() {
  static const std::vector<CheckDef> defs = {
      {kCheckFsUsage, checks::fs_usage, false, false},
      {kCheckMountCount, checks::mount_count, false, false},
      {kCheckInotify, checks::inotify_watches, true, false},
      {kCheckFanotify, checks::fanotify_marks, true, false},
      {kCheckEpoll, checks::epoll_watches, true, false},
      {kCheckGhostSpace, checks::ghost_space, true, true},
      {kCheckOrphanedFs, checks::orphaned_fs, true, true},
      {kCheckDState, checks::d_state, true, false},
      {kCheckIpc, checks::ipc_ids, false, false},
      {kCheckShadowedMounts, checks::shadowed_mounts, false, false},
  };
  return defs;
}

// Paths, comms and mount sources are bytes, not UTF-8; nlohmann::json::dump() throws on invalid UTF-8, so the
// report replaces such bytes with U+FFFD before anyone serializes it.
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

std::string fix_utf8(const std::string& s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; k++) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i++;
    }
  }
  return out;
}

void sanitize(nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (!valid_utf8(s)) j = fix_utf8(s);
  } else if (j.is_structured()) {
    for (auto& v : j) sanitize(v);
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

DoctorReport run_doctor(const DoctorOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  DoctorReport rep;
  rep.root = opts.root.empty() ? "/" : opts.root;

  auto enabled = [&](std::string_view id) {
    return opts.checks.empty() || std::find(opts.checks.begin(), opts.checks.end(), id) != opts.checks.end();
  };
  for (const auto& want : opts.checks) {
    const auto& ids = doctor_check_ids();
    if (std::find(ids.begin(), ids.end(), want) == ids.end()) {
      CheckStatus cs;
      cs.id = want;
      cs.status = "error";
      cs.detail = "unknown check";
      rep.checks.push_back(std::move(cs));
    }
  }

  ScanOptions so;
  so.root = rep.root;
  so.threads = opts.threads;
  so.files = false;
  so.maps = false;
  so.thread_states = enabled(kCheckDState) && opts.thread_states;
  for (const auto& d : registry()) {
    if (!enabled(d.id)) continue;
    so.files = so.files || d.files;
    so.maps = so.maps || (d.maps && opts.scan_maps);
  }

  HostSnapshot host;
  try {
    host = scan_host(so);
  } catch (const std::exception& e) {
    CheckStatus cs;
    cs.id = "scan";
    cs.status = "error";
    cs.detail = e.what();
    rep.checks.push_back(std::move(cs));
    rep.duration_ms = ms_since(t0);
    return rep;
  }
  rep.scan = host.stats;
  rep.mount_namespaces = host.namespaces.size();
  rep.sysctls = to_json(host.sysctls);

  for (const auto& d : registry()) {
    if (!enabled(d.id)) continue;
    const auto tc = std::chrono::steady_clock::now();
    CheckStatus cs;
    cs.id = std::string(d.id);
    try {
      checks::CheckResult res = d.fn(host, opts);
      cs.detail = res.detail;
      if (!res.skipped.empty()) {
        cs.status = "skipped";
        cs.detail = res.skipped;
      } else {
        cs.findings = res.findings.size();
        for (const auto& f : res.findings) cs.worst = std::max(cs.worst, f.severity);
        cs.status = cs.worst == Severity::info ? "ok" : "findings";
        for (auto& f : res.findings) rep.findings.push_back(std::move(f));
      }
    } catch (const std::exception& e) {
      cs.status = "error";
      cs.detail = e.what();
    }
    if (d.files && host.stats.denied > 0 && cs.status != "skipped") {
      cs.detail += std::string(cs.detail.empty() ? "" : "; ") + "partial: " + std::to_string(host.stats.denied) +
                   " /proc/PID entries (fd, maps, cwd or root) of other processes refused with EACCES " +
                   (::geteuid() == 0 ? "although running as root (CAP_SYS_PTRACE missing, or a security module "
                                       "such as Yama's ptrace_scope or AppArmor forbids it)"
                                     : "(run as root)");
    }
    cs.duration_ms = ms_since(tc);
    rep.checks.push_back(std::move(cs));
  }
  std::stable_sort(rep.findings.begin(), rep.findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  rep.duration_ms = ms_since(t0);
  return rep;
}

nlohmann::json to_json(const Finding& f) {
  nlohmann::json j = {{"check", f.check},
                      {"severity", std::string(to_string(f.severity))},
                      {"summary", f.summary},
                      {"remedy", f.remedy},
                      {"evidence", f.evidence}};
  sanitize(j);
  return j;
}

nlohmann::json to_json(const CheckStatus& c) {
  nlohmann::json j = {{"id", c.id},
                      {"status", c.status},
                      {"findings", c.findings},
                      {"worst", std::string(to_string(c.worst))},
                      {"duration_ms", c.duration_ms}};
  if (!c.detail.empty()) j["detail"] = c.detail;
  return j;
}

nlohmann::json to_json(const DoctorReport& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.findings) findings.push_back(to_json(f));
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : r.checks) checks.push_back(to_json(c));
  Severity worst = Severity::info;
  for (const auto& f : r.findings) worst = std::max(worst, f.severity);
  nlohmann::json j = {{"version", 1},
          {"root", r.root},
          {"worst", std::string(to_string(worst))},
          {"findings", findings},
          {"checks", checks},
          {"scan", to_json(r.scan)},
          {"mount_namespaces", r.mount_namespaces},
          {"sysctls", r.sysctls},
          {"duration_ms", r.duration_ms}};
  sanitize(j);
  return j;
}

nlohmann::json doctor_json(const DoctorOptions& opts) {
  try {
    return to_json(run_doctor(opts));
  } catch (const std::exception& e) {
    return {{"version", 1}, {"error", e.what()}};
  }
}

}  // namespace enospcd::doctor
