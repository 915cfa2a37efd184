// The daemon's kernel side: what the kernel allows (loader/feature_probe.h), the origin probes that record the
// chain (loader/origins.h) and the syscall gate that makes the records (loader/gate.h), attached in that order,
// and what was attached, for the status. Kernel symbols are read once: for the chains' symbolizer, and for the
// addresses BPF reads limits through, in the background when nothing else needed them at start-up.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "daemon/options.h"
#include "loader/feature_probe.h"
#include "loader/gate.h"
#include "loader/origins.h"
#include "trace/kallsyms.h"

namespace enospcd {

class Tracing {
 public:
  explicit Tracing(const DaemonOptions& opts);

  // Root, or CAP_BPF and CAP_PERFMON: else an error for the operator. Asked before anything is set up.
  Result<void> check_privileges();
  // Attaches the origin probes (unless --no-origins) and the gate, whose records go to on_record; on_gate runs
  // once the gate exists, before the first record is handed over. The error is one sentence for the operator
  // (the gate refuses to load without the privileges too).
  Result<void> start(std::function<void(const void*, std::size_t)> on_record,
                     const std::function<void(GateTracer&)>& on_gate);
  // Called from the event loop: once the background read of /proc/kallsyms is done, hands BPF the addresses
  // it needed and frees the tables; in targeted mode, runs the completeness check on its schedule and adds the
  // syscalls it finds failing outside the set.
  void poll(std::chrono::steady_clock::time_point now);

  GateTracer& gate() { return *gate_; }
  const GateTracer& gate() const { return *gate_; }
  bool gate_only() const { return !origins_ || origins_->live_count() == 0; }
  // By origin id, for decoding chain links.
  const std::vector<std::string>& origin_names() const { return origin_names_; }
  // Kernel text symbols for the chains (empty in gate-only mode); filled by start().
  const Kallsyms& symbols() const { return kallsyms_; }
  // Counter keys the kernel map holds.
  std::size_t counter_entries() const { return counter_entries_; }
  std::chrono::steady_clock::time_point since() const { return since_; }

  // mode, mode_reason, origins, gate and the BPF side's losses, as /v1/status shows them.
  nlohmann::json status_json() const;
  nlohmann::json origins_json() const;

 private:
  void start_origins();
  void finish_startup();
  void poll_targeted(std::chrono::steady_clock::time_point now);
  nlohmann::json targeted_json() const;

  const DaemonOptions& opts_;
  FeatureProbe probe_;
  std::unique_ptr<OriginTracer> origins_;
  std::unique_ptr<GateTracer> gate_;
  std::vector<std::string> origin_names_;
  Kallsyms kallsyms_;
  std::size_t counter_entries_ = 0;
  bool kallsyms_pending_ = false;  // read in the background after attaching; poll() takes it
  std::chrono::steady_clock::time_point since_;
  // Targeted mode's completeness check: when it is due to start or stop, how often it ran, and the failures it
  // saw from syscalls outside the set (by name), with the syscalls it added.
  std::chrono::steady_clock::time_point check_next_{}, check_until_{};
  uint64_t check_runs_ = 0;
  std::map<std::string, uint64_t> untargeted_;
  std::vector<std::string> added_;
};

}  // namespace enospcd
