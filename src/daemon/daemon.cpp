#include "daemon/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <systemd/sd-daemon.h>
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

namespace enospcd {
namespace {

const char* loss_name(int i) {
  switch (i) {
    case ENOSPCD_LOSS_RINGBUF_FULL: return "ringbuf_full";
    case ENOSPCD_LOSS_COUNTER_MAP_FULL: return "counter_map_full";
    case ENOSPCD_LOSS_RATE_LIMITED: return "rate_limited";
    case ENOSPCD_LOSS_CHAIN_MAP_FULL: return "chain_map_full";
    case ENOSPCD_LOSS_CHAIN_OVERFLOW: return "chain_overflow";
    case ENOSPCD_LOSS_CHAIN_DISCARDED: return "chain_discarded";
    default: return "unknown";
  }
}

double milliseconds(std::chrono::microseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

Daemon::Daemon(DaemonOptions opts)
    : opts_(std::move(opts)),
      facts_(diagnose::make_live_host_facts()),
      procs_(make_proc_reader()),
      names_(opts_.names),
      containers_(&names_),
      pipeline_(kallsyms_, *procs_, containers_, *facts_),
      store_(opts_.history) {
  for (const auto& f : opts_.no_features) probe_.disable(f);
}

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
  auto snapshot = book_->save();
  journal_->append_aggregate(snapshot);
  // A failure puts the journal in degraded mode, with its own backoff and one log line.
  static_cast<void>(journal_->flush());
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
  if (!probe_.can_load_bpf())
    return make_error("enospcd needs root (or CAP_BPF and CAP_PERFMON) to load its BPF programs", EPERM);
  if (opts_.journald_events) sinks_.push_back(make_journald_sink());
  if (!opts_.events_file.empty()) {
    auto s = make_ndjson_sink({opts_.events_file, opts_.events_file_max_bytes, opts_.events_file_keep});
    if (!s) return s.error();
    sinks_.push_back(std::move(*s));
  }
  if (!opts_.no_origins) {
    OriginConfig ocfg;
    ocfg.origins = builtin_origins();
    for (const auto& f : opts_.extra_probes) ocfg.origins.push_back({f, "user"});
    ocfg.errnos = opts_.errnos;
    ocfg.force_kretprobe = opts_.force_kretprobe;
    origins_ = OriginTracer::start(ocfg, probe_);
    origin_names_ = origins_->names();
    for (const auto& st : origins_->status())
      spdlog::debug("origin {} ({}): {}{}{}", st.spec.func, st.spec.subsystem, origin_mode_name(st.mode),
                    st.reason.empty() ? "" : ": ", st.reason);
    for (const auto& f : opts_.extra_probes)
      for (const auto& st : origins_->status())
        if (st.spec.func == f && st.mode == OriginMode::Unavailable)
          spdlog::warn("--probe {}: unavailable: {}", f, st.reason);
  }
  GateConfig cfg;
  if (!gate_only()) {
    cfg.chains_fd = origins_->chains_fd();
    cfg.chain_pending_fd = origins_->chain_pending_fd();
    cfg.losses_fd = origins_->losses_fd();
    kallsyms_ = Kallsyms::load();
  }
  cfg.errnos = opts_.errnos;
  cfg.force_mode = opts_.gate_mode;
  cfg.self_tgid = static_cast<uint32_t>(getpid());
  // Known now if the origin probes needed /proc/kallsyms anyway; otherwise set once tracing is live.
  if (probe_.kallsyms_loaded()) cfg.kernel_data = read_kernel_data(probe_);
  cfg.rate_limit = opts_.rate_limit;
  cfg.rate_burst = opts_.rate_burst;
  cfg.ringbuf_bytes = opts_.ringbuf_bytes;
  // fexit works where an origin probe is on it: then AIO completions are traced with fentry.
  if (origins_)
    for (const auto& st : origins_->status())
      if (st.mode == OriginMode::Fexit) cfg.aio = GateConfig::Aio::Fentry;
  auto gate = GateTracer::start(cfg, probe_);
  if (!gate) return gate.error();
  gate_ = std::move(*gate);
  // Bounded by the counter keys: the kernel map's and the retired ones (folding drops entries).
  book_ = std::make_unique<CounterBook>(*gate_, cfg.counter_entries + CounterBook::kMaxRetiredKeys);
  book_->restore(restored_counts_);
  restored_counts_ = nullptr;
  auto h = gate_->set_handler([this](const void* d, std::size_t n) { on_record(d, n); });
  if (!h) return h.error();
  tracing_since_ = std::chrono::steady_clock::now();
  for (const auto& a : gate_->attempts())
    if (!a.error.empty()) spdlog::info("syscall gate: {} unavailable: {}", gate_mode_name(a.mode), a.error);
  spdlog::info("io_uring completions: {}; Linux AIO completions: {}", gate_->io_uring(), gate_->aio());
  spdlog::info("tracing {} on syscall exit ({}), attached in {} ms", [&] {
    std::string s;
    for (int e : opts_.errnos) {
      if (!s.empty()) s += ',';
      s += errno_name(e);
    }
    return s;
  }(), gate_mode_name(gate_->mode()), milliseconds(gate_->attach_time()));
  if (gate_only())
    spdlog::info("gate-only mode: no origin probe could attach ({}), so events carry no kernel call chain; "
                 "causes are inferred from the syscall, its arguments and host state",
                 origins_ ? origins_->summary() : "disabled by --no-origins");
  else
    spdlog::info("{} of {} origin functions traced ({})", origins_->live_count(), origins_->status().size(),
                 origins_->summary());
  // Tracing is live. Reading all of /proc/kallsyms (5 MB the kernel formats as it is read) is the slowest step
  // of start-up on a loaded host, so in gate-only mode it happens in the background from here on, and
  // run() hands BPF the addresses through which it records fs.mount-max and, before v5.19, sums per-CPU counters
  // at failure time once they are known. Failures before that get the sysctl read in user space.
  kallsyms_pending_ = !probe_.kallsyms_loaded();
  if (kallsyms_pending_)
    probe_.preload();
  else
    finish_startup();
  return {};
}

void Daemon::finish_startup() {
  if (kallsyms_pending_) gate_->set_kernel_data(read_kernel_data(probe_));
  kallsyms_pending_ = false;
  // From here on every failure carries the numbers read through kernel symbols (fs.mount-max) from BPF.
  spdlog::info("start-up complete: kernel symbols read");
  // Then the symbol index (and libbpf's copy of the kernel BTF) is freed; the pages go back to the kernel
  // rather than stay with the daemon for its lifetime.
  probe_.release_kallsyms();
  malloc_trim(0);
}

void Daemon::on_record(const void* data, std::size_t size) {
  auto e = pipeline_.process(data, size, realtime_offset_ns_, origin_names_);
  if (!e) return;
  if (e->cause.is_object())
    book_->set_cause({e->pid, e->syscall_nr, static_cast<uint32_t>(e->err), e->cgroup_id},
                     e->cause.value("id", "unknown"));
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  e->id = store_.add(*e);
  if (!journal_ && sinks_.empty()) return;
  nlohmann::json j = to_json(*e);
  for (auto& s : sinks_) s->write(j);
  if (journal_) journal_->append(std::move(j));
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
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = signal_fd_;
  epoll_ctl(ep, EPOLL_CTL_ADD, signal_fd_, &ev);
  ev.data.fd = gate_->ring_epoll_fd();
  epoll_ctl(ep, EPOLL_CTL_ADD, gate_->ring_epoll_fd(), &ev);
  if (output_fd >= 0) {
    // With no event asked for, epoll still reports EPOLLERR on a pipe whose reader is gone (the parent that
    // started us died) and EPOLLHUP on a terminal that hung up. Regular files and /dev/null cannot be
    // watched (EPERM) and need not be.
    ev.events = 0;
    ev.data.fd = output_fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, output_fd, &ev);
  }
  // Ring-buffer work per wake-up: the signals and the deadline are looked at in between, even during a storm
  // that refills the ring as fast as it is read.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  bool stop = false;
  auto next_maintenance = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // Under systemd with WatchdogSec=, this loop tells systemd it is alive, twice per interval: a loop that hangs
  // (a read that never returns, a lock never released) stops the pings and systemd restarts the service.
  uint64_t watchdog_usec = 0;
  bool watchdog = !deadline && sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  auto next_ping = std::chrono::steady_clock::now();
  while (!stop) {
    if (watchdog && std::chrono::steady_clock::now() >= next_ping) {
      sd_notify(0, "WATCHDOG=1");
      next_ping = std::chrono::steady_clock::now() + std::chrono::microseconds(watchdog_usec / 2);
    }
    // Events carry CLOCK_MONOTONIC times; their wall-clock times use the offset as of the batch they arrive in,
    // so that a clock step (NTP, an operator) or a suspend shifts only what happened before it by at most one
    // slice, not every later event.
    realtime_offset_ns_ = monotonic_to_realtime_offset_ns();
    if (kallsyms_pending_ && probe_.kallsyms_ready()) finish_startup();
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
    epoll_event out[4];
    int n = epoll_wait(ep, out, 4, timeout);
    for (int i = 0; i < n; i++) {
      if (out[i].data.fd == signal_fd_) {
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
      } else if (out[i].data.fd == output_fd) {
        spdlog::warn("the report's destination has no reader any more (closed pipe or hung-up terminal), stopping");
        stop = true;
      } else {
        gate_->consume_for(kSlice);
      }
    }
  }
  // What the kernel produced before we stopped still counts, but a storm that goes on must not hold the exit
  // (the exact counters stay in the kernel map; only event details can be left unread).
  bool more = false;
  gate_->consume_for(std::chrono::milliseconds(100), &more);
  if (more) spdlog::info("stopped reading the ring buffer after 100 ms: records left in it are counted, not listed");
  close(ep);
  if (journal_) {
    next_aggregate_ = {};
    persist(std::chrono::steady_clock::now());
  }
}

Result<void> Daemon::write_report(int fd, std::string_view text) { return write_all(fd, text, signal_fd_); }

nlohmann::json Daemon::origins_json() const {
  nlohmann::json out = nlohmann::json::array();
  if (!origins_) return out;
  for (const auto& st : origins_->status())
    out.push_back({{"func", st.spec.func},
                   {"subsystem", st.spec.subsystem},
                   {"mode", origin_mode_name(st.mode)},
                   {"reason", st.reason}});
  return out;
}

nlohmann::json Daemon::status_json() const {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : gate_->attempts())
    attempts.push_back({{"mode", gate_mode_name(a.mode)}, {"live", a.error.empty()}, {"error", a.error}});
  nlohmann::json losses = nlohmann::json::object();
  auto l = gate_->read_losses();
  for (int i = 0; i < ENOSPCD_LOSS_MAX; i++) losses[loss_name(i)] = l[i];
  uint64_t counted = 0;
  for (const auto& c : book_->all()) counted += c.val.count;
  nlohmann::json errnos = nlohmann::json::array();
  for (int e : opts_.errnos) errnos.push_back(errno_name(e));
  nlohmann::json sinks = nlohmann::json::array();
  for (const auto& s : sinks_) sinks.push_back(s->status());
  auto now = std::chrono::steady_clock::now();
  return {
      {"version", ENOSPCD_VERSION},
      {"kernel", FeatureProbe().kernel_release()},
      {"pid", getpid()},
      {"mode", gate_only() ? "gate-only" : "chains"},
      {"mode_reason", origins_ ? origins_->summary() : "disabled by --no-origins"},
      {"origins", origins_json()},
      {"gate", {{"mode", gate_mode_name(gate_->mode())}, {"attempts", attempts},
                {"attach_ms", milliseconds(gate_->attach_time())}, {"io_uring", gate_->io_uring()}, {"aio", gate_->aio()}}},
      {"errnos", errnos},
      {"uptime_s", std::chrono::duration<double>(now - started_).count()},
      {"degraded", journal_ && journal_->degraded()},
      {"journal", journal_ ? journal_->status() : nlohmann::json()},
      {"sinks", sinks},
      {"tracing_s", std::chrono::duration<double>(now - tracing_since_).count()},
      {"counters",
       {{"failures_counted", counted},
        {"events_received", pipeline_.records()},
        {"events_malformed", pipeline_.malformed()},
        {"events_unexplained", pipeline_.unexplained()},
        {"events_stored", store_.size()},
        {"losses", losses}}},
  };
}

std::vector<Daemon::CausedRow> Daemon::top_with_causes() const {
  std::vector<CausedRow> out;
  for (auto& r : top_rows(book_->all())) {
    r.container = containers_.find(r.cgroup_id);
    CausedRow cr;
    auto nr = syscall_number(r.syscall);
    auto err = errno_number(r.errno_name);
    cr.cause = book_->cause({r.pid, nr.value_or(0), static_cast<uint32_t>(err.value_or(0)), r.cgroup_id});
    cr.row = std::move(r);
    out.push_back(std::move(cr));
  }
  return out;
}

}  // namespace enospcd
