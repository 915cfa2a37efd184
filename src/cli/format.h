#pragma once
// Human rendering of API answers for enospcctl: tables whose columns are as wide as their content, local
// times with the age ("12s ago"), and a generic key/value layout for answers whose shape is open-ended.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace enospcd::cli {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // Two spaces between columns, no trailing blanks; an empty table renders as its header only.
  std::string render() const;
};

// "just now", "12s ago", "5m ago", "3h ago", "2d ago"; "in 5s" for times ahead of now.
std::string relative_time(uint64_t then_ns, uint64_t now_ns);
// Local time "2024-05-01 14:00:03" (TZ applies).
std::string local_time(uint64_t ns);

// The event's wall-clock time: time_ns, else the RFC 3339 "time"; 0 when neither is usable.
uint64_t event_time_ns(const nlohmann::json& event);
// Scalars as text (strings unquoted), null and missing as "-", containers as compact JSON.
std::string cell(const nlohmann::json& value);
// "name" of a container object, else a 12-character id, "-" for the host (null).
std::string container_label(const nlohmann::json& container);
// "id" of a cause object (or the string itself), "-" when none.
std::string cause_label(const nlohmann::json& cause);

std::string render_events(const nlohmann::json& answer, uint64_t now_ns);  // {"events": [...]}
std::string render_top(const nlohmann::json& answer);                      // {"top": [...]}
std::string render_event(const nlohmann::json& event, uint64_t now_ns);    // explain ID
// Anything else (status, diagnosis, doctor): nested "key: value" lines, arrays of objects as tables.
std::string render_generic(const nlohmann::json& value);

// watch: fixed-width columns, because rows are printed as they arrive.
std::string watch_header();
std::string watch_line(const nlohmann::json& event);

}  // namespace enospcd::cli
