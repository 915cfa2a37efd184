// Storm and memory: N processes fail open(O_CREAT) with ENOSPC on a full tmpfs as fast as they can, with no
// tracer, then under the daemon with its default rate limit and with the rate limit lifted. The workers count
// their own failures; the daemon's exact in-kernel counters must agree to the last one. The daemon's CPU and
// memory are read from /proc before and after.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "bench.h"

namespace bench {

struct StormShared {
  std::atomic<uint64_t> enospc[256];
  std::atomic<uint64_t> other[256];
  std::atomic<int> go, stop, done, release;
};

namespace {

constexpr int kMaxWorkers = 256;
constexpr const char* kWorkerComm = "enospc-storm";

[[noreturn]] void worker(StormShared* sh, int i, const std::string& path) {
  prctl(PR_SET_NAME, kWorkerComm);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  while (!sh->go.load(std::memory_order_acquire)) usleep(100);
  uint64_t n = 0, other = 0;
  while (!sh->stop.load(std::memory_order_relaxed)) {
    for (int k = 0; k < 256; k++) {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) {  // not expected on a full tmpfs; undo so the next try fails again
        close(fd);
        unlink(path.c_str());
        other++;
      } else if (errno == ENOSPC) {
        n++;
      } else {
        other++;
      }
    }
    sh->enospc[i].store(n, std::memory_order_relaxed);
    sh->other[i].store(other, std::memory_order_relaxed);
  }
  sh->enospc[i].store(n, std::memory_order_release);
  sh->other[i].store(other, std::memory_order_release);
  sh->done.fetch_add(1, std::memory_order_acq_rel);
  // Stay alive until released, so the daemon can still read /proc/<pid> for the events it has queued.
  while (!sh->release.load(std::memory_order_acquire)) usleep(1000);
  _exit(0);
}

struct StormResult {
  std::vector<pid_t> pids;
  std::vector<uint64_t> per_worker;
  uint64_t total = 0, other = 0;
  double seconds = 0;
  double worker_cpu_s = 0;  // user+system time of all workers, known after release()
  StormShared* shared = nullptr;
};

// Lets the workers exit and reaps them.
void release(StormResult& r) {
  if (!r.shared) return;
  r.shared->release.store(1, std::memory_order_release);
  for (pid_t p : r.pids) {
    rusage ru{};
    int st = 0;
    wait4(p, &st, 0, &ru);
    r.worker_cpu_s += static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  munmap(r.shared, sizeof(StormShared));
  r.shared = nullptr;
}

// Runs the workers until `target` failures in total or `cap` elapsed.
StormResult storm(const std::vector<std::string>& full_dirs, int nworkers, uint64_t target,
                  std::chrono::milliseconds cap) {
  auto* sh = static_cast<StormShared*>(
      mmap(nullptr, sizeof(StormShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sh == MAP_FAILED) throw std::runtime_error("mmap");
  new (sh) StormShared{};
  StormResult r;
  for (int i = 0; i < nworkers; i++) {
    std::string path = full_dirs[static_cast<std::size_t>(i)] + "/w";
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) worker(sh, i, path);
    r.pids.push_back(pid);
  }
  usleep(20000);
  auto t0 = Clock::now();
  sh->go.store(1, std::memory_order_release);
  while (Clock::now() - t0 < cap) {
    uint64_t sum = 0;
    for (int i = 0; i < nworkers; i++) sum += sh->enospc[i].load(std::memory_order_relaxed);
    if (sum >= target) break;
    usleep(2000);
  }
  sh->stop.store(1, std::memory_order_release);
  while (sh->done.load(std::memory_order_acquire) < nworkers) usleep(200);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int i = 0; i < nworkers; i++) {
    r.per_worker.push_back(sh->enospc[i].load());
    r.total += sh->enospc[i].load();
    r.other += sh->other[i].load();
  }
  r.shared = sh;
  return r;
}

nlohmann::json memory_json(pid_t pid) {
  nlohmann::json j;
  if (auto m = proc_mem(pid)) j = {{"vm_rss_kb", m->vm_rss_kb}, {"vm_hwm_kb", m->vm_hwm_kb}};
  uint64_t total = 0;
  nlohmann::json maps = nlohmann::json::array();
  for (const auto& m : proc_bpf_maps(pid)) {
    total += m.memlock;
    maps.push_back({{"name", m.name}, {"type", m.type}, {"max_entries", m.max_entries}, {"memlock", m.memlock}});
  }
  j["bpf_maps"] = maps;
  j["bpf_map_memlock_bytes"] = total;
  return j;
}

// Waits until the daemon's CPU time stops growing: it has drained what the storm left in the ring buffer.
ProcCpu wait_idle(pid_t pid) {
  auto prev = proc_cpu(pid).value_or(ProcCpu{});
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    usleep(300000);
    auto cur = proc_cpu(pid).value_or(ProcCpu{});
    if (cur.total() == prev.total()) return cur;
    prev = cur;
  }
  return prev;
}

}  // namespace

