#include "context/container.h"

#include <vector>

#include "context/text.h"

namespace enospcd::context {

namespace {

bool is_hex_id(std::string_view s) { return s.size() >= 12 && s.size() <= 128 && is_lower_hex(s); }

bool is_uid_chars(std::string_view s) {
  if (s.size() < 8) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') i++;
    std::size_t start = i;
    while (i < path.size() && path[i] != '/') i++;
    auto c = path.substr(start, i - start);
    if (!c.empty() && c != "." && c != "..") out.push_back(c);
  }
  return out;
}

// systemd escapes '-' and other bytes in unit name parts as \xNN (systemd-escape(1)).
std::string systemd_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i++) {
    uint64_t v = 0;
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && parse_u64(s.substr(i + 2, 2), v, 16)) {
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// "<prefix><hex>[.scope]" -> hex
std::optional<std::string_view> scoped_id(std::string_view c, std::string_view prefix) {
  if (!starts_with(c, prefix)) return std::nullopt;
  auto rest = c.substr(prefix.size());
  if (ends_with(rest, ".scope")) rest.remove_suffix(6);
  if (!is_hex_id(rest)) return std::nullopt;
  return rest;
}

std::optional<ContainerRef> match_container(const std::vector<std::string_view>& comp, std::size_t i,
                                            bool under_kubepods) {
  auto c = comp[i];
  auto parent = i > 0 ? comp[i - 1] : std::string_view{};
  ContainerRef r;
  // Order matters: "crio-conmon-" before "crio-", "libpod-conmon-" before "libpod-".
  struct Pattern {
    std::string_view prefix;
    std::string_view runtime;
    bool monitor;
  };
  static constexpr Pattern patterns[] = {
      {"docker-", "docker", false},          {"cri-containerd-", "containerd", false},
      {"crio-conmon-", "crio", true},        {"crio-", "crio", false},
      {"libpod-conmon-", "podman", true},    {"libpod-", "podman", false},
      {"nerdctl-", "containerd", false},
  };
  for (const auto& p : patterns) {
    if (auto id = scoped_id(c, p.prefix)) {
      r.id = std::string(*id);
      r.runtime = std::string(p.runtime);
      r.monitor = p.monitor;
      if (p.monitor) r.name = "conmon";
      return r;
    }
  }
  // cgroupfs driver: /docker/<id>, and kubelet's /kubepods/<qos>/pod<uid>/<id> (runtime not in the path).
  if (is_hex_id(c)) {
    if (parent == "docker") {
      r.id = std::string(c);
      r.runtime = "docker";
      return r;
    }
    if (under_kubepods) {
      r.id = std::string(c);
      r.runtime = "cri";
      return r;
    }
  }
  if (starts_with(c, "lxc.payload.") && c.size() > 12) {
    r.name = std::string(c.substr(12));
    r.id = r.name;
    r.runtime = "lxc";
    return r;
  }
  if (parent == "lxc" && i == 1) {
    r.name = std::string(c);
    r.id = r.name;
    r.runtime = "lxc";
    return r;
  }
  // systemd-machined guests: systemd-nspawn containers and libvirt VMs ("machine-qemu\x2d1\x2dvm.scope").
  if (starts_with(c, "machine-") && ends_with(c, ".scope") && c.size() > 14) {
    r.name = systemd_unescape(c.substr(8, c.size() - 14));
    r.id = r.name;
    r.runtime = "machine";
    return r;
  }
  return std::nullopt;
}

bool is_systemd_unit(std::string_view c) {
  return (ends_with(c, ".service") || ends_with(c, ".scope")) && c.size() > 6 && c.front() != '.';
}

}  // namespace

std::string pod_uid_from_cgroup(std::string_view path) {
  auto comp = components(path);
  bool under_kubepods = false;
  for (auto c : comp) {
    if (starts_with(c, "kubepods")) {
      under_kubepods = true;
      // systemd driver: kubepods-<qos>-pod<uid>.slice with '-' in the uid escaped as '_'.
      auto pos = c.find("-pod");
      if (pos != std::string_view::npos && ends_with(c, ".slice")) {
        auto uid = c.substr(pos + 4, c.size() - pos - 4 - 6);
        if (is_uid_chars(uid)) {
          std::string out(uid);
          for (auto& ch : out) {
            if (ch == '_') ch = '-';
          }
          return out;
        }
      }
      continue;
    }
    // cgroupfs driver: /kubepods/<qos>/pod<uid>/<container>
    if (under_kubepods && starts_with(c, "pod") && is_uid_chars(c.substr(3))) return std::string(c.substr(3));
  }
  return {};
}

std::optional<ContainerRef> cgroup_to_container(std::string_view in) {
  in = trim(in);
  // A /proc/<pid>/cgroup line: "hierarchy-id:controllers:path".
  if (!in.empty() && in.front() >= '0' && in.front() <= '9') {
    auto c1 = in.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : in.find(':', c1 + 1);
    if (c2 != std::string_view::npos) in = in.substr(c2 + 1);
  }
  auto comp = components(in);
  if (comp.empty()) return std::nullopt;

  std::string pod = pod_uid_from_cgroup(in);
  bool under_kubepods = false;
  for (auto c : comp) under_kubepods = under_kubepods || starts_with(c, "kubepods");

  for (std::size_t i = comp.size(); i-- > 0;) {
    if (auto r = match_container(comp, i, under_kubepods)) {
      r->pod_uid = pod;
      return r;
    }
  }
  if (!pod.empty()) {
    ContainerRef r;
    r.runtime = "kubernetes";
    r.pod_uid = pod;
    return r;
  }
  // A leaf alone that is a bare id: the cgroupfs driver's container cgroup (/docker/<id>, the kubelet's
  // /kubepods/<qos>/pod<uid>/<id>) whose path was not read while the process lived. The runtime is unknown
  // until its state names the id.
  if (in.find('/') == std::string_view::npos && comp.size() == 1 && is_hex_id(comp[0]) && comp[0].size() == 64) {
    ContainerRef r;
    r.id = std::string(comp[0]);
    r.runtime = "unknown";
    return r;
  }
  for (std::size_t i = comp.size(); i-- > 0;) {
    if (is_systemd_unit(comp[i])) {
      ContainerRef r;
      r.runtime = "systemd";
      r.name = std::string(comp[i]);
      r.id = r.name;
      return r;
    }
  }
  return std::nullopt;
}


}  // namespace enospcd::context
