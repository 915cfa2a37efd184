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

// Lines of `text` wider than `width` terminal columns.
size_t widest_line(const std::string& text) {
  size_t widest = 0;
  for (const auto& l : lines(text)) {
    size_t w = 0;
    for (unsigned char c : l) w += (c & 0xC0) != 0x80 ? 1 : 0;
    widest = std::max(widest, w);
  }
  return widest;
}

TEST_F(Enospcctl, EventsTable) {
  Finished f = ctl({"events", "-o", "wide"});
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

  // For a terminal of 80 columns (the default without one): the time column gives way, the id and age stay.
  Finished narrow = ctl({"events"});
  ASSERT_EQ(narrow.exit_code, 0) << narrow.err;
  EXPECT_LE(widest_line(narrow.out), 80u) << narrow.out;
  EXPECT_GT(widest_line(f.out), 80u) << f.out;
  EXPECT_EQ(lines(narrow.out)[0].rfind("ID  AGE", 0), 0u) << narrow.out;
  Finished columns = run(argv({"events"}), {"TZ=UTC", "COLUMNS=200"});
  EXPECT_EQ(columns.out, f.out) << "$COLUMNS is the width without a terminal";

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

TEST_F(Enospcctl, GlobalFlagsAfterTheSubcommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {ENOSPCCTL_PATH, "status", "-o", "json", "--socket", socket_path_},
           {ENOSPCCTL_PATH, "status", "--output=json", "--socket=" + socket_path_},
           {ENOSPCCTL_PATH, "--socket", socket_path_, "status", "-o", "json"}}) {
    Finished f = run(args);
    ASSERT_EQ(f.exit_code, 0) << f.err;
    json status = json::parse(f.out);
    EXPECT_EQ(status["mode"], "gate-only") << f.out;
    EXPECT_EQ(status["api"]["socket"], socket_path_) << f.out;
  }
  Finished events = run({ENOSPCCTL_PATH, "events", "--limit", "1", "-o", "json", "--socket", socket_path_});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_EQ(events.out, get("/v1/events?limit=1").body);
}

TEST_F(Enospcctl, WriteErrorsEndWithAMessageAndExitOne) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"status"}, {"events"}, {"-o", "json", "events"},
                                                                {"top"}, {"metrics"}, {"explain", "1"}}) {
    std::vector<std::string> cmd{"/bin/sh", "-c", "exec \"$@\" >/dev/full", "sh"};
    for (auto& a : argv(args)) cmd.push_back(a);
    Finished f = run(cmd);
    EXPECT_EQ(f.exit_code, 1) << args[0];
    EXPECT_EQ(f.err, "enospcctl: cannot write to standard output: No space left on device\n") << args[0];
  }
  // watch: the first row that cannot be written ends it.
  Child watch({"/bin/sh", "-c", "exec \"$@\" >/dev/full", "sh", ENOSPCCTL_PATH, "--socket", socket_path_, "watch"});
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  backend_.push(make_event(30, wall_clock_ns(), 1, "a"));
  Finished w = watch.wait(5s);
  EXPECT_EQ(w.exit_code, 1);
  EXPECT_NE(w.err.find("enospcctl: cannot write to standard output: No space left on device\n"), std::string::npos)
      << w.err;
}

TEST_F(Enospcctl, KernelStringsNeverReachTheTerminalRaw) {
  json e = make_event(40, wall_clock_ns(), 666, "evil\ncomm", "openat", "tmpfs_inodes",
                      {{"id", "c0ffee"}, {"name", "ctr\x1b[1m"}});
  e["path"] = "/mnt/full/\x1b]0;PWNED\a\x1b[2J\x1b[31mRED";
  e["cause"]["summary"] = "openat(2) of /mnt/full/\x1b]0;PWNED\a\x1b[2J\x1b[31mRED by evil\ncomm failed";
  backend_.push(e);
  Child watch(argv({"watch"}), {"TZ=UTC"});
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  backend_.push(e);
  std::string header, row;
  ASSERT_TRUE(watch.read_line(&header, 5s));
  ASSERT_TRUE(watch.read_line(&row, 5s));
  watch.signal(SIGINT);
  watch.wait(5s);
  std::vector<std::pair<std::string, std::string>> outputs{{"watch", header + "\n" + row + "\n"}};
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"events"}, {"events", "-o", "wide"}, {"explain", "40"}, {"status", "-v"}, {"top"}}) {
    Finished f = ctl(args);
    ASSERT_EQ(f.exit_code, 0) << f.err;
    outputs.emplace_back(args[0], f.out);
  }
  for (const auto& [what, out] : outputs) {
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << what << ":\n" << out;
    EXPECT_EQ(out.find('\a'), std::string::npos) << what << ":\n" << out;
    EXPECT_EQ(out.find("evil\ncomm"), std::string::npos) << what << ":\n" << out;
  }
  EXPECT_NE(outputs[0].second.find("evil\\ncomm"), std::string::npos) << outputs[0].second;
  EXPECT_NE(outputs[2].second.find("/mnt/full/\\e]0;PWNED\\x07\\e[2J\\e[31mRED"), std::string::npos)
      << outputs[2].second;
  EXPECT_NE(outputs[3].second.find("process:   evil\\ncomm pid 666"), std::string::npos) << outputs[3].second;
}

