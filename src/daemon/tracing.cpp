#include "daemon/tracing.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/names.h"
#include "loader/targeted.h"
#include "model/origins.h"

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
    case ENOSPCD_LOSS_UNCOUNTED: return "targeted_uncounted";
    default: return "unknown";
  }
}

double milliseconds(std::chrono::microseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string errno_list(const std::vector<int>& errnos) {
  std::string s;
  for (int e : errnos) s += (s.empty() ? "" : ",") + errno_name(e);
  return s;
}

}  // namespace

Tracing::Tracing(const DaemonOptions& opts) : opts_(opts) {
  for (const auto& f : opts_.no_features) probe_.disable(f);
}

void Tracing::start_origins() {
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

Result<void> Tracing::check_privileges() {
  if (!probe_.can_load_bpf())
    return make_error("enospcd needs root (or CAP_BPF and CAP_PERFMON) to load its BPF programs", EPERM);
  return {};
}

Result<void> Tracing::start(std::function<void(const void*, std::size_t)> on_record,
                            const std::function<void(GateTracer&)>& on_gate) {
  if (!opts_.no_origins) start_origins();
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
      if (st.mode == OriginMode::Fexit) {
        cfg.aio = GateConfig::Aio::Fentry;
        cfg.fexit = true;
      }
  // Targeted mode is tried where fexit is known to work, or when asked for.
  if (cfg.force_mode == GateMode::Targeted) cfg.fexit = true;
  if (auto set = targeted_set(opts_.errnos, opts_.targeted_edits); set)
    cfg.targeted_syscalls = *set;
  else
    cfg.targeted_unavailable = set.error().message;
  counter_entries_ = cfg.counter_entries;
  auto gate = GateTracer::start(cfg, probe_);
  if (!gate) return gate.error();
  gate_ = std::move(*gate);
  on_gate(*gate_);
  if (auto h = gate_->set_handler(std::move(on_record)); !h) return h.error();
  since_ = std::chrono::steady_clock::now();
  for (const auto& a : gate_->attempts())
    if (!a.error.empty()) spdlog::info("syscall gate: {} unavailable: {}", gate_mode_name(a.mode), a.error);
  spdlog::info("io_uring completions: {}; Linux AIO completions: {}", gate_->io_uring(), gate_->aio());
  if (gate_->mode() == GateMode::Targeted) {
    const auto& tg = gate_->targeted();
    spdlog::info("tracing {} on the entry of {} syscalls ({} functions, fexit), attached in {} ms; the other "
                 "syscalls run untraced",
                 errno_list(opts_.errnos), tg.syscalls.size(), tg.functions.size(), milliseconds(gate_->attach_time()));
    if (!tg.missing.empty())
      spdlog::info("targeted mode: no entry function in this kernel for {}", fmt::join(tg.missing, ", "));
    // The completeness check starts now.
    check_next_ = std::chrono::steady_clock::now();
  } else {
    spdlog::info("tracing {} on syscall exit ({}), attached in {} ms", errno_list(opts_.errnos),
                 gate_mode_name(gate_->mode()), milliseconds(gate_->attach_time()));
  }
  if (gate_only())
    spdlog::info("gate-only mode: no origin probe could attach ({}), so events carry no kernel call chain; "
                 "causes are inferred from the syscall, its arguments and host state",
                 origins_ ? origins_->summary() : "disabled by --no-origins");
  else
    spdlog::info("{} of {} origin functions traced ({})", origins_->live_count(), origins_->status().size(),
                 origins_->summary());
  // Tracing is live. Reading all of /proc/kallsyms (5 MB the kernel formats as it is read) is the slowest step
  // of start-up on a loaded host, so in gate-only mode it happens in the background from here on, and
  // poll() hands BPF the addresses through which it records fs.mount-max and, before v5.19, sums
  // per-CPU counters at failure time once they are known. Failures before that get the sysctl read in user
  // space.
  kallsyms_pending_ = !probe_.kallsyms_loaded();
  if (kallsyms_pending_)
    probe_.preload();
  else
    finish_startup();
  return {};
}

void Tracing::poll(std::chrono::steady_clock::time_point now) {
  if (kallsyms_pending_ && probe_.kallsyms_ready()) finish_startup();
  if (gate_ && gate_->mode() == GateMode::Targeted) poll_targeted(now);
}

void Tracing::poll_targeted(std::chrono::steady_clock::time_point now) {
  GateTracer& g = *gate_;
  const bool checking = g.targeted().checking;
  if (!checking && check_next_ != std::chrono::steady_clock::time_point{} && now >= check_next_) {
    if (auto r = g.set_checking(true); !r) {
      spdlog::warn("targeted mode: {}; the set is not checked", r.error().message);
      check_next_ = {};
      return;
    }
    check_runs_++;
    check_until_ = now + opts_.targeted_check_for;
    spdlog::debug("targeted mode: completeness check on sys_exit for {} s",
                  std::chrono::duration<double>(opts_.targeted_check_for).count());
    return;
  }
  if (!checking) return;
  // While the check is on: failures from syscalls no slot counts were counted by it, and their syscalls join.
  for (const auto& [nr, count] : g.read_untargeted()) {
    std::string name = syscall_name(nr);
    uint64_t& seen = untargeted_[name];
    if (count <= seen) continue;
    const auto& in_set = g.targeted().syscalls;
    if (std::find(in_set.begin(), in_set.end(), name) != in_set.end()) {
      // Its slot is on a function this syscall does not go through: counted only while the check runs.
      spdlog::warn("targeted mode: the completeness check saw {} failure{} of {} ({}) that its slot did not; they "
                   "are counted only while the check runs (--gate tp_btf counts them all)",
                   count - seen, count - seen == 1 ? "" : "s", name, errno_list(opts_.errnos));
      seen = count;
      continue;
    }
    spdlog::warn("targeted mode: the completeness check saw {} failure{} of {} ({}), a syscall outside the set; "
                 "adding it",
                 count - seen, count - seen == 1 ? "" : "s", name, errno_list(opts_.errnos));
    seen = count;
    if (auto r = g.add_syscalls({name}); !r)
      spdlog::warn("targeted mode: cannot add {}: {}", name, r.error().message);
    else if (std::find(added_.begin(), added_.end(), name) == added_.end())
      added_.push_back(name);
  }
  if (now < check_until_) return;
  if (auto r = g.set_checking(false); !r) spdlog::warn("targeted mode: {}", r.error().message);
  check_next_ = opts_.targeted_check_every.count() > 0
                    ? now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(opts_.targeted_check_every)
                    : std::chrono::steady_clock::time_point{};
}

nlohmann::json Tracing::targeted_json() const {
  const auto& tg = gate_->targeted();
  nlohmann::json untargeted = nlohmann::json::object();
  for (const auto& [name, count] : untargeted_) untargeted[name] = count;
  return {{"syscalls", tg.syscalls.size()},
          {"entry_functions", tg.functions.size()},
          {"prototypes", tg.prototypes},
          {"missing", tg.missing},
          {"added", added_},
          {"untargeted_failures", untargeted},
          {"check",
           {{"running", tg.checking},
            {"runs", check_runs_},
            {"every_s", std::chrono::duration<double>(opts_.targeted_check_every).count()},
            {"for_s", std::chrono::duration<double>(opts_.targeted_check_for).count()}}}};
}

void Tracing::finish_startup() {
  if (kallsyms_pending_) gate_->set_kernel_data(read_kernel_data(probe_));
  kallsyms_pending_ = false;
  // From here on every failure carries the numbers read through kernel symbols (fs.mount-max) from BPF.
  spdlog::info("start-up complete: kernel symbols read");
  // Then the symbol index (and libbpf's copy of the kernel BTF) is freed; the pages go back to the kernel
  // rather than stay with the daemon for its lifetime.
  probe_.release_kallsyms();
  malloc_trim(0);
}

nlohmann::json Tracing::origins_json() const {
  nlohmann::json out = nlohmann::json::array();
  if (!origins_) return out;
  for (const auto& st : origins_->status())
    out.push_back({{"func", st.spec.func},
                   {"subsystem", st.spec.subsystem},
                   {"mode", origin_mode_name(st.mode)},
                   {"reason", st.reason}});
  return out;
}

nlohmann::json Tracing::status_json() const {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : gate_->attempts())
    attempts.push_back({{"mode", gate_mode_name(a.mode)}, {"live", a.error.empty()}, {"error", a.error}});
  nlohmann::json losses = nlohmann::json::object();
  auto l = gate_->read_losses();
  for (int i = 0; i < ENOSPCD_LOSS_MAX; i++) losses[loss_name(i)] = l[i];
  return {
      {"mode", gate_only() ? "gate-only" : "chains"},
      {"mode_reason", origins_ ? origins_->summary() : "disabled by --no-origins"},
      {"origins", origins_json()},
      {"gate", {{"mode", gate_mode_name(gate_->mode())}, {"attempts", attempts},
                {"attach_ms", milliseconds(gate_->attach_time())}, {"io_uring", gate_->io_uring()}, {"aio", gate_->aio()},
                {"targeted", gate_->mode() == GateMode::Targeted ? targeted_json() : nlohmann::json()}}},
      {"losses", losses},
  };
}

}  // namespace enospcd
