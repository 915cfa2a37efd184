#include <gtest/gtest.h>

#include "context/container.h"
#include "support/has_value.h"

using namespace enospcd::context;

namespace {
const std::string kId = "3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a09";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// One field of the container found for a cgroup path, or "(none)" when the path names no container.
std::string id_of(const std::string& path) {
  auto c = cgroup_to_container(path);
  return c ? c->id : "(none)";
}
std::string name_of(const std::string& path) {
  auto c = cgroup_to_container(path);
  return c ? c->name : "(none)";
}
std::string runtime_of(const std::string& path) {
  auto c = cgroup_to_container(path);
  return c ? c->runtime : "(none)";
}
}  // namespace

TEST(Container, DockerSystemdDriver) {
  auto c = cgroup_to_container("/system.slice/docker-" + kId + ".scope");
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "docker");
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->pod_uid, "");
  EXPECT_FALSE(c->monitor);
  // A /proc/<pid>/cgroup line and the leaf alone give the same answer.
  EXPECT_EQ(cgroup_to_container("0::/system.slice/docker-" + kId + ".scope"), c);
  EXPECT_EQ(cgroup_to_container("docker-" + kId + ".scope"), c);
}

TEST(Container, DockerCgroupfsDriverAndNested) {
  auto c = cgroup_to_container("/docker/" + kId);
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "docker");
  EXPECT_EQ(c->id, kId);
  // cgroup v1 line
  EXPECT_EQ(id_of("4:memory:/docker/" + kId), kId);
  // docker-in-docker: the innermost container
  EXPECT_EQ(id_of("/docker/" + kId + "/docker/" + kId2), kId2);
  // not a container id
  EXPECT_FALSE(cgroup_to_container("/docker/buildkit"));
}

TEST(Container, ContainerdCri) {
  auto c = cgroup_to_container(
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5e3c2b1a_9f8e_4d7c_b6a5_0123456789ab.slice/"
      "cri-containerd-" + kId + ".scope");
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "containerd");
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->pod_uid, "5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab");
}

TEST(Container, KubeletCgroupfsDriver) {
  auto c = cgroup_to_container("/kubepods/burstable/pod5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab/" + kId);
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "cri");
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->pod_uid, "5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab");
  // Guaranteed QoS: no qos level in the path.
  auto g = cgroup_to_container("/kubepods/pod11111111-2222-3333-4444-555555555555/" + kId2);
  ASSERT_HAS_VALUE(g);
  EXPECT_EQ(g->pod_uid, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(g->id, kId2);
  auto gs = cgroup_to_container("/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice/crio-" + kId2 +
                                ".scope");
  ASSERT_HAS_VALUE(gs);
  EXPECT_EQ(gs->runtime, "crio");
  EXPECT_EQ(gs->pod_uid, "11111111-2222-3333-4444-555555555555");
  // A pod slice without a container below it.
  auto pod = cgroup_to_container("/kubepods.slice/kubepods-besteffort.slice/"
                                 "kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice");
  ASSERT_HAS_VALUE(pod);
  EXPECT_EQ(pod->runtime, "kubernetes");
  EXPECT_EQ(pod->id, "");
  EXPECT_EQ(pod->pod_uid, "11111111-2222-3333-4444-555555555555");
  // The QoS slices themselves are no pod.
  EXPECT_EQ(pod_uid_from_cgroup("/kubepods.slice/kubepods-burstable.slice"), "");
}

TEST(Container, CrioAndConmon) {
  auto c = cgroup_to_container("/kubepods.slice/kubepods-burstable.slice/crio-" + kId + ".scope");
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "crio");
  EXPECT_EQ(c->id, kId);
  EXPECT_FALSE(c->monitor);
  auto m = cgroup_to_container("/kubepods.slice/kubepods-burstable.slice/crio-conmon-" + kId + ".scope");
  ASSERT_HAS_VALUE(m);
  EXPECT_EQ(m->runtime, "crio");
  EXPECT_EQ(m->id, kId);
  EXPECT_TRUE(m->monitor);
  EXPECT_EQ(m->name, "conmon");
}

