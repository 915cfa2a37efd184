#include "report/report.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/names.h"
#include "common/strings.h"
#include "common/table.h"

namespace enospcd {

std::vector<TopRow> top_rows(const std::vector<CountEntry>& counts) {
  std::vector<TopRow> rows;
  rows.reserve(counts.size());
  for (const auto& c : counts) {
    TopRow r;
    r.pid = c.key.tgid;
    r.comm = fixed_string(c.val.comm);
    r.syscall = syscall_name(c.key.syscall_nr);
    r.errno_name = errno_name(static_cast<int>(c.key.err));
    r.count = c.val.count;
    r.suppressed = c.val.suppressed;
    r.cgroup_id = c.key.cgroup_id;
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const TopRow& a, const TopRow& b) {
    return std::tie(b.count, a.pid, a.syscall, a.errno_name, a.cgroup_id) <
           std::tie(a.count, b.pid, b.syscall, b.errno_name, b.cgroup_id);
  });
  return rows;
}

std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  return Table{header, rows}.render();
}

std::string format_top(const std::vector<TopRow>& rows) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    std::string container = r.container ? (r.container->name.empty() ? r.container->id : r.container->name) : "";
    if (container.empty()) container = "-";
    cells.push_back({std::to_string(r.pid), r.comm, r.syscall, r.errno_name, std::to_string(r.count), container});
  }
  return format_table({"PID", "COMM", "SYSCALL", "ERRNO", "COUNT", "CONTAINER"}, cells);
}

std::string format_events(const std::vector<Event>& events) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& e : events) {
    std::string time = format_rfc3339(e.time_ns).substr(11, 15);  // HH:MM:SS.ffffff
    std::string what = e.path;
    if (!e.path2.empty()) what += (what.empty() ? "" : " <- ") + e.path2;
    if (what.empty() && e.file) {
      std::string mp;
      if (e.cause && e.cause->evidence.fs) mp = e.cause->evidence.fs->mount_point;
      what = e.file->name + (mp.empty() ? " (" + e.file->fstype + ")" : " on " + mp);
    }
    std::string cause = e.cause ? std::string(cause_name(e.cause->id)) : "-";
    cells.push_back({time, std::to_string(e.pid), e.comm, e.syscall, std::to_string(e.ret), cause,
                     what});
  }
  return format_table({"TIME(UTC)", "PID", "COMM", "SYSCALL", "RET", "CAUSE", "PATH"}, cells);
}

nlohmann::json top_json(const std::vector<TopRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"pid", r.pid},
                   {"comm", r.comm},
                   {"syscall", r.syscall},
                   {"errno", r.errno_name},
                   {"count", r.count},
                   {"suppressed", r.suppressed},
                   {"cgroup_id", r.cgroup_id},
                   {"container", r.container ? to_json(*r.container) : nlohmann::json()}});
  return out;
}

}  // namespace enospcd
