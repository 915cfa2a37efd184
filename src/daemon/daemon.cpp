#include "daemon/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include <spdlog/spdlog.h>

#include "api/server.h"
#include "common/names.h"
#include "common/strings.h"
#include "daemon/backend.h"
#include "daemon/logging.h"
#include "daemon/output.h"
#include "daemon/wakeups.h"

namespace enospcd {

Daemon::Daemon(DaemonOptions opts)
    : opts_(std::move(opts)),
      tracing_(opts_),
      facts_(diagnose::make_live_host_facts()),
      procs_(make_proc_reader()),
      names_(opts_.names),
      containers_(&names_),
      pipeline_(tracing_.symbols(), *procs_, containers_, *facts_),
      store_(opts_.history) {}

Daemon::~Daemon() {
  if (api_) api_->stop();
  if (signal_fd_ >= 0) close(signal_fd_);
}

Result<void> Daemon::open_journal() {
  JournalOptions jo;
  jo.dir = opts_.state_dir;
  auto j = Journal::open(jo);
  if (!j) return j.error();
  journal_ = std::move(*j);
  std::size_t restored = 0;
  for (const auto& rec : journal_->load(opts_.history)) {
    try {
      store_.add(event_from_json(rec));
      restored++;
    } catch (const std::exception& ex) {
      spdlog::warn("journal: skipping an unreadable event: {}", ex.what());
    }
  }
  // The counts are the counter book's, which exists once the gate does (start()).
  if (auto agg = journal_->last_aggregate()) restored_counts_ = std::move(*agg);
  spdlog::info("journal in {}: restored {} events", opts_.state_dir, restored);
  return {};
}

void Daemon::persist(std::chrono::steady_clock::time_point now) {
  if (!journal_ || now < next_aggregate_) return;
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  // Once a second: the exact counters (live and retired) and their causes together with the pending events, in
  // one flush, so a restart keeps every event and total it had reported more than a second before.
  journal_->append_aggregate_text(book_->save_text());
  // A failure puts the journal in degraded mode, with its own backoff and one log line.
  static_cast<void>(journal_->flush());
  // What the snapshot and the lines written took was freed in the middle of the heap, where glibc keeps it:
  // give those pages back, or they set the daemon's resident size.
  malloc_trim(0);
  next_aggregate_ = now + std::chrono::seconds(1);
}

Result<void> Daemon::serve() {
  api::ServerOptions o;
  o.socket_path = opts_.socket_path;
  o.group = opts_.group;
  if (opts_.metrics_listen) o.metrics_listen = *opts_.metrics_listen;
  o.metrics_allow_remote = opts_.metrics_allow_remote;
  backend_ = std::make_unique<DaemonBackend>(*this);
  api_ = std::make_unique<api::Server>(o, *backend_);
  auto r = api_->start();
  if (!r) {
    api_.reset();
    return r.error();
  }
  if (opts_.metrics_listen) spdlog::info("serving /metrics on {}", *opts_.metrics_listen);
  return {};
}

Result<void> Daemon::start() {
  started_ = std::chrono::steady_clock::now();
  realtime_offset_ns_ = monotonic_to_realtime_offset_ns();
  if (auto ok = tracing_.check_privileges(); !ok) return ok;
  if (opts_.journald_events) sinks_.push_back(make_journald_sink());
  if (!opts_.events_file.empty()) {
    auto s = make_ndjson_sink({opts_.events_file, opts_.events_file_max_bytes, opts_.events_file_keep});
    if (!s) return s.error();
    sinks_.push_back(std::move(*s));
  }
  // The counter book reads the kernel map: it is made once the gate exists, before the first record comes.
  return tracing_.start([this](const void* d, std::size_t n) { on_record(d, n); }, [this](GateTracer& gate) {
    // Bounded by the counter keys: the kernel map's and the retired ones (folding drops entries).
    book_ = std::make_unique<CounterBook>(gate, tracing_.counter_entries() + CounterBook::kMaxRetiredKeys);
    book_->restore(restored_counts_);
    restored_counts_ = nullptr;
  });
}

void Daemon::on_record(const void* data, std::size_t size) {
  auto e = pipeline_.process(data, size, realtime_offset_ns_, tracing_.origin_names());
  if (!e) return;
  if (e->cause) book_->set_cause({e->pid, e->syscall_nr, static_cast<uint32_t>(e->err), e->cgroup_id}, e->cause->id);
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  e->id = store_.add(*e);
  if (!journal_ && sinks_.empty()) return;
  nlohmann::json j = to_json(*e);
  for (auto& s : sinks_) s->write(j);
  if (!journal_) return;
  journal_->append(std::move(j));
  // In a storm the records queued between the once-a-second flushes (persist()) would take megabytes: flushed
  // as soon as much is queued, they stay bounded.
  journal_->flush_if_much_pending();
}

Result<void> Daemon::reset() {
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  book_->reset();
  store_.clear();
  if (journal_) {
    if (auto r = journal_->reset(); !r) return r.error();
  }
  spdlog::info("reset: events, counters and causes forgotten");
  return {};
}

void Daemon::run(std::optional<std::chrono::steady_clock::time_point> deadline, int output_fd) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  if (signal_fd_ < 0) signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  Wakeups wakeups(signal_fd_, tracing_.gate().ring_epoll_fd(), output_fd);
  // Ring-buffer work per wake-up: the signals and the deadline are looked at in between, even during a storm
  // that refills the ring as fast as it is read.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  bool stop = false;
  auto next_maintenance = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // A loop that hangs (a read that never returns, a lock never released) stops the pings.
  Watchdog watchdog(!deadline);
  while (!stop) {
    watchdog.ping();
    // Events carry CLOCK_MONOTONIC times; their wall-clock times use the offset as of the batch they arrive in,
    // so that a clock step (NTP, an operator) or a suspend shifts only what happened before it by at most one
    // slice, not every later event.
    realtime_offset_ns_ = monotonic_to_realtime_offset_ns();
    tracing_.poll(std::chrono::steady_clock::now());
    persist(std::chrono::steady_clock::now());
    if (std::chrono::steady_clock::now() >= next_maintenance) {
      // The kernel map stays bounded while every count stays exact: exited processes' entries move to the book.
      book_->retire([](uint32_t tgid) { return kill(static_cast<pid_t>(tgid), 0) != 0 && errno == ESRCH; });
      next_maintenance = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    }
    int timeout = 200;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      timeout = static_cast<int>(std::min<int64_t>(left.count(), 200));
    }
    for (int fd : wakeups.wait(timeout)) {
      if (fd == signal_fd_) {
        signalfd_siginfo si{};
        while (read(signal_fd_, &si, sizeof(si)) == sizeof(si)) {
          if (si.ssi_signo == SIGHUP) {
            reopen_logs();
            for (auto& s : sinks_) s->reopen();
            continue;
          }
          spdlog::info("received {}, stopping", strsignal(static_cast<int>(si.ssi_signo)));
          stop = true;
        }
      } else if (fd == output_fd) {
        spdlog::warn("the report's destination has no reader any more (closed pipe or hung-up terminal), stopping");
        stop = true;
      } else {
        tracing_.gate().consume_for(kSlice);
      }
    }
  }
  // What the kernel produced before we stopped still counts, but a storm that goes on must not hold the exit
  // (the exact counters stay in the kernel map; only event details can be left unread).
  bool more = false;
  tracing_.gate().consume_for(std::chrono::milliseconds(100), &more);
  if (more) spdlog::info("stopped reading the ring buffer after 100 ms: records left in it are counted, not listed");
  if (journal_) {
    next_aggregate_ = {};
    persist(std::chrono::steady_clock::now());
  }
}

Result<void> Daemon::write_report(int fd, std::string_view text) { return write_all(fd, text, signal_fd_); }

}  // namespace enospcd
