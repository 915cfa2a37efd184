#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "daemon/output.h"

namespace enospcd {
namespace {

using namespace std::chrono_literals;

// SIGPIPE ignored (as the daemon does) for the duration of a test.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// A signalfd for SIGTERM and SIGHUP, blocked in this thread as the daemon blocks them, restored afterwards.
class SignalFd {
 public:
  SignalFd() {
    sigemptyset(&mask_);
    sigaddset(&mask_, SIGTERM);
    sigaddset(&mask_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask_, &old_);
    fd_ = signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalFd() {
    signalfd_siginfo si{};
    while (read(fd_, &si, sizeof(si)) == sizeof(si)) {
    }
    close(fd_);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_; }

 private:
  sigset_t mask_{}, old_{};
  int fd_ = -1;
};

TEST(WriteAll, WritesEverythingToAReaderThatReadsLate) {
  SignalFd sig;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  std::string text(300000, 'x');  // several times the pipe
  pthread_kill(pthread_self(), SIGHUP);  // asks for a log reopen, not for a stop
  std::string got;
  std::thread reader([&] {
    std::this_thread::sleep_for(200ms);
    char buf[65536];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0) got.append(buf, static_cast<std::size_t>(n));
  });
  auto r = write_all(p[1], text, sig.fd());
  close(p[1]);
  reader.join();
  close(p[0]);
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_EQ(got.size(), text.size());
}

TEST(WriteAll, ReaderGoneIsEpipe) {
  IgnoreSigpipe ign;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  auto r = write_all(p[1], "report\n", -1);
  close(p[1]);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPIPE);
}

TEST(WriteAll, FullDeviceIsEnospc) {
  int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "no /dev/full";
  auto r = write_all(fd, "report\n", -1);
  close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_NE(r.error().message.find("No space left"), std::string::npos) << r.error().message;
}

TEST(WriteAll, SigtermEndsTheWaitForAReaderThatNeverReads) {
  SignalFd sig;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  std::string text(300000, 'x');
  std::thread killer([] {
    std::this_thread::sleep_for(200ms);
    kill(getpid(), SIGTERM);  // process-directed, as kill(1) sends it; blocked in every thread here
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = write_all(p[1], text, sig.fd());
  auto waited = std::chrono::steady_clock::now() - t0;
  killer.join();
  close(p[0]);
  close(p[1]);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINTR);
  EXPECT_NE(r.error().message.find("SIGTERM"), std::string::npos) << r.error().message;
  EXPECT_LT(waited, 5s);
}

TEST(StandardFds, ClosedStdoutIsReopenedOnDevNullAndReported) {
  pid_t pid = fork();
  if (pid == 0) {
    close(STDOUT_FILENO);
    bool closed = ensure_standard_fds();
    // Descriptor 1 is taken (by /dev/null), so the next open gets another number.
    int next = open("/dev/null", O_RDONLY);
    _exit(closed && fcntl(STDOUT_FILENO, F_GETFD) >= 0 && next > STDERR_FILENO && !ensure_standard_fds() ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

}  // namespace
}  // namespace enospcd
