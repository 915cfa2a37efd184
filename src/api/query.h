#pragma once
// Parsing of the query-string values the API accepts, and the time format it answers with. Pure functions:
// no clock is read here except by wall_clock_ns(), so tests and the fuzzer can pin "now".

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace enospcd::api {

inline constexpr size_t kDefaultLimit = 100;
inline constexpr size_t kMaxLimit = 10000;

// CLOCK_REALTIME in nanoseconds since the Unix epoch.
uint64_t wall_clock_ns();

// A duration such as "90s", "5m", "1h30m", "2d", "1w" or "250ms" (units may be combined, largest first is
// customary but not required). No sign, no fractions.
Result<uint64_t> parse_duration_ns(std::string_view text);

// A point in time, in one of three spellings:
//   RFC 3339       2024-05-01T12:00:00Z, 2024-05-01T14:00:00.25+02:00 (also 't' or ' ' as separator)
//   relative       5m, 1h30m: that long before now_ns (clamped at the epoch)
//   unix seconds   1714564800, 1714564800.25
Result<uint64_t> parse_time_ns(std::string_view text, uint64_t now_ns);

// Decimal unsigned integer in [min, max]; no sign, no spaces, no leading '+'.
Result<uint64_t> parse_uint(std::string_view text, uint64_t min, uint64_t max);

// "1", "true", "yes", "" -> true; "0", "false", "no" -> false.
Result<bool> parse_flag(std::string_view text);

// UTC RFC 3339 with `frac_digits` (0..9) fractional digits: 2024-05-01T12:00:00.123Z.
std::string format_rfc3339(uint64_t ns, int frac_digits = 9);

// A copy of untrusted text fit for an error message: at most `max` bytes, control bytes escaped.
std::string quote_for_message(std::string_view text, size_t max = 64);

}  // namespace enospcd::api
