// Container attribution against real podman containers: runc, a busybox image imported here (no registry),
// podman storage of its own under a temp dir. Each failure is found by what the kernel recorded at failure time
// (mount namespace, path) and then asserted on the container the daemon attributed it to.
#include <elf.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "live/containers/runtimes.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kImage = "localhost/enospcd-test:latest";

// Directories of this container's cgroup in any hierarchy: libpod-<id> (cgroupfs manager) or
// libpod-<id>.scope (systemd manager).
std::vector<std::string> container_cgroups(const std::string& id) {
  std::vector<std::string> found;
  std::set<std::string> names = {"libpod-" + id, "libpod-" + id + ".scope"};
  std::error_code ec;
  fs::recursive_directory_iterator it("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec) || it->is_symlink(dir_ec)) {
      it.disable_recursion_pending();
      continue;
    }
    if (names.count(it->path().filename().string())) found.push_back(it->path().string());
  }
  return found;
}

// podman with storage, run state and temp files of its own, so nothing on the host is touched.
class Podman {
 public:
  explicit Podman(const std::string& base) : base_(base) {}

  CmdResult operator()(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"podman", "--root", base_ + "/root", "--runroot", base_ + "/run",
                                     "--tmpdir", base_ + "/tmp"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  // `podman run` the way it works here: runc (crun fails on this cgroup layout), ulimits no higher than
  // the current hard limits (root lacks CAP_SYS_RESOURCE), no network.
  CmdResult run_container(const std::vector<std::string>& options, const std::vector<std::string>& command) const {
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    std::string n = std::to_string(nofile.rlim_max);
    std::vector<std::string> args = {"run",      "--runtime", "runc",          "--ulimit", "nofile=" + n + ":" + n,
                                     "--ulimit", "nproc=4096:4096",            "--network", "none"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(kImage);
    args.insert(args.end(), command.begin(), command.end());
    return (*this)(args);
  }

  // A podman-managed tmpfs volume; podman's --tmpfs rejects nr_inodes, the local volume driver passes it on.
  std::string tmpfs_volume(const std::string& name, const std::string& options) const {
    auto r = (*this)({"volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=" + options, name});
    return r.exit_code == 0 ? name : "";
  }

  void remove_everything() const {
    (*this)({"rm", "-af", "-t", "0"});
    (*this)({"volume", "rm", "-af"});
    (*this)({"rmi", "-af"});
  }

 private:
  std::string base_;
};

// Removes a container and a volume when the test ends, passed or not.
struct ContainerGuard {
  const Podman& podman;
  std::string name, volume;
  ~ContainerGuard() {
    if (!name.empty()) podman({"rm", "-f", "-t", "0", name});
    if (!volume.empty()) podman({"volume", "rm", "-f", volume});
  }
};

// Lowers a sysctl for the test and restores what it was, also on failure.
class SysctlGuard {
 public:
  explicit SysctlGuard(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_);
    in >> original_;
  }
  ~SysctlGuard() {
    if (changed_) write(original_);
  }
  bool write(const std::string& value) {
    std::ofstream out(path_);
    out << value << "\n";
    out.flush();
    changed_ = changed_ || value != original_;
    return static_cast<bool>(out);
  }
  const std::string& original() const { return original_; }

 private:
  std::string path_, original_;
  bool changed_ = false;
};

// The image is imported once per test binary: building the rootfs and `podman import` take about a second.
class PodmanLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_.clear();
    setup_error_.clear();
    if (geteuid() != 0) return;  // each test skips (or fails in CI) through ENOSPCD_REQUIRE_ROOT
    skip_reason_ = missing_for_runtime({"podman", "runc", "tar", "curl"});
    if (!skip_reason_.empty()) return;
    base_ = std::make_unique<TempDir>();
    podman_ = std::make_unique<Podman>(base_->path());
    std::string tarball = busybox_rootfs_tar(base_->path(), setup_error_);
    if (tarball.empty()) return;
    auto imported = (*podman_)({"import", "-q", tarball, kImage});
    if (imported.exit_code != 0) setup_error_ = "podman import: " + imported.out;
  }

  static void TearDownTestSuite() {
    if (!base_) return;
    podman_->remove_everything();
    // Whatever podman left mounted under its directories (overlay layers, shm, volumes).
    unmount_under(base_->path() + "/");
    podman_.reset();
    base_.reset();  // rm -rf
  }

  void SetUp() override {
    ENOSPCD_REQUIRE_ROOT();
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << "podman test image: " << setup_error_;
    // Every container and volume is named after the test, so a leftover points at its test.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = std::string("enospcd-") + info->name() + "-" + std::to_string(getpid());
    std::transform(name_.begin(), name_.end(), name_.begin(), [](char c) { return c == '_' ? '-' : c; });
    std::error_code ec;
    fs::remove(cidfile(), ec);  // podman refuses to overwrite one (--gtest_repeat)
  }

  const Podman& podman() const { return *podman_; }
  std::string cidfile() const { return base_->path() + "/" + name_ + ".cid"; }
  std::string read_cid() const { return trim(read_text(cidfile())); }

  std::string name_;
  static inline std::string skip_reason_, setup_error_;
  static inline std::unique_ptr<TempDir> base_;
  static inline std::unique_ptr<Podman> podman_;
};

