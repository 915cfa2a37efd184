#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bench.h"

namespace bench {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Summary summarize(const std::vector<double>& v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) {
    s.median = s.p25 = s.p75 = s.min = s.max = NAN;
    return s;
  }
  s.median = quantile(v, 0.5);
  s.p25 = quantile(v, 0.25);
  s.p75 = quantile(v, 0.75);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

nlohmann::json to_json(const Summary& s) {
  return {{"n", s.n}, {"median", s.median}, {"p25", s.p25}, {"p75", s.p75}, {"min", s.min}, {"max", s.max}};
}

std::vector<std::string> daemon_scratch_args(const Settings& s, const std::string& tag) {
  std::string dir = s.work_dir + "/daemon-" + tag;
  mkdir(dir.c_str(), 0755);
  return {"--socket", dir + "/run/enospcd.sock", "--state-dir", dir + "/state"};
}

// ---- Child ----

Child::~Child() {
  if (pid_ > 0 && !reaped_) stop(SIGKILL, std::chrono::seconds(2));
  if (thread_.joinable()) thread_.join();
}

void Child::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& watch) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe: " + std::string(strerror(errno)));
  watch_ = watch;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  spawned_at_ = Clock::now();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork: " + std::string(strerror(errno)));
  if (pid_ == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // no tracer outlives a harness that was killed
    cpu_set_t all;  // the harness pins itself while it measures; its children run anywhere
    CPU_ZERO(&all);
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++) CPU_SET(c, &all);
    sched_setaffinity(0, sizeof(all), &all);
    execvp(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  thread_ = std::thread([this, o = out[0], e = err[0]] { reader(o, e); });
}

void Child::reader(int out_fd, int err_fd) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      auto now = Clock::now();
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
        continue;
      }
      std::lock_guard<std::mutex> lk(mu_);
      std::string& dst = i == 0 ? out_ : err_;
      std::size_t from = dst.size() > 256 ? dst.size() - 256 : 0;  // a needle may straddle two reads
      dst.append(buf, static_cast<std::size_t>(n));
      for (const auto& w : watch_)
        if (!seen_.count(w) && dst.find(w, from) != std::string::npos) seen_[w] = now;
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  eof_ = true;
  cv_.notify_all();
}

std::optional<Clock::time_point> Child::wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return seen_.count(needle) || eof_; });
  if (auto it = seen_.find(needle); it != seen_.end()) return it->second;
  return std::nullopt;
}

bool Child::alive() {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Child::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (!reaped_) {
    kill(pid_, sig);
    auto deadline = Clock::now() + grace;
    while (true) {
      int st = 0;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = st;
        reaped_ = true;
        break;
      }
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
        reaped_ = true;
        break;
      }
      usleep(2000);
    }
  }
  if (thread_.joinable()) thread_.join();
  return status_;
}

std::string Child::out() const {
  std::lock_guard<std::mutex> lk(mu_);
  return out_;
}

std::string Child::err() const {
  std::lock_guard<std::mutex> lk(mu_);
  return err_;
}

// ---- /proc ----

std::optional<ProcCpu> proc_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(in, s)) return std::nullopt;
  // Fields after the parenthesised comm, which may itself contain spaces: state is field 3, utime 14, stime 15.
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  std::istringstream rest(s.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  if (f.size() < 13) return std::nullopt;
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return ProcCpu{std::stod(f[11]) / hz, std::stod(f[12]) / hz};
}

std::optional<ProcMem> proc_mem(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  ProcMem m;
  bool any = false;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.vm_rss_kb = std::stoull(line.substr(6)), any = true;
    if (line.rfind("VmHWM:", 0) == 0) m.vm_hwm_kb = std::stoull(line.substr(6)), any = true;
  }
  if (!any) return std::nullopt;
  return m;
}

namespace {

std::map<std::string, std::string> fdinfo(pid_t pid, const std::string& fd) {
  std::map<std::string, std::string> kv;
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + fd);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    kv[line.substr(0, colon)] = v;
  }
  return kv;
}

// enum bpf_map_type values that matter here (uapi/linux/bpf.h).
std::string map_type_name(int t) {
  switch (t) {
    case BPF_MAP_TYPE_HASH: return "hash";
    case BPF_MAP_TYPE_ARRAY: return "array";
    case BPF_MAP_TYPE_PERCPU_ARRAY: return "percpu_array";
    case BPF_MAP_TYPE_RINGBUF: return "ringbuf";
    case BPF_MAP_TYPE_PERCPU_HASH: return "percpu_hash";
    case BPF_MAP_TYPE_STACK_TRACE: return "stack_trace";
    default: return "type" + std::to_string(t);
  }
}

}  // namespace

