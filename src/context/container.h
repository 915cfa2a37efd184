// cgroup path -> container attribution. Pure string work: names that only the runtime or the kubelet knows are
// added by WorkloadNames (context/workloads.h) from what they keep on disk.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/container_ref.h"

namespace enospcd::context {

using enospcd::ContainerRef;

// Accepts a full cgroup path ("/kubepods.slice/.../cri-containerd-<id>.scope"), a /proc/<pid>/cgroup line
// ("0::/system.slice/docker-<id>.scope") or just the leaf name ("crio-<id>.scope").
// Container patterns win over systemd units anywhere in the path (a container running systemd has units below
// its scope); the innermost container wins over outer ones (docker-in-docker).
std::optional<ContainerRef> cgroup_to_container(std::string_view path_or_leaf);

// "kubepods-burstable-pod1b2c_3d4e.slice" or ".../pod1b2c-3d4e/..." -> "1b2c-3d4e"; "" when not a pod path.
std::string pod_uid_from_cgroup(std::string_view path);

}  // namespace enospcd::context
