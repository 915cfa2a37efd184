#include "daemon/views.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <sstream>

#include <spdlog/fmt/fmt.h>

#include "common/names.h"
#include "common/printable.h"
#include "common/strings.h"
#include "report/report.h"

namespace enospcd {
namespace {

std::vector<TopRow> rows_of(const Daemon& d) {
  std::vector<TopRow> out;
  for (auto& c : d.top_with_causes()) out.push_back(std::move(c.row));
  return out;
}

// The report's events, oldest first.
std::vector<Event> report_events(const Daemon& d) {
  EventFilter f;
  f.limit = d.report_events();
  auto events = d.store().query(f);
  std::reverse(events.begin(), events.end());
  return events;
}

}  // namespace

nlohmann::json diagnosis_json(const EventStore& store) {
  EventFilter all;
  all.limit = SIZE_MAX;
  std::map<std::string, nlohmann::json> by_cause;
  for (const auto& e : store.query(all)) {  // newest first: the first seen per cause is the latest
    std::string id(cause_name(e.cause ? e.cause->id : CauseId::Unknown));
    auto& slot = by_cause[id];
    if (slot.is_null()) {
      slot = {{"cause", id}, {"count", 0}, {"latest_event", std::to_string(e.id)},
              {"latest", e.cause ? to_json(*e.cause) : nlohmann::json()},
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

nlohmann::json report_json(const Daemon& d) {
  nlohmann::json ev = nlohmann::json::array();
  for (const auto& e : report_events(d)) ev.push_back(to_json(e));
  return {{"status", d.status_json()}, {"top", top_json(rows_of(d))}, {"diagnosis", diagnosis_json(d.store())["causes"]},
          {"events", ev}};
}

std::string report_text(const Daemon& d) {
  std::ostringstream out;
  auto st = d.status_json();
  auto rows = rows_of(d);
  uint64_t total = st["counters"]["failures_counted"].get<uint64_t>();
  const bool gate_only = st["mode"] == "gate-only";
  out << "enospcd " << ENOSPCD_VERSION << " on " << st["kernel"].get<std::string>() << ": traced "
      << fmt::format("{:.1f}", st["tracing_s"].get<double>()) << " s with the " << st["gate"]["mode"].get<std::string>()
      << " gate, " << (gate_only ? "gate-only: no kernel call chains" : "with kernel call chains") << "\n";
  const auto& origins = st["origins"];
  if (!origins.empty()) {
    std::size_t live = 0;
    for (const auto& o : origins) live += o["mode"] != "unavailable";
    out << "origin probes: " << live << " live of " << origins.size() << " ("
        << st["mode_reason"].get<std::string>() << ")\n";
    for (const auto& o : origins)
      if (o["mode"] != "unavailable")
        out << "  " << o["func"].get<std::string>() << ": " << o["mode"].get<std::string>() << "\n";
  }
  out << total << " failing syscall" << (total == 1 ? "" : "s") << " with "
      << fmt::format("{}", fmt::join(st["errnos"].get<std::vector<std::string>>(), ",")) << "\n";
  for (auto& [k, v] : st["counters"]["losses"].items())
    if (v.get<uint64_t>() > 0) out << "  " << k << ": " << v.get<uint64_t>() << "\n";
  out << "\n";
  if (!rows.empty()) out << format_top(rows) << "\n";
  auto causes = diagnosis_json(d.store())["causes"];
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
  auto events = report_events(d);
  if (!events.empty()) {
    out << "Last " << events.size() << " event" << (events.size() == 1 ? "" : "s") << ":\n";
    out << format_events(events);
  }
  return out.str();
}

// The daemon's own views: its status and its counter rows with their causes.
nlohmann::json Daemon::status_json() const {
  uint64_t counted = 0;
  for (const auto& c : book_->all()) counted += c.val.count;
  nlohmann::json errnos = nlohmann::json::array();
  for (int e : opts_.errnos) errnos.push_back(errno_name(e));
  nlohmann::json sinks = nlohmann::json::array();
  for (const auto& s : sinks_) sinks.push_back(s->status());
  auto now = std::chrono::steady_clock::now();
  nlohmann::json tracing = tracing_.status_json();
  return {
      {"version", ENOSPCD_VERSION},
      {"kernel", FeatureProbe().kernel_release()},
      {"pid", getpid()},
      {"mode", tracing["mode"]},
      {"mode_reason", tracing["mode_reason"]},
      {"origins", tracing["origins"]},
      {"gate", tracing["gate"]},
      {"errnos", errnos},
      {"uptime_s", std::chrono::duration<double>(now - started_).count()},
      {"degraded", journal_ && journal_->degraded()},
      {"journal", journal_ ? journal_->status() : nlohmann::json()},
      {"sinks", sinks},
      {"tracing_s", std::chrono::duration<double>(now - tracing_.since()).count()},
      {"counters",
       {{"failures_counted", counted},
        {"events_received", pipeline_.records()},
        {"events_malformed", pipeline_.malformed()},
        {"events_unexplained", pipeline_.unexplained()},
        {"events_stored", store_.size()},
        {"losses", tracing["losses"]}}},
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
