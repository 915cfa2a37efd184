// What the daemon shows of itself: its status and counter rows (Daemon::status_json and top_with_causes, defined
// in views.cpp), the causes of the stored events, and the --once report (JSON, or text for a terminal), built from
// the status, the counter rows and the store.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "daemon/daemon.h"
#include "store/event_store.h"

namespace enospcd {

// {"causes": [{cause, count, latest_event, latest, first_time, last_time}]}, most frequent first.
nlohmann::json diagnosis_json(const EventStore& store);

// The --once report: status, the counter table, the causes and the latest events.
nlohmann::json report_json(const Daemon& d);
std::string report_text(const Daemon& d);

}  // namespace enospcd
