#include "context/workloads.h"

#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "context/text.h"

namespace enospcd::context {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxNames = 16384;     // entries kept per map; beyond it the map starts over
constexpr std::size_t kMaxEntries = 100000;  // directory entries read per scan
constexpr std::size_t kMaxStateFile = 64u << 20;

// Kubernetes object names are DNS labels or subdomains: lower-case letters, digits, '-' and '.'; never '_',
// which is what makes the kubelet's file names splittable.
bool is_k8s_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return true;
}

// A pod UID as the kubelet writes it: lower-case hex and dashes.
bool is_uid(std::string_view u) {
  if (u.size() < 8 || u.size() > 64) return false;
  for (char c : u)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) return false;
  return true;
}

std::vector<std::string> split_underscores(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find('_', start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

template <typename F>
void for_each_entry(const std::string& dir, F&& f) {
  std::error_code ec;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  std::size_t n = 0;
  for (; !ec && it != end && n < kMaxEntries; it.increment(ec), n++) f(it->path().filename().string());
}

}  // namespace

bool parse_container_log_name(const std::string& file, WorkloadNames::Name& out, std::string& id) {
  std::string_view s = file;
  constexpr std::string_view kLog = ".log";
  if (s.size() <= kLog.size() || s.substr(s.size() - kLog.size()) != kLog) return false;
  s.remove_suffix(kLog.size());
  auto dash = s.rfind('-');
  if (dash == std::string_view::npos || s.size() - dash - 1 != 64 || !is_lower_hex(s.substr(dash + 1))) return false;
  auto parts = split_underscores(s.substr(0, dash));
  if (parts.size() != 3 || !is_k8s_name(parts[0]) || !is_k8s_name(parts[1]) || !is_k8s_name(parts[2])) return false;
  out = {parts[2], parts[0], parts[1]};
  id = std::string(s.substr(dash + 1));
  return true;
}

bool parse_pod_log_dir(const std::string& dir, WorkloadNames::Name& out, std::string& uid) {
  auto parts = split_underscores(dir);
  if (parts.size() != 3 || !is_k8s_name(parts[0]) || !is_k8s_name(parts[1])) return false;
  const std::string& u = parts[2];
  if (!is_uid(u)) return false;
  out = {"", parts[1], parts[0]};
  uid = u;
  return true;
}

namespace {

// From annotations (an OCI spec's) or labels (a Docker container's) as the CRI implementations write them.
bool kubernetes_names(const nlohmann::json& a, WorkloadNames::Name& out) {
  if (!a.is_object()) return false;
  // CRI-O also keeps the kubelet's labels as one JSON string.
  nlohmann::json labels;
  if (auto l = a.find("io.kubernetes.cri-o.Labels"); l != a.end() && l->is_string())
    labels = nlohmann::json::parse(l->get<std::string>(), nullptr, false);
  auto get = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys) {
      for (const nlohmann::json* m : std::initializer_list<const nlohmann::json*>{&a, &labels}) {
        if (!m->is_object()) continue;
        auto it = m->find(k);
        if (it != m->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) return *it;
      }
    }
    return "";
  };
  WorkloadNames::Name n{get({"io.kubernetes.cri.container-name", "io.kubernetes.container.name"}),
                        get({"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"}),
                        get({"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"}), "",
                        get({"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"})};
  if (!is_k8s_name(n.pod) || !is_k8s_name(n.ns)) return false;
  if (!n.container.empty() && !is_k8s_name(n.container)) n.container.clear();
  if (!is_uid(n.pod_uid)) n.pod_uid.clear();
  out = std::move(n);
  return true;
}

}  // namespace

bool parse_oci_annotations(const std::string& config_json, WorkloadNames::Name& out) {
  auto spec = nlohmann::json::parse(config_json, nullptr, false);
  if (!spec.is_object()) return false;
  auto a = spec.find("annotations");
  return a != spec.end() && kubernetes_names(*a, out);
}

bool WorkloadNames::due(std::chrono::steady_clock::time_point& last) {
  auto now = std::chrono::steady_clock::now();
  if (last != std::chrono::steady_clock::time_point{} && now - last < opts_.rescan) return false;
  last = now;
  return true;
}

void WorkloadNames::remember(std::map<std::string, Name>& m, const std::string& key, Name n) {
  if (m.size() >= kMaxNames && !m.count(key)) m.clear();
  m[key] = std::move(n);
}

void WorkloadNames::scan_kubelet() {
  for_each_entry(join_root(opts_.root, "/var/log/containers"), [&](const std::string& f) {
    Name n;
    std::string id;
    if (parse_container_log_name(f, n, id)) remember(by_id_, id, std::move(n));
  });
  for_each_entry(join_root(opts_.root, "/var/log/pods"), [&](const std::string& d) {
    Name n;
    std::string uid;
    if (parse_pod_log_dir(d, n, uid)) remember(by_pod_, uid, std::move(n));
  });
}

std::vector<std::string> WorkloadNames::storage_container_dirs(const std::vector<std::string>& roots) const {
  std::vector<std::string> dirs;
  for (const auto& r : roots) {
    // containers/storage keeps its containers under <driver>-containers (overlay, vfs, btrfs...).
    const std::string dir = join_root(opts_.root, r);
    for_each_entry(dir, [&](const std::string& d) {
      if (d.size() > 11 && d.compare(d.size() - 11, 11, "-containers") == 0) dirs.push_back(dir + "/" + d);
    });
  }
  return dirs;
}

