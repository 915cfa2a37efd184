// Container, pod and namespace names from a node's directory layout as the kubelet, podman and Docker leave it,
// built in a temporary root: the kubelet's log links and pod directories, podman's containers.json, Docker's
// config.v2.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "context/container.h"
#include "context/workloads.h"
#include "support/has_value.h"
#include "support/temp_dir.h"

namespace enospcd::context {
namespace {

namespace fs = std::filesystem;

const std::string kId = "1b2c3d4e5f60718293a4b5c6d7e8f9001b2c3d4e5f60718293a4b5c6d7e8f900";
const std::string kId2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const std::string kUid = "5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab";

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

WorkloadNames::Options opts(const std::string& root) {
  WorkloadNames::Options o;
  o.root = root;
  o.rescan = std::chrono::milliseconds(0);
  return o;
}

TEST(WorkloadNames, KubeletLogNamesSplitOnlyWhereTheyCan) {
  WorkloadNames::Name n;
  std::string id;
  ASSERT_TRUE(parse_container_log_name("web-7d9f-x2k_shop_nginx-" + kId + ".log", n, id));
  EXPECT_EQ(n.pod, "web-7d9f-x2k");
  EXPECT_EQ(n.ns, "shop");
  EXPECT_EQ(n.container, "nginx");
  EXPECT_EQ(id, kId);
  for (const std::string& bad : std::vector<std::string>{"web_shop_nginx-" + kId.substr(1) + ".log", "web_shop_nginx-" + kId + ".txt",
                                "web_shop-" + kId + ".log", "web_sh_op_nginx-" + kId + ".log",
                                "Web_shop_nginx-" + kId + ".log", "web_shop_ngi\x1bnx-" + kId + ".log", ".log", ""})
    EXPECT_FALSE(parse_container_log_name(bad, n, id)) << bad;
  ASSERT_TRUE(parse_pod_log_dir("shop_web-7d9f-x2k_" + kUid, n, id));
  EXPECT_EQ(n.pod, "web-7d9f-x2k");
  EXPECT_EQ(n.ns, "shop");
  EXPECT_EQ(id, kUid);
  EXPECT_FALSE(parse_pod_log_dir("shop_web_" + kUid + "_x", n, id));
  EXPECT_FALSE(parse_pod_log_dir("shop_web_not-a-uid!", n, id));
}

TEST(WorkloadNames, KubernetesContainerAndPodFromTheKubeletsDirectories) {
  testing::TempDir root;
  ASSERT_FALSE(root.path().empty());
  // The link's target is not followed: only its name is read.
  fs::create_directories(root.path() + "/var/log/containers");
  fs::create_symlink("/var/log/pods/shop_web-7d9f-x2k_" + kUid + "/nginx/0.log",
                     root.path() + "/var/log/containers/web-7d9f-x2k_shop_nginx-" + kId + ".log");
  fs::create_directories(root.path() + "/var/log/pods/shop_web-7d9f-x2k_" + kUid + "/nginx");
  WorkloadNames names(opts(root.path()));

  auto ref = cgroup_to_container("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                 std::string("5e3c2b1a_9f8e_4d7c_b6a5_0123456789ab") + ".slice/cri-containerd-" +
                                 kId + ".scope");
  ASSERT_HAS_VALUE(ref);
  names.name(*ref);
  EXPECT_EQ(ref->name, "nginx");
  EXPECT_EQ(ref->pod, "web-7d9f-x2k");
  EXPECT_EQ(ref->ns, "shop");
  EXPECT_EQ(ref->pod_uid, kUid);
  auto j = to_json(*ref);
  EXPECT_EQ(j["namespace"], "shop");
  EXPECT_EQ(j["pod"], "web-7d9f-x2k");

  // Another container of the same pod whose log link is not there (yet): the pod is still named.
  ContainerRef other{kId2, "containerd", "", kUid};
  names.name(other);
  EXPECT_EQ(other.name, "");
  EXPECT_EQ(other.pod, "web-7d9f-x2k");
  EXPECT_EQ(other.ns, "shop");

  // Known after the kubelet removed the pod's directories.
  fs::remove_all(root.path() + "/var/log");
  ContainerRef again{kId, "containerd", "", kUid};
  names.name(again);
  EXPECT_EQ(again.name, "nginx");
  EXPECT_EQ(again.ns, "shop");
}

// Without the kubelet's directories (a DaemonSet that does not mount /var/log), the spec of the running container
// names it: containerd's task bundle with the CRI plugin's annotations, CRI-O's with the kubelet's labels, and a
// cri-dockerd container's Docker labels. Names that are not Kubernetes names are not taken.
TEST(WorkloadNames, KubernetesNamesFromTheRunningContainersSpec) {
  testing::TempDir root;
  ASSERT_FALSE(root.path().empty());
  const std::string kId3 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string kId4 = "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd";
  write(root.path() + "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/" + kId + "/config.json",
        R"({"ociVersion":"1.0.2","annotations":{"io.kubernetes.cri.container-type":"container",)"
        R"("io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web-0",)"
        R"("io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.sandbox-uid":")" + kUid + R"("}})");
  write(root.path() + "/var/lib/containers/storage/overlay-containers/" + kId2 + "/userdata/config.json",
        R"({"annotations":{"io.kubernetes.cri-o.Labels":"{\"io.kubernetes.container.name\":\"db\",)"
        R"(\"io.kubernetes.pod.name\":\"pg-1\",\"io.kubernetes.pod.namespace\":\"data\"}"}})");
  write(root.path() + "/srv/docker/containers/" + kId3 + "/config.v2.json",
        R"({"Name":"/k8s_cache_redis-2_infra_)" + kUid + R"(_0","Config":{"Labels":{)"
        R"("io.kubernetes.container.name":"cache","io.kubernetes.pod.name":"redis-2",)"
        R"("io.kubernetes.pod.namespace":"infra"}}})");
  write(root.path() + "/run/containers/storage/overlay-containers/" + kId4 + "/userdata/config.json",
        R"({"annotations":{"io.kubernetes.pod.name":"Evil\u001b]0;x","io.kubernetes.pod.namespace":"shop"}})");
  auto o = opts(root.path());
  o.containerd_state = "/run/k3s/containerd";
  o.docker_root = "/srv/docker";
  WorkloadNames names(o);

