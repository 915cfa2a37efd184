#include "daemon/wakeups.h"

#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

namespace enospcd {

Wakeups::Wakeups(int signal_fd, int ring_fd, int output_fd) : ep_(epoll_create1(EPOLL_CLOEXEC)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  for (int fd : {signal_fd, ring_fd}) {
    ev.data.fd = fd;
    epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  if (output_fd >= 0) {
    ev.events = 0;
    ev.data.fd = output_fd;
    epoll_ctl(ep_.get(), EPOLL_CTL_ADD, output_fd, &ev);
  }
}

std::vector<int> Wakeups::wait(int timeout_ms) {
  epoll_event out[4];
  int n = epoll_wait(ep_.get(), out, 4, timeout_ms);
  std::vector<int> ready;
  for (int i = 0; i < n; i++) ready.push_back(out[i].data.fd);
  return ready;
}

Watchdog::Watchdog(bool enabled) : next_(std::chrono::steady_clock::now()) {
  uint64_t usec = 0;
  if (enabled && sd_watchdog_enabled(0, &usec) > 0) interval_usec_ = usec;
}

void Watchdog::ping() {
  if (interval_usec_ == 0 || std::chrono::steady_clock::now() < next_) return;
  sd_notify(0, "WATCHDOG=1");
  next_ = std::chrono::steady_clock::now() + std::chrono::microseconds(interval_usec_ / 2);
}

}  // namespace enospcd
