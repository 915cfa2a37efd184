// Shared pieces of the benchmark harness: statistics, child processes with watched output, /proc readers,
// scratch tmpfs mounts. Every measurement writes one JSON object; render.cpp turns them into BENCHMARKS.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string enospcd;  // path of the daemon binary
  std::string bpftrace = "bpftrace";
  std::string curl = "curl";
  std::string work_dir;  // scratch directory (tmpfs mounts are made below it)
  int rounds = 15;
  int storm_workers = 0;  // 0: twice the CPU count
  uint64_t storm_failures = 1000000;
  int startup_rounds = 5;
  int query_requests = 200;
  double soak_seconds = 3600;
  double soak_sample_s = 10;
  int soak_churn_ms = 1000;  // each soak worker process lives this long, then a new one takes over
  int soak_workers = 1;
  bool quick = false;
  std::vector<std::string> hotpath_configs;  // the hot path's configurations to run (empty: all)
};

// Arguments that keep a daemon started by the benchmark off the host's own socket and journal.
std::vector<std::string> daemon_scratch_args(const Settings& s, const std::string& tag);

// The one-liner the issue compares against, verbatim.
inline constexpr const char* kBpftraceOneLiner =
    "tracepoint:raw_syscalls:sys_exit /args->ret == -28/ { @[comm, args->id] = count(); }";

// ---- statistics ----
struct Summary {
  std::size_t n = 0;
  double median = 0, p25 = 0, p75 = 0, min = 0, max = 0;
};
double quantile(std::vector<double> v, double q);  // linear interpolation, v unsorted
Summary summarize(const std::vector<double>& v);
nlohmann::json to_json(const Summary& s);

// ---- child processes ----
// A child whose stdout and stderr are read by a background thread, which stamps the first line that contains
// each watched string, so start-up can be timed to the moment the child said it was ready.
class Child {
 public:
  Child() = default;
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Forks and execs argv; watch lists the strings whose first appearance is stamped. Throws on fork/pipe errors.
  void spawn(const std::vector<std::string>& argv, const std::vector<std::string>& watch);
  pid_t pid() const { return pid_; }
  Clock::time_point spawned_at() const { return spawned_at_; }
  // When the line containing needle was read, waiting at most timeout; nullopt on timeout or child exit.
  std::optional<Clock::time_point> wait_for(const std::string& needle, std::chrono::milliseconds timeout);
  bool alive();
  // Sends sig, waits up to grace (then SIGKILL); returns the wait status. Output is complete afterwards.
  int stop(int sig, std::chrono::milliseconds grace = std::chrono::seconds(10));
  std::string out() const;
  std::string err() const;

 private:
  void reader(int out_fd, int err_fd);
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  Clock::time_point spawned_at_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  bool eof_ = false;
  std::map<std::string, Clock::time_point> seen_;
  std::vector<std::string> watch_;
};

// ---- /proc ----
struct ProcCpu {
  double user_s = 0, sys_s = 0;
  double total() const { return user_s + sys_s; }
};
std::optional<ProcCpu> proc_cpu(pid_t pid);
struct ProcMem {
  uint64_t vm_rss_kb = 0, vm_hwm_kb = 0;
};
std::optional<ProcMem> proc_mem(pid_t pid);
// BPF maps a process holds open, from /proc/<pid>/fdinfo (deduplicated by map id), with names from the kernel.
struct MapMem {
  uint32_t id = 0;
  std::string name, type;
  uint64_t memlock = 0, max_entries = 0;
};
std::vector<MapMem> proc_bpf_maps(pid_t pid);

// Programs on the syscall tracepoints that are not in own_ids, as "name#id", sorted: raw_tp/tp_btf links on
// sys_enter/sys_exit, and every loaded perf-event tracepoint program (whose tracepoint cannot be told here).
std::vector<std::string> syscall_tracers_besides(const std::set<uint32_t>& own_ids);
std::vector<uint32_t> prog_ids_of_fds(pid_t pid = 0);  // programs a process (0: this one) holds open

// ---- scratch mounts ----
// Mounts a fresh tmpfs at dir (created if needed) with the given options; throws on failure.
void mount_tmpfs(const std::string& dir, const std::string& options);
void umount_quiet(const std::string& dir);
// n tmpfs mounts <work_dir>/<prefix><i> that are full: creating a file or directory fails with ENOSPC.
std::vector<std::string> make_full_tmpfs(const Settings& s, const std::string& prefix, int n);

std::string run_capture(const std::vector<std::string>& argv, int* status = nullptr);
nlohmann::json machine_info();

// ---- measurements; each returns its JSON section ----
nlohmann::json run_hotpath(const Settings& s);
nlohmann::json run_storm(const Settings& s);
nlohmann::json run_startup(const Settings& s);
nlohmann::json run_query(const Settings& s);
nlohmann::json run_soak(const Settings& s);  // long; only when asked for (--only soak)

// Results JSON -> Markdown section of BENCHMARKS.md and the plot's data file.
std::string render_markdown(const nlohmann::json& results);
std::string render_plot_data(const nlohmann::json& results);
std::string render_soak_plot_data(const nlohmann::json& results);

}  // namespace bench
