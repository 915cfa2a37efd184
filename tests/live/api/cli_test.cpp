// enospcctl against the real server: tables, -o json, watch, and the messages when things go wrong.

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "live/api/harness.h"

#ifdef ENOSPCCTL_PATH

namespace enospcd::api::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kSec = 1'000'000'000ULL;

class Enospcctl : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    start();
    now_ = wall_clock_ns();
    backend_.push(make_event(1, now_ - 120 * kSec, 100, "runc:[2:INIT]", "mount", "mount_max",
                             {{"id", "4f1c0d2e9b7a55aa0011"}, {"name", "web-1"}}));
    backend_.push(make_event(2, now_ - 60 * kSec, 200, "cp", "write", "fs_blocks"));
    backend_.push(make_event(3, now_ - 12 * kSec, 100, "runc:[2:INIT]", "mount", "mount_max"));
  }

  std::vector<std::string> argv(std::vector<std::string> args) const {
    std::vector<std::string> v{ENOSPCCTL_PATH, "--socket", socket_path_};
    v.insert(v.end(), args.begin(), args.end());
    return v;
  }

  Finished ctl(std::vector<std::string> args) const { return run(argv(std::move(args)), {"TZ=UTC"}); }

  uint64_t now_ = 0;
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

TEST_F(Enospcctl, EventsTable) {
  Finished f = ctl({"events"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  auto l = lines(f.out);
  ASSERT_EQ(l.size(), 4u) << f.out;
  EXPECT_EQ(l[0].rfind("ID  TIME                 AGE      PID  COMM           SYSCALL  ERRNO   CONTAINER  CAUSE", 0), 0u)
      << f.out;
  EXPECT_EQ(l[1].rfind("3   ", 0), 0u) << f.out;
  EXPECT_NE(l[1].find("12s ago"), std::string::npos) << f.out;
  EXPECT_NE(l[1].find("runc:[2:INIT]  mount    ENOSPC  -          mount_max  /var/lib/containers"), std::string::npos)
      << f.out;
  EXPECT_NE(l[3].find("web-1"), std::string::npos) << f.out;
  EXPECT_EQ(f.err, "");

  Finished filtered = ctl({"events", "--pid", "200", "--since", "5m"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  ASSERT_EQ(lines(filtered.out).size(), 2u) << filtered.out;
  EXPECT_NE(filtered.out.find(" cp "), std::string::npos);
  EXPECT_EQ(backend_.last_query().pid, 200u);
}

TEST_F(Enospcctl, JsonIsTheServersAnswerVerbatim) {
  for (const auto& [args, target] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"-o", "json", "events", "--comm", "runc:[2:INIT]", "--limit", "5"},
            "/v1/events?comm=runc%3A%5B2%3AINIT%5D&limit=5"},
           {{"-o", "json", "top"}, "/v1/top"},
           {{"-o", "json", "explain", "2"}, "/v1/events/2"},
           {{"-o", "json", "diagnosis"}, "/v1/diagnosis"}}) {
    Finished f = ctl(args);
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(f.out, get(target).body) << target;
  }
  Finished status = ctl({"-o", "json", "status"});
  EXPECT_EQ(json::parse(status.out)["mode"], "gate-only");
}

TEST_F(Enospcctl, TopStatusExplainDiagnosisMetrics) {
  Finished top = ctl({"top"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  EXPECT_EQ(top.out,
            "COUNT  PID  COMM           SYSCALL  ERRNO   CONTAINER\n"
            "2      100  runc:[2:INIT]  mount    ENOSPC  -\n"
            "1      200  cp             write    ENOSPC  -\n");

  Finished status = ctl({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("mode: gate-only\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("  socket: " + socket_path_ + "\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("probes:\n  FUNCTION      MODE         REASON\n  count_mounts  unavailable  fexit blocked\n"),
            std::string::npos)
      << status.out;

  Finished explain = ctl({"explain", "1"});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("event:     1\n"), std::string::npos) << explain.out;
  EXPECT_NE(explain.out.find(" (2m ago)\n"), std::string::npos) << explain.out;
  EXPECT_NE(explain.out.find("container: web-1\n"), std::string::npos) << explain.out;
  EXPECT_NE(explain.out.find("cause:     mount_max\n"), std::string::npos) << explain.out;
  EXPECT_NE(explain.out.find("remedy:    unmount leaked mounts or raise fs.mount-max\n"), std::string::npos);

  backend_.edit([&] {
    backend_.diagnosis_doc = {{"causes", {{{"cause", "mount_max"}, {"count", 2}, {"remedy", "raise fs.mount-max"}}}}};
  });
  Finished diag = ctl({"diagnosis"});
  ASSERT_EQ(diag.exit_code, 0) << diag.err;
  EXPECT_EQ(diag.out, "causes:\n  CAUSE      COUNT  REMEDY\n  mount_max  2      raise fs.mount-max\n");

  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", {{{"mount", "/tmp"}, {"inodes_free", 0}}}}}; });
  Finished doctor = ctl({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  EXPECT_EQ(doctor.out, "tmpfs:\n  INODES_FREE  MOUNT\n  0            /tmp\n");

  Finished metrics = ctl({"metrics"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_NE(metrics.out.find("enospcd_events_total 0\n"), std::string::npos);
  EXPECT_NE(metrics.out.find("enospcd_api_requests_total "), std::string::npos);
}

TEST_F(Enospcctl, WatchPrintsPushedEventsUntilCtrlC) {
  Child watch(argv({"watch", "--syscall", "mount"}), {"TZ=UTC"});
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  uint64_t t = wall_clock_ns();
  backend_.push(make_event(10, t, 501, "first", "mount"));
  backend_.push(make_event(11, t, 502, "skipped", "write"));
  backend_.push(make_event(12, t, 503, "second", "mount", "tmpfs_inodes"));
  std::string line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_EQ(line.rfind("TIME      PID      COMM", 0), 0u) << line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_NE(line.find("501      first"), std::string::npos) << line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_NE(line.find("503      second"), std::string::npos) << line;
  EXPECT_NE(line.find("tmpfs_inodes"), std::string::npos) << line;
  watch.signal(SIGINT);
  Finished f = watch.wait(5s);
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.err.find("Ctrl-C"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return backend_.subscribers() == 0; }, 5s));
}

TEST_F(Enospcctl, WatchJsonPrintsNdjson) {
  Child watch(argv({"-o", "json", "watch"}));
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  backend_.push(make_event(20, wall_clock_ns(), 1, "a"));
  std::string line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_EQ(json::parse(line)["id"], 20);
  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait(5s).exit_code, 0);
}

TEST_F(Enospcctl, WatchEndsWhenTheDaemonStops) {
  Child watch(argv({"watch"}));
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  server_->stop();
  Finished f = watch.wait(5s);
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_NE(f.err.find("enospcd ended the event stream"), std::string::npos) << f.err;
}

TEST_F(Enospcctl, ServerErrorsAreOneSentence) {
  Finished missing = ctl({"explain", "999"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "event 999 not found (unknown id, or aged out of the history)\n");

  Finished bad = ctl({"events", "--limit", "0"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "invalid parameter 'limit': expected an integer from 1 to 10000; got '0'\n");

  Finished doctor = ctl({"doctor"});
  EXPECT_EQ(doctor.exit_code, 1);
  EXPECT_EQ(doctor.err, "doctor is not available: this daemon cannot take a host snapshot\n");

  Finished reset = ctl({"reset"});
  EXPECT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_EQ(reset.out, "event history cleared\n");
}

TEST_F(Enospcctl, DaemonNotRunning) {
  std::string nowhere = dir_ + "/nowhere.sock";
  Finished f = run({ENOSPCCTL_PATH, "--socket", nowhere, "status"});
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(f.err, "enospcd is not running (no socket at " + nowhere + ")\n");

  Finished env = run({ENOSPCCTL_PATH, "events"}, {"ENOSPCD_SOCKET=" + nowhere});
  EXPECT_EQ(env.err, "enospcd is not running (no socket at " + nowhere + ")\n");

  std::string stale = dir_ + "/stale.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, stale.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  close(fd);
  Finished s = run({ENOSPCCTL_PATH, "--socket", stale, "top"});
  EXPECT_EQ(s.exit_code, 1);
  EXPECT_EQ(s.err, "enospcd is not running (" + stale + " is a stale socket nobody listens on)\n");

  Finished w = run({ENOSPCCTL_PATH, "--socket", nowhere, "watch"});
  EXPECT_EQ(w.exit_code, 1);
  EXPECT_EQ(w.err, "enospcd is not running (no socket at " + nowhere + ")\n");

  Finished notsock = run({ENOSPCCTL_PATH, "--socket", dir_ + "/run", "status"});
  EXPECT_EQ(notsock.exit_code, 1);
  EXPECT_EQ(notsock.err, dir_ + "/run is not a socket (check --socket)\n");
}

TEST_F(Enospcctl, VersionAndHelp) {
  Finished v = run({ENOSPCCTL_PATH, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("enospcctl ", 0), 0u) << v.out;
  Finished h = run({ENOSPCCTL_PATH, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* cmd : {"status", "events", "top", "explain", "diagnosis", "doctor", "watch", "metrics"})
    EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd;
  Finished none = run({ENOSPCCTL_PATH});
  EXPECT_NE(none.exit_code, 0);
  Finished bad_output = run({ENOSPCCTL_PATH, "-o", "yaml", "status"});
  EXPECT_NE(bad_output.exit_code, 0);
}

}  // namespace
}  // namespace enospcd::api::testing

#endif  // ENOSPCCTL_PATH
