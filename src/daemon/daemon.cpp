#include "daemon/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/names.h"
#include "common/printable.h"
#include "common/strings.h"
#include "context/container.h"
#include "api/server.h"
#include "daemon/backend.h"
#include "daemon/counters.h"
#include "daemon/logging.h"
#include "daemon/output.h"

namespace enospcd {
namespace {

// Plain read(2): a /proc file of a process reaped between open and read fails with ESRCH, which is not an
// error here (std::filebuf would throw from underflow).
std::string read_proc_file(const std::string& path) {
  std::string s;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[4096];
  ssize_t n;
  while (s.size() < 65536 && (n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  close(fd);
  return s;
}

std::string read_cmdline(uint32_t pid) {
  std::string s = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline");
  while (!s.empty() && s.back() == '\0') s.pop_back();
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s;
}

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
    : opts_(std::move(opts)), store_(opts_.history), facts_(diagnose::make_live_host_facts()) {
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
  if (auto agg = journal_->last_aggregate(); agg && agg->contains("counters")) {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& c : (*agg)["counters"]) {
      CountEntry e{};
      e.key.tgid = c.value("pid", 0u);
      e.key.syscall_nr = c.value("syscall_nr", 0u);
      e.key.err = c.value("err", 0u);
      e.key.cgroup_id = c.value("cgroup_id", uint64_t{0});
      e.val.count = c.value("count", uint64_t{0});
      e.val.suppressed = c.value("suppressed", uint64_t{0});
      std::strncpy(e.val.comm, c.value("comm", "").c_str(), sizeof(e.val.comm) - 1);
      retired_[counter_key(e.key)] = e;
    }
    fold_retired(retired_, kMaxRetiredKeys);
  }
  spdlog::info("journal in {}: restored {} events", opts_.state_dir, restored);
  return {};
}

void Daemon::persist(std::chrono::steady_clock::time_point now) {
  if (!journal_ || now < next_aggregate_) return;
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  // Once a second: the exact counters (live and retired) together with the pending events, in one flush,
  // so a restart keeps every event and total it had reported more than a second before.
  nlohmann::json counters = nlohmann::json::array();
  auto counts = all_counts();
  CounterMap merged;
  for (const auto& c : counts) accumulate(merged, c);
  for (const auto& [k, c] : merged)
    counters.push_back({{"pid", c.key.tgid}, {"syscall_nr", c.key.syscall_nr}, {"err", c.key.err},
                        {"cgroup_id", c.key.cgroup_id}, {"count", c.val.count}, {"suppressed", c.val.suppressed},
                        {"comm", fixed_string(c.val.comm)}});
  nlohmann::json snapshot = nlohmann::json::object();
  snapshot["counters"] = std::move(counters);
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
  if (probe_.kallsyms_loaded()) cfg.mount_max_addr = probe_.kernel_data_symbol("sysctl_mount_max");
  cfg.rate_limit = opts_.rate_limit;
  cfg.rate_burst = opts_.rate_burst;
  cfg.ringbuf_bytes = opts_.ringbuf_bytes;
  auto gate = GateTracer::start(cfg, probe_);
  if (!gate) return gate.error();
  gate_ = std::move(*gate);
  auto h = gate_->set_handler([this](const void* d, std::size_t n) { on_record(d, n); });
  if (!h) return h.error();
  tracing_since_ = std::chrono::steady_clock::now();
  for (const auto& a : gate_->attempts())
    if (!a.error.empty()) spdlog::info("syscall gate: {} unavailable: {}", gate_mode_name(a.mode), a.error);
  spdlog::info("io_uring completions: {}", gate_->io_uring());
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
  // run() hands BPF the address through which it records fs.mount-max at failure time once it is known.
  // Failures before that get the sysctl read in user space.
  kallsyms_pending_ = !cfg.mount_max_addr;
  if (kallsyms_pending_)
    probe_.preload();
  else
    finish_startup();
  return {};
}

void Daemon::finish_startup() {
  if (kallsyms_pending_) gate_->set_mount_max_addr(probe_.kernel_data_symbol("sysctl_mount_max"));
  kallsyms_pending_ = false;
  // Then the symbol index (and libbpf's copy of the kernel BTF) is freed; the pages go back to the kernel
  // rather than stay with the daemon for its lifetime.
  probe_.release_kallsyms();
  malloc_trim(0);
}

nlohmann::json Daemon::container_for(const Event& e) {
  std::lock_guard<std::mutex> lk(mu_);
  auto now = std::chrono::steady_clock::now();
  // Expire entries of containers not seen for 15 minutes; bounded to 4096 entries.
  if (containers_.size() > 4096)
    for (auto it = containers_.begin(); it != containers_.end();)
      it = now - it->second.seen > std::chrono::minutes(15) ? containers_.erase(it) : std::next(it);
  // Best first: the full cgroup path read while the process lived (cached by cgroup id, so the attribution
  // outlives the container), then that cache, then the leaf name BPF recorded at failure time.
  if (!e.cgroup_path.empty()) {
    if (auto ref = context::cgroup_to_container(e.cgroup_path)) {
      auto j = context::to_json(*ref);
      if (containers_.size() < 8192 || containers_.count(e.cgroup_id)) containers_[e.cgroup_id] = {j, now};
      return j;
    }
  }
  if (auto it = containers_.find(e.cgroup_id); it != containers_.end()) {
    it->second.seen = now;
    return it->second.container;
  }
  if (!e.cgroup_name.empty() && !e.cgroup_name_truncated) {
    if (auto ref = context::cgroup_to_container(e.cgroup_name)) {
      auto j = context::to_json(*ref);
      if (containers_.size() < 8192) containers_[e.cgroup_id] = {j, now};
      return j;
    }
  }
  return nullptr;
}

void Daemon::enrich(Event& e) {
  // Only while the process exists; a short-lived one is gone, and the BPF evidence stands alone.
  std::string proc = "/proc/" + std::to_string(e.pid);
  char buf[4096];
  ssize_t n = readlink((proc + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) e.exe.assign(buf, static_cast<std::size_t>(n));
  e.cmdline = read_cmdline(e.pid);
  // cgroup v2 line "0::/path"; on a hybrid layout the unified line is the one starting with "0::".
  const std::string cgroups = read_proc_file(proc + "/cgroup");
  for (auto line : split(cgroups, '\n'))
    if (line.rfind("0::", 0) == 0) e.cgroup_path = std::string(line.substr(3));
  e.container = container_for(e);
  e.cause = diagnose::to_json(diagnose::diagnose(e, *facts_));
  std::lock_guard<std::mutex> lk(mu_);
  // Bounded by the counter keys: the kernel map's and the retired ones (folding drops entries).
  if (causes_.size() < GateConfig{}.counter_entries + kMaxRetiredKeys)
    causes_[{e.pid, e.syscall_nr, static_cast<uint32_t>(e.err), e.cgroup_id}] = e.cause["id"];
}

void Daemon::on_record(const void* data, std::size_t size) {
  records_++;
  auto e = decode_event(data, size, realtime_offset_ns_, origin_names_);
  if (!e) {
    malformed_++;
    return;
  }
  std::vector<std::string> frames;
  for (uint64_t a : e->kstack_addrs) frames.push_back(kallsyms_.symbolize(a));
  e->kstack = strip_tracer_frames(frames);
  // Kernels before v5.14 cannot unwind through a kretprobe's return trampoline (fixed by commit
  // 19138af1bd88 "x86/kprobes: Push a fake return address at kretprobe_trampoline"): the stack stops there.
  if (!e->kstack.empty() && e->kstack.back().find("kretprobe_trampoline") != std::string::npos) {
    e->kstack.pop_back();
    e->kstack_truncated = "the kernel cannot unwind through a kretprobe trampoline";
  }
  try {
    enrich(*e);
  } catch (const std::exception& ex) {
    // One event the host readers or the diagnosis could not handle must not take the daemon down: it is kept
    // with what BPF recorded, counted, and logged (the first time, then every 1 000th).
    uint64_t n = ++enrich_failed_;
    if (n == 1 || n % 1000 == 0)
      spdlog::error("event of pid {} ({} {}): explaining it failed ({} so far): {}", e->pid, e->syscall,
                    e->errno_name, n, ex.what());
    e->cause = nullptr;
  }
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  uint64_t id = store_.add(*e);
  if (journal_) {
    e->id = id;
    journal_->append(to_json(*e));
  }
}

Result<void> Daemon::reset() {
  std::lock_guard<std::mutex> persist_lk(persist_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& c : gate_->read_counts()) gate_->delete_count(c.key);
    retired_.clear();
    causes_.clear();
  }
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
  while (!stop) {
    // Events carry CLOCK_MONOTONIC times; their wall-clock times use the offset as of the batch they arrive in,
    // so that a clock step (NTP, an operator) or a suspend shifts only what happened before it by at most one
    // slice, not every later event.
    realtime_offset_ns_ = monotonic_to_realtime_offset_ns();
    if (kallsyms_pending_ && probe_.kallsyms_ready()) finish_startup();
    persist(std::chrono::steady_clock::now());
    if (std::chrono::steady_clock::now() >= next_maintenance) {
      retire_exited_counters();
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
  for (const auto& c : all_counts()) counted += c.val.count;
  nlohmann::json errnos = nlohmann::json::array();
  for (int e : opts_.errnos) errnos.push_back(errno_name(e));
  auto now = std::chrono::steady_clock::now();
  return {
      {"version", ENOSPCD_VERSION},
      {"kernel", FeatureProbe().kernel_release()},
      {"pid", getpid()},
      {"mode", gate_only() ? "gate-only" : "chains"},
      {"mode_reason", origins_ ? origins_->summary() : "disabled by --no-origins"},
      {"origins", origins_json()},
      {"gate", {{"mode", gate_mode_name(gate_->mode())}, {"attempts", attempts},
                {"attach_ms", milliseconds(gate_->attach_time())}, {"io_uring", gate_->io_uring()}}},
      {"errnos", errnos},
      {"uptime_s", std::chrono::duration<double>(now - started_).count()},
      {"degraded", journal_ && journal_->degraded()},
      {"journal", journal_ ? journal_->status() : nlohmann::json()},
      {"tracing_s", std::chrono::duration<double>(now - tracing_since_).count()},
      {"counters",
       {{"failures_counted", counted},
        {"events_received", records_.load()},
        {"events_malformed", malformed_.load()},
        {"events_unexplained", enrich_failed_.load()},
        {"events_stored", store_.size()},
        {"losses", losses}}},
  };
}

std::vector<TopRow> Daemon::top() const {
  std::vector<TopRow> out;
  for (auto& c : top_with_causes()) out.push_back(std::move(c.row));
  return out;
}

std::vector<CountEntry> Daemon::all_counts() const {
  // Under mu_, which retire_exited_counters() holds while it moves an entry from the kernel map to retired_,
  // so no entry is seen twice or missed.
  std::lock_guard<std::mutex> lk(mu_);
  auto counts = gate_->read_counts();
  for (const auto& [k, c] : retired_) counts.push_back(c);
  return counts;
}

std::vector<Daemon::CausedRow> Daemon::top_with_causes() const {
  auto counts = all_counts();
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<CausedRow> out;
  for (auto& r : top_rows(counts)) {
    if (auto it = containers_.find(r.cgroup_id); it != containers_.end()) r.container = it->second.container;
    CausedRow cr;
    auto nr = syscall_number(r.syscall);
    auto err = errno_number(r.errno_name);
    auto it = causes_.find({r.pid, nr.value_or(0), static_cast<uint32_t>(err.value_or(0)), r.cgroup_id});
    cr.cause = it != causes_.end() ? it->second : "unknown";
    cr.row = std::move(r);
    out.push_back(std::move(cr));
  }
  return out;
}

std::size_t Daemon::retire_exited_counters() {
  std::size_t n = 0;
  std::set<CounterKey> dead;
  for (const auto& c : gate_->read_counts())
    if (kill(static_cast<pid_t>(c.key.tgid), 0) != 0 && errno == ESRCH) dead.insert(counter_key(c.key));
  if (dead.empty()) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  // Re-read under the lock: the value moved is the final one, and readers see it in exactly one place.
  for (const auto& c : gate_->read_counts()) {
    if (!dead.count(counter_key(c.key))) continue;
    if (!gate_->delete_count(c.key)) continue;
    accumulate(retired_, c);
    n++;
  }
  // Bound the user-space side too: a host where a crash-looping process fails every second with a new pid
  // would otherwise grow this map (and causes_, and the journal's snapshot) for as long as it runs.
  for (const auto& key : fold_retired(retired_, kMaxRetiredKeys)) {
    auto cause = causes_.find(key);
    if (cause == causes_.end()) continue;
    auto folded = key;
    std::get<0>(folded) = 0;
    causes_[folded] = std::move(cause->second);
    causes_.erase(cause);
  }
  return n;
}

nlohmann::json Daemon::diagnosis_json() const {
  EventFilter all;
  all.limit = SIZE_MAX;
  std::map<std::string, nlohmann::json> by_cause;
  for (const auto& e : store_.query(all)) {  // newest first: the first seen per cause is the latest
    std::string id = e.cause.is_object() ? e.cause.value("id", "unknown") : "unknown";
    auto& slot = by_cause[id];
    if (slot.is_null()) {
      slot = {{"cause", id}, {"count", 0}, {"latest_event", std::to_string(e.id)}, {"latest", e.cause},
              {"first_time", format_rfc3339(e.time_ns)}, {"last_time", format_rfc3339(e.time_ns)}};
    }
    slot["count"] = slot["count"].get<uint64_t>() + 1;
    slot["first_time"] = format_rfc3339(e.time_ns);
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& [id, v] : by_cause) out.push_back(v);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["count"] > b["count"]; });
  return {{"causes", out}};
}

nlohmann::json Daemon::report_json() const {
  EventFilter f;
  f.limit = opts_.report_events;
  auto events = store_.query(f);
  nlohmann::json ev = nlohmann::json::array();
  for (auto it = events.rbegin(); it != events.rend(); ++it) ev.push_back(to_json(*it));
  return {{"status", status_json()}, {"top", top_json(top())}, {"diagnosis", diagnosis_json()["causes"]},
          {"events", ev}};
}

std::string Daemon::report_text() const {
  std::ostringstream out;
  auto st = status_json();
  auto rows = top();
  uint64_t total = st["counters"]["failures_counted"].get<uint64_t>();
  out << "enospcd " << ENOSPCD_VERSION << " on " << st["kernel"].get<std::string>() << ": traced "
      << fmt::format("{:.1f}", st["tracing_s"].get<double>()) << " s with the " << st["gate"]["mode"].get<std::string>()
      << " gate, " << (gate_only() ? "gate-only: no kernel call chains" : "with kernel call chains") << "\n";
  if (origins_) {
    int live = origins_->live_count();
    out << "origin probes: " << live << " live of " << origins_->status().size() << " ("
        << origins_->summary() << ")\n";
    for (const auto& st : origins_->status())
      if (st.mode != OriginMode::Unavailable) out << "  " << st.spec.func << ": " << origin_mode_name(st.mode) << "\n";
  }
  out << total << " failing syscall" << (total == 1 ? "" : "s") << " with "
      << fmt::format("{}", fmt::join(st["errnos"].get<std::vector<std::string>>(), ",")) << "\n";
  for (auto& [k, v] : st["counters"]["losses"].items())
    if (v.get<uint64_t>() > 0) out << "  " << k << ": " << v.get<uint64_t>() << "\n";
  out << "\n";
  if (!rows.empty()) out << format_top(rows) << "\n";
  auto causes = diagnosis_json()["causes"];
  if (!causes.empty()) {
    out << "Causes:\n";
    for (const auto& c : causes) {
      const auto& latest = c["latest"];
      out << "  [" << c["cause"].get<std::string>() << "] x" << c["count"].get<uint64_t>();
      if (latest.is_object())
        out << " (" << latest.value("confidence", "") << " confidence)\n    "
            << printable(latest.value("summary", "")) << "\n    remedy: " << printable(latest.value("remedy", ""))
            << "\n";
      else
        out << "\n";
    }
    out << "\n";
  }
  EventFilter f;
  f.limit = opts_.report_events;
  auto events = store_.query(f);
  std::reverse(events.begin(), events.end());
  if (!events.empty()) {
    out << "Last " << events.size() << " event" << (events.size() == 1 ? "" : "s") << ":\n";
    out << format_events(events);
  }
  return out.str();
}

}  // namespace enospcd