TEST_F(Enospcctl, EventsFollowIsWatch) {
  for (const char* flag : {"-f", "--follow"}) {
    Child follow(argv({"events", flag, "--syscall", "mount"}), {"TZ=UTC"});
    ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; })) << flag;
    backend_.push(make_event(50, wall_clock_ns(), 777, "skipped", "write"));
    backend_.push(make_event(51, wall_clock_ns(), 778, "followed", "mount"));
    std::string line;
    ASSERT_TRUE(follow.read_line(&line, 5s));
    EXPECT_EQ(line.rfind("ID ", 0), 0u) << line;
    ASSERT_TRUE(follow.read_line(&line, 5s));
    EXPECT_EQ(line.rfind("51 ", 0), 0u) << line;
    EXPECT_NE(line.find("778      mount"), std::string::npos) << line;
    EXPECT_NE(line.find("followed"), std::string::npos) << line;
    follow.signal(SIGINT);
    EXPECT_EQ(follow.wait(5s).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 0; }, 5s));
  }
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
  EXPECT_EQ(status.out, "enospcd\n  mode:     gate-only\n  socket:   " + socket_path_ + "\n") << status.out;
  Finished details = ctl({"status", "-v"});
  ASSERT_EQ(details.exit_code, 0) << details.err;
  EXPECT_EQ(details.out.rfind(status.out, 0), 0u) << details.out;
  EXPECT_NE(details.out.find("probes:\n  FUNCTION      MODE         REASON\n  count_mounts  unavailable  fexit blocked\n"),
            std::string::npos)
      << details.out;

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
  EXPECT_EQ(diag.out, "mount_max: 2 failures\n  remedy: raise fs.mount-max\n");

  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", {{{"mount", "/tmp"}, {"inodes_free", 0}}}}}; });
  Finished doctor = ctl({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  EXPECT_EQ(doctor.out, "tmpfs:\n  INODES_FREE  MOUNT\n  0            /tmp\n");

  backend_.edit([&] {
    backend_.doctor_doc = json{
        {"worst", "warning"},
        {"findings",
         {{{"check", "epoll"}, {"severity", "warning"}, {"summary", "uid 1000 holds 90% of fs.epoll.max_user_watches"},
           {"remedy", "raise it"}, {"evidence", {{"uid", 1000}, {"watches", 192530}}}}}},
        {"checks", {{{"id", "epoll"}, {"status", "findings"}, {"findings", 1}}}},
        {"sysctls", {{"fs.epoll.max_user_watches", 213920}, {"user.max_mnt_namespaces", 63000}}}};
  });
  Finished verdict = ctl({"doctor"});
  ASSERT_EQ(verdict.exit_code, 0) << verdict.err;
  EXPECT_EQ(lines(verdict.out)[0], "verdict: WARNING: 1 warning: a limit is close") << verdict.out;
  EXPECT_EQ(verdict.out.find('{'), std::string::npos) << verdict.out;
  Finished all = ctl({"doctor", "-v", "-o", "wide"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out.find('{'), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("uid=1000, watches=192530"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("  fs.epoll.max_user_watches = 213920\n  user.max_mnt_namespaces = 63000\n"),
            std::string::npos)
      << all.out;

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
  EXPECT_EQ(line.rfind("ID                   TIME      PID      SYSCALL     CAUSE           COMM", 0), 0u) << line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_EQ(line.rfind("10 ", 0), 0u) << "the id, to go on to explain: " << line;
  EXPECT_NE(line.find("501      mount       mount_max       first"), std::string::npos) << line;
  ASSERT_TRUE(watch.read_line(&line, 5s));
  EXPECT_NE(line.find("503      mount       tmpfs_inodes    second"), std::string::npos) << line;
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
  const json id = json::parse(line)["id"];
  EXPECT_EQ(id.is_string() ? id.get<std::string>() : id.dump(), "20") << "a number, or decimal digits as a string";
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
  Finished missing = ctl({"explain", "99999999"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "event 99999999 not found (unknown id, or aged out of the history)\n");

  Finished bad = ctl({"events", "--limit", "0"});
  EXPECT_EQ(bad.exit_code, 2) << "the server refused the command line's value: a usage error";
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
  EXPECT_NE(h.out.find("Usage: enospcctl "), std::string::npos) << h.out;
  EXPECT_EQ(h.out.find(ENOSPCCTL_PATH), std::string::npos) << h.out;
  Finished sub_help = run({ENOSPCCTL_PATH, "events", "--help"});
  EXPECT_EQ(sub_help.exit_code, 0);
  EXPECT_NE(sub_help.out.find("Usage: enospcctl events "), std::string::npos) << sub_help.out;
  EXPECT_NE(sub_help.out.find("--follow"), std::string::npos) << sub_help.out;
  for (const char* cmd : {"status", "events", "top", "explain", "diagnosis", "doctor", "watch", "metrics"})
    EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd;
  Finished none = run({ENOSPCCTL_PATH});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("A subcommand is required"), std::string::npos) << none.err;
  Finished bad_output = run({ENOSPCCTL_PATH, "-o", "yaml", "status"});
  EXPECT_EQ(bad_output.exit_code, 2);
  EXPECT_NE(bad_output.err.find("yaml"), std::string::npos) << bad_output.err;
  Finished bogus = run({ENOSPCCTL_PATH, "--socket", socket_path_, "bogus"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(bogus.out, "");
  EXPECT_EQ(bogus.err.rfind("enospcctl: unknown command 'bogus' (commands: status, events, top,", 0), 0u) << bogus.err;
  Finished bad_option = run({ENOSPCCTL_PATH, "events", "--frobnicate"});
  EXPECT_EQ(bad_option.exit_code, 2);
  EXPECT_NE(bad_option.err.find("--frobnicate"), std::string::npos) << bad_option.err;
  Finished bad_value = run({ENOSPCCTL_PATH, "events", "--pid", "abc"});
  EXPECT_EQ(bad_value.exit_code, 2) << bad_value.err;
}

}  // namespace
}  // namespace enospcd::api::testing

#endif  // ENOSPCCTL_PATH