void WorkloadNames::scan_podman() {
  for (const auto& dir : storage_container_dirs(opts_.podman_roots)) {
    auto text = read_file(dir + "/containers.json", kMaxStateFile);
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_array()) continue;
    for (const auto& c : j) {
      if (!c.is_object() || !c.contains("id") || !c["id"].is_string()) continue;
      const auto& names = c.contains("names") ? c["names"] : nlohmann::json();
      if (!names.is_array() || names.empty() || !names[0].is_string()) continue;
      remember(by_id_, c["id"].get<std::string>(), {names[0].get<std::string>(), "", "", "podman", ""});
    }
  }
}

void WorkloadNames::read_docker(const std::string& id) {
  auto text = read_file(join_root(opts_.root, opts_.docker_root + "/containers/" + id + "/config.v2.json"), kMaxStateFile);
  auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
  if (!j.is_object()) return;
  // A Kubernetes container run by cri-dockerd carries the kubelet's labels; its Docker name is k8s_<...>.
  const nlohmann::json* labels = nullptr;
  if (auto c = j.find("Config"); c != j.end() && c->is_object())
    if (auto l = c->find("Labels"); l != c->end() && l->is_object()) labels = &*l;
  Name n;
  if (labels != nullptr && kubernetes_names(*labels, n)) {
    n.runtime = "docker";
    remember(by_id_, id, std::move(n));
    return;
  }
  if (j.contains("Name") && j["Name"].is_string()) {
    std::string name = j["Name"];
    if (!name.empty() && name.front() == '/') name.erase(0, 1);
    remember(by_id_, id, {name, "", "", "docker", ""});
  }
}

void WorkloadNames::read_oci_spec(const std::string& id) {
  std::vector<std::pair<std::string, const char*>> specs;  // path, runtime
  const std::string tasks = join_root(opts_.root, opts_.containerd_state + "/io.containerd.runtime.v2.task");
  for_each_entry(tasks, [&](const std::string& ns) {
    specs.emplace_back(tasks + "/" + ns + "/" + id + "/config.json", "containerd");
  });
  std::vector<std::string> roots = opts_.podman_roots;
  roots.insert(roots.end(), opts_.storage_run_roots.begin(), opts_.storage_run_roots.end());
  for (const auto& dir : storage_container_dirs(roots))
    specs.emplace_back(dir + "/" + id + "/userdata/config.json", "crio");
  for (const auto& [f, runtime] : specs) {
    auto text = read_file(f, kMaxStateFile);
    Name n;
    if (text && parse_oci_annotations(*text, n)) {
      n.runtime = runtime;
      remember(by_id_, id, std::move(n));
      return;
    }
  }
}

void WorkloadNames::name(ContainerRef& ref) {
  if (ref.id.empty() && ref.pod_uid.empty()) return;
  std::lock_guard<std::mutex> lk(mu_);
  auto found = [&]() -> const Name* {
    if (!ref.id.empty()) {
      if (auto it = by_id_.find(ref.id); it != by_id_.end()) return &it->second;
    }
    if (!ref.pod_uid.empty()) {
      if (auto it = by_pod_.find(ref.pod_uid); it != by_pod_.end()) return &it->second;
    }
    return nullptr;
  };
  const Name* n = found();
  // A pod known only by its UID is looked up again when one of its containers is asked for by id.
  bool want_container = n && !ref.id.empty() && n->container.empty();
  if (!n || want_container) {
    if (ref.runtime == "podman" && ref.pod_uid.empty()) {
      if (due(podman_scan_)) scan_podman();
    } else if (ref.runtime != "systemd" && ref.runtime != "podman" && is_lower_hex(ref.id)) {
      // Docker's state, or the spec of a running container (containerd, CRI-O), names it exactly; a container
      // whose runtime the cgroup does not say (under kubepods, a bare id) may be any of them. A container they
      // do not name is not looked for again at every event.
      auto missed = unnamed_.find(ref.id);
      const auto now = std::chrono::steady_clock::now();
      if (missed == unnamed_.end() || now - missed->second >= opts_.rescan) {
        const bool any = ref.runtime == "unknown" || ref.runtime == "cri";
        if (ref.runtime == "docker" || any) read_docker(ref.id);
        if (ref.runtime != "docker" && !found()) read_oci_spec(ref.id);
        if (auto named = by_id_.find(ref.id); named != by_id_.end() && !named->second.container.empty()) {
          unnamed_.erase(ref.id);
        } else {
          if (unnamed_.size() >= kMaxNames) unnamed_.clear();
          unnamed_[ref.id] = now;
        }
      }
    }
    n = found();
    // Any other container, or one its runtime does not name, may be a Kubernetes one: a process gone before
    // the daemon read its cgroup leaves only the leaf's id (cri-containerd-<id>.scope), which the kubelet's
    // log links still name.
    if ((!n || want_container) && ref.runtime != "systemd" && due(kubelet_scan_)) {
      scan_kubelet();
      n = found();
    }
  }
  if (!n) return;
  if (!n->runtime.empty() && (ref.runtime == "unknown" || ref.runtime == "cri")) ref.runtime = n->runtime;
  if (ref.pod_uid.empty()) ref.pod_uid = n->pod_uid;
  if (!n->container.empty()) ref.name = n->container;
  if (!n->pod.empty()) ref.pod = n->pod;
  if (!n->ns.empty()) ref.ns = n->ns;
}

}  // namespace enospcd::context
