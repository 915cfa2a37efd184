#include "daemon/output.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace enospcd {
namespace {

std::string signal_name(uint32_t sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "signal " + std::to_string(sig);
  }
}

}  // namespace

bool ensure_standard_fds() {
  bool stdout_closed = false;
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    if (fd == STDOUT_FILENO) stdout_closed = true;
    // The lower descriptors are open by now, so open(2) returns this one (the lowest free number).
    int n = open("/dev/null", O_RDWR);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
  return stdout_closed;
}

Result<void> write_all(int fd, std::string_view text, int signal_fd) {
  // A blocking write(2) to a pipe sleeps until all of it fits; after POLLOUT one free page is guaranteed
  // (pipe_poll in fs/pipe.c), so PIPE_BUF-sized writes return at once. A regular file never waits on a reader.
  struct stat st {};
  const std::size_t chunk = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? std::size_t{1} << 20 : PIPE_BUF;
  while (!text.empty()) {
    pollfd p[2] = {{fd, POLLOUT, 0}, {signal_fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return make_error(std::string("poll: ") + std::strerror(errno), errno);
    }
    if (p[1].revents & POLLIN) {
      signalfd_siginfo si{};
      while (read(signal_fd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si)))
        if (si.ssi_signo != SIGHUP)  // which asks for the log file to be reopened, not for a stop
          return make_error("interrupted by " + signal_name(si.ssi_signo) + " with " +
                                std::to_string(text.size()) + " bytes left to write",
                            EINTR);
    }
    // POLLERR (no reader), POLLHUP (hung-up terminal) and POLLNVAL (closed fd): write(2) gives the errno.
    if (!(p[0].revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))) continue;
    ssize_t n = write(fd, text.data(), std::min(text.size(), chunk));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return make_error(std::strerror(errno), errno);
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace enospcd
