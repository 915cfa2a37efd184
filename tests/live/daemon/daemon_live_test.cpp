// The daemon as an operator runs it: real failures, queried over the Unix socket with curl and enospcctl,
// surviving kill -9, storms, and its own full disk.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <set>
#include <thread>

#include "live/daemon/daemon_harness.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string_view trim_ws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n')) v.remove_suffix(1);
  return v;
}


// Fails `n` touches on a fresh tmpfs with nr_inodes=`inodes`; returns the failing paths.
std::set<std::string> touch_until_full(const TmpfsMount& mnt, int inodes, int n) {
  std::set<std::string> failed;
  for (int i = 1; i <= inodes - 1 + n; i++) {
    std::string p = mnt.path() + "/f" + std::to_string(i);
    if (run({"touch", p}).exit_code != 0) failed.insert(p);
  }
  return failed;
}

uint64_t top_count_for(const json& top, const std::set<uint32_t>& pids) {
  uint64_t n = 0;
  for (const auto& r : top.value("top", json::array()))
    if (pids.count(r["pid"].get<uint32_t>())) n += r["count"].get<uint64_t>();
  return n;
}

// The cgroup v2 mount point ("" when there is none).
std::string cgroup2_mount() {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    auto dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream in(line.substr(0, dash));
    std::string id, parent, devno, root, mp;
    in >> id >> parent >> devno >> root >> mp;
    return mp;
  }
  return "";
}

