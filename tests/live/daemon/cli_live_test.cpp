// enospcctl and enospcd's command line against the real daemon: escape codes from a real file name on a real
// full tmpfs, a comm with a newline, write errors, exit codes, options checked before BPF is loaded.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/live.h"

namespace enospcd::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kHostileName = "\x1b]0;PWNED\a\x1b[2J\x1b[31mRED";
const std::string kEscapedName = "\\e]0;PWNED\\x07\\e[2J\\e[31mRED";

// A child whose comm is "evil\ncomm" creates `path`; returns the errno of its open(2) (0 on success).
int create_as_evil_comm(const std::string& path) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, "evil\ncomm", 0, 0, 0);
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    _exit(fd >= 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A tmpfs whose only free inode is used up, so that the next file creation fails with ENOSPC.
void fill(const TmpfsMount& mnt) {
  for (int i = 0; i < 4; i++) close(open((mnt.path() + "/f" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0600));
}

// No control byte but the line ends; with `whole_lines`, no newline from a kernel string either.
::testing::AssertionResult raw_free(const std::string& what, const std::string& out, bool whole_lines = true) {
  for (char c : out)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f)
      return ::testing::AssertionFailure() << what << " printed control byte " << int(c) << ":\n" << out;
  if (whole_lines && out.find("evil\ncomm") != std::string::npos)
    return ::testing::AssertionFailure() << what << ": raw newline";
  return ::testing::AssertionSuccess();
}

TEST(CliLive, EscapeCodesFromARealFileNameNeverReachTheTerminal) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  const std::string sock = dir.path() + "/run/enospcd.sock";
  DaemonProcess d({daemon_binary(), "--socket", sock, "--state-dir", dir.path() + "/state", "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  for (int i = 0; i < 100 && access(sock.c_str(), F_OK) != 0; i++) std::this_thread::sleep_for(20ms);
  TmpfsMount mnt("nr_inodes=4,size=1m");
  ASSERT_TRUE(mnt.ok());
  fill(mnt);
  ASSERT_EQ(create_as_evil_comm(mnt.path() + "/" + kHostileName), ENOSPC);

  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{ctl_binary(), "--socket", sock};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  std::string id;
  for (int i = 0; i < 100 && id.empty(); i++) {
    auto j = json::parse(ctl({"-o", "json", "events", "--syscall", "openat", "--limit", "1"}).out, nullptr, false);
    if (j.is_object() && !j["events"].empty()) {
      const auto& v = j["events"][0]["id"];
      id = v.is_string() ? v.get<std::string>() : std::to_string(v.get<uint64_t>());
    }
    if (id.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(id.empty()) << "the failure was not recorded";

  auto wide = ctl({"events", "-o", "wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.out;
  EXPECT_TRUE(raw_free("events -o wide", wide.out));
  EXPECT_NE(wide.out.find(mnt.path() + "/" + kEscapedName), std::string::npos) << wide.out;
  EXPECT_NE(wide.out.find("evil\\ncomm"), std::string::npos) << wide.out;
  auto narrow = ctl({"events"});
  EXPECT_TRUE(raw_free("events", narrow.out));
  auto explain = ctl({"explain", id});
  ASSERT_EQ(explain.exit_code, 0) << explain.out;
  EXPECT_TRUE(raw_free("explain", explain.out));
  EXPECT_NE(explain.out.find("process:   evil\\ncomm pid "), std::string::npos) << explain.out;
  EXPECT_NE(explain.out.find("path:      " + mnt.path() + "/" + kEscapedName + "\n"), std::string::npos) << explain.out;
  for (const char* cmd : {"diagnosis", "top", "status"}) {
    auto r = ctl({cmd, "-v"});
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.out;
    EXPECT_TRUE(raw_free(cmd, r.out));
  }
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

TEST(CliLive, OnceTextReportEscapesKernelStrings) {
  ENOSPCD_REQUIRE_ROOT();
  DaemonProcess d({daemon_binary(), "--once", "--duration", "30s", "--no-origins", "--events", "5"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  TmpfsMount mnt("nr_inodes=4,size=1m");
  ASSERT_TRUE(mnt.ok());
  fill(mnt);
  ASSERT_EQ(create_as_evil_comm(mnt.path() + "/" + kHostileName), ENOSPC);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(d.stop(SIGINT), 0);
  std::string report = d.stdout_text();
  EXPECT_TRUE(raw_free("--once report", report));
  EXPECT_NE(report.find("  evil\\ncomm "), std::string::npos) << report;
  EXPECT_NE(report.find(kEscapedName), std::string::npos) << report;
}

TEST(CliLive, WriteErrorsAgainstTheRealDaemon) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  const std::string sock = dir.path() + "/run/enospcd.sock";
  DaemonProcess d({daemon_binary(), "--socket", sock, "--state-dir", dir.path() + "/state", "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  for (int i = 0; i < 100 && access(sock.c_str(), F_OK) != 0; i++) std::this_thread::sleep_for(20ms);
  for (const char* cmd : {"status", "events", "doctor"}) {
    auto r = sh("'" + ctl_binary() + "' --socket '" + sock + "' " + cmd + " >/dev/full");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.out, "enospcctl: cannot write to standard output: No space left on device\n") << cmd;
  }
  auto ok = run({ctl_binary(), "status", "--socket", sock, "-o", "json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(json::parse(ok.out, nullptr, false).value("mode", ""), "gate-only") << ok.out;
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

// Another user who got a socket into the path's place serves its own answers: enospcctl asks the kernel who
// serves (SO_PEERCRED) before it sends a byte, and refuses anyone but root.
TEST(CliLive, RefusesAServerThatIsNotRoot) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  const std::string run_dir = dir.path() + "/run";
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(mkdir(run_dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(run_dir.c_str(), 65534, 65534), 0);
  const std::string sock = run_dir + "/enospcd.sock";
  const char* server =
      "import socket, sys\n"
      "s = socket.socket(socket.AF_UNIX)\n"
      "s.bind(sys.argv[1])\n"
      "s.listen()\n"
      "while True:\n"
      "    c, _ = s.accept()\n"
      "    try:\n"
      "        c.recv(65536)\n"
      "        c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 17\\r\\n"
      "Connection: close\\r\\n\\r\\n{\"mode\": \"fake\"}\\n')\n"
      "    except OSError:\n"
      "        pass\n"
      "    c.close()\n";
  pid_t pid = fork();
  if (pid == 0) {
    execlp("setpriv", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c", server,
           sock.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 250 && access(sock.c_str(), F_OK) != 0; i++) std::this_thread::sleep_for(20ms);
  // The fake answers (curl does not check who serves).
  auto fake = run({"curl", "-sS", "--max-time", "5", "--unix-socket", sock, "http://localhost/v1/status"});
  EXPECT_NE(fake.out.find("fake"), std::string::npos) << fake.out;
  for (const char* cmd : {"status", "events"}) {
    auto r = run({ctl_binary(), "--socket", sock, cmd, "-o", "json"});
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.out;
    EXPECT_EQ(r.out.find("fake"), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("refusing to talk to " + sock + ": it is served by uid 65534"), std::string::npos)
        << cmd << ": " << r.out;
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// Command-line errors come before any BPF program is loaded: no log line, exit 2, one sentence.
TEST(CliLive, DaemonUsageErrorsBeforeBpf) {
  ENOSPCD_REQUIRE_ROOT();
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string out;
  };
  for (const auto& c : std::vector<Case>{
           {{"--duration", "5s"}, "enospcd: --duration applies only to --once\n"},
           {{"-o", "json"}, "enospcd: --output applies only to --once\n"},
           {{"--metrics-listen", "foo"},
            "enospcd: invalid metrics listen address 'foo': expected HOST:PORT, e.g. 127.0.0.1:9633\n"},
           {{"--log-file", dir.path() + "/missing/dir/log"},
            "enospcd: --log-file " + dir.path() + "/missing/dir/log: directory " + dir.path() +
                "/missing/dir does not exist\n"}}) {
    std::vector<std::string> argv{daemon_binary(), "--socket", dir.path() + "/run/s.sock", "--state-dir",
                                  dir.path() + "/state"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto t0 = std::chrono::steady_clock::now();
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << ": " << r.out;
    EXPECT_EQ(r.out, c.out);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << c.args[0];
  }
  struct stat st{};
  EXPECT_NE(stat((dir.path() + "/missing").c_str(), &st), 0) << "--log-file created a directory";
  EXPECT_NE(stat((dir.path() + "/state").c_str(), &st), 0) << "the journal was opened before the options were checked";

  // [::1] with brackets is accepted, and a later --duration overrides an earlier one (as quickstart.sh appends).
  auto t0 = std::chrono::steady_clock::now();
  auto once = run({daemon_binary(), "--once", "--duration", "60s", "--duration", "1s", "--no-origins",
                   "--metrics-listen", "[::1]:0"});
  EXPECT_EQ(once.exit_code, 0) << once.out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
}

TEST(CliLive, NotRootIsOneSentence) {
  ENOSPCD_REQUIRE_ROOT();
  auto r = run({"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
                daemon_binary(), "--once", "--duration", "1s"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out.find("enospcd: enospcd"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("enospcd needs root (or CAP_BPF and CAP_PERFMON)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace enospcd::testing