nlohmann::json run_storm(const Settings& s) {
  int nworkers = s.storm_workers > 0 ? s.storm_workers : 2 * static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (nworkers > kMaxWorkers) nworkers = kMaxWorkers;
  uint64_t target = s.quick ? 100000 : s.storm_failures;
  // One full tmpfs per worker, so that the workers do not contend for one superblock's inode accounting lock
  // (which would make their CPU time per failure measure lock spinning).
  auto full = make_full_tmpfs(s, "full", nworkers);

  nlohmann::json out;
  out["workers"] = nworkers;
  out["target_failures"] = target;
  out["runs"] = nlohmann::json::array();

  struct Run {
    std::string key, label;
    std::vector<std::string> args;  // daemon arguments; empty key "untraced" runs without a daemon
  };
  std::vector<Run> runs = {
      {"untraced", "no tracer", {}},
      {"default", "enospcd, default rate limit (200 events/s per key, burst 200)", {}},
      {"unlimited", "enospcd, rate limit lifted (every failure sent as an event)",
       {"--rate-limit", "1000000", "--rate-burst", "10000000"}},
  };
  auto cap = std::chrono::seconds(s.quick ? 5 : 20);
  for (const auto& run : runs) {
    std::fprintf(stderr, "storm: %s\n", run.label.c_str());
    nlohmann::json jr = {{"key", run.key}, {"label", run.label}};
    if (run.key == "untraced") {
      auto r = storm(full, nworkers, target, cap);
      release(r);
      jr["failures"] = r.total;
      jr["seconds"] = r.seconds;
      jr["failures_per_s"] = static_cast<double>(r.total) / r.seconds;
      jr["worker_cpu_ns_per_failure"] = r.worker_cpu_s * 1e9 / static_cast<double>(r.total);
      out["runs"].push_back(jr);
      continue;
    }
    std::vector<std::string> argv = {s.enospcd, "--once", "--duration", "1h", "-o", "json", "--events", "0",
                                     "--no-origins"};
    argv.insert(argv.end(), run.args.begin(), run.args.end());
    for (const auto& a : daemon_scratch_args(s, "storm-" + run.key)) argv.push_back(a);
    Child d;
    d.spawn(argv, {"tracing "});
    if (!d.wait_for("tracing ", std::chrono::seconds(60))) {
      jr["error"] = "enospcd did not start: " + d.err().substr(0, 500);
      d.stop(SIGKILL);
      out["runs"].push_back(jr);
      continue;
    }
    usleep(1000000);
    jr["daemon_args"] = argv;
    jr["memory_idle"] = memory_json(d.pid());
    auto cpu0 = proc_cpu(d.pid()).value_or(ProcCpu{});
    auto r = storm(full, nworkers, target, cap);
    auto cpu1 = wait_idle(d.pid());
    jr["memory_after"] = memory_json(d.pid());
    release(r);
    int status = d.stop(SIGINT, std::chrono::seconds(30));
    jr["failures"] = r.total;
    jr["other_errors"] = r.other;
    jr["seconds"] = r.seconds;
    jr["failures_per_s"] = static_cast<double>(r.total) / r.seconds;
    jr["worker_cpu_ns_per_failure"] = r.worker_cpu_s * 1e9 / static_cast<double>(r.total);
    double cpu_s = cpu1.total() - cpu0.total();
    jr["daemon_cpu_s"] = cpu_s;
    jr["daemon_cpu_ms_per_100k"] = r.total ? cpu_s * 1e3 * 1e5 / static_cast<double>(r.total) : 0.0;
    try {
      auto rep = nlohmann::json::parse(d.out());
      const auto& c = rep["status"]["counters"];
      uint64_t counted_workers = 0, suppressed_workers = 0;
      std::map<uint32_t, uint64_t> by_pid;
      for (const auto& row : rep["top"]) {
        auto pid = row.value("pid", 0u);
        if (std::find(r.pids.begin(), r.pids.end(), static_cast<pid_t>(pid)) == r.pids.end()) continue;
        counted_workers += row.value("count", uint64_t{0});
        suppressed_workers += row.value("suppressed", uint64_t{0});
        by_pid[pid] += row.value("count", uint64_t{0});
      }
      bool every_worker_exact = true;
      for (std::size_t i = 0; i < r.pids.size(); i++)
        if (by_pid[static_cast<uint32_t>(r.pids[i])] != r.per_worker[i]) every_worker_exact = false;
      jr["daemon"] = {{"failures_counted_all", c.value("failures_counted", uint64_t{0})},
                      {"failures_counted_workers", counted_workers},
                      {"exact", counted_workers == r.total && every_worker_exact},
                      {"exactness_pct", r.total ? 100.0 * static_cast<double>(counted_workers) /
                                                      static_cast<double>(r.total)
                                                : 0.0},
                      {"events_received", c.value("events_received", uint64_t{0})},
                      {"events_stored", c.value("events_stored", uint64_t{0})},
                      {"suppressed_workers", suppressed_workers},
                      {"losses", c["losses"]}};
    } catch (const std::exception& e) {
      std::string err = d.err();
      jr["error"] = "no JSON report from enospcd (wait status " + std::to_string(status) + "): " +
                    err.substr(err.size() > 400 ? err.size() - 400 : 0);
    }
    out["runs"].push_back(jr);
  }
  for (const auto& d : full) umount_quiet(d);
  return out;
}

}  // namespace bench
