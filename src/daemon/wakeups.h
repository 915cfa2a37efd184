// What the event loop waits on and tells systemd. The loop wakes for a termination or reload signal (a signalfd),
// for records in the ring buffer, and with --once for the report's destination losing its reader; under systemd
// with WatchdogSec= it pings twice per interval, so a loop that hangs stops the pings and gets restarted.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "common/unique_fd.h"

namespace enospcd {

class Wakeups {
 public:
  // output_fd: -1 for none. Its readiness is not asked for: epoll reports EPOLLERR on a pipe whose reader is gone
  // (the parent that started us died) and EPOLLHUP on a terminal that hung up. Regular files and /dev/null cannot
  // be watched (EPERM) and need not be.
  Wakeups(int signal_fd, int ring_fd, int output_fd);
  // The descriptors that are ready, at most 4; none once timeout_ms passed.
  std::vector<int> wait(int timeout_ms);

 private:
  UniqueFd ep_;
};

class Watchdog {
 public:
  // Pings only when enabled and systemd asked for it (WATCHDOG_USEC).
  explicit Watchdog(bool enabled);
  // Tells systemd the loop is alive when half an interval has passed since the last time.
  void ping();

 private:
  uint64_t interval_usec_ = 0;
  std::chrono::steady_clock::time_point next_;
};

}  // namespace enospcd
