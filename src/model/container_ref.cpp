#include "model/container_ref.h"

namespace enospcd {

nlohmann::json to_json(const ContainerRef& c) {
  nlohmann::json j = {{"id", c.id}, {"runtime", c.runtime}};
  if (!c.name.empty()) j["name"] = c.name;
  if (!c.pod.empty()) j["pod"] = c.pod;
  if (!c.ns.empty()) j["namespace"] = c.ns;
  if (!c.pod_uid.empty()) j["pod_uid"] = c.pod_uid;
  if (c.monitor) j["monitor"] = true;
  return j;
}

std::optional<ContainerRef> container_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return std::nullopt;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  ContainerRef c;
  c.id = text("id");
  c.runtime = text("runtime");
  c.name = text("name");
  c.pod = text("pod");
  c.ns = text("namespace");
  c.pod_uid = text("pod_uid");
  auto monitor = j.find("monitor");
  c.monitor = monitor != j.end() && monitor->is_boolean() && monitor->get<bool>();
  return c;
}

std::string short_name(const ContainerRef& c) { return c.name.empty() ? c.id.substr(0, 12) : c.name; }

bool container_matches(const std::optional<ContainerRef>& container, const std::string& wanted) {
  if (!container) return false;
  const ContainerRef& c = *container;
  // Full id, an id prefix of at least kMinContainerPrefix characters, or the name.
  bool id_match = !wanted.empty() && (c.id == wanted || (wanted.size() >= kMinContainerPrefix && c.id.starts_with(wanted)));
  if (id_match || wanted.empty()) return id_match;
  if (c.name == wanted) return true;
  // Kubernetes: the pod's UID, or namespace/pod and namespace/pod/container as the metrics and enospcctl show them.
  if (c.pod_uid == wanted) return true;
  if (c.pod.empty()) return false;
  const std::string ns_pod = c.ns + "/" + c.pod;
  return wanted == ns_pod || (!c.name.empty() && wanted == ns_pod + "/" + c.name);
}

}  // namespace enospcd