// A running container's process fails on a tmpfs volume with nr_inodes=8: the root directory takes one inode,
// df -i inside says how many are left, and every touch after them fails in openat(O_CREAT) with ENOSPC.
// The report's events and the exact in-kernel counts name the container by its full id, and by the name podman
// gave it (read from the storage root's containers.json).
TEST_F(PodmanLive, TmpfsInodeFailuresAttributedToThePodmanContainer) {
  ContainerGuard guard{podman(), name_, podman().tmpfs_volume(name_ + "-scratch", "nr_inodes=8")};
  ASSERT_FALSE(guard.volume.empty()) << "podman volume create failed";
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000",
                   "--podman-root", base_->path() + "/root"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();

  // The trailing sleep keeps the container (its mount namespace, its cgroup) alive while the daemon looks at
  // its events; attribution must not depend on that, the diagnosis of paths inside the container may.
  auto r = podman().run_container(
      {"--name", name_, "--cidfile", cidfile(), "-v", guard.volume + ":/scratch"},
      {"sh", "-c",
       "echo mntns=$(readlink /proc/self/ns/mnt); echo avail=$(df -i /scratch | awk 'NR==2 {print $4}');"
       "n=0; for i in $(seq 1 20); do touch /scratch/f$i 2>/dev/null || n=$((n+1)); done; echo failed=$n; sleep 1"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json report = stop_for_report(d);

  std::string cid = read_cid();
  ASSERT_EQ(cid.size(), 64u) << "cidfile: " << cid;
  EXPECT_EQ(trim(podman()({"inspect", "--format", "{{.Id}}", name_}).out), cid);
  auto kv = key_values(r.out);
  int avail = std::atoi(kv["avail"].c_str());
  int failed = std::atoi(kv["failed"].c_str());
  uint64_t mntns = ns_inode(kv["mntns"]);
  EXPECT_EQ(avail, 7) << r.out;  // nr_inodes=8 minus the root directory
  ASSERT_EQ(failed, 20 - avail) << r.out;
  ASSERT_NE(mntns, 0u) << r.out;
  EXPECT_NE(mntns, host_mntns()) << "the container shares the host's mount namespace";

  // The failures, found by what BPF recorded at failure time: the container's mount namespace and the path.
  std::set<std::string> expected_paths, paths;
  for (int i = avail + 1; i <= 20; i++) expected_paths.insert("/scratch/f" + std::to_string(i));
  std::set<uint64_t> cgroup_ids;
  for (const auto& e : report.value("events", json::array())) {
    if (e.value("mntns", uint64_t{0}) != mntns || e.value("path", "").rfind("/scratch/", 0) != 0) continue;
    paths.insert(e["path"].get<std::string>());
    cgroup_ids.insert(e["cgroup_id"].get<uint64_t>());
    EXPECT_EQ(e["comm"], "touch");
    EXPECT_EQ(e["syscall"], "openat");
    EXPECT_EQ(e["errno"], "ENOSPC");
    // The leaf name captured in BPF is whole: libpod-<64 hex>, with ".scope" under the systemd cgroup manager.
    std::string leaf = e.value("cgroup", "");
    EXPECT_TRUE(leaf == "libpod-" + cid || leaf == "libpod-" + cid + ".scope") << "cgroup leaf " << leaf;
    ASSERT_TRUE(e["container"].is_object()) << e.dump(2);
    EXPECT_EQ(e["container"]["runtime"], "podman");
    EXPECT_EQ(e["container"]["id"], cid) << e["path"];
    EXPECT_EQ(e["container"].value("name", ""), name_) << e["container"].dump();
    EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes") << e["cause"].dump(2);
  }
  EXPECT_EQ(paths, expected_paths);
  EXPECT_EQ(cgroup_ids.size(), 1u) << "one container, one cgroup";

  // The exact in-kernel counters, summed over the container's rows (one row per touch process).
  uint64_t counted = 0, in_cgroup = 0;
  std::set<std::string> syscalls;
  for (const auto& row : report.value("top", json::array())) {
    if (cgroup_ids.count(row.value("cgroup_id", uint64_t{0}))) in_cgroup += row["count"].get<uint64_t>();
    if (container_id_of(row) != cid) continue;
    EXPECT_EQ(row["container"]["runtime"], "podman");
    EXPECT_EQ(row["container"].value("name", ""), name_);
    counted += row["count"].get<uint64_t>();
    syscalls.insert(row["syscall"].get<std::string>());
  }
  EXPECT_EQ(counted, static_cast<uint64_t>(failed)) << "in the container's cgroup: " << in_cgroup;
  EXPECT_EQ(syscalls, std::set<std::string>{"openat"});
}

// A container whose entrypoint's first step fails with ENOSPC (touch on a tmpfs volume with no inode left) and
// which then exits, started with --rm: the failing process is reaped at once by the container's shell, and the
// container is gone, cgroup and all, before anyone asks. The daemon still names it by id and id prefix.
TEST_F(PodmanLive, FailedStartQueriedAfterItsCgroupIsGone) {
  ContainerGuard guard{podman(), name_, podman().tmpfs_volume(name_ + "-full", "nr_inodes=1")};
  ASSERT_FALSE(guard.volume.empty()) << "podman volume create failed";
  TempDir dir;
  std::string sock = dir.path() + "/enospcd.sock";
  DaemonProcess d({daemon_binary(), "--socket", sock, "--state-dir", dir.path() + "/state"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  for (int i = 0; i < 100 && access(sock.c_str(), F_OK) != 0; i++) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(access(sock.c_str(), F_OK), 0) << "no socket: " << d.stderr_text();

  // The daemon is frozen while the container lives, so it sees the failure only after the process, the
  // container and its cgroup are gone, as on a busy host: the attribution can come only from what BPF recorded
  // at failure time (cgroup id and leaf name). The kernel keeps the record in the ring buffer meanwhile.
  ASSERT_EQ(kill(d.pid(), SIGSTOP), 0);
  struct Thaw {
    pid_t pid;
    ~Thaw() { kill(pid, SIGCONT); }
  } thaw{d.pid()};
  auto r = podman().run_container({"--rm", "--name", name_, "--cidfile", cidfile(), "-v", guard.volume + ":/scratch"},
                                  {"sh", "-c", "touch /scratch/x || exit 3; echo started"});
  ASSERT_EQ(r.exit_code, 3) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  std::string cid = read_cid();
  ASSERT_EQ(cid.size(), 64u) << "cidfile: " << cid;

  // Gone: the container, and its cgroup in every hierarchy.
  EXPECT_NE(podman()({"container", "exists", cid}).exit_code, 0) << "--rm left the container";
  std::vector<std::string> cgroups;
  for (int i = 0; i < 100; i++) {
    cgroups = container_cgroups(cid);
    if (cgroups.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(cgroups.empty()) << "cgroup still there: " << cgroups.front();
  ASSERT_EQ(kill(d.pid(), SIGCONT), 0);

  auto get = [&](const std::string& query) {
    auto res = run({"curl", "-sS", "--max-time", "10", "--unix-socket", sock, "http://localhost/v1/events?" + query});
    try {
      return json::parse(res.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "GET /v1/events?" << query << " did not return JSON: " << res.out;
      return json::object();
    }
  };
  // Thawed, the daemon reads the ring buffer; wait until the failure is in the store (any container).
  std::string leaf_start = "libpod-" + cid.substr(0, 40);
  bool stored = false;
  for (int i = 0; i < 50 && !stored; i++) {
    for (const auto& e : get("comm=touch&limit=10000").value("events", json::array()))
      if (e.value("path", "") == "/scratch/x" && e.value("cgroup", "").rfind(leaf_start, 0) == 0) {
        stored = true;
        EXPECT_EQ(container_id_of(e), cid) << e.dump(2);
      }
    if (!stored) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(stored) << "the container's failure never reached the daemon's store";
  json by_id = get("container=" + cid);
  std::string prefix = cid.substr(0, 12);
  json by_prefix = get("container=" + prefix);

  auto check = [&](const json& answer, const std::string& query) -> std::set<uint64_t> {
    std::set<uint64_t> ids;
    auto events = answer.value("events", json::array());
    EXPECT_EQ(events.size(), 1u) << "container=" << query << ": " << answer.dump(2);
    for (const auto& e : events) {
      ids.insert(std::stoull(e["id"].get<std::string>()));
      EXPECT_EQ(e["comm"], "touch");
      EXPECT_EQ(e["syscall"], "openat");
      EXPECT_EQ(e["path"], "/scratch/x");
      EXPECT_EQ(e["errno"], "ENOSPC");
      if (!e["container"].is_object()) {
        ADD_FAILURE() << "no container: " << e.dump(2);
        continue;
      }
      EXPECT_EQ(e["container"]["id"], cid);
      EXPECT_EQ(e["container"]["runtime"], "podman");
    }
    return ids;
  };
  auto ids_full = check(by_id, cid);
  auto ids_prefix = check(by_prefix, prefix);
  EXPECT_EQ(ids_full, ids_prefix);

  // enospcctl asks the same question.
  auto ctl = run({ctl_binary(), "--socket", sock, "-o", "json", "events", "--container", prefix});
  ASSERT_EQ(ctl.exit_code, 0) << ctl.out;
  try {
    auto ids_ctl = check(json::parse(ctl.out), prefix + " (enospcctl)");
    EXPECT_EQ(ids_ctl, ids_full);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "enospcctl -o json events is not JSON: " << e.what() << "\n" << ctl.out;
  }
  auto table = run({ctl_binary(), "--socket", sock, "events", "--container", prefix, "-o", "wide"});
  EXPECT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("/scratch/x"), std::string::npos) << table.out;
  EXPECT_EQ(d.stop(SIGTERM, 2000ms), 0) << d.stderr_text();
}

// mount(2) inside a container (CAP_SYS_ADMIN) hits fs.mount-max, lowered for a few seconds to 200 above the
// host's mount count: the host's namespace keeps that much room, the container's own namespace fills up. The event
// carries the container's mount namespace, not the host's, and the namespace's mount count at failure time.
TEST_F(PodmanLive, MountMaxInsideTheContainersMountNamespace) {
  ContainerGuard guard{podman(), name_, ""};
  SysctlGuard mount_max("/proc/sys/fs/mount-max");
  std::ifstream host_mounts("/proc/self/mountinfo");
  uint64_t host_count = static_cast<uint64_t>(
      std::count(std::istreambuf_iterator<char>(host_mounts), std::istreambuf_iterator<char>(), '\n'));
  uint64_t limit = std::max<uint64_t>(host_count, 64) + 200;
  if (std::strtoull(mount_max.original().c_str(), nullptr, 10) <= limit)
    GTEST_SKIP() << "fs.mount-max is already " << mount_max.original() << " (another test is using it?)";
  // Lowered before the daemon starts: its sysctl snapshot then already holds the limit of the failure.
  ASSERT_TRUE(mount_max.write(std::to_string(limit)));
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();

  auto r = podman().run_container(
      {"--rm", "--name", name_, "--cidfile", cidfile(), "--cap-add", "SYS_ADMIN"},
      {"sh", "-c",
       "echo mntns=$(readlink /proc/self/ns/mnt); n=0;"
       "while mount -t tmpfs enospcd-test /m 2>/dev/null; do n=$((n+1)); [ $n -ge 100000 ] && break; done;"
       "echo mounted=$n; sleep 1"});
  mount_max.write(mount_max.original());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json report = stop_for_report(d);

  std::string cid = read_cid();
  ASSERT_EQ(cid.size(), 64u) << "cidfile: " << cid;
  auto kv = key_values(r.out);
  uint64_t mntns = ns_inode(kv["mntns"]);
  ASSERT_NE(mntns, 0u) << r.out;
  ASSERT_GT(std::atoi(kv["mounted"].c_str()), 0) << r.out;
  ASSERT_LT(std::atoi(kv["mounted"].c_str()), 100000) << "mount never failed: " << r.out;

  std::vector<json> mounts;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("mntns", uint64_t{0}) == mntns && e.value("syscall", "") == "mount") mounts.push_back(e);
  ASSERT_EQ(mounts.size(), 1u) << "one failing mount(2) in the container's namespace";
  const json& e = mounts[0];
  EXPECT_NE(e["mntns"].get<uint64_t>(), host_mntns());
  EXPECT_EQ(e["comm"], "mount");
  EXPECT_EQ(e["errno"], "ENOSPC");
  EXPECT_EQ(e["mnt_count"], limit) << "count_mounts() fails once the namespace holds fs.mount-max mounts";
  ASSERT_TRUE(e["container"].is_object()) << e.dump(2);
  EXPECT_EQ(e["container"]["runtime"], "podman");
  EXPECT_EQ(e["container"]["id"], cid);
  EXPECT_EQ(e["cause"]["id"], "mount_max") << e["cause"].dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["mount_max"], limit) << e["cause"].dump(2);
  EXPECT_EQ(e["cause"]["evidence"]["mntns"], mntns);
}

}  // namespace
}  // namespace enospcd::testing
