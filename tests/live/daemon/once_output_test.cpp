// `enospcd --once` when its report cannot be delivered: the reader of its stdout pipe is gone (the parent that
// started it died), the pipe is full and nobody reads it, stdout is on a full filesystem or closed. Each of
// these ends within about a second with exit status 74 and one line on stderr saying why, never a hang and
// never a silent 0. And during a storm that refills the ring buffer as fast as it is read, Ctrl-C still ends
// the trace, and the report comes out, within about a second.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/has_value.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kExitReportNotWritten = 74;

// The daemon with stdout on a descriptor of the test's choosing (-1: closed) and stderr on a pipe.
class OnceChild {
 public:
  OnceChild(std::vector<std::string> args, int stdout_fd) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) return;
    // Everything the child needs is allocated before fork(): only async-signal-safe calls in between.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      if (stdout_fd >= 0)
        dup2(stdout_fd, STDOUT_FILENO);
      else
        close(STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(err[1]);
    err_fd_ = err[0];
    fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  }
  ~OnceChild() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) close(err_fd_);
  }
  pid_t pid() const { return pid_; }

  bool wait_ready(std::chrono::seconds timeout = 30s) {
    for (auto end = Clock::now() + timeout; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
      if (stderr_text().find(" on syscall exit (") != std::string::npos) return true;
      if (wait_exit(0ms)) return false;
    }
    return false;
  }
  // The exit code (or -signal), nullopt while it still runs after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    for (auto end = Clock::now() + timeout; !status_;) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        break;
      }
      if (Clock::now() >= end) break;
      std::this_thread::sleep_for(5ms);
    }
    return status_;
  }
  std::string stderr_text() {
    char buf[4096];
    ssize_t n;
    while ((n = read(err_fd_, buf, sizeof(buf))) > 0) err_.append(buf, static_cast<std::size_t>(n));
    return err_;
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
  std::optional<int> status_;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Appends what can be read from the non-blocking descriptor fd to out.
void read_available(int fd, std::string& out) {
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
}

// Waits for the daemon to exit while reading its report from fd into out, so that a report bigger than the pipe
// cannot hold it up. The exit code, nullopt if it still runs after `timeout`.
std::optional<int> wait_exit_reading(OnceChild& d, int fd, std::string& out, std::chrono::seconds timeout) {
  for (auto end = Clock::now() + timeout; Clock::now() < end; read_available(fd, out))
    if (auto code = d.wait_exit(10ms)) return code;
  return std::nullopt;
}

// The parent that read the report died (an interrupted test run): the daemon notices that its stdout pipe has
// no reader, stops tracing at once instead of for the rest of --duration, and says the report was lost.
TEST(OnceOutput, ReaderOfStdoutGoneEndsTheTraceWithAnError) {
  ENOSPCD_REQUIRE_ROOT();
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  OnceChild d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--no-origins"}, out[1]);
  close(out[1]);
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  auto t0 = Clock::now();
  close(out[0]);
  auto code = d.wait_exit(5s);
  double secs = seconds_since(t0);
  ASSERT_HAS_VALUE(code) << "still running 5 s after the reader of its stdout went away\n" << d.stderr_text();
  std::printf("exited %.3f s after its stdout reader went away\n", secs);
  EXPECT_LT(secs, 1.5);
  EXPECT_EQ(*code, kExitReportNotWritten) << d.stderr_text();
  EXPECT_NE(d.stderr_text().find("could not be written to standard output: Broken pipe"), std::string::npos)
      << d.stderr_text();
}

// The report is bigger than the pipe and nobody reads it (a stopped or wedged reader): SIGTERM still ends the
// daemon, which would otherwise sleep in write(2) with its termination signals blocked.
TEST(OnceOutput, SigtermEndsAReportWriteThatNobodyReads) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  ASSERT_GE(fcntl(out[1], F_SETPIPE_SZ, 4096), 4096);  // one page: any report overflows it
  OnceChild d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000", "--no-origins"},
              out[1]);
  close(out[1]);
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  // The root directory and one file use both inodes; then 40 failing creates, so that the report surely
  // exceeds the pipe.
  close(open((mnt.path() + "/occupied").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  for (int i = 0; i < 40; i++) {
    std::string p = mnt.path() + "/f" + std::to_string(i);
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_LT(fd, 0) << p << " was created on a full tmpfs";
  }
  std::this_thread::sleep_for(300ms);
  kill(d.pid(), SIGINT);
  // Tracing ends and the report fills the pipe: the daemon waits for a reader that never reads.
  EXPECT_FALSE(d.wait_exit(1500ms)) << "exited although nobody read its report\n" << d.stderr_text();
  auto t0 = Clock::now();
  kill(d.pid(), SIGTERM);
  auto code = d.wait_exit(5s);
  double secs = seconds_since(t0);
  ASSERT_HAS_VALUE(code) << "SIGTERM did not end a report write nobody reads\n" << d.stderr_text();
  std::printf("exited %.3f s after SIGTERM\n", secs);
  EXPECT_LT(secs, 1.0);
  EXPECT_EQ(*code, kExitReportNotWritten) << d.stderr_text();
  EXPECT_NE(d.stderr_text().find("interrupted by SIGTERM"), std::string::npos) << d.stderr_text();
  close(out[0]);
}

// stdout on a full filesystem: ENOSPC on the report is an error, not a success with an empty file.
TEST(OnceOutput, StdoutOnAFullFilesystemIsAnError) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("size=64k");
  ASSERT_TRUE(mnt.ok());
  std::string report = mnt.path() + "/report.json";
  int fd = open(report.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  sh("dd if=/dev/zero of=" + mnt.path() + "/fill bs=4k 2>/dev/null");
  ASSERT_NE(sh("echo x >> " + mnt.path() + "/fill").exit_code, 0) << "the tmpfs is not full";
  OnceChild d({daemon_binary(), "--once", "--duration", "1", "-o", "json", "--no-origins"}, fd);
  close(fd);
  auto code = d.wait_exit(20s);
  ASSERT_HAS_VALUE(code) << "still running long after --duration 1\n" << d.stderr_text();
  EXPECT_EQ(*code, kExitReportNotWritten) << d.stderr_text();
  EXPECT_NE(d.stderr_text().find("could not be written to standard output: No space left on device"),
            std::string::npos)
      << d.stderr_text();
}

// A closed stdout is found before any BPF program is loaded; nothing else (a BPF object, a log file) may take
// descriptor 1 and receive the report.
TEST(OnceOutput, ClosedStdoutIsRefusedUpFront) {
  // No root needed: the check comes before the privilege check.
  OnceChild d({daemon_binary(), "--once", "--duration", "1", "--no-origins"}, -1);
  auto code = d.wait_exit(10s);
  ASSERT_HAS_VALUE(code) << d.stderr_text();
  EXPECT_EQ(*code, kExitReportNotWritten) << d.stderr_text();
  EXPECT_NE(d.stderr_text().find("standard output is closed"), std::string::npos) << d.stderr_text();
  EXPECT_EQ(d.stderr_text().find("tracing"), std::string::npos) << "traced with nowhere to report\n"
                                                                << d.stderr_text();
}

// A storm that outruns the ring-buffer reader (every failure sent, no rate limit): Ctrl-C ends the trace and
// the report comes out within about a second, instead of when the storm stops.
TEST(OnceOutput, CtrlCDuringAStormEndsPromptly) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  OnceChild d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "10", "--rate-limit",
               "1000000", "--rate-burst", "1000000", "--no-origins"},
              out[1]);
  close(out[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  // The root directory and this file use both inodes: every create of the storm fails with ENOSPC.
  close(open((mnt.path() + "/occupied").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  std::string target = mnt.path() + "/storm";
  pid_t storm = fork();
  if (storm == 0) {
    for (auto end = Clock::now() + 60s; Clock::now() < end;)
      for (int i = 0; i < 1000; i++) open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    _exit(0);
  }
  std::this_thread::sleep_for(2s);
  auto t0 = Clock::now();
  kill(d.pid(), SIGINT);
  std::string report;
  auto code = wait_exit_reading(d, out[0], report, 10s);
  double secs = seconds_since(t0);
  kill(storm, SIGKILL);
  waitpid(storm, nullptr, 0);
  read_available(out[0], report);
  close(out[0]);
  ASSERT_HAS_VALUE(code) << "still running 10 s after SIGINT during a storm\n" << d.stderr_text();
  std::printf("exited %.3f s after SIGINT during the storm\n", secs);
  EXPECT_LT(secs, 2.0);  // the storm and the daemon share the CPUs; it used to last as long as the storm
  EXPECT_EQ(*code, 0) << d.stderr_text();
  try {
    auto j = nlohmann::json::parse(report);
    uint64_t storm_failures = 0;
    for (const auto& r : j["top"])
      if (r["pid"].get<pid_t>() == storm) storm_failures += r["count"].get<uint64_t>();
    EXPECT_GT(storm_failures, 10000u) << "not a storm: " << j["top"].dump(2);
    EXPECT_GT(j["status"]["counters"]["events_received"].get<uint64_t>(), 0u) << j["status"].dump(2);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "report is not JSON: " << e.what() << "\n" << report.substr(0, 2000);
  }
}

}  // namespace
}  // namespace enospcd::testing