// A Kubernetes node as far as enospcd looks at one: a pod's container cgroup as the kubelet (systemd driver) and
// containerd make it, and the kubelet's log directories under the host root. A process in that cgroup fails;
// the event, top, the metrics, journald's fields and enospcctl name it by namespace, pod and container.
TEST(DaemonLive, KubernetesPodNamedFromTheKubeletsDirectories) {
  ENOSPCD_REQUIRE_ROOT();
  std::string cg = cgroup2_mount();
  if (cg.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  const std::string uid = "5e3c2b1a-9f8e-4d7c-b6a5-" + std::to_string(100000000000 + getpid());
  std::string uid_ = uid;
  std::replace(uid_.begin(), uid_.end(), '-', '_');
  const std::string id = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0" + std::to_string(1000 + getpid() % 9000);
  ASSERT_EQ(id.size(), 64u);
  std::vector<std::string> dirs = {cg + "/kubepods.slice", cg + "/kubepods.slice/kubepods-besteffort.slice",
                                   cg + "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid_ +
                                       ".slice"};
  dirs.push_back(dirs.back() + "/cri-containerd-" + id + ".scope");
  struct CgroupDirs {
    std::vector<std::string> made;
    ~CgroupDirs() {
      for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
    }
  } cleanup;
  for (const auto& d : dirs) {
    if (::mkdir(d.c_str(), 0755) == 0) cleanup.made.push_back(d);
    else ASSERT_EQ(errno, EEXIST) << d << ": " << std::strerror(errno);
  }
  TempDir host;
  std::filesystem::create_directories(host.path() + "/var/log/containers");
  std::filesystem::create_directories(host.path() + "/var/log/pods/shop_web-7d9f-x2k_" + uid + "/nginx");
  std::filesystem::create_symlink("/var/log/pods/shop_web-7d9f-x2k_" + uid + "/nginx/0.log",
                                  host.path() + "/var/log/containers/web-7d9f-x2k_shop_nginx-" + id + ".log");
  TmpfsMount mnt("nr_inodes=4");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d({"--host-root", host.path()});
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  // touch runs in the container's cgroup and is gone before the daemon looks: only the cgroup's leaf name,
  // recorded in BPF, and its id are left to go by.
  auto r = run({"sh", "-c", "echo $$ >" + dirs.back() + "/cgroup.procs && for i in 1 2 3 4 5 6; do touch " +
                                mnt.path() + "/f$i 2>/dev/null; done; true"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::this_thread::sleep_for(500ms);

  json ev = d.get("/v1/events?comm=touch&limit=1000");
  size_t mine = 0;
  for (const auto& e : ev["events"]) {
    if (e.value("path", "").rfind(mnt.path() + "/", 0) != 0) continue;
    mine++;
    const json& c = e["container"];
    ASSERT_TRUE(c.is_object()) << e.dump(1);
    EXPECT_EQ(c.value("id", ""), id);
    EXPECT_EQ(c.value("name", ""), "nginx") << c.dump();
    EXPECT_EQ(c.value("pod", ""), "web-7d9f-x2k") << c.dump();
    EXPECT_EQ(c.value("namespace", ""), "shop") << c.dump();
  }
  EXPECT_EQ(mine, 3u) << ev.dump(1);
  EXPECT_EQ(d.get("/v1/events?container=shop/web-7d9f-x2k/nginx&limit=1000")["events"].size(), mine);
  std::string metrics = d.get_text("/metrics");
  EXPECT_NE(metrics.find("cause=\"tmpfs_inodes\",namespace=\"shop\",pod=\"web-7d9f-x2k\",container=\"nginx\"} 3"),
            std::string::npos)
      << metrics;
  auto top = run({ctl_binary(), "--socket", d.sock, "-o", "wide", "top", "--container", "shop/web-7d9f-x2k"});
  EXPECT_EQ(top.exit_code, 0) << top.out;
  EXPECT_NE(top.out.find("shop/web-7d9f-x2k/nginx"), std::string::npos) << top.out;
  EXPECT_EQ(d.proc->stop(SIGTERM, 1000ms), 0);
}

// Events as a log collector reads them: one JSON object per line in the --events-file, the same events the API
// lists (ids, paths, causes), 0600; SIGHUP after an outside rename (logrotate) starts a new file.
TEST(DaemonLive, EventsFileHoldsEveryEventAsOneJsonLine) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=8");
  ASSERT_TRUE(mnt.ok());
  TempDir out;
  std::string file = out.path() + "/events.ndjson";
  RunningDaemon d({"--events-file", file});
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  auto failed = touch_until_full(mnt, 8, 5);
  ASSERT_EQ(failed.size(), 5u);
  auto lines = [&](const std::string& path) {
    std::vector<json> v;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
      json j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not one JSON object: " << line;
      if (!j.is_discarded() && failed.count(j.value("path", ""))) v.push_back(j);
    }
    return v;
  };
  std::vector<json> got;
  for (int i = 0; i < 50 && got.size() < failed.size(); i++) {
    std::this_thread::sleep_for(100ms);
    got = lines(file);
  }
  ASSERT_EQ(got.size(), failed.size());
  json api = d.get("/v1/events?comm=touch&limit=1000");
  std::map<std::string, json> by_id;
  for (const auto& e : api["events"]) by_id[e["id"].get<std::string>()] = e;
  for (const auto& e : got) {
    ASSERT_TRUE(e["id"].is_string()) << e.dump();
    ASSERT_TRUE(by_id.count(e["id"].get<std::string>())) << "not listed by the API: " << e.dump();
    EXPECT_EQ(e, by_id[e["id"].get<std::string>()]);
    EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes");
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  json status = d.get("/v1/status");
  ASSERT_EQ(status["sinks"].size(), 1u) << status["sinks"];
  EXPECT_EQ(status["sinks"][0]["kind"], "ndjson");
  EXPECT_GE(status["sinks"][0]["written"].get<int>(), 5);

  ASSERT_EQ(::rename(file.c_str(), (file + ".1").c_str()), 0);
  ASSERT_EQ(kill(d.proc->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(500ms);
  TmpfsMount more("nr_inodes=4");
  ASSERT_TRUE(more.ok());
  failed = touch_until_full(more, 4, 2);
  got.clear();
  for (int i = 0; i < 50 && got.size() < failed.size(); i++) {
    std::this_thread::sleep_for(100ms);
    got = lines(file);
  }
  EXPECT_EQ(got.size(), failed.size()) << "nothing written to the reopened file";
  EXPECT_EQ(d.proc->stop(SIGTERM, 1000ms), 0);
}

// The --once JSON report as jq and JavaScript read it: integers beyond 2^53 (kernel.shmall's default, which
// every event's IPC namespace carries) are strings of digits, as in the API, never numbers a double rounds.
TEST(DaemonLive, OnceJsonReportKeepsLargeIntegersExact) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=4");
  ASSERT_TRUE(mnt.ok());
  DaemonProcess d({daemon_binary(), "--once", "--duration", "60s", "-o", "json", "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  ASSERT_EQ(touch_until_full(mnt, 4, 2).size(), 2u);
  std::this_thread::sleep_for(300ms);
  json report = stop_for_report(d);
  ASSERT_TRUE(report.contains("events")) << report.dump().substr(0, 2000);
  std::function<void(const json&, const std::string&)> exact = [&](const json& j, const std::string& where) {
    if (j.is_number_unsigned()) {
      EXPECT_LE(j.get<uint64_t>(), uint64_t{1} << 53) << where;
    } else if (j.is_number_integer()) {
      EXPECT_LE(std::abs(j.get<int64_t>()), int64_t{1} << 53) << where;
    } else if (j.is_object()) {
      for (const auto& [k, v] : j.items()) exact(v, where + "." + k);
    } else if (j.is_array()) {
      for (std::size_t i = 0; i < j.size(); i++) exact(j[i], where + "[" + std::to_string(i) + "]");
    }
  };
  exact(report, "$");
  size_t checked = 0;
  for (const auto& e : report["events"]) {
    if (e.value("path", "").rfind(mnt.path() + "/", 0) != 0 || !e.contains("ipcns")) continue;
    const json& shmall = e["ipcns"]["shmall"];
    uint64_t v = shmall.is_string() ? std::stoull(shmall.get<std::string>()) : shmall.get<uint64_t>();
    if (v > (uint64_t{1} << 53)) {
      EXPECT_TRUE(shmall.is_string()) << shmall;
      checked++;
    }
  }
  std::ifstream f("/proc/sys/kernel/shmall");
  uint64_t host_shmall = 0;
  f >> host_shmall;
  if (host_shmall > (uint64_t{1} << 53)) {
    EXPECT_EQ(checked, 2u) << "kernel.shmall is " << host_shmall;
  }
}

TEST(DaemonLive, ApiServesLiveFailuresWithExactCounts) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=16");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d;
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  auto failed = touch_until_full(mnt, 16, 15);
  ASSERT_EQ(failed.size(), 15u);
  std::this_thread::sleep_for(300ms);

  json ev = d.get("/v1/events?comm=touch&limit=1000");
  std::set<std::string> paths;
  std::set<uint32_t> pids;
  for (const auto& e : ev["events"])
    if (failed.count(e["path"])) {
      paths.insert(e["path"]);
      pids.insert(e["pid"].get<uint32_t>());
      EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes");
      EXPECT_NE(e["cause"]["summary"].get<std::string>().find("16 inodes"), std::string::npos) << e["cause"];
    }
  EXPECT_EQ(paths, failed);
  EXPECT_EQ(top_count_for(d.get("/v1/top?comm=touch&limit=10000"), pids), 15u);

  json one = d.get("/v1/events/" + ev["events"][0]["id"].get<std::string>());
  EXPECT_EQ(one["id"], ev["events"][0]["id"]);

  json diag = d.get("/v1/diagnosis");
  bool found = false;
  for (const auto& c : diag["causes"])
    if (c["cause"] == "tmpfs_inodes") {
      found = true;
      EXPECT_GE(c["count"].get<int>(), 15);
    }
  EXPECT_TRUE(found) << diag.dump();

  std::string metrics = d.get_text("/metrics");
  EXPECT_NE(metrics.find("enospcd_failures_total{syscall=\"openat\",errno=\"ENOSPC\",cause=\"tmpfs_inodes\""),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("pid="), std::string::npos);

  auto ctl = run({ctl_binary(), "--socket", d.sock, "events", "--comm", "touch", "-o", "wide"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.out;
  EXPECT_NE(ctl.out.find(*failed.begin()), std::string::npos) << ctl.out;
  auto ctl_json = run({ctl_binary(), "--socket", d.sock, "-o", "json", "status"});
  EXPECT_EQ(json::parse(ctl_json.out)["gate"]["mode"], "tp_btf");
  EXPECT_EQ(d.proc->stop(SIGTERM, 1000ms), 0);
  EXPECT_NE(access(d.sock.c_str(), F_OK), 0) << "socket left behind";
}

TEST(DaemonLive, WatchPrintsFailuresAsTheyHappen) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d;
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  DaemonProcess watch({ctl_binary(), "--socket", d.sock, "watch", "-o", "wide"});
  std::this_thread::sleep_for(500ms);
  run({"touch", mnt.path() + "/first"});
  for (int i = 0; i < 3; i++) {
    std::string p = mnt.path() + "/late" + std::to_string(i);
    EXPECT_NE(run({"touch", p}).exit_code, 0);
    bool seen = false;
    for (int t = 0; t < 100 && !seen; t++) {
      std::this_thread::sleep_for(20ms);
      seen = watch.stdout_text().find(p) != std::string::npos;
    }
    EXPECT_TRUE(seen) << "watch did not print " << p << " within 2 s:\n" << watch.stdout_text();
  }
  watch.stop(SIGINT);
}

TEST(DaemonLive, KillNineAndRestartKeepsReportedEvents) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=4");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d;
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  auto failed = touch_until_full(mnt, 4, 5);
  ASSERT_EQ(failed.size(), 5u);
  std::this_thread::sleep_for(300ms);
  std::set<uint64_t> ids;
  std::set<uint32_t> pids;
  json fetched1 = d.get("/v1/events?comm=touch&limit=1000");
  for (const auto& e : fetched1["events"])
    if (failed.count(e["path"])) ids.insert(std::stoull(e["id"].get<std::string>())), pids.insert(e["pid"].get<uint32_t>());
  ASSERT_EQ(ids.size(), 5u);
  std::this_thread::sleep_for(1500ms);  // the journal flushes at least once a second
  // The daemon's programs, by id, from the fdinfo of its BPF fds (other tracers may run on the host).
  std::set<std::string> prog_ids;
  std::string fdinfo = "/proc/" + std::to_string(d.proc->pid()) + "/fdinfo";
  for (const auto& ent : std::filesystem::directory_iterator(fdinfo)) {
    std::ifstream in(ent.path());
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("prog_id:", 0) == 0) prog_ids.insert(std::string(trim_ws(line.substr(8))));
  }
  ASSERT_FALSE(prog_ids.empty()) << "no BPF program fds found in " << fdinfo;
  d.proc->stop(SIGKILL);
  // Links are owned by the process's fds and nothing is pinned: a crash leaves nothing attached.
  std::set<std::string> left = prog_ids;
  for (int i = 0; i < 100 && !left.empty(); i++) {
    std::this_thread::sleep_for(20ms);
    for (auto it = left.begin(); it != left.end();)
      it = run({"bpftool", "prog", "show", "id", *it}).exit_code != 0 ? left.erase(it) : std::next(it);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " of the daemon's BPF programs still loaded after kill -9";

  d.start();
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  std::set<uint64_t> after;
  json fetched2 = d.get("/v1/events?comm=touch&limit=1000");
  for (const auto& e : fetched2["events"]) after.insert(std::stoull(e["id"].get<std::string>()));
  for (uint64_t id : ids) EXPECT_TRUE(after.count(id)) << "event " << id << " lost across kill -9";
  EXPECT_EQ(top_count_for(d.get("/v1/top?limit=10000"), pids), 5u) << "counts lost across kill -9";
  // Each count keeps the cause of its latest event: the counter book saves them together.
  EXPECT_EQ(top_count_for(d.get("/v1/top?cause=tmpfs_inodes&limit=10000"), pids), 5u) << "causes lost across kill -9";
  // New events get ids above the restored ones.
  run({"touch", mnt.path() + "/again"});
  std::this_thread::sleep_for(300ms);
  json latest_all = d.get("/v1/events?limit=1");
  json latest = latest_all["events"];
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_GT(std::stoull(latest[0]["id"].get<std::string>()), *ids.rbegin());
}

// A runaway process: exact counts in the kernel, a bounded event rate, every suppressed event counted,
// and another process's failure still reported during the storm.

// Memory after a burst of large queries: 4 clients read every event, 3 times over, at once; up to 12 more
// ask for them and hang up without reading. Once they are gone the daemon is back near its idle RSS with the same
// events held (a burst once left an idle daemon at 709 MB).
TEST(DaemonLive, MemoryGoesBackAfterABurstOfLargeQueries) {
  ENOSPCD_REQUIRE_ROOT();
  if (!kRssIsMeaningful) GTEST_SKIP() << "AddressSanitizer build: its quarantine and shadow memory make RSS meaningless";
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d({"--rate-limit", "1000000", "--rate-burst", "1000000", "--history", "10000"});
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  run({"touch", mnt.path() + "/only"});
  const uint64_t stored = fill_with_events(d, mnt.path() + "/burst-of-failures-with-a-long-name-" + std::string(100, 'x'), 3000);
  ASSERT_GE(stored, 2500u) << d.get("/v1/status").dump();
  const pid_t pid = d.proc->pid();
  // The first large answer's one-time allocations are not the burst's.
  const size_t answer = d.get_text("/v1/events?limit=10000").size();
  // The silent clients' answers stay within the daemon's 64 MiB for unread answers, the readers' on top.
  const size_t silent_clients = std::clamp<size_t>((size_t{40} << 20) / answer, 2, 12);
  std::this_thread::sleep_for(1s);  // what that answer took is given back within a tick
  const uint64_t idle = rss_kib(pid);
  ASSERT_GT(idle, 0u);

  std::vector<std::thread> readers;
  std::atomic<int> complete{0};
  std::mutex short_mu;
  std::string short_answer;
  for (int c = 0; c < 4; c++) {
    readers.emplace_back([&] {
      for (int r = 0; r < 3; r++) {
        std::string body = d.get_text("/v1/events?limit=10000");
        if (body.size() > stored * 200) {
          complete++;
        } else {
          std::lock_guard lk(short_mu);
          short_answer = body.substr(0, 300);
        }
      }
    });
  }
  std::vector<int> silent;
  for (size_t c = 0; c < silent_clients; c++) {
    int fd = connect_unix(d.sock);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_TRUE(send_all(fd, "GET /v1/events?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n"));
    silent.push_back(fd);
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(complete.load(), 12) << "every reader gets every event: " << short_answer;
  for (int fd : silent) close(fd);
  uint64_t unsent = 1;
  for (int i = 0; i < 100 && unsent != 0; i++) {
    std::this_thread::sleep_for(50ms);
    json st = d.get("/v1/status");
    unsent = st["api"].value("large_answers_waiting", uint64_t{1});
  }
  std::this_thread::sleep_for(500ms);  // the last silent connection's answer is released when MHD closes it
  const uint64_t peak = rss_kib(pid, "VmHWM:"), after = rss_kib(pid);
  std::printf("RSS with %llu events: idle %llu KiB, peak %llu KiB, after the burst %llu KiB\n",
              static_cast<unsigned long long>(stored), static_cast<unsigned long long>(idle),
              static_cast<unsigned long long>(peak), static_cast<unsigned long long>(after));
  EXPECT_GT(peak, idle + 20 * 1024) << "the burst did not hold large answers: idle " << idle << " KiB, peak " << peak;
  EXPECT_LT(after, idle + 16 * 1024) << "idle " << idle << " KiB, peak " << peak << " KiB, after " << after << " KiB";
  EXPECT_EQ(d.proc->stop(SIGTERM, 2000ms), 0);
}

TEST(DaemonLive, StormCountsExactlyAndRateLimitsEvents) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d({"--rate-limit", "100", "--rate-burst", "100"});
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  run({"touch", mnt.path() + "/only"});
  constexpr int kFailures = 200000;
  std::string target = mnt.path() + "/storm";
  auto t0 = std::chrono::steady_clock::now();
  pid_t child = fork();
  if (child == 0) {
    int failures = 0;
    for (int i = 0; i < kFailures; i++)
      if (open(target.c_str(), O_CREAT | O_WRONLY, 0644) < 0 && errno == ENOSPC) failures++;
    _exit(failures == kFailures ? 0 : 1);
  }
  std::this_thread::sleep_for(100ms);
  std::string bystander = mnt.path() + "/bystander";
  EXPECT_NE(run({"touch", bystander}).exit_code, 0);
  int status = 0;
  waitpid(child, &status, 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the storm did not fail every time";
  std::this_thread::sleep_for(500ms);

  json top = d.get("/v1/top?pid=" + std::to_string(child));
  ASSERT_EQ(top["top"].size(), 1u) << top.dump();
  EXPECT_EQ(top["top"][0]["count"], kFailures);
  uint64_t suppressed = top["top"][0]["suppressed"].get<uint64_t>();
  json events = d.get("/v1/events?pid=" + std::to_string(child) + "&limit=10000");
  uint64_t emitted = events["events"].size();
  EXPECT_EQ(emitted + suppressed, static_cast<uint64_t>(kFailures));
  EXPECT_LE(emitted, static_cast<uint64_t>(100 + 100 * (secs + 1)));
  EXPECT_GE(d.get("/v1/status")["counters"]["losses"]["rate_limited"].get<uint64_t>(), suppressed);
  bool bystander_seen = false;
  json fetched3 = d.get("/v1/events?comm=touch&limit=100");
  for (const auto& e : fetched3["events"]) bystander_seen |= e["path"] == bystander;
  EXPECT_TRUE(bystander_seen) << "a failure of another process during the storm was not reported";

  // Daemon CPU for the storm, from /proc/<pid>/stat utime+stime.
  std::ifstream st("/proc/" + std::to_string(d.proc->pid()) + "/stat");
  std::string statline((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
  auto rp = statline.rfind(')');
  std::istringstream rest(statline.substr(rp + 2));
  std::vector<std::string> f((std::istream_iterator<std::string>(rest)), std::istream_iterator<std::string>());
  double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::printf("storm: %d failures in %.2f s (%.0f/s), %llu events, %llu suppressed, daemon CPU %.3f s\n", kFailures,
              secs, kFailures / secs, static_cast<unsigned long long>(emitted),
              static_cast<unsigned long long>(suppressed), cpu);
}

// The journal's filesystem is full: the daemon keeps tracing and serving, says so, never traces its own
// ENOSPC, and recovers by itself when space returns.
TEST(DaemonLive, OwnFullDiskDegradesAndRecovers) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4 state_fs(8);
  ASSERT_TRUE(state_fs.ok());
  std::string filler = state_fs.path() + "/filler";
  // Big blocks first, then 1 KiB writes for what ext4 still hands out in small pieces.
  sh("dd if=/dev/zero of=" + filler + " bs=1M count=64 2>/dev/null; dd if=/dev/zero of=" + filler +
     "2 bs=1k 2>/dev/null; sync");
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d({}, state_fs.path() + "/state");
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  for (int i = 0; i < 5; i++) run({"touch", mnt.path() + "/x" + std::to_string(i)});
  std::this_thread::sleep_for(1500ms);
  json status = d.get("/v1/status");
  ASSERT_TRUE(status.contains("degraded")) << d.proc->stderr_text();
  EXPECT_TRUE(status["degraded"].get<bool>()) << status.dump();
  EXPECT_NE(d.get_text("/metrics").find("enospcd_degraded 1"), std::string::npos);
  EXPECT_GE(d.get("/v1/events?comm=touch")["events"].size(), 4u) << "not serving from memory";
  json fetched4 = d.get("/v1/events?limit=10000");
  for (const auto& e : fetched4["events"])
    EXPECT_NE(e["pid"].get<int>(), d.proc->pid()) << "the daemon traced its own failure";
  std::string log = d.proc->stderr_text();
  size_t degraded_lines = 0;
  for (size_t pos = 0; (pos = log.find("degraded", pos)) != std::string::npos; pos++) degraded_lines++;
  EXPECT_LE(degraded_lines, 2u) << log;

  unlink(filler.c_str());
  unlink((filler + "2").c_str());
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; i++) {
    std::this_thread::sleep_for(200ms);
    recovered = !d.get("/v1/status")["degraded"].get<bool>();
  }
  EXPECT_TRUE(recovered) << "still degraded 10 s after space returned";
  EXPECT_EQ(d.proc->stop(SIGTERM, 1000ms), 0);
}

TEST(DaemonLive, BadConfigurationIsOneClearErrorAndNoHalfStart) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  } cases[] = {
      {{"--state-dir", "/proc/enospcd-cannot-exist"}, "/proc/enospcd-cannot-exist"},
      {{"--rate-limit", "0"}, "rate-limit"},
      {{"--errno", "ENOTREAL"}, "ENOTREAL"},
      {{"--no-such-flag"}, "no-such-flag"},
      {{"--metrics-listen", "10.1.2.3:9633"}, "loopback"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {daemon_binary(), "--socket", dir.path() + "/s.sock"};
    if (c.args[0] != "--state-dir") argv.insert(argv.end(), {"--state-dir", dir.path() + "/state"});
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv);
    EXPECT_NE(r.exit_code, 0) << c.args[0];
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  }
  // A second daemon on a live socket refuses to start.
  RunningDaemon first;
  ASSERT_TRUE(first.ready()) << first.proc->stderr_text();
  auto second = run({daemon_binary(), "--socket", first.sock, "--state-dir", dir.path() + "/state2", "--no-origins"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.out.find(first.sock), std::string::npos) << second.out;
  // Nor does one on another socket with the first one's state directory: two would delete each other's journal.
  auto third = run({daemon_binary(), "--socket", dir.path() + "/third.sock", "--state-dir", first.state, "--no-origins"});
  EXPECT_NE(third.exit_code, 0);
  EXPECT_NE(third.out.find("state directory " + first.state + " is in use by another enospcd"), std::string::npos)
      << third.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/third.sock"));
}

TEST(DaemonLive, SighupReopensLogFile) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir logs;
  std::string log = logs.path() + "/enospcd.log";
  // An existing log file of mode 0644 is made 0600: the log names other users' processes and paths.
  ASSERT_EQ(close(open(log.c_str(), O_WRONLY | O_CREAT, 0644)), 0);
  ASSERT_EQ(chmod(log.c_str(), 0644), 0);
  RunningDaemon d({"--log-file", log});
  // Readiness is logged to the file, not stderr: wait for the socket instead.
  bool up = false;
  for (int i = 0; i < 200 && !up; i++) std::this_thread::sleep_for(25ms), up = access(d.sock.c_str(), F_OK) == 0;
  ASSERT_TRUE(up) << d.proc->stderr_text();
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  kill(d.proc->pid(), SIGHUP);
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; i++) {
    std::this_thread::sleep_for(20ms);
    std::ifstream in(log);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    reopened = s.find("reopened log file") != std::string::npos;
  }
  EXPECT_TRUE(reopened);
  struct stat st{};
  for (const std::string& f : {log + ".1", log}) {
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_EQ(d.proc->stop(SIGTERM, 1000ms), 0);
}

}  // namespace
}  // namespace enospcd::testing