TEST(Container, Podman) {
  auto c = cgroup_to_container("/machine.slice/libpod-" + kId + ".scope");
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "podman");
  EXPECT_EQ(c->id, kId);
  // With --cgroupns and systemd inside, the process sits in a "container" child.
  auto inner = cgroup_to_container("/machine.slice/libpod-" + kId + ".scope/container");
  ASSERT_HAS_VALUE(inner);
  EXPECT_EQ(inner->id, kId);
  auto rootless = cgroup_to_container("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId2 +
                                      ".scope");
  ASSERT_HAS_VALUE(rootless);
  EXPECT_EQ(rootless->runtime, "podman");
  EXPECT_EQ(rootless->id, kId2);
  auto conmon = cgroup_to_container("/machine.slice/libpod-conmon-" + kId + ".scope");
  ASSERT_HAS_VALUE(conmon);
  EXPECT_TRUE(conmon->monitor);
  EXPECT_EQ(conmon->runtime, "podman");
}

TEST(Container, ContainerWinsOverSystemdUnitsInside) {
  auto c = cgroup_to_container("/system.slice/docker-" + kId + ".scope/system.slice/nginx.service");
  ASSERT_HAS_VALUE(c);
  EXPECT_EQ(c->runtime, "docker");
  EXPECT_EQ(c->id, kId);
}

TEST(Container, SystemdUnits) {
  auto s = cgroup_to_container("/system.slice/nginx.service");
  ASSERT_HAS_VALUE(s);
  EXPECT_EQ(s->runtime, "systemd");
  EXPECT_EQ(s->name, "nginx.service");
  auto scope = cgroup_to_container("0::/user.slice/user-1000.slice/session-3.scope");
  ASSERT_HAS_VALUE(scope);
  EXPECT_EQ(scope->name, "session-3.scope");
  auto tmpl = cgroup_to_container("/system.slice/system-getty.slice/getty@tty1.service");
  ASSERT_HAS_VALUE(tmpl);
  EXPECT_EQ(tmpl->name, "getty@tty1.service");
  EXPECT_EQ(name_of("/init.scope"), "init.scope");
  // A process below a service's sub-cgroup still belongs to the service.
  EXPECT_EQ(name_of("/system.slice/containerd.service/sub"), "containerd.service");
}

TEST(Container, MachinesAndLxc) {
  auto m = cgroup_to_container("/machine.slice/machine-qemu\\x2d1\\x2dvm01.scope");
  ASSERT_HAS_VALUE(m);
  EXPECT_EQ(m->runtime, "machine");
  EXPECT_EQ(m->name, "qemu-1-vm01");
  auto l = cgroup_to_container("/lxc.payload.web1/init.scope");
  ASSERT_HAS_VALUE(l);
  EXPECT_EQ(l->runtime, "lxc");
  EXPECT_EQ(l->name, "web1");
  EXPECT_EQ(name_of("/lxc/db2"), "db2");
}

TEST(Container, NothingToSay) {
  EXPECT_FALSE(cgroup_to_container(""));
  EXPECT_FALSE(cgroup_to_container("/"));
  EXPECT_FALSE(cgroup_to_container("0::/"));
  EXPECT_FALSE(cgroup_to_container("/user.slice"));
  // Not a container id: then it is just a systemd scope.
  EXPECT_EQ(runtime_of("/system.slice/docker-notanid.scope"), "systemd");
  EXPECT_FALSE(cgroup_to_container("garbage:::"));
}

// What BPF recorded of a cgroupfs-driver container whose process was gone before its path was read: the leaf
// alone, a bare id. A container of a runtime not yet known; a path, or an id of another length, is not one.
TEST(Container, BareIdLeafIsAContainerOfUnknownRuntime) {
  EXPECT_EQ(id_of(kId), kId);
  EXPECT_EQ(runtime_of(kId), "unknown");
  EXPECT_EQ(runtime_of("/" + kId), "(none)");
  EXPECT_EQ(runtime_of("0::/" + kId), "(none)");
  EXPECT_EQ(runtime_of("/docker/" + kId), "docker");
  EXPECT_EQ(runtime_of(kId.substr(0, 12)), "(none)");
  EXPECT_EQ(runtime_of(kId + "0"), "(none)");
  EXPECT_EQ(runtime_of("3F2A" + kId.substr(4)), "(none)");
}

TEST(Container, Json) {
  ContainerRef c{kId, "crio", "conmon", "abc", "web-0", "shop", true};
  auto j = to_json(c);
  EXPECT_EQ(j["id"], kId);
  EXPECT_EQ(j["runtime"], "crio");
  EXPECT_EQ(j["pod_uid"], "abc");
  EXPECT_EQ(j["pod"], "web-0");
  EXPECT_EQ(j["namespace"], "shop");
  EXPECT_EQ(j["monitor"], true);
}
