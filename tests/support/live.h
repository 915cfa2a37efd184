// Helpers for live tests: real mounts, real trigger programs and the real daemon binary, each cleaned up by
// RAII even when an assertion fails.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/temp_dir.h"

namespace enospcd::testing {

// Root (and so BPF) is needed. Outside CI: skip with the reason. In CI (CI=true) the tests must run, so not
// being root is a failure there.
#define ENOSPCD_REQUIRE_ROOT()                                                                 \
  do {                                                                                         \
    if (geteuid() != 0) {                                                                      \
      if (std::getenv("CI")) FAIL() << "live tests must run as root in CI";                    \
      GTEST_SKIP() << "needs root to load BPF programs and mount filesystems";                 \
    }                                                                                          \
  } while (0)

struct CmdResult {
  int exit_code = -1;
  std::string out;
};
// Runs argv (no shell), capturing stdout and stderr together.
CmdResult run(const std::vector<std::string>& argv);
// Runs a shell command line; for setup steps only.
CmdResult sh(const std::string& cmdline);

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& options);
  ~TmpfsMount();
  const std::string& path() const { return dir_.path(); }
  bool ok() const { return ok_; }

 private:
  TempDir dir_;
  bool ok_ = false;
};

class LoopExt4 {
 public:
  explicit LoopExt4(int size_mib);
  ~LoopExt4();
  const std::string& path() const { return mnt_.path(); }
  bool ok() const { return ok_; }

 private:
  TempDir img_dir_, mnt_;
  std::string image_;
  bool ok_ = false;
};

// The daemon binary as a child process, its stderr watched for the "tracing" line.
class DaemonProcess {
 public:
  explicit DaemonProcess(std::vector<std::string> args);
  ~DaemonProcess();
  // Waits until the daemon logs that it is tracing; false on timeout or early exit (see stderr()).
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(30));
  // Sends sig and waits for exit; returns the exit code (or -signal), nullopt on timeout.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string stdout_text();
  std::string stderr_text();
  pid_t pid() const { return pid_; }

 private:
  void drain(bool block_until_eof);
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  std::optional<int> status_;
};

// Ends a `--once -o json` daemon with SIGINT (as Ctrl-C would), expects exit 0, returns the parsed report (an
// empty object, with a test failure recorded, when it is not JSON).
nlohmann::json stop_for_report(DaemonProcess& d);

// A connected Unix stream socket to `path`, or -1.
int connect_unix(const std::string& path);
// Sends all of `data` (no SIGPIPE); false when the peer is gone.
bool send_all(int fd, std::string_view data);
// Reads until end of file (or an error) or the timeout.
std::string read_all(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A gid with no entry in the group database at or after `from`, so that no real user is in it by accident.
gid_t unused_gid(gid_t from = 47000);

std::string daemon_binary();
std::string ctl_binary();

// Runs the trigger program `argv` `times` times, each as its own process.
void run_times(const std::vector<std::string>& argv, int times);

}  // namespace enospcd::testing
