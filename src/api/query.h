#pragma once
// Parsing of the query-string values the API accepts, and the time format it answers with. Pure functions:
// no clock is read here except by wall_clock_ns(), so tests and the fuzzer can pin "now".

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/strings.h"

namespace enospcd::api {

inline constexpr size_t kDefaultLimit = 100;
inline constexpr size_t kMaxLimit = 10000;

// CLOCK_REALTIME in nanoseconds since the Unix epoch.
uint64_t wall_clock_ns();

// Shared with the command line (common/strings.h): durations, RFC 3339 output, quoting for messages.
using enospcd::format_rfc3339;
using enospcd::parse_duration_ns;
using enospcd::quote_for_message;

// A point in time, in one of three spellings:
//   RFC 3339       2024-05-01T12:00:00Z, 2024-05-01T14:00:00.25+02:00 (also 't' or ' ' as separator)
//   relative       5m, 1h30m: that long before now_ns (clamped at the epoch)
//   unix seconds   1714564800, 1714564800.25
Result<uint64_t> parse_time_ns(std::string_view text, uint64_t now_ns);

// Decimal unsigned integer in [min, max]; no sign, no spaces, no leading '+'.
Result<uint64_t> parse_uint(std::string_view text, uint64_t min, uint64_t max);

// "1", "true", "yes", "" -> true; "0", "false", "no" -> false.
Result<bool> parse_flag(std::string_view text);

}  // namespace enospcd::api
