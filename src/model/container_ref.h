// The container (or systemd unit, machine) a failing process ran in, as its cgroup and the runtime's state name it.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace enospcd {

struct ContainerRef {
  std::string id;       // full container id (hex) or unit/machine name where no id exists
  std::string runtime;  // docker, containerd, crio, podman, cri, lxc, machine, systemd, kubernetes, unknown
  std::string name;     // container name (Kubernetes: the pod's container), systemd unit, machine or lxc name
  std::string pod_uid;  // Kubernetes pod UID with dashes, when under kubepods
  std::string pod;      // Kubernetes pod name and namespace, where the kubelet's directories tell them
  std::string ns;
  bool monitor = false; // conmon (crio-conmon-<id>, libpod-conmon-<id>): the container's monitor, not the container

  bool operator==(const ContainerRef&) const = default;
};

// {id, runtime, name?, pod?, namespace?, pod_uid?, monitor?}, and back (nullopt for anything but an object
// with a string id).
nlohmann::json to_json(const ContainerRef& c);
std::optional<ContainerRef> container_from_json(const nlohmann::json& j);

// How a person reads it in one word: the name, else the id's first 12 characters.
std::string short_name(const ContainerRef& c);

// Asked for by its full id, an id prefix of at least kMinContainerPrefix characters (every container whose id
// starts with it matches), or its name.
inline constexpr std::size_t kMinContainerPrefix = 4;
bool container_matches(const std::optional<ContainerRef>& container, const std::string& wanted);

}  // namespace enospcd
