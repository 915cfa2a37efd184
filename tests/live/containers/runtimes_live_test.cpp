// Names from the state of real container runtimes, each with its own root, state and socket under a temporary
// directory, runc and no network, running the busybox image made here:
//   containerd: a container in the shape the kubelet and the CRI plugin give it (namespace k8s.io, the cgroupfs
//     driver's /kubepods/<qos>/pod<uid>/<id> cgroup, the CRI plugin's annotations on its spec), with no kubelet
//     directories on the host: its pod and namespace come from the running task's spec;
//   Docker: a named container, its name from the data root's containers/<id>/config.v2.json.
// Each container's processes fail on a tmpfs with nr_inodes=4; every failure is asserted on the container the
// daemon attributed it to, and the exact counts on the container's rows.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "live/containers/runtimes.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// The script each container runs: how many inodes df -i says are left, then 10 touches, how many failed,
// and a second more so that the container is still running while the daemon reads its events.
const std::vector<std::string> kTouchScript = {
    "sh", "-c",
    "echo avail=$(df -i /scratch | awk 'NR==2 {print $4}'); n=0; for i in $(seq 1 10); do "
    "touch /scratch/f$i 2>/dev/null || n=$((n+1)); done; echo failed=$n; sleep 1"};

// A runtime's daemon in the background, its output in a log file, and the command line that talks to it alone
// (`cli`); SIGTERM (then SIGKILL) when destroyed.
class Runtime {
 public:
  Runtime(const std::vector<std::string>& argv, const std::string& log, std::vector<std::string> cli)
      : log_(log), cli_(std::move(cli)) {
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      FILE* f = std::fopen(log.c_str(), "w");
      if (f != nullptr) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~Runtime() { stop(); }
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  CmdResult operator()(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = cli_;
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  // Until `<cli> version` answers, for at most about 20 s; false when it never did or the daemon exited.
  bool wait_up() const {
    for (int i = 0; i < 200 && alive(); i++) {
      if ((*this)({"version"}).exit_code == 0) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 150; i++) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(100ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }
  std::string log() const { return read_text(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
  std::vector<std::string> cli_;
};

// Paths the runtimes create on the host whatever their configuration says (shim sockets under /run/containerd,
// /run/docker, Docker's key, parent cgroups): removed at the end when they were not there before.
class HostLeftovers {
 public:
  explicit HostLeftovers(std::vector<std::string> paths) : paths_(std::move(paths)) {
    for (const auto& p : paths_) existed_.push_back(fs::exists(p));
  }
  ~HostLeftovers() {
    std::error_code ec;
    for (size_t i = paths_.size(); i-- > 0;)
      if (!existed_[i]) fs::remove_all(paths_[i], ec);
  }
  HostLeftovers(const HostLeftovers&) = delete;
  HostLeftovers& operator=(const HostLeftovers&) = delete;

 private:
  std::vector<std::string> paths_;
  std::vector<bool> existed_;
};

// Removes `cgroup` (a path below each hierarchy's root) and its parents up to `top`, in every hierarchy, where
// they are empty. rmdir(2) of a cgroup refuses while a process is in it.
void remove_cgroups(const std::string& cgroup, const std::string& top) {
  std::error_code ec;
  for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    for (fs::path p = cgroup;; p = p.parent_path()) {
      rmdir((h.path().string() + p.string()).c_str());
      if (p == top || p == p.parent_path() || p.empty()) break;
    }
  }
}

std::string random_hex(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out;
  static const char* digits = "0123456789abcdef";
  while (out.size() < n) {
    unsigned char c = 0;
    in.read(reinterpret_cast<char*>(&c), 1);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string sha256_of(const std::string& path) {
  auto r = run({"sha256sum", path});
  return r.exit_code == 0 ? r.out.substr(0, 64) : "";
}

// A blob of an OCI image layout: stored under its digest; "sha256:<hex>" and its size, for a descriptor.
json oci_blob(const std::string& layout, const std::string& file, const std::string& media_type) {
  const std::string digest = sha256_of(file);
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  fs::rename(file, layout + "/blobs/sha256/" + digest, ec);
  return {{"mediaType", media_type}, {"digest", "sha256:" + digest}, {"size", size}};
}

// An OCI image layout tarball of one layer (`layer_tar`) named `ref`, for `ctr image import`.
std::string oci_image_tar(const std::string& dir, const std::string& layer_tar, const std::string& ref) {
  const std::string layout = dir + "/oci";
  std::error_code ec;
  fs::create_directories(layout + "/blobs/sha256", ec);
  fs::copy_file(layer_tar, layout + "/layer", ec);
  json layer = oci_blob(layout, layout + "/layer", "application/vnd.oci.image.layer.v1.tar");
  std::ofstream(layout + "/config") << json{{"architecture", "amd64"},
                                            {"os", "linux"},
                                            {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"sh"}}}},
                                            {"rootfs", {{"type", "layers"}, {"diff_ids", {layer["digest"]}}}}}
                                          .dump();
  json config = oci_blob(layout, layout + "/config", "application/vnd.oci.image.config.v1+json");
  std::ofstream(layout + "/manifest") << json{{"schemaVersion", 2},
                                              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                              {"config", config},
                                              {"layers", {layer}}}
                                            .dump();
  json manifest = oci_blob(layout, layout + "/manifest", "application/vnd.oci.image.manifest.v1+json");
  manifest["annotations"] = {{"io.containerd.image.name", ref}, {"org.opencontainers.image.ref.name", "latest"}};
  std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(layout + "/index.json") << json{{"schemaVersion", 2}, {"manifests", {manifest}}}.dump();
  const std::string tarball = dir + "/image-oci.tar";
  auto tar = run({"tar", "-C", layout, "-cf", tarball, "oci-layout", "index.json", "blobs"});
  return tar.exit_code == 0 ? tarball : "";
}

// The container's touches on /scratch as it reported them (kTouchScript's output) against the daemon's events
// and exact counts of them: every failure is an event attributed to container `id`, and its rows count them
// all. Returns the container objects the daemon put on them, for the test to check the names.
std::vector<json> touches_named(const json& report, const std::string& out, const std::string& id) {
  auto kv = key_values(out);
  const int avail = std::atoi(kv["avail"].c_str());
  const int failed = std::atoi(kv["failed"].c_str());
  EXPECT_EQ(avail, 3) << out;  // nr_inodes=4 minus the root directory
  EXPECT_EQ(failed, 10 - avail) << out;
  std::set<std::string> paths, expected;
  for (int i = avail + 1; i <= 10; i++) expected.insert("/scratch/f" + std::to_string(i));
  std::vector<json> containers;
  for (const auto& e : report.value("events", json::array())) {
    // Only the container's processes see the tmpfs at /scratch.
    if (e.value("path", "").rfind("/scratch/f", 0) != 0) continue;
    EXPECT_EQ(container_id_of(e), id) << e.dump(2);
    EXPECT_EQ(e["comm"], "touch");
    EXPECT_EQ(e["errno"], "ENOSPC");
    EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes") << e["cause"].dump(2);
    paths.insert(e.value("path", ""));
    containers.push_back(e["container"]);
  }
  uint64_t counted = 0;
  for (const auto& row : report.value("top", json::array())) {
    if (container_id_of(row) != id) continue;
    counted += row["count"].get<uint64_t>();
    containers.push_back(row["container"]);
  }
  EXPECT_EQ(paths, expected);
  EXPECT_EQ(counted, static_cast<uint64_t>(failed));
  return containers;
}

TEST(ContainerdLive, KubernetesContainerNamedFromItsRunningSpec) {
  ENOSPCD_REQUIRE_ROOT();
  const std::string missing = missing_for_runtime({"containerd", "ctr", "runc", "tar", "sha256sum"});
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir base;
  const std::string dir = base.path();
  const std::string sock = dir + "/containerd.sock";
  const std::string pod_uid = trim(read_text("/proc/sys/kernel/random/uuid"));
  const std::string id = random_hex(64);
  const std::string cgroup = "/kubepods/besteffort/pod" + pod_uid + "/" + id;
  HostLeftovers leftovers({"/run/containerd"});
  struct CgroupsGone {
    std::string cgroup;
    ~CgroupsGone() { remove_cgroups(cgroup, "/kubepods"); }
  } cgroups_gone{cgroup};
  struct Unmount {
    std::string prefix;
    ~Unmount() { unmount_under(prefix); }
  } unmount{dir + "/"};

  std::ofstream(dir + "/config.toml") << "version = 2\nroot = \"" << dir << "/root\"\nstate = \"" << dir
                                      << "/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                      << "[grpc]\n  address = \"" << sock << "\"\n[ttrpc]\n  address = \"" << sock
                                      << ".ttrpc\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" << dir
                                      << "/opt\"\n";
  Runtime ctr({"containerd", "--config", dir + "/config.toml"}, dir + "/containerd.log",
              {"ctr", "--address", sock, "-n", "k8s.io"});
  ASSERT_TRUE(ctr.wait_up()) << ctr.log();
  std::string error;
  const std::string layer = busybox_rootfs_tar(dir, error);
  ASSERT_FALSE(layer.empty()) << error;
  const std::string image = "docker.io/library/enospcd-test:latest";
  const std::string oci = oci_image_tar(dir, layer, image);
  ASSERT_FALSE(oci.empty());
  auto imported = ctr({"image", "import", oci});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  TmpfsMount scratch("nr_inodes=4,size=1m");
  ASSERT_TRUE(scratch.ok());

  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000",
                   "--containerd-state", dir + "/state"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  std::vector<std::string> args = {"run",
                                   "--rm",
                                   "--cgroup",
                                   cgroup,
                                   "--annotation",
                                   "io.kubernetes.cri.container-type=container",
                                   "--annotation",
                                   "io.kubernetes.cri.container-name=app",
                                   "--annotation",
                                   "io.kubernetes.cri.sandbox-name=web-0",
                                   "--annotation",
                                   "io.kubernetes.cri.sandbox-namespace=shop",
                                   "--annotation",
                                   "io.kubernetes.cri.sandbox-uid=" + pod_uid,
                                   "--mount",
                                   "type=bind,src=" + scratch.path() + ",dst=/scratch,options=rbind:rw",
                                   image,
                                   id};
  args.insert(args.end(), kTouchScript.begin(), kTouchScript.end());
  auto r = ctr(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << ctr.log();
  json report = stop_for_report(d);

  const std::vector<json> named = touches_named(report, r.out, id);
  ASSERT_FALSE(named.empty()) << report.dump().substr(0, 2000);
  for (const auto& c : named) {
    // The cgroup says only "under kubepods"; the state the spec was found in says which runtime.
    EXPECT_EQ(c.value("runtime", ""), "containerd") << c.dump();
    EXPECT_EQ(c.value("pod_uid", ""), pod_uid) << c.dump();
    EXPECT_EQ(c.value("name", ""), "app") << c.dump();
    EXPECT_EQ(c.value("pod", ""), "web-0") << c.dump();
    EXPECT_EQ(c.value("namespace", ""), "shop") << c.dump();
  }
  ctr.stop();
}

TEST(DockerLive, ContainerNamedFromItsConfig) {
  ENOSPCD_REQUIRE_ROOT();
  const std::string missing = missing_for_runtime({"dockerd", "docker", "runc", "tar"});
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir base;
  const std::string dir = base.path();
  const std::string sock = dir + "/docker.sock";
  const std::string data = dir + "/data";
  const std::string name = "enospcd-docker-" + std::to_string(getpid());
  HostLeftovers leftovers({"/run/containerd", "/run/docker", "/etc/docker/key.json"});
  struct CgroupsGone {
    ~CgroupsGone() { remove_cgroups("/docker", "/docker"); }
  } cgroups_gone;
  struct Unmount {
    std::string prefix;
    ~Unmount() { unmount_under(prefix); }
  } unmount{dir + "/"};

  std::ofstream(dir + "/daemon.json") << "{}";
  Runtime docker({"dockerd", "--config-file", dir + "/daemon.json", "--data-root", data, "--exec-root",
                  dir + "/exec", "--pidfile", dir + "/docker.pid", "-H", "unix://" + sock, "--bridge=none",
                  "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                  "--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs"},
                 dir + "/dockerd.log",
                 {"env", "DOCKER_CONFIG=" + dir + "/client", "docker", "-H", "unix://" + sock});
  ASSERT_TRUE(docker.wait_up()) << docker.log();
  std::string error;
  const std::string layer = busybox_rootfs_tar(dir, error);
  ASSERT_FALSE(layer.empty()) << error;
  auto imported = docker({"import", "-c", "ENV PATH=/bin", layer, "enospcd-test:latest"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  TmpfsMount scratch("nr_inodes=4,size=1m");
  ASSERT_TRUE(scratch.ok());

  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000",
                   "--docker-root", data});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  std::vector<std::string> args = {"run", "--name", name, "--network", "none", "-v", scratch.path() + ":/scratch",
                                   "enospcd-test:latest"};
  args.insert(args.end(), kTouchScript.begin(), kTouchScript.end());
  auto r = docker(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << docker.log();
  json report = stop_for_report(d);
  const std::string id = trim(docker({"inspect", "--format", "{{.Id}}", name}).out);
  docker({"rm", "-f", name});
  ASSERT_EQ(id.size(), 64u) << id;

  const std::vector<json> named = touches_named(report, r.out, id);
  ASSERT_FALSE(named.empty()) << report.dump().substr(0, 2000);
  for (const auto& c : named) {
    EXPECT_EQ(c.value("runtime", ""), "docker") << c.dump();
    EXPECT_EQ(c.value("name", ""), name) << c.dump();
    EXPECT_FALSE(c.contains("pod")) << c.dump();
  }
  docker.stop();
}

}  // namespace
}  // namespace enospcd::testing
