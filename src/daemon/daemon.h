// The daemon's runtime: loads the tracer, turns ring-buffer records into stored, enriched events, and runs
// either for a bounded time (--once, then a report) or until SIGTERM/SIGINT.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/options.h"
#include "loader/feature_probe.h"
#include "loader/gate.h"
#include "loader/origins.h"
#include "trace/kallsyms.h"
#include "report/report.h"
#include "diagnose/diagnose.h"
#include "store/event_store.h"

namespace enospcd {

class Daemon {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon();

  // Probes, loads and attaches. The error is one sentence for the operator.
  Result<void> start();
  // Runs until the deadline (when set) or a termination signal; signals must be blocked by the caller.
  void run(std::optional<std::chrono::steady_clock::time_point> deadline);

  nlohmann::json status_json() const;
  nlohmann::json origins_json() const;
  nlohmann::json diagnosis_json() const;
  bool gate_only() const { return !origins_ || origins_->live_count() == 0; }
  std::vector<TopRow> top() const;
  nlohmann::json report_json() const;
  std::string report_text() const;
  EventStore& store() { return store_; }
  uint64_t records_received() const { return records_; }

 private:
  void on_record(const void* data, std::size_t size);
  void enrich(Event& e);
  nlohmann::json container_for(const Event& e);

  DaemonOptions opts_;
  FeatureProbe probe_;
  std::unique_ptr<OriginTracer> origins_;
  std::unique_ptr<GateTracer> gate_;
  Kallsyms kallsyms_;
  EventStore store_;
  int64_t realtime_offset_ns_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point tracing_since_;
  uint64_t records_ = 0, malformed_ = 0;
  std::vector<std::string> origin_names_;
  int signal_fd_ = -1;
  std::unique_ptr<diagnose::HostFacts> facts_;
  // cgroup id -> container, kept after the cgroup is gone so a failed start stays attributable.
  struct CachedContainer {
    nlohmann::json container;
    std::chrono::steady_clock::time_point seen;
  };
  std::map<uint64_t, CachedContainer> containers_;
};

}  // namespace enospcd
