// Command-line options of enospcd, parsed and validated in one place.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "context/workloads.h"
#include "loader/gate.h"

namespace enospcd {

enum class OutputFormat { Text, Json };
enum class LogFormat { Text, Json };

struct DaemonOptions {
  bool once = false;
  std::chrono::nanoseconds duration{std::chrono::seconds(30)};
  std::vector<int> errnos{28};
  GateMode gate_mode = GateMode::Auto;
  // Targeted mode: edits of the derived syscall set ("name"/"+name" adds, "-name" drops), and the completeness
  // check: on sys_exit for check_for at start-up, then every check_every (0: at start-up only).
  std::vector<std::string> targeted_edits;
  std::chrono::nanoseconds targeted_check_every{std::chrono::seconds(60)};
  std::chrono::nanoseconds targeted_check_for{std::chrono::seconds(2)};
  std::vector<std::string> no_features;
  OutputFormat output = OutputFormat::Text;
  std::size_t report_events = 20;
  int verbosity = 0;
  LogFormat log_format = LogFormat::Text;
  std::string log_file;  // empty: stderr
  bool journald_events = false;
  std::string events_file;  // empty: none
  uint64_t events_file_max_bytes = 64ull << 20;
  unsigned events_file_keep = 5;
  std::string socket_path = "/run/enospcd/enospcd.sock";
  std::string group = "enospc";
  std::string state_dir = "/var/lib/enospcd";
  std::optional<std::string> metrics_listen;
  bool metrics_allow_remote = false;
  uint64_t rate_limit = 200;  // events per second per (pid, syscall, errno, cgroup)
  uint64_t rate_burst = 200;  // 200 records of 1.3 KiB per key: ~15 keys can burst at once in the 4 MiB ring
  uint32_t ringbuf_bytes = 4u << 20;
  std::size_t history = 10000;
  std::vector<std::string> extra_probes;
  // Where container, pod and namespace names are read: the host's root (/proc/1/root from a container with the
  // host's pid namespace) and the runtimes' state under it.
  context::WorkloadNames::Options names;
  bool force_kretprobe = false;
  bool no_origins = false;
};

struct ParseOutcome {
  std::optional<DaemonOptions> options;  // set when the daemon should run
  int exit_code = 0;                     // otherwise exit with this (0 for --help/--version)
  std::string message;                   // printed to stdout (help) or stderr (errors)
};

ParseOutcome parse_daemon_options(int argc, const char* const* argv);

}  // namespace enospcd
