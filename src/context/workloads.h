// Names of the workloads behind container ids, from what the node already keeps on disk (no runtime API is
// asked, so a name is found while the daemon runs without network or credentials):
//   Kubernetes  the kubelet's container log links, /var/log/containers/<pod>_<namespace>_<container>-<id>.log,
//               and its pod log directories, /var/log/pods/<namespace>_<pod>_<uid>/ (containerd, CRI-O and
//               cri-dockerd all write them);
//   containerd  the OCI spec of a running task, <state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json,
//               whose annotations the CRI plugin fills (io.kubernetes.cri.container-name, sandbox-name,
//               sandbox-namespace);
//   CRI-O       the OCI spec in containers/storage, <root>/<driver>-containers/<id>/userdata/config.json, with
//               the kubelet's labels (io.kubernetes.pod.name, ...) as annotations;
//   podman      containers/storage's <driver>-containers/containers.json under each storage root;
//   Docker      <data-root>/containers/<id>/config.v2.json ("Name").
// A source is read again only when a lookup misses, at most once per interval; what was found stays known
// after the container is gone (bounded).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "context/container.h"

namespace enospcd::context {

class WorkloadNames {
 public:
  struct Options {
    std::string root = "/";  // the host's root: /proc/1/root from a container with the host's pid namespace
    // Relative to root: containers/storage roots (podman's and CRI-O's graph roots; CRI-O's run root), Docker's
    // data root, containerd's state directory.
    std::vector<std::string> podman_roots = {"/var/lib/containers/storage"};
    std::vector<std::string> storage_run_roots = {"/run/containers/storage"};
    std::string docker_root = "/var/lib/docker";
    std::string containerd_state = "/run/containerd";
    std::chrono::milliseconds rescan{std::chrono::seconds(5)};
  };
  explicit WorkloadNames(Options o) : opts_(std::move(o)) {}

  // Adds what the node knows to ref: the container's name, and for a Kubernetes container its pod and namespace.
  void name(ContainerRef& ref);

  struct Name {
    std::string container, pod, ns;
    std::string runtime;  // the runtime whose state named it; "" from the kubelet's directories
    std::string pod_uid;
  };

 private:
  void scan_kubelet();
  void scan_podman();
  void read_docker(const std::string& id);
  void read_oci_spec(const std::string& id);
  // The <driver>-containers directories of the containers/storage roots given (relative to the host's root).
  std::vector<std::string> storage_container_dirs(const std::vector<std::string>& roots) const;
  bool due(std::chrono::steady_clock::time_point& last);
  void remember(std::map<std::string, Name>& m, const std::string& key, Name n);

  Options opts_;
  std::mutex mu_;
  std::map<std::string, Name> by_id_;   // container id -> names
  std::map<std::string, Name> by_pod_;  // pod UID (with dashes) -> pod and namespace
  // Ids whose runtime state named nothing, and when: not read again within the rescan interval.
  std::map<std::string, std::chrono::steady_clock::time_point> unnamed_;
  std::chrono::steady_clock::time_point kubelet_scan_{}, podman_scan_{};
};

// "<pod>_<namespace>_<container>-<64 hex>.log" -> names and id; false for anything else.
bool parse_container_log_name(const std::string& file, WorkloadNames::Name& out, std::string& id);
// "<namespace>_<pod>_<uid>" -> names and uid; false for anything else.
bool parse_pod_log_dir(const std::string& dir, WorkloadNames::Name& out, std::string& uid);
// The Kubernetes names in an OCI spec's annotations as containerd's CRI plugin or CRI-O writes them; false when
// it has no pod name and namespace (not a Kubernetes container) or they are not Kubernetes names.
bool parse_oci_annotations(const std::string& config_json, WorkloadNames::Name& out);

}  // namespace enospcd::context
