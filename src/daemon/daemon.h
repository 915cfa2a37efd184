// The daemon's lifecycle and event loop: starts tracing (daemon/tracing.h), hands each ring-buffer record to the
// event pipeline (trace/pipeline.h) and stores and journals what comes out, keeps the exact counts in the counter book
// (model/counter_book.h), and runs either for a bounded time (--once, then a report) or until SIGTERM/SIGINT.
// What is shown of it (status, counter rows, diagnosis, report) is in daemon/views.cpp.
#pragma once

#include <chrono>
#include <mutex>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "context/workloads.h"
#include "daemon/options.h"
#include "daemon/sinks.h"
#include "daemon/tracing.h"
#include "diagnose/diagnose.h"
#include "model/counter_book.h"
#include "report/report.h"
#include "store/event_store.h"
#include "store/journal.h"
#include "trace/pipeline.h"

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
  struct CausedRow {
    TopRow row;
    CauseId cause = CauseId::Unknown;  // of the latest event with this counter key (unknown when none was seen)
  };
  std::vector<CausedRow> top_with_causes() const;
  EventStore& store() { return store_; }
  const EventStore& store() const { return store_; }
  std::size_t report_events() const { return opts_.report_events; }
  // POST /v1/reset: forgets the events, the counters (the kernel map's entries and those retired to user
  // space), the causes per counter key, and the journal's records and snapshot, so that a restart brings
  // none of them back. Lifetime counters (records received, losses) stay.
  Result<void> reset();
  uint64_t records_received() const { return pipeline_.records(); }

 private:
  void on_record(const void* data, std::size_t size);
  void persist(std::chrono::steady_clock::time_point now);

  DaemonOptions opts_;
  Tracing tracing_;
  std::unique_ptr<diagnose::HostFacts> facts_;
  std::unique_ptr<ProcessReader> procs_;
  context::WorkloadNames names_;
  ContainerCache containers_;
  EventPipeline pipeline_;
  // Exists once the gate is attached (start()); the journal's counts wait in restored_counts_ until then.
  std::unique_ptr<CounterBook> book_;
  nlohmann::json restored_counts_;
  EventStore store_;
  int64_t realtime_offset_ns_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<Journal> journal_;
  std::vector<std::unique_ptr<EventSink>> sinks_;  // journald, the NDJSON file
  // Held while an event goes to the store and the journal, while a snapshot is taken and written, and by
  // reset(): a snapshot taken before a reset is never written after it.
  std::mutex persist_mu_;
  std::chrono::steady_clock::time_point next_aggregate_;
  std::unique_ptr<DaemonBackend> backend_;
  std::unique_ptr<api::Server> api_;
  int signal_fd_ = -1;
};

}  // namespace enospcd
