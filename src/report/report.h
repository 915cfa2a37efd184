// The one-shot report: a syscount-style table from the exact in-kernel counters, and the recent events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/counters.h"
#include "model/container_ref.h"
#include "model/event.h"

namespace enospcd {

struct TopRow {
  uint32_t pid = 0;
  std::string comm;
  std::string syscall;
  std::string errno_name;
  uint64_t count = 0;
  uint64_t suppressed = 0;  // counted, but not sent as detailed events (rate limit)
  uint64_t cgroup_id = 0;
  std::optional<ContainerRef> container;
};

// Folds counter entries (one per tgid/syscall/errno/cgroup) into rows sorted by count, descending;
// ties by pid then syscall so the order is stable.
std::vector<TopRow> top_rows(const std::vector<CountEntry>& counts);

// The text table of common/table.h at full width (the --once report is not fitted to a terminal).
std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string format_top(const std::vector<TopRow>& rows);
std::string format_events(const std::vector<Event>& events);  // oldest first, as given

nlohmann::json top_json(const std::vector<TopRow>& rows);

}  // namespace enospcd
