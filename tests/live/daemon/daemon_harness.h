// The daemon binary as deployed, started on a private socket and state directory, and queried with curl.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/live.h"

namespace enospcd::testing {

struct RunningDaemon {
  TempDir dir;
  std::string sock, state;
  std::unique_ptr<DaemonProcess> proc;

  explicit RunningDaemon(std::vector<std::string> extra = {}, std::string state_dir = "") {
    sock = dir.path() + "/run/enospcd.sock";
    state = state_dir.empty() ? dir.path() + "/state" : state_dir;
    start(std::move(extra));
  }
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {daemon_binary(), "--socket", sock, "--state-dir", state, "--no-origins"};
    args.insert(args.end(), extra.begin(), extra.end());
    proc = std::make_unique<DaemonProcess>(args);
  }
  bool ready() {
    if (!proc->wait_ready()) return false;
    for (int i = 0; i < 100; i++) {  // the socket comes up right after tracing starts
      if (access(sock.c_str(), F_OK) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  nlohmann::json get(const std::string& path) {
    auto r = run({"curl", "-sS", "--max-time", "10", "--unix-socket", sock, "http://localhost" + path});
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "GET " << path << " did not return JSON: " << r.out;
      return nlohmann::json::object();
    }
  }
  std::string get_text(const std::string& path) {
    return run({"curl", "-sS", "--max-time", "10", "--unix-socket", sock, "http://localhost" + path}).out;
  }
};

// Fails `n` creates of `target` (on a full filesystem), in batches small enough for the ring buffer to keep up
// so that each becomes an event (the daemon must run with a --rate-limit above n); returns the events stored.
inline uint64_t fill_with_events(RunningDaemon& d, const std::string& target, int n) {
  for (int done = 0; done < n; done += 100) {
    for (int i = done; i < std::min(n, done + 100); i++) {
      int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ADD_FAILURE() << target << " was created: the filesystem is not full";
        ::close(fd);
        return 0;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  uint64_t stored = 0;
  for (int i = 0; i < 100 && stored < static_cast<uint64_t>(n); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stored = d.get("/v1/status")["counters"].value("events_stored", uint64_t{0});
  }
  return stored;
}

// Whether the daemon's RSS means what it says: under AddressSanitizer (the sanitizer build of the daemon and
// of these tests) freed memory waits in a quarantine and every allocation carries shadow memory.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssIsMeaningful = false;
#else
inline constexpr bool kRssIsMeaningful = true;
#endif

// A field of /proc/<pid>/status in KiB (VmRSS:, VmHWM:); 0 when it cannot be read.
inline uint64_t rss_kib(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field)));
  return 0;
}

// Descriptors the process holds now; -1 when it cannot be read.
inline int open_fds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    n++;
  return ec ? -1 : n;
}

}  // namespace enospcd::testing
