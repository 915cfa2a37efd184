// Soak: the daemon, as deployed (daemon mode, default rate limit, journal, API), under a storm that does not
// stop for --soak-duration (an hour by default). The failing processes are replaced every --soak-churn-ms, so
// pids come and go the way they do on a busy host and every per-process structure has to expire its entries.
// Every --soak-sample-s the daemon's memory, CPU, BPF maps, journal and counters are sampled, and the API is
// queried. At the end the daemon's count must equal the workers' own to the last failure.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "bench.h"

namespace bench {
namespace {

constexpr const char* kWorkerComm = "enospc-soak";

struct SoakShared {
  std::atomic<uint64_t> enospc;  // failures of every worker so far, added in batches
  std::atomic<uint64_t> other;
};

// Fails open(O_CREAT) and mkdir() with ENOSPC on the full tmpfs at dir until deadline, then exits. In a cgroup
// of their own (cgroup_procs, when there is a cgroup v2 hierarchy), the workers' counters stay apart from
// other processes' even after the daemon folds exited pids together.
[[noreturn]] void soak_worker(SoakShared* sh, const std::string& dir, const std::string& cgroup_procs,
                              Clock::time_point deadline) {
  prctl(PR_SET_NAME, kWorkerComm);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!cgroup_procs.empty()) {
    int fd = open(cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(3);
    close(fd);
  }
  std::string file = dir + "/f", sub = dir + "/d";
  while (Clock::now() < deadline) {
    uint64_t n = 0, other = 0;
    for (int k = 0; k < 512; k++) {
      int r = k & 1 ? mkdir(sub.c_str(), 0700) : open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (r >= 0) {  // not expected on a full tmpfs; undo so the next try fails again
        if (k & 1) {
          rmdir(sub.c_str());
        } else {
          close(r);
          unlink(file.c_str());
        }
        other++;
      } else if (errno == ENOSPC) {
        n++;
      } else {
        other++;
      }
    }
    sh->enospc.fetch_add(n, std::memory_order_relaxed);
    sh->other.fetch_add(other, std::memory_order_relaxed);
  }
  _exit(0);
}

// A fresh cgroup v2 directory for the workers and its id (the inode number, as bpf_get_current_cgroup_id()
// reports it); empty when there is no writable cgroup v2 hierarchy.
std::pair<std::string, uint64_t> make_worker_cgroup() {
  for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    struct stat st {};
    std::string procs = std::string(root) + "/cgroup.procs";
    if (stat(procs.c_str(), &st) != 0 || access((std::string(root) + "/cgroup.controllers").c_str(), F_OK) != 0)
      continue;
    std::string dir = std::string(root) + "/enospcd-bench-soak-" + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) continue;
    if (stat(dir.c_str(), &st) != 0) continue;
    return {dir, st.st_ino};
  }
  return {"", 0};
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

std::optional<nlohmann::json> get_json(const Settings& s, const std::string& sock, const std::string& path) {
  int st = 0;
  std::string body = run_capture({s.curl, "-s", "--max-time", "10", "--unix-socket", sock, "http://localhost" + path},
                                 &st);
  try {
    return nlohmann::json::parse(body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

uint64_t u64(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

// Least-squares slope of y over x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
  double n = static_cast<double>(x.size()), sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); i++) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  double d = n * sxx - sx * sx;
  return d == 0 ? 0.0 : (n * sxy - sx * sy) / d;
}

}  // namespace

nlohmann::json run_soak(const Settings& s) {
  const double duration_s = s.quick ? 20.0 : s.soak_seconds;
  const double sample_s = s.quick ? 2.0 : s.soak_sample_s;
  const auto churn = std::chrono::milliseconds(s.soak_churn_ms);
  const int nworkers = s.soak_workers;
  auto dirs = make_full_tmpfs(s, "soak", nworkers);
  auto [cgroup_dir, cgroup_id] = make_worker_cgroup();
  std::string cgroup_procs = cgroup_dir.empty() ? "" : cgroup_dir + "/cgroup.procs";

  std::string dir = s.work_dir + "/daemon-soak";
  std::string sock = dir + "/enospcd.sock", state = dir + "/state";
  std::vector<std::string> argv = {s.enospcd, "--socket", sock, "--state-dir", state};
  nlohmann::json out = {{"duration_s", duration_s}, {"sample_s", sample_s}, {"churn_ms", s.soak_churn_ms},
                        {"workers", nworkers},      {"daemon_args", argv}};
  Child d;
  d.spawn(argv, {"tracing "});
  if (!d.wait_for("tracing ", std::chrono::seconds(60))) {
    for (const auto& m : dirs) umount_quiet(m);
    throw std::runtime_error("enospcd did not start: " + d.err().substr(0, 300));
  }
  auto* sh = static_cast<SoakShared*>(
      mmap(nullptr, sizeof(SoakShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sh == MAP_FAILED) throw std::runtime_error("mmap");
  new (sh) SoakShared{};

  std::vector<pid_t> live(static_cast<std::size_t>(nworkers), -1);
  uint64_t spawned = 0;
  auto respawn = [&](Clock::time_point end) {
    for (int i = 0; i < nworkers; i++) {
      auto& p = live[static_cast<std::size_t>(i)];
      if (p > 0 && waitpid(p, nullptr, WNOHANG) == 0) continue;
      p = -1;
      if (Clock::now() >= end) continue;
      pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("fork");
      if (pid == 0)
        soak_worker(sh, dirs[static_cast<std::size_t>(i)], cgroup_procs, std::min(end, Clock::now() + churn));
      p = pid;
      spawned++;
    }
  };

  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  auto next_sample = t0;
  auto cpu0 = proc_cpu(d.pid()).value_or(ProcCpu{});
  nlohmann::json samples = nlohmann::json::array();
  std::fprintf(stderr, "soak: %.0f s, sampling every %.0f s\n", duration_s, sample_s);
  while (true) {
    auto now = Clock::now();
    respawn(end);
    if (now >= next_sample || now >= end) {
      next_sample += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(sample_s));
      nlohmann::json smp = {{"t_s", std::chrono::duration<double>(now - t0).count()},
                            {"worker_failures", sh->enospc.load()},
                            {"processes_spawned", spawned}};
      if (auto m = proc_mem(d.pid())) smp["vm_rss_kb"] = m->vm_rss_kb, smp["vm_hwm_kb"] = m->vm_hwm_kb;
      if (auto c = proc_cpu(d.pid())) smp["daemon_cpu_s"] = c->total() - cpu0.total();
      uint64_t memlock = 0;
      for (const auto& m : proc_bpf_maps(d.pid())) memlock += m.memlock;
      smp["bpf_map_memlock_bytes"] = memlock;
      smp["state_dir_bytes"] = dir_bytes(state);
      if (auto st = get_json(s, sock, "/v1/status")) {
        const auto& c = (*st)["counters"];
        smp["failures_counted"] = u64(c, "failures_counted");
        smp["events_received"] = u64(c, "events_received");
        smp["events_stored"] = u64(c, "events_stored");
        smp["ringbuf_full"] = c.contains("losses") ? u64(c["losses"], "ringbuf_full") : 0;
        smp["counter_map_full"] = c.contains("losses") ? u64(c["losses"], "counter_map_full") : 0;
        smp["degraded"] = st->value("degraded", false);
        if (st->contains("journal")) smp["journal"] = (*st)["journal"];
      }
      // The API is used while the storm goes on, as an operator would.
      auto q0 = Clock::now();
      auto top = get_json(s, sock, "/v1/top");
      auto ev = get_json(s, sock, "/v1/events?limit=100");
      smp["query_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - q0).count();
      smp["top_rows"] = top && top->contains("top") ? (*top)["top"].size() : 0;
      smp["queries_ok"] = top.has_value() && ev.has_value();
      samples.push_back(smp);
      if (!s.quick && samples.size() % 30 == 1)
        std::fprintf(stderr, "soak: %5.0f s  rss %.1f MiB  failures %llu\n", smp["t_s"].get<double>(),
                     u64(smp, "vm_rss_kb") / 1024.0, static_cast<unsigned long long>(sh->enospc.load()));
      if (now >= end) break;
    }
    usleep(20000);
  }
  // Let the last workers finish, then give the daemon time to retire their counters (every 5 s) and drain.
  for (auto& p : live)
    if (p > 0) waitpid(p, nullptr, 0);
  usleep(7000000);
  uint64_t failures = sh->enospc.load(), other = sh->other.load();
  munmap(sh, sizeof(SoakShared));
  auto st = get_json(s, sock, "/v1/status");
  // The workers' rows only (their cgroup, else their name): other processes on the host may fail with ENOSPC
  // during an hour, and the daemon folds the counters of long-exited processes into pid 0.
  std::string query = "/v1/top?limit=10000";
  if (!cgroup_id) query += std::string("&comm=") + kWorkerComm;
  auto top = get_json(s, sock, query);
  uint64_t counted_workers = 0, worker_rows = 0;
  if (top && top->contains("top"))
    for (const auto& row : (*top)["top"]) {
      if (cgroup_id && u64(row, "cgroup_id") != cgroup_id) continue;
      counted_workers += u64(row, "count");
      worker_rows++;
    }
  auto cpu1 = proc_cpu(d.pid()).value_or(ProcCpu{});
  auto mem = proc_mem(d.pid()).value_or(ProcMem{});
  auto stop_t0 = Clock::now();
  int status = d.stop(SIGTERM, std::chrono::seconds(30));
  double stop_ms = std::chrono::duration<double, std::milli>(Clock::now() - stop_t0).count();
  for (const auto& m : dirs) umount_quiet(m);
  if (!cgroup_dir.empty()) rmdir(cgroup_dir.c_str());

  out["samples"] = samples;
  out["worker_cgroup"] = cgroup_dir;
  out["failures"] = failures;
  out["other_errors"] = other;
  out["processes_spawned"] = spawned;
  out["failures_counted"] = counted_workers;
  out["worker_top_rows"] = worker_rows;
  out["failures_counted_host"] = st ? u64((*st)["counters"], "failures_counted") : 0;
  out["exact"] = top.has_value() && counted_workers == failures;
  out["daemon_cpu_s"] = cpu1.total() - cpu0.total();
  out["daemon_cpu_ms_per_100k"] = failures ? (cpu1.total() - cpu0.total()) * 1e3 * 1e5 / double(failures) : 0.0;
  out["vm_rss_kb_end"] = mem.vm_rss_kb;
  out["vm_hwm_kb_end"] = mem.vm_hwm_kb;
  out["exit_status"] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  out["stop_ms"] = stop_ms;
  if (st) out["status_end"] = *st;

  // Flatness: the least-squares slope of RSS after the first tenth of the run (start-up and the first
  // fill of the event store), in MiB per hour.
  std::vector<double> x, y;
  for (const auto& smp : samples) {
    double t = smp.value("t_s", 0.0);
    if (t < duration_s / 10 || !smp.contains("vm_rss_kb")) continue;
    x.push_back(t / 3600.0);
    y.push_back(smp["vm_rss_kb"].get<double>() / 1024.0);
  }
  if (x.size() >= 3) {
    out["rss_slope_mib_per_hour"] = slope(x, y);
    out["rss_after_warmup"] = to_json(summarize(y));
  }
  return out;
}

}  // namespace bench
