// The daemon's runtime: loads the tracer, turns ring-buffer records into stored, enriched events, and runs
// either for a bounded time (--once, then a report) or until SIGTERM/SIGINT.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <tuple>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/options.h"
#include "daemon/counters.h"
#include "loader/feature_probe.h"
#include "loader/gate.h"
#include "loader/origins.h"
#include "trace/kallsyms.h"
#include "report/report.h"
#include "diagnose/diagnose.h"
#include "store/event_store.h"
#include "store/journal.h"

namespace enospcd {

namespace api {
class Server;
}
class DaemonBackend;

class Daemon {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon();

  // Probes, loads and attaches. The error is one sentence for the operator.
  Result<void> start();
  // Opens the journal in --state-dir and restores the events and aggregates it holds (daemon mode).
  Result<void> open_journal();
  // Starts the query API on the Unix socket (daemon mode). The error is one sentence for the operator.
  Result<void> serve();
  // Runs until the deadline (when set) or a termination signal; signals must be blocked by the caller. With
  // output_fd (--once: where the report goes), also stops as soon as that pipe, socket or terminal has lost
  // its reader, since the report could not be delivered any more.
  void run(std::optional<std::chrono::steady_clock::time_point> deadline, int output_fd = -1);
  // Writes the --once report to fd; SIGINT or SIGTERM while a reader is not reading ends the attempt.
  Result<void> write_report(int fd, std::string_view text);

  nlohmann::json status_json() const;
  nlohmann::json origins_json() const;
  nlohmann::json diagnosis_json() const;
  bool gate_only() const { return !origins_ || origins_->live_count() == 0; }
  std::vector<TopRow> top() const;
  struct CausedRow {
    TopRow row;
    std::string cause;  // of the latest event with this counter key; "unknown" when none was seen
  };
  std::vector<CausedRow> top_with_causes() const;
  // The kernel's counters and those retired to user space, read consistently.
  std::vector<CountEntry> all_counts() const;
  // Folds the kernel counters of exited processes into user space and deletes them from the map, so the
  // map stays bounded while every count stays exact. Returns the number of keys retired.
  std::size_t retire_exited_counters();
  nlohmann::json report_json() const;
  std::string report_text() const;
  EventStore& store() { return store_; }
  // POST /v1/reset: forgets the events, the counters (the kernel map's entries and those retired to user
  // space), the causes per counter key, and the journal's records and snapshot, so that a restart brings
  // none of them back. Lifetime counters (records received, losses) stay.
  Result<void> reset();
  uint64_t records_received() const { return records_.load(); }

 private:
  void on_record(const void* data, std::size_t size);
  void persist(std::chrono::steady_clock::time_point now);
  void enrich(Event& e);
  nlohmann::json container_for(const Event& e);

  DaemonOptions opts_;
  FeatureProbe probe_;
  bool kallsyms_pending_ = false;  // read in the background after attaching; finish_startup() takes it
  // Sets what needed /proc/kallsyms in the gate and frees the start-up tables.
  void finish_startup();
  std::unique_ptr<OriginTracer> origins_;
  std::unique_ptr<GateTracer> gate_;
  Kallsyms kallsyms_;
  EventStore store_;
  int64_t realtime_offset_ns_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point tracing_since_;
  std::atomic<uint64_t> records_{0}, malformed_{0}, enrich_failed_{0};
  // Guards containers_, causes_ and retired_ (the tracing thread writes, API threads read).
  mutable std::mutex mu_;
  std::map<CounterKey, std::string> causes_;  // counter key -> cause
  CounterMap retired_;                         // exited processes, at most kMaxRetiredKeys
  static constexpr std::size_t kMaxRetiredKeys = 4096;
  std::unique_ptr<Journal> journal_;
  // Held while an event goes to the store and the journal, while a snapshot is taken and written, and by
  // reset(): a snapshot taken before a reset is never written after it.
  std::mutex persist_mu_;
  std::chrono::steady_clock::time_point next_aggregate_;
  std::unique_ptr<DaemonBackend> backend_;
  std::unique_ptr<api::Server> api_;
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
