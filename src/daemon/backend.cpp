#include "daemon/backend.h"

#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "doctor/doctor.h"
#include "daemon/views.h"
#include "diagnose/diagnose.h"

namespace enospcd {

EventFilter to_filter(const api::EventQuery& q) {
  EventFilter f;
  f.since_ns = q.since_ns;
  f.until_ns = q.until_ns;
  f.pid = q.pid;
  f.comm = q.comm;
  f.container = q.container;
  f.syscall = q.syscall;
  f.cause = q.cause;
  f.limit = q.limit;
  return f;
}

std::string prom_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

nlohmann::json DaemonBackend::status() { return d_.status_json(); }

nlohmann::json DaemonBackend::events(const api::EventQuery& q) {
  nlohmann::json out = nlohmann::json::array();
  each_event(q, [&](const nlohmann::json& e) { out.push_back(e); });
  return {{"events", out}};
}

void DaemonBackend::each_event(const api::EventQuery& q, const std::function<void(const nlohmann::json&)>& emit) {
  for (const auto& e : d_.store().query(to_filter(q))) emit(to_json(e));
}

std::optional<nlohmann::json> DaemonBackend::event(uint64_t id) {
  auto e = d_.store().get(id);
  if (!e) return std::nullopt;
  return to_json(*e);
}

std::vector<uint64_t> DaemonBackend::event_ids_with_prefix(std::string_view digits, size_t max) {
  return d_.store().ids_with_prefix(digits, max);
}

std::vector<std::string> DaemonBackend::cause_ids() {
  std::vector<std::string> ids;
  for (CauseId id : all_causes()) ids.emplace_back(cause_name(id));
  return ids;
}

nlohmann::json DaemonBackend::top(const api::EventQuery& q) {
  // since/until never get here: the router refuses them for /v1/top (counts are totals, not windows).
  std::vector<TopRow> kept;
  for (auto& r : d_.top_with_causes()) {
    if (q.pid && r.row.pid != *q.pid) continue;
    if (q.comm && r.row.comm != *q.comm) continue;
    if (q.syscall && r.row.syscall != *q.syscall) continue;
    if (q.container && !container_matches(r.row.container, *q.container)) continue;
    // The cause of a row is that of the latest event with its key ("unknown" when none was seen).
    if (q.cause && cause_name(r.cause) != *q.cause) continue;
    kept.push_back(std::move(r.row));
    if (kept.size() >= q.limit) break;
  }
  return {{"top", top_json(kept)}};
}

nlohmann::json DaemonBackend::diagnosis() { return diagnosis_json(d_.store()); }

std::optional<nlohmann::json> DaemonBackend::doctor() {
  doctor::DoctorOptions o;
  return doctor::doctor_json(o);
}

std::string DaemonBackend::metrics() {
  std::ostringstream m;
  auto st = d_.status_json();
  m << "# HELP enospcd_build_info Version, kernel and gate attach mode of the running daemon.\n"
    << "# TYPE enospcd_build_info gauge\n"
    << "enospcd_build_info{version=\"" << prom_escape(st["version"]) << "\",kernel=\"" << prom_escape(st["kernel"])
    << "\",gate=\"" << prom_escape(st["gate"]["mode"]) << "\"} 1\n";

  // Exact in-kernel counts, folded to bounded labels: never a pid; the failing workload by namespace, pod and
  // container (its name where the node tells it, else its id), at most 200 of them, the rest as "other".
  using Workload = std::tuple<std::string, std::string, std::string>;
  std::map<std::tuple<std::string, std::string, std::string, Workload>, uint64_t> failures;
  std::set<Workload> workloads;
  for (const auto& r : d_.top_with_causes()) {
    const auto& c = r.row.container;
    Workload w;
    if (c) w = {c->ns, c->pod, c->name.empty() ? c->id : c->name};
    if (w != Workload{} && !workloads.count(w)) {
      if (workloads.size() >= 200) w = {"other", "other", "other"};
      else workloads.insert(w);
    }
    failures[{r.row.syscall, r.row.errno_name, std::string(cause_name(r.cause)), w}] += r.row.count;
  }
  m << "# HELP enospcd_failures_total Syscalls that failed with a watched errno, counted exactly in the kernel.\n"
    << "# TYPE enospcd_failures_total counter\n";
  for (const auto& [k, v] : failures) {
    const auto& [ns, pod, container] = std::get<3>(k);
    m << "enospcd_failures_total{syscall=\"" << prom_escape(std::get<0>(k)) << "\",errno=\""
      << prom_escape(std::get<1>(k)) << "\",cause=\"" << prom_escape(std::get<2>(k)) << "\",namespace=\""
      << prom_escape(ns) << "\",pod=\"" << prom_escape(pod) << "\",container=\"" << prom_escape(container) << "\"} "
      << v << "\n";
  }

  m << "# HELP enospcd_events_lost_total Failures whose detailed event did not reach user space, by reason (counts stay exact).\n"
    << "# TYPE enospcd_events_lost_total counter\n";
  for (auto& [k, v] : st["counters"]["losses"].items())
    m << "enospcd_events_lost_total{reason=\"" << prom_escape(k) << "\"} " << v.get<uint64_t>() << "\n";
  m << "# HELP enospcd_events_received_total Event records read from the ring buffer.\n"
    << "# TYPE enospcd_events_received_total counter\n"
    << "enospcd_events_received_total " << st["counters"]["events_received"].get<uint64_t>() << "\n";
  m << "# HELP enospcd_events_stored Events held in memory.\n# TYPE enospcd_events_stored gauge\n"
    << "enospcd_events_stored " << st["counters"]["events_stored"].get<uint64_t>() << "\n";

  // Targeted mode: the syscalls with a slot, and the failures the completeness check found outside the set.
  if (const auto& tg = st["gate"]["targeted"]; tg.is_object()) {
    m << "# HELP enospcd_targeted_syscalls Syscalls whose entry functions carry a targeted slot.\n"
      << "# TYPE enospcd_targeted_syscalls gauge\n"
      << "enospcd_targeted_syscalls " << tg["syscalls"].get<uint64_t>() << "\n";
    m << "# HELP enospcd_targeted_untargeted_failures_total Failures the completeness check saw from syscalls "
         "outside the targeted set (each is then added to it).\n"
      << "# TYPE enospcd_targeted_untargeted_failures_total counter\n";
    for (auto& [k, v] : tg["untargeted_failures"].items())
      m << "enospcd_targeted_untargeted_failures_total{syscall=\"" << prom_escape(k) << "\"} " << v.get<uint64_t>()
        << "\n";
  }

  std::map<std::string, int> modes = {{"fexit", 0}, {"kretprobe", 0}, {"unavailable", 0}};
  for (const auto& o : st["origins"]) modes[o["mode"].get<std::string>()]++;
  m << "# HELP enospcd_origin_probes Origin functions by attach mode.\n# TYPE enospcd_origin_probes gauge\n";
  for (const auto& [mode, n] : modes) m << "enospcd_origin_probes{mode=\"" << mode << "\"} " << n << "\n";
  bool degraded = st.value("degraded", false);
  m << "# HELP enospcd_degraded 1 when the daemon runs degraded (e.g. its journal cannot be written).\n"
    << "# TYPE enospcd_degraded gauge\nenospcd_degraded " << (degraded ? 1 : 0) << "\n";
  m << "# HELP enospcd_uptime_seconds Seconds since the daemon started.\n# TYPE enospcd_uptime_seconds gauge\n"
    << "enospcd_uptime_seconds " << st["uptime_s"].get<double>() << "\n";
  return m.str();
}

namespace {
class StoreSubscription : public api::Subscription {
 public:
  StoreSubscription(EventStore& s, uint64_t token) : s_(s), token_(token) {}
  ~StoreSubscription() override { s_.unsubscribe(token_); }

 private:
  EventStore& s_;
  uint64_t token_;
};
}  // namespace

std::unique_ptr<api::Subscription> DaemonBackend::subscribe(const api::EventQuery& q,
                                                            std::function<void(const nlohmann::json&)> on_event) {
  EventFilter f = to_filter(q);
  f.limit = SIZE_MAX;
  uint64_t token = d_.store().subscribe([f, cb = std::move(on_event)](const Event& e) {
    if (f.matches(e)) cb(to_json(e));
  });
  return std::make_unique<StoreSubscription>(d_.store(), token);
}

Result<void> DaemonBackend::reset() { return d_.reset(); }

}  // namespace enospcd