  auto ref = cgroup_to_container("/kubepods/besteffort/pod" + kUid + "/" + kId);
  ASSERT_HAS_VALUE(ref);
  EXPECT_EQ(ref->runtime, "cri");
  names.name(*ref);
  EXPECT_EQ(ref->runtime, "containerd");
  EXPECT_EQ(ref->name, "app");
  EXPECT_EQ(ref->pod, "web-0");
  EXPECT_EQ(ref->ns, "shop");
  // Only the leaf, recorded by BPF, of a process gone before its cgroup was read: the bare id.
  auto leaf = cgroup_to_container(kId2);
  ASSERT_HAS_VALUE(leaf);
  EXPECT_EQ(leaf->runtime, "unknown");
  names.name(*leaf);
  EXPECT_EQ(leaf->runtime, "crio");
  EXPECT_EQ(leaf->pod, "pg-1");
  ContainerRef crio{kId2, "crio"};
  names.name(crio);
  EXPECT_EQ(crio.name, "db");
  EXPECT_EQ(crio.pod, "pg-1");
  EXPECT_EQ(crio.ns, "data");
  ContainerRef dockerd{kId3, "unknown"};
  names.name(dockerd);
  EXPECT_EQ(dockerd.runtime, "docker");
  EXPECT_EQ(dockerd.name, "cache");
  EXPECT_EQ(dockerd.pod, "redis-2");
  EXPECT_EQ(dockerd.ns, "infra");
  ContainerRef evil{kId4, "crio"};
  names.name(evil);
  EXPECT_EQ(evil.pod, "");
  EXPECT_EQ(evil.name, "");

  // Known after the container and its bundle are gone.
  fs::remove_all(root.path() + "/run");
  ContainerRef again{kId, "unknown"};
  names.name(again);
  EXPECT_EQ(again.pod, "web-0");
  EXPECT_EQ(again.pod_uid, kUid);
  EXPECT_EQ(again.runtime, "containerd");

  WorkloadNames::Name n;
  for (const std::string& bad : {std::string("{"), std::string("[]"), std::string(R"({"annotations":7})"),
                                 std::string(R"({"annotations":{"io.kubernetes.pod.name":"web"}})"),
                                 std::string(R"({"annotations":{"io.kubernetes.cri-o.Labels":"{not json"}})")})
    EXPECT_FALSE(parse_oci_annotations(bad, n)) << bad;
}

// A container no runtime's state names (a plain ctr container) is looked for once per rescan interval, not at
// every event of it.
TEST(WorkloadNames, AnUnnamedContainerIsNotLookedForAtEveryEvent) {
  testing::TempDir root;
  ASSERT_FALSE(root.path().empty());
  auto o = opts(root.path());
  o.rescan = std::chrono::hours(1);
  WorkloadNames names(o);
  ContainerRef first{kId, "containerd"};
  names.name(first);
  EXPECT_EQ(first.pod, "");
  write(root.path() + "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + kId + "/config.json",
        R"({"annotations":{"io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}})");
  ContainerRef again{kId, "containerd"};
  names.name(again);
  EXPECT_EQ(again.pod, "") << "read again within the interval";
  WorkloadNames fresh(o);
  ContainerRef other{kId, "containerd"};
  fresh.name(other);
  EXPECT_EQ(other.pod, "web-0");
}

TEST(WorkloadNames, PodmanAndDockerNamesFromTheirState) {
  testing::TempDir root;
  ASSERT_FALSE(root.path().empty());
  write(root.path() + "/srv/podman/overlay-containers/containers.json",
        R"([{"id":")" + kId + R"(","names":["web-1"],"image":"x"},{"id":"bad"},{"names":["no-id"]},7])");
  write(root.path() + "/var/lib/docker/containers/" + kId2 + "/config.v2.json", R"({"Name":"/db-1","ID":"x"})");
  auto o = opts(root.path());
  o.podman_roots = {"/var/lib/containers/storage", "/srv/podman"};
  WorkloadNames names(o);
  ContainerRef p{kId, "podman"};
  names.name(p);
  EXPECT_EQ(p.name, "web-1");
  EXPECT_EQ(p.pod, "");
  ContainerRef d{kId2, "docker"};
  names.name(d);
  EXPECT_EQ(d.name, "db-1");
  // Unknown ids, a broken state file, an id that is no path component: nothing added, nothing thrown.
  write(root.path() + "/var/lib/docker/containers/" + kId + "/config.v2.json", "{not json");
  WorkloadNames fresh(o);
  ContainerRef broken{kId, "docker"};
  fresh.name(broken);
  EXPECT_EQ(broken.name, "");
  ContainerRef escape{"../../etc", "docker"};
  names.name(escape);
  EXPECT_EQ(escape.name, "");
  ContainerRef unit{"", "systemd", "cron.service"};
  names.name(unit);
  EXPECT_EQ(unit.name, "cron.service");
}

}  // namespace
}  // namespace enospcd::context
