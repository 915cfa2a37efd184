// Query latency: the daemon holds 10 000 events, curl asks /v1/events and /v1/top over the Unix socket.
// One curl process makes all requests of an endpoint over one kept-alive connection, and its own
// time_total per transfer is the latency: process start-up of the client is not the server's cost.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "bench.h"

namespace bench {
namespace {

constexpr std::size_t kEventsWanted = 10000;

bool is_socket(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

std::optional<uint64_t> events_stored(const Settings& s, const std::string& sock) {
  int st = 0;
  std::string body = run_capture({s.curl, "-s", "--unix-socket", sock, "http://localhost/v1/status"}, &st);
  try {
    auto j = nlohmann::json::parse(body);
    if (j.contains("counters") && j["counters"].contains("events_stored"))
      return j["counters"]["events_stored"].get<uint64_t>();
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// `procs` short-lived processes fail `each` times with ENOSPC on the full tmpfs at dir, then exit.
void fail_burst(const std::string& dir, int procs, int each) {
  std::vector<pid_t> pids;
  for (int p = 0; p < procs; p++) {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_NAME, "enospc-query");
      std::string path = dir + "/q" + std::to_string(p);
      for (int i = 0; i < each; i++) {
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
          close(fd);
          unlink(path.c_str());
        }
      }
      _exit(0);
    }
    if (pid > 0) pids.push_back(pid);
  }
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
}

// A curl config asking `count` times for path over one kept-alive connection, each answer's code, total time and
// size written one line each.
std::string write_config(const Settings& s, const std::string& sock, const std::string& path, int count,
                         const std::string& name) {
  std::string cfg_path = s.work_dir + "/" + name;
  std::ofstream cfg(cfg_path);
  cfg << "unix-socket = \"" << sock << "\"\n"
      << "write-out = \"%{http_code} %{time_total} %{size_download}\\n\"\n";
  for (int i = 0; i < count; i++) cfg << "url = \"http://localhost" << path << "\"\noutput = \"/dev/null\"\n";
  return cfg_path;
}

struct Timed {
  std::vector<double> ms;
  int non_200 = 0;
  double size = 0;
};

// count requests for path after 5 of warm-up, timed by curl itself.
Timed timed_requests(const Settings& s, const std::string& sock, const std::string& path, int count,
                     const std::string& cfg_name) {
  int st = 0;
  std::string res = run_capture({s.curl, "-s", "-K", write_config(s, sock, path, count + 5, cfg_name)}, &st);
  std::istringstream in(res);
  Timed t;
  int code = 0, i = 0;
  double secs = 0;
  while (in >> code >> secs >> t.size) {
    if (i++ < 5) continue;  // warm-up
    if (code != 200) t.non_200++;
    t.ms.push_back(secs * 1e3);
  }
  return t;
}

}  // namespace

nlohmann::json run_query(const Settings& s) {
  nlohmann::json out;
  std::string dir = s.work_dir + "/daemon-query";
  std::string sock = dir + "/enospcd.sock", state = dir + "/state";
  std::vector<std::string> argv = {s.enospcd,       "--no-origins", "--socket",     sock,
                                   "--state-dir",   state,          "--rate-limit", "1000000",
                                   "--rate-burst",  "10000000",     "--history",    std::to_string(kEventsWanted)};
  out["daemon_args"] = argv;
  Child d;
  d.spawn(argv, {"tracing "});
  if (!d.wait_for("tracing ", std::chrono::seconds(60))) {
    out["skipped"] = "enospcd did not start: " + d.err().substr(0, 300);
    d.stop(SIGKILL);
    return out;
  }
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!is_socket(sock) && Clock::now() < deadline && d.alive()) usleep(50000);
  if (!is_socket(sock)) {
    out["skipped"] = "the daemon created no API socket at " + sock +
                     " within 10 s: this enospcd has no query API yet; the measurement runs once it has";
    d.stop(SIGINT);
    return out;
  }

  std::string full = s.work_dir + "/query-full";
  mount_tmpfs(full, "nr_inodes=2,size=1m,mode=0755");
  {
    int fd = open((full + "/occupied").c_str(), O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) close(fd);
  }
  // Paced so that the daemon keeps up and the ring buffer does not overflow; 40 processes, so /v1/top has rows.
  std::fprintf(stderr, "query: storing %zu events\n", kEventsWanted);
  uint64_t stored = 0;
  auto fill_deadline = Clock::now() + std::chrono::seconds(90);
  while (Clock::now() < fill_deadline) {
    auto n = events_stored(s, sock);
    if (!n) {
      out["skipped"] = "/v1/status did not report counters.events_stored";
      break;
    }
    stored = *n;
    if (stored >= kEventsWanted) break;
    fail_burst(full, 40, 50);
    usleep(100000);
  }
  umount_quiet(full);
  out["events_stored"] = stored;
  if (out.contains("skipped")) {
    d.stop(SIGINT);
    return out;
  }

  int n = s.quick ? 50 : s.query_requests;
  out["requests_per_endpoint"] = n;
  out["endpoints"] = nlohmann::json::array();
  // The full dump is 10 MB of JSON: fewer requests, or it alone would take minutes.
  const std::vector<std::pair<std::string, int>> endpoints = {
      {"/v1/events", n}, {"/v1/events?limit=10000", std::max(5, n / 20)}, {"/v1/top", n}};
  for (const auto& [path, count] : endpoints) {
    auto r = timed_requests(s, sock, path, count, "curl.cfg");
    out["endpoints"].push_back({{"path", path},
                                {"requests", count},
                                {"ms", to_json(summarize(r.ms))},
                                {"p50_ms", quantile(r.ms, 0.5)},
                                {"p99_ms", quantile(r.ms, 0.99)},
                                {"response_bytes", r.size},
                                {"non_200", r.non_200}});
  }

  // A small question while large answers are being built: /v1/status alone, then while 4 clients each ask
  // for all 10 000 events over and over. The ratio of the two is what a large query costs everyone else.
  auto alone = timed_requests(s, sock, "/v1/status", n, "status.cfg");
  std::vector<std::unique_ptr<Child>> loaders;
  for (int c = 0; c < 4; c++) {
    std::string cfg_path = write_config(s, sock, "/v1/events?limit=10000", 100000, "load" + std::to_string(c) + ".cfg");
    loaders.push_back(std::make_unique<Child>());
    loaders.back()->spawn({s.curl, "-s", "-K", cfg_path}, {});
  }
  usleep(500000);  // every loader is in the middle of its answers
  auto loaded = timed_requests(s, sock, "/v1/status", n, "status.cfg");
  for (auto& l : loaders) l->stop(SIGKILL);
  double alone_p50 = quantile(alone.ms, 0.5), loaded_p50 = quantile(loaded.ms, 0.5);
  double alone_p99 = quantile(alone.ms, 0.99), loaded_p99 = quantile(loaded.ms, 0.99);
  out["status_under_load"] = {{"requests", n},
                              {"concurrent_large_queries", 4},
                              {"alone_p50_ms", alone_p50},
                              {"alone_p99_ms", alone_p99},
                              {"loaded_p50_ms", loaded_p50},
                              {"loaded_p99_ms", loaded_p99},
                              {"p50_ratio", alone_p50 > 0 ? loaded_p50 / alone_p50 : 0},
                              {"p99_ratio", alone_p99 > 0 ? loaded_p99 / alone_p99 : 0},
                              {"non_200", alone.non_200 + loaded.non_200}};
  d.stop(SIGINT);
  return out;
}

}  // namespace bench
