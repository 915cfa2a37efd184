#pragma once
// Human rendering of API answers for enospcctl: tables that fit the terminal (free-text columns truncated with an
// ellipsis, optional columns dropped), local times with the age ("12s ago"), a summary for status, diagnosis and
// doctor, and a generic key/value layout for whatever else an answer holds. Every string that came from the daemon
// is passed through printable() on its way out, so kernel-supplied text cannot drive the terminal.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/table.h"

namespace enospcd::cli {

// How human output is laid out.
struct Style {
  std::size_t width = 0;  // terminal columns to fit; 0: unlimited (-o wide)
  bool verbose = false;   // -v: details (status's probe table and the rest of the answer)
};

// Columns for the terminal: TIOCGWINSZ of fd when it is a terminal, else $COLUMNS, else 80.
std::size_t terminal_width(int fd);

using enospcd::display_width;
using enospcd::pad;
using enospcd::Table;
using enospcd::truncate;

// "just now", "12s ago", "5m ago", "3h ago", "2d ago"; "in 5s" for times ahead of now.
std::string relative_time(uint64_t then_ns, uint64_t now_ns);
// "42s", "4m 48s", "2h 14m", "3d 4h".
std::string human_duration(double seconds);
// Local time "2024-05-01 14:00:03" (TZ applies).
std::string local_time(uint64_t ns);

// An unsigned integer given as a JSON number or as a string of decimal digits (ids and nanosecond times above
// 2^53 are sent as strings); nullopt otherwise.
std::optional<uint64_t> json_u64(const nlohmann::json& value);
// The event's wall-clock time: time_ns, else the RFC 3339 "time"; 0 when neither is usable.
uint64_t event_time_ns(const nlohmann::json& event);
// Scalars as text (strings unquoted, unescaped), null and missing as "-", objects as "key=value, ..." of their
// scalar members, arrays of scalars joined with ", ". Never JSON.
std::string cell(const nlohmann::json& value);
// "name" of a container object, else a 12-character id, "-" for the host (null).
std::string container_label(const nlohmann::json& container);
// "id" of a cause object (or the string itself), "-" when none.
std::string cause_label(const nlohmann::json& cause);

std::string render_events(const nlohmann::json& answer, uint64_t now_ns, const Style& style = {});  // {"events"}
std::string render_top(const nlohmann::json& answer, const Style& style = {});                      // {"top"}
std::string render_event(const nlohmann::json& event, uint64_t now_ns);                             // explain ID
// status: a summary like `systemctl status` (mode and why, version, uptime, failures, losses); with
// style.verbose also the origin probe table and the rest of the answer.
std::string render_status(const nlohmann::json& status, const Style& style = {});
// diagnosis: one row per cause with its latest summary and remedy.
std::string render_diagnosis(const nlohmann::json& answer, uint64_t now_ns, const Style& style = {});
// doctor: a one-line verdict, then the findings, the checks that did not pass cleanly and the sysctls.
std::string render_doctor(const nlohmann::json& answer, const Style& style = {});
// Anything else: nested "key: value" lines (keys as sent), arrays of objects as tables.
std::string render_generic(const nlohmann::json& value, const Style& style = {});

// watch: fixed-width columns, because rows are printed as they arrive; a line longer than style.width is cut.
std::string watch_header(const Style& style = {});
std::string watch_line(const nlohmann::json& event, const Style& style = {});

}  // namespace enospcd::cli