std::vector<MapMem> proc_bpf_maps(pid_t pid) {
  std::vector<MapMem> out;
  std::set<uint32_t> seen;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* de = readdir(d)) {
    if (de->d_name[0] == '.') continue;
    char target[256];
    ssize_t n = readlink((dir + "/" + de->d_name).c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (std::string_view(target) != "anon_inode:bpf-map") continue;
    auto kv = fdinfo(pid, de->d_name);
    if (!kv.count("map_id")) continue;
    MapMem m;
    m.id = static_cast<uint32_t>(std::stoul(kv["map_id"]));
    if (!seen.insert(m.id).second) continue;
    m.memlock = kv.count("memlock") ? std::stoull(kv["memlock"]) : 0;
    m.max_entries = kv.count("max_entries") ? std::stoull(kv["max_entries"]) : 0;
    m.type = map_type_name(kv.count("map_type") ? std::stoi(kv["map_type"]) : -1);
    int fd = bpf_map_get_fd_by_id(m.id);
    if (fd >= 0) {
      bpf_map_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) m.name = info.name;
      close(fd);
    }
    out.push_back(m);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const MapMem& a, const MapMem& b) { return a.memlock > b.memlock; });
  return out;
}

std::vector<uint32_t> prog_ids_of_fds(pid_t pid) {
  std::vector<uint32_t> ids;
  std::string dir = "/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return ids;
  while (dirent* de = readdir(d)) {
    if (de->d_name[0] == '.') continue;
    auto kv = fdinfo(pid ? pid : getpid(), de->d_name);
    if (kv.count("prog_id")) ids.push_back(static_cast<uint32_t>(std::stoul(kv["prog_id"])));
  }
  closedir(d);
  return ids;
}

std::vector<std::string> syscall_tracers_besides(const std::set<uint32_t>& own_ids) {
  std::set<std::string> out;
  auto name_of = [](uint32_t prog_id) {
    std::string name = "?";
    int fd = bpf_prog_get_fd_by_id(prog_id);
    if (fd >= 0) {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
      close(fd);
    }
    return name + "#" + std::to_string(prog_id);
  };
  // raw_tp and tp_btf attachments are raw-tracepoint links that name their tracepoint.
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;
    char tp[64] = {};
    bpf_link_info info{};
    info.raw_tracepoint.tp_name = reinterpret_cast<uint64_t>(tp);
    info.raw_tracepoint.tp_name_len = sizeof(tp);
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_RAW_TRACEPOINT &&
        (std::string_view(tp) == "sys_exit" || std::string_view(tp) == "sys_enter") && !own_ids.count(info.prog_id))
      out.insert(name_of(info.prog_id));
    close(fd);
  }
  // tp programs attach through perf events, which this libbpf cannot describe: count every such program loaded.
  id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    if (own_ids.count(id)) continue;
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_PROG_TYPE_TRACEPOINT)
      out.insert(std::string(info.name) + "#" + std::to_string(id));
    close(fd);
  }
  return {out.begin(), out.end()};
}

// ---- mounts ----

void mount_tmpfs(const std::string& dir, const std::string& options) {
  mkdir(dir.c_str(), 0755);
  if (mount("bench", dir.c_str(), "tmpfs", 0, options.c_str()) != 0)
    throw std::runtime_error("mount tmpfs on " + dir + " (" + options + "): " + strerror(errno));
}

std::vector<std::string> make_full_tmpfs(const Settings& s, const std::string& prefix, int n) {
  // Two inodes: the root directory and one file; every further create fails in shmem_reserve_inode.
  std::vector<std::string> full;
  for (int i = 0; i < n; i++) {
    std::string dir = s.work_dir + "/" + prefix + std::to_string(i);
    mount_tmpfs(dir, "nr_inodes=2,size=64k,mode=0755");
    full.push_back(dir);
    for (int k = 0; k < 4; k++) {
      int fd = open((dir + "/occupied" + std::to_string(k)).c_str(), O_WRONLY | O_CREAT, 0600);
      if (fd < 0) break;
      close(fd);
    }
    int fd = open((dir + "/probe").c_str(), O_WRONLY | O_CREAT, 0600);
    if (fd >= 0 || errno != ENOSPC) {
      if (fd >= 0) close(fd);
      for (const auto& d : full) umount_quiet(d);
      throw std::runtime_error("the full tmpfs does not fail with ENOSPC");
    }
  }
  return full;
}

void umount_quiet(const std::string& dir) {
  if (umount2(dir.c_str(), 0) != 0) umount2(dir.c_str(), MNT_DETACH);
}

std::string run_capture(const std::vector<std::string>& argv, int* status) {
  Child c;
  c.spawn(argv, {});
  int st = c.stop(0, std::chrono::minutes(5));  // signal 0: only wait
  if (status) *status = st;
  return c.out();
}

nlohmann::json machine_info() {
  utsname u{};
  uname(&u);
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  std::string mitigations;
  {
    std::ifstream m("/sys/devices/system/cpu/vulnerabilities/spectre_v2");
    std::getline(m, mitigations);
  }
  double load1 = 0;
  {
    std::ifstream l("/proc/loadavg");
    l >> load1;
  }
  return {{"uname", std::string(u.sysname) + " " + u.nodename + " " + u.release + " " + u.version + " " + u.machine},
          {"kernel", u.release},
          {"cpu", cpu},
          {"nproc", sysconf(_SC_NPROCESSORS_ONLN)},
          {"spectre_v2", mitigations},
          {"loadavg_at_start", load1}};
}

}  // namespace bench
